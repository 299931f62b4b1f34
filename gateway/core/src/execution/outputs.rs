//! Step 6, on the way out: output inspection of everything the caller gets from the run (what
//! streamed was inspected as it went; the rest is here: the rows of a statement, the error,
//! output of a run nobody followed). A withheld output fails the execution with
//! `output_blocked`; the findings go to the audit trail as `output.inspected`.

use crate::{outputs::OutputGuard, service::Gateway, sessions::LiveSession};
use airlock_gateway_domain::{
    audit::NewEvent, outputs::OutputPlace, Execution, ExecutionStatus, Principal,
};

/// What is left to inspect after the run.
pub(super) struct ToInspect {
    /// The guard of what streamed (None: nothing streamed).
    pub streamed: Option<OutputGuard>,
    /// Labels the session takes on from what the run read (they apply to its output).
    pub labels: Vec<String>,
}

impl Gateway {
    /// Inspects the execution's outputs in place; the `output.inspected` event when the
    /// detectors found anything.
    pub(super) async fn inspect_outputs(
        &self,
        p: &Principal,
        live: &LiveSession,
        exec: &mut Execution,
        left: ToInspect,
    ) -> Option<NewEvent> {
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
        let inspected = g.finish()?;
        if let Some(w) = &inspected.withheld {
            exec.stdout.clear();
            exec.stderr.clear();
            exec.outputs.clear();
            exec.status = ExecutionStatus::Failed;
            exec.error = Some(w.error());
        }
        Some(inspected.event(p, exec.session_id.as_str(), Some(exec.id.as_str()), None))
    }
}
