//! Bundle revisions in natural order (`2026.9.1` < `2026.10.0`, `r9` < `r10`), for
//! anti-rollback: a bundle older than the one already active is a replay and is refused.

use std::cmp::Ordering;

fn chunks(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 1..=bytes.len() {
        let split = i == bytes.len() || bytes[i].is_ascii_digit() != bytes[i - 1].is_ascii_digit();
        if split {
            out.push(&s[start..i]);
            start = i;
        }
    }
    out
}

fn numeric(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Natural order: runs of digits compare as numbers, everything else as text.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
        let o = if digits(x) && digits(y) {
            numeric(x, y)
        } else {
            x.cmp(y)
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        for (a, b) in [
            ("2026.9.1", "2026.10.0"),
            ("r9", "r10"),
            ("airlock-default-2026.11.1", "airlock-default-2026.11.2"),
            ("1.0", "1.0.1"),
            ("v007", "v8"),
        ] {
            assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
            assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
        }
        assert_eq!(compare("r10", "r010"), Ordering::Equal);
    }
}
