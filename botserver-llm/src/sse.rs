//! Server-sent events: splits a byte stream into events (`event:` name and joined `data:`
//! lines), tolerating `\r\n`, comments and events split across network chunks.

use bytes::{Bytes, BytesMut};

/// One event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (empty when absent).
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Most an event may grow to before the stream is refused (a server that never ends an
/// event must not grow memory without bound).
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Incremental parser: feed chunks, take complete events.
#[derive(Default)]
pub struct SseParser {
    buf: BytesMut,
}

impl SseParser {
    /// Adds bytes; returns the events they complete, or an error when an event is too big.
    pub fn feed(&mut self, chunk: &Bytes) -> Result<Vec<SseEvent>, String> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some((end, sep)) = find_boundary(&self.buf) {
            let raw = self.buf.split_to(end + sep);
            let text = String::from_utf8_lossy(&raw[..end]);
            if let Some(e) = parse_event(&text) {
                out.push(e);
            }
        }
        if self.buf.len() > MAX_EVENT_BYTES {
            return Err("the model sent an event over 4 MiB".into());
        }
        Ok(out)
    }

    /// The last event when the stream ended without a blank line.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let raw = std::mem::take(&mut self.buf);
        parse_event(&String::from_utf8_lossy(&raw))
    }
}

/// The end of the first event and the length of its separator.
fn find_boundary(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buf[i] == b'\r'
            && buf[i + 1] == b'\n'
            && buf.get(i + 2) == Some(&b'\r')
            && buf.get(i + 3) == Some(&b'\n')
        {
            return Some((i, 4));
        }
        i += 1;
    }
    None
}

fn parse_event(text: &str) -> Option<SseEvent> {
    let mut e = SseEvent::default();
    let mut has_data = false;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => e.event = value.to_string(),
            "data" => {
                if has_data {
                    e.data.push('\n');
                }
                e.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    (has_data || !e.event.is_empty()).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_and_crlf() {
        let mut p = SseParser::default();
        assert!(
            p.feed(&Bytes::from_static(b": keep-alive\n\nevent: a\ndata: {\"x\""))
                .unwrap()
                .is_empty()
        );
        let got = p
            .feed(&Bytes::from_static(
                b":1}\r\n\r\ndata: one\ndata: two\n\ndata: [DONE]",
            ))
            .unwrap();
        assert_eq!(
            got,
            vec![
                SseEvent {
                    event: "a".into(),
                    data: "{\"x\":1}".into()
                },
                SseEvent {
                    event: String::new(),
                    data: "one\ntwo".into()
                }
            ]
        );
        assert_eq!(p.finish().unwrap().data, "[DONE]");
    }

    #[test]
    fn an_endless_event_is_refused() {
        let mut p = SseParser::default();
        let big = Bytes::from(vec![b'a'; MAX_EVENT_BYTES + 1]);
        assert!(p.feed(&big).is_err());
    }
}
