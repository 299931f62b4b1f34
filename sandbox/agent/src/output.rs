//! Collects what an execution prints and displays, enforcing the output cap.

use serde_json::Value;
use std::collections::BTreeMap;

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
}

impl OutputCollector {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            ..Default::default()
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
        let target = if name == "stderr" {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        target.push_str(take);
        if take.len() < text.len() {
            self.truncated = true;
            target.push_str(&format!(
                "\n[airlock: output truncated at {} bytes]\n",
                self.limit
            ));
        }
    }

    pub fn output(&mut self, kind: &str, data: BTreeMap<String, Value>) {
        let size: usize = data.values().map(|v| v.as_str().map_or(64, str::len)).sum();
        if size > MAX_RICH_OUTPUT {
            let mut note = BTreeMap::new();
            note.insert(
                "text/plain".into(),
                Value::String(format!("[airlock: output of {size} bytes dropped]")),
            );
            self.outputs.push((kind.to_owned(), note));
            return;
        }
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
}
