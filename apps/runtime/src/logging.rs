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

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One readable line per event, its spans' fields (`request_id`, `trace_id`) in front.
    #[default]
    Text,
    /// One JSON object per line, with the fields of the event and of its current span.
    Json,
}

impl Format {
    /// The format `LOG_FORMAT` names (`text` or `json`; unset or empty is text).
    ///
    /// # Errors
    /// Any other value.
    pub fn from_setting(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim).unwrap_or_default() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("LOG_FORMAT={other:?}: must be text or json")),
        }
    }
}

/// Sends the process's logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init(format: Format) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing::subscriber::set_global_default(subscriber(format, filter, ansi, std::io::stderr));
}

/// The subscriber `init` installs, writing to `writer`.
fn subscriber<W>(format: Format, filter: EnvFilter, ansi: bool, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        Format::Text => Box::new(builder.with_ansi(ansi).fmt_fields(fields()).finish()),
        Format::Json => Box::new(builder.json().with_current_span(true).with_span_list(false).finish()),
    }
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
        let subscriber = subscriber(Format::Text, EnvFilter::new("info"), false, move || sink.clone());
        let forged = "a\n2026-12-01T21:00:00Z ERROR todo: FORGED\r\u{1b}[2J";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(title = %forged, quoted = ?forged, "notification: task due soon");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains(r"title=a\n2026-12-01T21:00:00Z ERROR todo: FORGED\r\u{1b}[2J"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn json_lines_carry_the_trace_of_their_span() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = subscriber(Format::Json, EnvFilter::new("info"), false, move || sink.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", trace_id = "4bf92f3577b34da6a3ce929d0e0e4736");
            span.in_scope(|| tracing::info!(title = "a\nb", "task created"));
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            (line["fields"]["message"].as_str(), line["fields"]["title"].as_str()),
            (Some("task created"), Some("a\nb"))
        );
    }

    #[test]
    fn the_format_is_text_or_json() {
        assert_eq!(Format::from_setting(None), Ok(Format::Text));
        assert_eq!(Format::from_setting(Some("json")), Ok(Format::Json));
        assert!(Format::from_setting(Some("xml")).is_err());
    }
}
