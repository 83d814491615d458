//! The log output of every app: one line per event on stderr, filtered by `RUST_LOG` (default
//! `info`), with every field value escaped so that no text a user supplied can start a line of
//! its own or forge one.

use std::fmt;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{Writer, debug_fn};

/// Writes through to `inner` with control characters written as escapes (`\n`, `\u{1b}`).
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for part in s.split_inclusive(char::is_control) {
            let (plain, last) = match part.char_indices().next_back() {
                Some((i, c)) if c.is_control() => (&part[..i], Some(c)),
                _ => (part, None),
            };
            self.0.write_str(plain)?;
            match last {
                Some('\n') => self.0.write_str("\\n")?,
                Some('\r') => self.0.write_str("\\r")?,
                Some('\t') => self.0.write_str("\\t")?,
                Some(c) => write!(self.0, "\\u{{{:x}}}", u32::from(c))?,
                None => {}
            }
        }
        Ok(())
    }
}

/// The field formatter: `name=value` pairs, the message bare, all escaped.
pub fn fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    debug_fn(|w: &mut Writer<'_>, field: &tracing::field::Field, value: &dyn fmt::Debug| {
        let mut out = Escaping(w);
        if field.name() == "message" {
            fmt::Write::write_fmt(&mut out, format_args!("{value:?}"))
        } else {
            fmt::Write::write_fmt(&mut out, format_args!("{}={value:?}", field.name()))
        }
    })
    .delimited(" ")
}

/// Sends the process's logs to stderr.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .fmt_fields(fields())
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn user_text_cannot_forge_a_line() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber =
            tracing_subscriber::fmt().with_ansi(false).fmt_fields(fields()).with_writer(move || sink.clone()).finish();
        let forged = "a\n2026-12-01T21:00:00Z ERROR todo: FORGED\r\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(title = %forged, quoted = ?forged, "notification: task due soon");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r"title=a\n2026-12-01T21:00:00Z ERROR todo: FORGED\r\u{1b}[2J"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }
}
