//! Policy replay: recorded decisions (`policy.decided` events, with the input as it was
//! recorded, masked as decision logs are) decided again by a candidate bundle, and every one
//! that would change: allow to deny, deny to allow, review gained or lost, other reasons.

use crate::{audit::AuditEvent, policy_input::PolicyInput, ports::PolicyEngine};
use serde::Serialize;
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// One recorded decision the candidate decides differently.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Changed {
    pub event_id: String,
    pub time: String,
    pub subject: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    pub before: String,
    pub after: String,
    /// Violation codes before and after (sorted).
    pub reasons_before: Vec<String>,
    pub reasons_after: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Report {
    pub candidate_revision: String,
    /// Recorded decisions read.
    pub decisions: usize,
    /// Recorded decisions whose input could not be read back (recorded before inputs were,
    /// or masked past the schema); not replayed.
    pub unreadable: usize,
    pub changed: Vec<Changed>,
}

fn codes(v: &serde_json::Value) -> Vec<String> {
    let set: BTreeSet<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["code"].as_str().map(str::to_owned))
        .collect();
    set.into_iter().collect()
}

/// Decides every recorded decision in `events` again with `candidate`.
pub fn replay(candidate: &dyn PolicyEngine, events: &[AuditEvent]) -> Report {
    let mut report = Report {
        candidate_revision: candidate.revision(),
        ..Report::default()
    };
    for e in events.iter().filter(|e| e.event_type == "policy.decided") {
        report.decisions += 1;
        let d = &e.data;
        let Ok(input) = serde_json::from_value::<PolicyInput>(d["input"].clone()) else {
            report.unreadable += 1;
            continue;
        };
        let (after, reasons_after) = match candidate.decide(&input) {
            Ok(now) => (
                now.result.as_str().to_owned(),
                codes(&serde_json::to_value(&now.violations).unwrap_or_default()),
            ),
            // A candidate that cannot decide denies, as the gateway would.
            Err(_) => ("deny".to_owned(), vec!["policy_unavailable".to_owned()]),
        };
        let before = d["result"].as_str().unwrap_or_default().to_owned();
        let reasons_before = codes(&d["violations"]);
        if before == after && reasons_before == reasons_after {
            continue;
        }
        report.changed.push(Changed {
            event_id: e.id.clone(),
            time: e.time.clone(),
            subject: d["principal"]["subject"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            action: d["action"].as_str().unwrap_or_default().to_owned(),
            execution_id: d["execution_id"].as_str().map(str::to_owned),
            session_id: d["session_id"].as_str().map(str::to_owned),
            before,
            after,
            reasons_before,
            reasons_after,
        });
    }
    report
}

impl Report {
    /// The report as a Markdown table (one row per changed decision).
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} recorded decisions replayed against {}: {} would change{}\n\n",
            self.decisions,
            self.candidate_revision,
            self.changed.len(),
            if self.unreadable > 0 {
                format!(
                    " ({} without a readable input, not replayed)",
                    self.unreadable
                )
            } else {
                String::new()
            }
        );
        if self.changed.is_empty() {
            return out;
        }
        out.push_str("| time | subject | action | execution | before | after | reasons now |\n|---|---|---|---|---|---|---|\n");
        for c in &self.changed {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                c.time,
                c.subject,
                c.action,
                c.execution_id.as_deref().unwrap_or("-"),
                c.before,
                c.after,
                c.reasons_after.join(", ")
            ));
        }
        out
    }
}
