//! Secret redaction of printed output as it streams: a secret split across two flushes must be
//! caught as surely as in the finished text.
//!
//! Text is released a line at a time (`\n` or `\r` ends a line): a line is redacted whole, so
//! a secret printed in pieces with no line break between them is matched once it is complete.
//! A private-key block (`-----BEGIN ... PRIVATE KEY-----` to `-----END ...`) spans lines; its
//! lines are held until the block ends. What is held is bounded: past [`HOLD_MAX`] bytes a
//! partial line is released redacted but for its last kilobyte (so a value printed across that
//! cut is still whole when it is checked), and an unterminated key block is replaced by the
//! redaction marker, its remaining lines dropped until its end marker.

use airlock_gateway_audit::redact::{Redactor, REDACTED};

/// Most bytes held back waiting for a line to end.
pub const HOLD_MAX: usize = 64 << 10;

/// What stays held of a line released past [`HOLD_MAX`]: values longer than this can be cut.
const TAIL: usize = 1 << 10;

/// Characters no secret form or detector's value holds: where a long line is best cut.
const SEPARATORS: &[char] = &[
    '\t', ',', ';', '|', '"', '\'', '<', '>', '(', ')', '[', ']', '{', '}',
];

#[derive(Debug, Default)]
pub struct StreamRedactor {
    held: String,
    /// Inside a key block whose start was already released as redacted.
    dropping_key: bool,
    /// How many secrets were redacted so far.
    pub redactions: usize,
}

/// Where a private key block starts in `s` (complete lines), if one starts and does not end.
fn open_key_block(s: &str) -> Option<usize> {
    let begin = s.rfind("-----BEGIN ")?;
    let header = s[begin..].split(['\n', '\r']).next()?;
    (header.contains("PRIVATE KEY-----") && !s[begin..].contains("-----END ")).then_some(begin)
}

impl StreamRedactor {
    /// Takes the next printed piece; returns what may be released now (redacted), possibly
    /// empty.
    pub fn push(&mut self, text: &str, r: &Redactor) -> String {
        self.held.push_str(text);
        let mut out = String::new();
        if self.dropping_key {
            match self.held.find("-----END ") {
                Some(end) => {
                    // Drop through the end marker's line; its text goes with the block.
                    let line_end = self.held[end..]
                        .find(['\n', '\r'])
                        .map_or(self.held.len(), |i| end + i + 1);
                    self.held.drain(..line_end);
                    self.dropping_key = false;
                }
                None => {
                    let keep = self.held.rfind(['\n', '\r']).map_or(0, |i| i + 1);
                    self.held.drain(..keep);
                    return out;
                }
            }
        }
        let Some(last_break) = self.held.rfind(['\n', '\r']) else {
            if self.held.len() > HOLD_MAX {
                out = self.release_head(r);
            }
            return out;
        };
        let mut cut = last_break + 1;
        if let Some(begin) = open_key_block(&self.held[..cut]) {
            // Hold from the start of the key block's line.
            cut = self.held[..begin].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            if self.held.len() - cut > HOLD_MAX {
                let mut before: String = self.held.drain(..cut).collect();
                self.redactions += r.redact_str(&mut before);
                before.push_str(REDACTED);
                before.push('\n');
                self.redactions += 1;
                let keep = self.held.rfind(['\n', '\r']).map_or(0, |i| i + 1);
                self.held.drain(..keep);
                self.dropping_key = true;
                return before;
            }
        }
        let mut ready: String = self.held.drain(..cut).collect();
        self.redactions += r.redact_str(&mut ready);
        ready
    }

    /// The end of the stream: everything held, redacted.
    pub fn finish(&mut self, r: &Redactor) -> String {
        if self.dropping_key {
            self.held.clear();
            return String::new();
        }
        self.release_all(r)
    }

