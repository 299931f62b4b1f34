//! Masking findings in a text: the value replaced whole, or all but its last characters.

use crate::Finding;

/// How one finding is masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Masking {
    /// Replaced by `[<detector>]`.
    Replace,
    /// Every letter and digit but the last `n` becomes `*`; separators stay
    /// (`**** **** **** 1111`).
    KeepLast(usize),
}

/// `text` with each finding masked as `how` says for its detector (None: left as it is).
/// Overlapping findings: the first (by position) wins.
pub fn mask(text: &str, findings: &[Finding], how: impl Fn(&str) -> Option<Masking>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        let Some(m) = how(&f.detector) else {
            continue;
        };
        if f.range.start < at || f.range.end > text.len() {
            continue;
        }
        let (Some(before), Some(value)) = (text.get(at..f.range.start), text.get(f.range.clone()))
        else {
            continue;
        };
        out.push_str(before);
        match m {
            Masking::Replace => {
                out.push('[');
                out.push_str(&f.detector);
                out.push(']');
            }
            Masking::KeepLast(n) => out.push_str(&keep_last(value, n)),
        }
        at = f.range.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

fn keep_last(value: &str, n: usize) -> String {
    let total = value.chars().filter(char::is_ascii_alphanumeric).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if !c.is_ascii_alphanumeric() {
                return c;
            }
            seen += 1;
            if seen + n > total {
                c
            } else {
                '*'
            }
        })
        .collect()
}
