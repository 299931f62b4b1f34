//! Step 6, on the way out: output inspection of everything the caller gets from the run (what
//! streamed was inspected as it went; the rest is here: the rows of a statement, the error,
//! output of a run nobody followed). A blocked output fails the execution with
//! `output_blocked`; a held one leaves the execution `pending_review` and goes, whole, into a
//! review case (`record.rs` opens it in the execution's own commit); the findings go to the
//! audit trail as `output.inspected`.

use crate::{outputs::OutputGuard, service::Gateway, sessions::LiveSession};
use airlock_gateway_domain::{
    audit::NewEvent, decision::Decision, outputs::OutputPlace, review::HeldOutput, Execution,
    ExecutionStatus, Principal,
};

/// What is left to inspect after the run.
pub(super) struct ToInspect {
    /// The guard of what streamed (None: nothing streamed).
    pub streamed: Option<OutputGuard>,
    /// Labels the session takes on from what the run read (they apply to its output).
    pub labels: Vec<String>,
}

/// An output policy held: what a reviewer may release, and the decision that held it.
pub(crate) struct HeldForReview {
    pub output: HeldOutput,
    pub decision: Decision,
}

/// What inspection left for the record.
#[derive(Default)]
pub(super) struct InspectedOutputs {
    /// `output.inspected` (when the detectors found anything).
    pub event: Option<NewEvent>,
    pub held: Option<HeldForReview>,
}

impl Gateway {
    /// Inspects the execution's outputs in place: masked, blocked, or moved out into what a
    /// reviewer may release.
    pub(super) async fn inspect_outputs(
        &self,
        p: &Principal,
        live: &LiveSession,
        exec: &mut Execution,
        left: ToInspect,
    ) -> InspectedOutputs {
        if !left.labels.is_empty() {
            let mut s = live.session.lock().await;
            live.add_labels(&mut s, left.labels);
        }
        let streamed = left.streamed.is_some();
        let mut g = left
            .streamed
            .unwrap_or_else(|| self.output_guard(p, live, &exec.session_id));
        if !streamed {
            exec.stdout = g
                .text(OutputPlace::Stdout, std::mem::take(&mut exec.stdout))
                .unwrap_or_default();
            exec.stderr = g
                .text(OutputPlace::Stderr, std::mem::take(&mut exec.stderr))
                .unwrap_or_default();
            exec.outputs.retain_mut(|o| {
                let place = match o.kind.as_str() {
                    "sql_result" => OutputPlace::Sql,
                    _ => OutputPlace::Display,
                };
                g.output(place, o)
            });
        }
        if let Some(e) = exec.error.as_mut() {
            e.value = g
                .text(OutputPlace::Error, std::mem::take(&mut e.value))
                .unwrap_or_default();
            let lines = std::mem::take(&mut e.traceback);
            e.traceback = lines
                .into_iter()
                .map_while(|l| g.text(OutputPlace::Error, l))
                .collect();
        }
        let Some(inspected) = g.finish() else {
            return InspectedOutputs::default();
        };
        let event = inspected.event(p, exec.session_id.as_str(), Some(exec.id.as_str()), None);
        let held = match (&inspected.withheld, &inspected.decision) {
            (None, _) => None,
            // Held by a decision (a hold is never the gateway's own: failing closed blocks).
            (Some(w), Some(decision)) if w.held => {
                let output = HeldOutput {
                    status: exec.status,
                    stdout: std::mem::take(&mut exec.stdout),
                    stderr: std::mem::take(&mut exec.stderr),
                    outputs: std::mem::take(&mut exec.outputs),
                    error: exec.error.replace(w.error()),
                    findings: inspected.facts.clone(),
                };
                exec.status = ExecutionStatus::PendingReview;
                Some(HeldForReview {
                    output,
                    decision: decision.clone(),
                })
            }
            (Some(w), _) => {
                exec.stdout.clear();
                exec.stderr.clear();
                exec.outputs.clear();
                exec.status = ExecutionStatus::Failed;
                exec.error = Some(w.error());
                None
            }
        };
        InspectedOutputs {
            event: Some(event),
            held,
        }
    }
}
