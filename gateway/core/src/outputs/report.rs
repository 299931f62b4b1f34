//! What inspection found and what was done about it: the `output.inspected` audit event (never
//! a value) and, when the output is withheld, the error the caller reads.

use super::guard::Withheld;
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    decision::Decision,
    outputs::{ruling_for, FindingFacts, OutputAction, OutputPlace},
    ErrorCode, ExecutionError, ExecutionErrorCode, Principal,
};
use serde_json::json;
use std::collections::BTreeMap;

/// A decision of `output.inspect` and the totals it was asked about.
pub(super) struct Ruled {
    pub totals: BTreeMap<(String, OutputPlace), u64>,
    pub labels: Vec<String>,
    pub decision: Decision,
}

/// The outcome of inspecting one execution's outputs (or one file).
#[derive(Debug)]
pub(crate) struct Inspected {
    findings: Vec<serde_json::Value>,
    /// The findings as policy was asked about them (detector, place, count).
    pub facts: Vec<FindingFacts>,
    /// The last decision of `output.inspect` (None: policy could not be asked).
    pub decision: Option<Decision>,
    pub withheld: Option<Withheld>,
}

impl Inspected {
    pub(super) fn new(
        totals: &BTreeMap<(String, OutputPlace), u64>,
        ruled: Option<&Ruled>,
        withheld: Option<Withheld>,
    ) -> Self {
        let rulings = ruled.map(|r| r.decision.obligations.outputs.as_slice());
        let findings = totals
            .iter()
            .map(|((detector, place), count)| {
                let action = match &withheld {
                    Some(w) if w.held => OutputAction::Hold,
                    Some(_) => OutputAction::Block,
                    None => rulings
                        .and_then(|r| ruling_for(r, detector, *place))
                        .map_or(OutputAction::Allow, |r| r.action),
                };
                json!({"detector": detector, "where": place, "count": count, "action": action})
            })
            .collect();
        Self {
            findings,
            facts: super::guard::facts(totals),
            decision: ruled.map(|r| r.decision.clone()),
            withheld,
        }
    }

    /// The `output.inspected` event of an execution or of a file on its way out.
    pub fn event(
        &self,
        p: &Principal,
        session_id: &str,
        execution_id: Option<&str>,
        path: Option<&str>,
    ) -> NewEvent {
        let data = payload::output_inspected(
            p,
            &payload::OutputInspected {
                session_id,
                execution_id,
                path,
                findings: serde_json::Value::Array(self.findings.clone()),
                outcome: match &self.withheld {
                    Some(w) if w.held => "held",
                    Some(_) => "blocked",
                    None => "released",
                },
                decision_id: self.decision.as_ref().map(|d| d.decision_id.as_str()),
                policy_revision: self.decision.as_ref().map(|d| d.policy_revision.as_str()),
            },
        );
        NewEvent::new(types::OUTPUT_INSPECTED, Some(session_id.to_owned()), data)
    }
}

impl Withheld {
    /// The execution's error: what was found where, and what the model can do instead.
    pub fn error(&self) -> ExecutionError {
        if self.held {
            return ExecutionError {
                name: "OutputHeld".into(),
                value: format!(
                    "{}. The output is held for a reviewer; approved, it is released into this execution.",
                    self.reasons()
                ),
                traceback: vec![],
                code: Some(ExecutionErrorCode::OutputHeld),
            };
        }
        ExecutionError {
            name: "OutputBlocked".into(),
            value: format!("{}. The output is withheld.", self.reasons()),
            traceback: vec![],
            code: Some(ExecutionErrorCode::Gateway(ErrorCode::OutputBlocked)),
        }
    }

    /// The violations as one sentence each, with their hints.
    pub fn reasons(&self) -> String {
        self.violations
            .iter()
            .map(|v| match &v.hint {
                Some(h) => format!("{} ({h})", v.message),
                None => v.message.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}
