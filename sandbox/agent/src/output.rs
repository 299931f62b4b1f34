//! Collects what an execution prints and displays, enforcing the output cap, and passes each
//! piece on to the gateway as it comes (the execute stream).

use airlock_sandbox_protocol::Event;
use serde_json::Value;
use std::collections::BTreeMap;
use tokio::sync::mpsc::UnboundedSender;

/// Largest single rich output kept (a huge figure becomes a note instead).
const MAX_RICH_OUTPUT: usize = 4 << 20;

#[derive(Debug, Default)]
pub struct OutputCollector {
    limit: usize,
    used: usize,
    pub truncated: bool,
    pub stdout: String,
    pub stderr: String,
    pub outputs: Vec<(String, BTreeMap<String, Value>)>,
    pub error: Option<(String, String, Vec<String>)>,
    /// Where each kept piece goes as soon as it is collected (None: kept only).
    live: Option<UnboundedSender<Event>>,
}

impl OutputCollector {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Default::default()
        }
    }

    /// A collector that also sends every kept piece to `live` as it is collected.
    pub fn live(limit: usize, live: UnboundedSender<Event>) -> Self {
        Self {
            limit,
            live: Some(live),
            ..Default::default()
        }
    }

    /// Stops sending (the run is over; the receiver is drained next).
    pub fn stop_live(&mut self) {
        self.live = None;
    }

    fn send(&self, ev: Event) {
        if let Some(tx) = &self.live {
            // The receiver goes only when the gateway hung up; the run ends on its own then.
            let _ = tx.send(ev);
        }
    }

    pub fn stream(&mut self, name: &str, text: &str) {
        if self.truncated {
            return;
        }
        let room = self.limit.saturating_sub(self.used);
        let take = if text.len() <= room {
            text
        } else {
            floor_char_boundary(text, room)
        };
        self.used += take.len();
        let mut piece = take.to_owned();
        if take.len() < text.len() {
            self.truncated = true;
            piece.push_str(&format!(
                "\n[airlock: output truncated at {} bytes]\n",
                self.limit
            ));
        }
        if piece.is_empty() {
            return;
        }
        let name = if name == "stderr" { "stderr" } else { "stdout" };
        if name == "stderr" {
            self.stderr.push_str(&piece);
        } else {
            self.stdout.push_str(&piece);
        }
        self.send(Event::Stream {
            name: name.into(),
            text: piece,
        });
    }

    pub fn output(&mut self, kind: &str, data: BTreeMap<String, Value>) {
        let size: usize = data.values().map(|v| v.as_str().map_or(64, str::len)).sum();
        if size > MAX_RICH_OUTPUT {
            let mut note = BTreeMap::new();
            note.insert(
                "text/plain".into(),
                Value::String(format!("[airlock: output of {size} bytes dropped]")),
            );
            self.send(Event::Output {
                kind: kind.to_owned(),
                data: note.clone(),
            });
            self.outputs.push((kind.to_owned(), note));
            return;
        }
        self.send(Event::Output {
            kind: kind.to_owned(),
            data: data.clone(),
        });
        self.outputs.push((kind.to_owned(), data));
    }

    pub fn error(&mut self, name: String, value: String, traceback: Vec<String>) {
        self.error = Some((name, value, traceback));
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> &str {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_with_a_marker_once() {
        let mut c = OutputCollector::new(10);
        c.stream("stdout", "hello ");
        c.stream("stdout", "wörld and more");
        c.stream("stderr", "ignored");
        assert!(c.truncated);
        assert!(c.stdout.starts_with("hello wör") || c.stdout.starts_with("hello wo"));
        assert!(c.stdout.contains("[airlock: output truncated at 10 bytes]"));
        assert!(c.stderr.is_empty());
    }

    #[test]
    fn live_pieces_are_what_is_kept() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut c = OutputCollector::live(8, tx);
        c.stream("stdout", "abc");
        c.stream("stderr", "defghij");
        c.stream("stdout", "more");
        let mut sent = String::new();
        while let Ok(Event::Stream { text, .. }) = rx.try_recv() {
            sent.push_str(&text);
        }
        assert_eq!(sent, format!("{}{}", c.stdout, c.stderr));
        assert!(c.truncated);
        assert!(
            rx.try_recv().is_err(),
            "nothing after the truncation marker"
        );
    }
}
