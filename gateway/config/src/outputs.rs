//! `[outputs]`: output inspection's named detectors (the built-in ones need no configuration;
//! what happens to findings is policy's, `data.airlock.outputs`).

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

/// Detector names the gateway uses itself.
const RESERVED: &[&str] = &[
    "email",
    "phone",
    "payment_card",
    "iban",
    "us_ssn",
    "uninspectable",
    "*",
];

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Outputs {
    /// Patterns of the organisation's own identifiers, each reported under its name
    /// (`{ name = "employee_id", pattern = "EMP-[0-9]{6}" }`).
    pub detectors: Vec<NamedDetector>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedDetector {
    pub name: String,
    /// A regular expression (Rust `regex` syntax: no look-around, linear time).
    pub pattern: String,
}

impl Outputs {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = regex::Regex::new("^[a-z][a-z0-9_]{0,62}$")
            .map_err(|e| invalid("outputs.detectors", format!("internal pattern error: {e}")))?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, d) in self.detectors.iter().enumerate() {
            let key = format!("outputs.detectors[{i}]");
            if !name_ok.is_match(&d.name) {
                return Err(invalid(
                    &key,
                    format!("name {:?}: use lower-case letters, digits and _", d.name),
                ));
            }
            if RESERVED.contains(&d.name.as_str()) || !seen.insert(d.name.as_str()) {
                return Err(invalid(
                    &key,
                    format!("name {:?} is a built-in detector's or used twice", d.name),
                ));
            }
            let re = regex::RegexBuilder::new(&d.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| invalid(&key, format!("pattern: {e}")))?;
            if re.is_match("") {
                return Err(invalid(&key, "pattern matches the empty text"));
            }
        }
        Ok(())
    }
}
