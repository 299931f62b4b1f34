//! Output inspection's vocabulary: where an output leaves (`OutputPlace`), what the detectors
//! found there (`FindingFacts`, the policy input; never the values), and what policy rules for
//! each finding (`OutputRuling`, an obligation of the action `output.inspect`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where an output leaves the sandbox for the caller.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutputPlace {
    Stdout,
    Stderr,
    /// A rich output (`display`): its text, HTML and JSON parts.
    Display,
    /// The error's value and traceback.
    Error,
    /// Rows a statement returned through a connector.
    Sql,
    /// A workspace file on its way out (`GET .../files/{path}`).
    File,
}

impl OutputPlace {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::Display => "display",
            Self::Error => "error",
            Self::Sql => "sql",
            Self::File => "file",
        }
    }
}

/// What one detector found in one place: how many, never what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct FindingFacts {
    /// `email`, `phone`, `payment_card`, `iban`, `us_ssn`, an operator's named detector, or
    /// `uninspectable` (a file that is not text, so nothing in it could be checked).
    pub detector: String,
    #[serde(rename = "where")]
    pub place: OutputPlace,
    pub count: u64,
}

/// What happens to the findings of one detector (in one place, or everywhere).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OutputAction {
    /// Goes out as it is.
    Allow,
    /// The value is replaced (`[email]`), or all but its last `keep_last` characters.
    Mask,
    /// Held for a reviewer. Until review of outputs exists the output is withheld as `block`
    /// withholds it, with the violation code `output_held`.
    Hold,
    /// The output is withheld; the execution fails with `output_blocked` (a download is
    /// refused with it).
    Block,
}

impl OutputAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Mask => "mask",
            Self::Hold => "hold",
            Self::Block => "block",
        }
    }
}

/// Policy's ruling on one detector's findings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema)]
pub struct OutputRuling {
    pub detector: String,
    /// The place the ruling is for (None: every place).
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    pub place: Option<OutputPlace>,
    pub action: OutputAction,
    /// For `mask`: keep this many last letters and digits (`**** **** **** 1111`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u8>,
}

/// The ruling for `detector` in `place` among `rulings`: the strictest that applies (a ruling
/// for the place or for every place), `allow` when none does.
pub fn ruling_for<'a>(
    rulings: &'a [OutputRuling],
    detector: &str,
    place: OutputPlace,
) -> Option<&'a OutputRuling> {
    rulings
        .iter()
        .filter(|r| r.detector == detector && r.place.is_none_or(|p| p == place))
        .max_by_key(|r| (r.action, std::cmp::Reverse(r.keep_last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(detector: &str, place: Option<OutputPlace>, action: OutputAction) -> OutputRuling {
        OutputRuling {
            detector: detector.into(),
            place,
            action,
            keep_last: None,
        }
    }

    #[test]
    fn the_strictest_applicable_ruling_wins() {
        let rules = vec![
            r("email", None, OutputAction::Mask),
            r("email", Some(OutputPlace::File), OutputAction::Block),
            r("phone", Some(OutputPlace::Stdout), OutputAction::Allow),
        ];
        let at = |d, p| ruling_for(&rules, d, p).map(|r| r.action);
        assert_eq!(at("email", OutputPlace::Stdout), Some(OutputAction::Mask));
        assert_eq!(at("email", OutputPlace::File), Some(OutputAction::Block));
        assert_eq!(at("phone", OutputPlace::Stdout), Some(OutputAction::Allow));
        assert_eq!(at("phone", OutputPlace::Sql), None);
    }

    #[test]
    fn a_mask_keeping_fewer_characters_is_stricter() {
        let mut a = r("payment_card", None, OutputAction::Mask);
        a.keep_last = Some(4);
        let b = r("payment_card", None, OutputAction::Mask);
        let rules = vec![a, b];
        let got = ruling_for(&rules, "payment_card", OutputPlace::Stdout);
        assert_eq!(got.and_then(|r| r.keep_last), None);
    }
}