    /// A line past the bound: everything but its last [`TAIL`] bytes goes out, cut after a
    /// separator where there is one near, so a value (a secret, an address, a card number)
    /// printed across the cut is still whole in what stays held.
    fn release_head(&mut self, r: &Redactor) -> String {
        let mut cut = self.held.len() - TAIL;
        while !self.held.is_char_boundary(cut) {
            cut -= 1;
        }
        let window = cut.saturating_sub(TAIL);
        if let Some(i) = self.held[window..cut].rfind(SEPARATORS) {
            cut = window + i + 1;
        }
        let mut head: String = self.held.drain(..cut).collect();
        self.redactions += r.redact_str(&mut head);
        head
    }

    fn release_all(&mut self, r: &Redactor) -> String {
        let mut all = std::mem::take(&mut self.held);
        self.redactions += r.redact_str(&mut all);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor() -> Redactor {
        Redactor::new(&[]).expect("built-in patterns compile")
    }

    fn run(pieces: &[&str]) -> (Vec<String>, String) {
        let r = redactor();
        let mut s = StreamRedactor::default();
        let mut released: Vec<String> = pieces.iter().map(|p| s.push(p, &r)).collect();
        released.push(s.finish(&r));
        let all = released.concat();
        (released, all)
    }

    const SECRET: &str = "ghp_0123456789abcdefghijABCDEFGHIJklmnop";

    #[test]
    fn a_secret_split_across_pieces_is_caught() {
        let (half_a, half_b) = SECRET.split_at(17);
        let (released, all) = run(&["token is ", half_a, half_b, "\n", "next\n"]);
        assert!(!all.contains(half_a), "{all}");
        assert!(!all.contains(half_b), "{all}");
        assert!(all.contains(REDACTED));
        assert!(all.ends_with("next\n"));
        // Nothing was released before the line ended.
        assert!(released[..3].iter().all(String::is_empty), "{released:?}");
    }

    #[test]
    fn whole_lines_go_out_at_once() {
        let r = redactor();
        let mut s = StreamRedactor::default();
        assert_eq!(s.push("one\ntw", &r), "one\n");
        assert_eq!(s.push("o\r", &r), "two\r");
        assert_eq!(s.finish(&r), "");
    }

    #[test]
    fn a_private_key_block_is_held_until_it_ends() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0\n-----END RSA PRIVATE KEY-----\n";
        let lines: Vec<&str> = key.split_inclusive('\n').collect();
        let mut pieces = vec!["before\n"];
        pieces.extend(lines.iter().copied());
        pieces.push("after\n");
        let (_, all) = run(&pieces);
        assert!(
            !all.contains("MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo"),
            "{all}"
        );
        assert!(all.starts_with("before\n"));
        assert!(all.ends_with("after\n"));
    }

    #[test]
    fn an_endless_key_block_is_dropped_past_the_bound() {
        let mut pieces = vec!["-----BEGIN PRIVATE KEY-----\n".to_owned()];
        let line = format!("{}\n", "A".repeat(63));
        for _ in 0..(HOLD_MAX / 64 + 10) {
            pieces.push(line.clone());
        }
        pieces.push("-----END PRIVATE KEY-----\nvisible\n".into());
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (_, all) = run(&refs);
        assert!(!all.contains("AAAAAAAA"), "key body leaked");
        assert!(all.contains(REDACTED));
        assert!(all.ends_with("visible\n"), "{all}");
    }

    #[test]
    fn a_long_line_without_a_break_is_released_past_the_bound() {
        let r = redactor();
        let mut s = StreamRedactor::default();
        let big = "x".repeat(HOLD_MAX + 1);
        assert_eq!(s.push(&big, &r).len(), big.len() - TAIL);
        assert_eq!(s.finish(&r).len(), TAIL);
    }

    #[test]
    fn a_secret_across_the_bound_of_a_long_line_is_still_caught() {
        // The line grows past the bound while the secret is half printed.
        let filler = format!("{},", "x".repeat(HOLD_MAX - 10));
        let (half_a, half_b) = SECRET.split_at(20);
        let (_, all) = run(&[&filler, half_a, half_b, " end\n"]);
        assert!(!all.contains(half_a) && !all.contains(half_b), "leaked");
        assert!(all.contains(REDACTED));
        assert!(all.ends_with(" end\n"));
    }
}
