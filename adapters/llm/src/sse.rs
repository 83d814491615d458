//! Server-sent events as a chat-completions stream uses them: the `data` of each event, lines
//! ended by LF, CRLF or CR, comments (`: ...`) and other fields ignored. Bytes arrive in any
//! pieces: a line, or a character, split between two reads is put back together.

/// Decodes a stream of server-sent events, one read at a time.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// The line being read.
    line: Vec<u8>,
    /// The data of the event being read (its `data:` lines, joined by LF).
    data: Option<String>,
    /// The last byte was a CR: an LF right after it ends no other line.
    after_cr: bool,
}

impl Decoder {
    /// The data of every event that `bytes` completes.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut events = Vec::new();
        for &b in bytes {
            if std::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            match b {
                b'\n' | b'\r' => {
                    self.after_cr = b == b'\r';
                    let line = std::mem::take(&mut self.line);
                    events.extend(self.end_line(&line));
                }
                _ => self.line.push(b),
            }
        }
        events
    }

    /// At the end of the stream: the data of an event the server did not close with a blank
    /// line (lenient: the last `data: [DONE]` is often sent so).
    pub(crate) fn finish(&mut self) -> Option<String> {
        let line = std::mem::take(&mut self.line);
        let dispatched = self.end_line(&line);
        dispatched.or_else(|| self.data.take())
    }

    /// Takes in one whole line; a blank one dispatches the event read so far.
    fn end_line(&mut self, line: &[u8]) -> Option<String> {
        if line.is_empty() {
            return self.data.take();
        }
        let line = String::from_utf8_lossy(line);
        let line = line.strip_prefix('\u{feff}').unwrap_or(&line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(pieces: &[&[u8]]) -> Vec<String> {
        let mut decoder = Decoder::default();
        let mut events: Vec<String> = pieces.iter().flat_map(|p| decoder.push(p)).collect();
        events.extend(decoder.finish());
        events
    }

    #[test]
    fn each_event_gives_its_data() {
        let stream = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        assert_eq!(all(&[stream]), ["{\"a\":1}", "[DONE]"]);
    }

    #[test]
    fn lines_and_characters_split_between_reads_are_put_back_together() {
        let stream = "data: {\"t\":\"héllo\"}\r\n\r\ndata: x\r\rdata: y\n\n".as_bytes();
        let whole = all(&[stream]);
        assert_eq!(whole, ["{\"t\":\"héllo\"}", "x", "y"]);
        for cut in 1..stream.len() {
            let (a, b) = stream.split_at(cut);
            assert_eq!(all(&[a, b]), whole, "cut at byte {cut}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(all(&bytes), whole, "one byte at a time");
    }

    #[test]
    fn comments_other_fields_and_multi_line_data_follow_the_format() {
        let stream = b": keep-alive\n\nevent: message\nid: 7\ndata:first\ndata: second\nretry: 10\n\ndata\n\n";
        assert_eq!(all(&[stream]), ["first\nsecond", ""]);
    }

    #[test]
    fn an_event_left_open_at_the_end_still_counts() {
        assert_eq!(all(&[b"data: a\n\ndata: [DONE]"]), ["a", "[DONE]"]);
        assert_eq!(all(&[b"data: a\n\ndata: [DONE]\n"]), ["a", "[DONE]"]);
        assert!(all(&[b": only a comment\n"]).is_empty());
    }
}
