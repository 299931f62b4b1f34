//! Output inspection: what leaves a sandbox is scanned for personal data and for patterns the
//! operator names, so policy can decide per finding (allow, mask, block, hold) before the
//! output reaches the caller. This crate finds and masks; deciding is policy's, and where the
//! output came from (stdout, a display, a file, SQL rows) is the pipeline's.
//!
//! Built-in detectors: e-mail addresses, phone numbers (international `+` form and North
//! American numbers), payment card numbers (Luhn), IBANs (mod-97) and US social security
//! numbers (the SSA's issuing rules). A candidate that fails its check is no finding: a
//! 16-digit order number is not a card.
//!
//! One pass: every built-in pattern is one alternative of a single regex, run by the `regex`
//! crate's lazy DFA over the text (ASCII word boundaries keep it on the DFA); only the rare
//! candidates are classified and checked. Operator patterns are scanned after, one pass each.

mod checks;
mod mask;

pub use mask::{mask, Masking};

use regex::Regex;
use std::{collections::BTreeMap, ops::Range};

/// A detector's finding: which detector, and where in the text (byte offsets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub detector: String,
    pub range: Range<usize>,
}

/// A pattern the operator names (`[outputs] detectors`), reported under its name.
#[derive(Clone, Debug)]
pub struct NamedDetector {
    pub name: String,
    pub pattern: String,
}

pub const EMAIL: &str = "email";
pub const PHONE: &str = "phone";
pub const PAYMENT_CARD: &str = "payment_card";
pub const IBAN: &str = "iban";
pub const US_SSN: &str = "us_ssn";

/// The check a candidate must pass to be a finding.
type Check = fn(&str) -> bool;

/// The built-in detectors in the order a candidate is classified: (name, pattern, check).
const BUILT_IN: &[(&str, &str, Check)] = &[
    (
        PAYMENT_CARD,
        r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
        checks::card,
    ),
    (
        IBAN,
        r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?-u:\b)",
        checks::iban,
    ),
    (
        US_SSN,
        r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
        checks::ssn,
    ),
    (
        PHONE,
        r"\+[1-9][0-9]{0,2}(?:[ .-]?[0-9]{1,4}){2,5}(?-u:\b)",
        phone_digits,
    ),
    (
        PHONE,
        r"(?:\([2-9][0-9]{2}\) ?|(?-u:\b)[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}(?-u:\b)",
        phone_digits,
    ),
    (
        EMAIL,
        // Unicode letters in both parts (`jürgen.müller@example.de` is found whole).
        r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.\p{L}{2,24}",
        |_| true,
    ),
];

/// A phone number has 8 to 15 digits (E.164).
fn phone_digits(s: &str) -> bool {
    (8..=15).contains(&s.bytes().filter(u8::is_ascii_digit).count())
}

pub struct Scanner {
    /// Every built-in pattern as one alternative.
    any: Regex,
    /// Each built-in pattern anchored, to classify a candidate.
    each: Vec<(&'static str, Regex, Check)>,
    named: Vec<(String, Regex)>,
}

impl Scanner {
    pub fn new(named: &[NamedDetector]) -> Result<Self, regex::Error> {
        let any = Regex::new(
            &BUILT_IN
                .iter()
                .map(|(_, p, _)| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|"),
        )?;
        let mut each = Vec::with_capacity(BUILT_IN.len());
        for (name, p, check) in BUILT_IN {
            each.push((*name, Regex::new(&format!("^(?:{p})$"))?, *check));
        }
        let mut compiled = Vec::with_capacity(named.len());
        for d in named {
            compiled.push((d.name.clone(), Regex::new(&d.pattern)?));
        }
        Ok(Self {
            any,
            each,
            named: compiled,
        })
    }

    /// Every finding in `text`, in order of position.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut out = vec![];
        for m in self.any.find_iter(text) {
            let s = m.as_str();
            let hit = self
                .each
                .iter()
                .find(|(_, re, check)| re.is_match(s) && check(s));
            if let Some((name, _, _)) = hit {
                out.push(Finding {
                    detector: (*name).to_owned(),
                    range: m.range(),
                });
            }
        }
        for (name, re) in &self.named {
            out.extend(re.find_iter(text).map(|m| Finding {
                detector: name.clone(),
                range: m.range(),
            }));
        }
        out.sort_by_key(|f| (f.range.start, f.range.end));
        out
    }
}

/// Whether a rich output's media type carries text (inspected) rather than base64 of binary
/// data (images but SVG, PDF, octet streams). Unknown types count as text: inspecting base64
/// finds nothing, missing text would let it out.
pub fn is_text_media(media: &str) -> bool {
    let binary = (media.starts_with("image/") && !media.starts_with("image/svg"))
        || media.starts_with("audio/")
        || media.starts_with("video/")
        || matches!(
            media,
            "application/pdf" | "application/octet-stream" | "application/zip"
        );
    !binary
}

/// How many findings of each detector (what audit and policy see: never the values).
pub fn counts(findings: &[Finding]) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for f in findings {
        *c.entry(f.detector.clone()).or_default() += 1;
    }
    c
}

#[cfg(test)]
mod tests;
