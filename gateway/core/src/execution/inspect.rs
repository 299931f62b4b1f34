//! Step 6: the outcome as the caller sees it: status, a clear error for every way the sandbox
//! ended the code, secrets redacted, outputs inspected (`outputs.rs`), and what the code
//! loaded at run time decided again.

use super::{
    enforce::Enforced,
    outputs::ToInspect,
    prepare::{Ready, Turn},
};
use crate::{
    jobs::{Job, JobEvent},
    metric,
    service::Gateway,
};
use airlock_gateway_domain::{
    decision::DecisionResult,
    ports::{JobEnd, JobOutcome},
    ExecutionError, ExecutionErrorCode, ExecutionStatus, GatewayError, Principal,
};
use std::sync::Arc;

impl Gateway {
    /// Fills the execution from the outcome; returns the runtime-imports decision's event.
    pub(super) async fn inspect(
        &self,
        p: &Principal,
        ready: &mut Ready,
        enforced: &mut Enforced,
        job: Option<&Arc<Job>>,
    ) -> Option<airlock_gateway_domain::audit::NewEvent> {
        let span = tracing::info_span!("inspect");
        let outcome = &mut enforced.outcome;
        let exec = &mut ready.exec;
        let guard = match enforced.streamed.take() {
            Some(s) => {
                exec.stdout = s.stdout;
                exec.stderr = s.stderr;
                exec.outputs = s.outputs;
                s.guard
            }
            None => {
                exec.stdout = std::mem::take(&mut outcome.stdout);
                exec.stderr = std::mem::take(&mut outcome.stderr);
                exec.outputs = std::mem::take(&mut outcome.outputs);
                None
            }
        };
        exec.artifacts = std::mem::take(&mut outcome.artifacts);
        exec.error = outcome.error.take();
        if let Some(e) = exec.error.as_mut() {
            let red = self.deps.audit.redactor();
            red.redact_str(&mut e.value);
            for line in &mut e.traceback {
                red.redact_str(line);
            }
        }
        exec.status = status_of(outcome.end);
        let cancelled_by = job.and_then(|j| j.cancelled_by());
        if let Some(e) = self.sandbox_error(outcome, ready.timeout_seconds, cancelled_by) {
            let tb = exec.error.take().map(|e| e.traceback).unwrap_or_default();
            exec.error = Some(ExecutionError {
                traceback: if e.traceback.is_empty() {
                    tb
                } else {
                    e.traceback
                },
                ..e
            });
        } else if outcome.end == JobEnd::QuotaExceeded {
            if let Some(e) = exec.error.as_mut() {
                e.code = Some(ExecutionErrorCode::WorkspaceQuotaExceeded);
            }
        }
        if outcome.kernel_restarted
            || matches!(outcome.end, JobEnd::OutOfMemory | JobEnd::KernelDied)
        {
            metrics::counter!(metric::KERNEL_RESTARTS).increment(1);
        }
        drop(span);
        // What leaves is inspected (rows delivered to the running code are not leaving: the
        // code's own output is inspected on its way out).
        if !matches!(ready.turn, Turn::InsideRunning { .. }) {
            let left = ToInspect {
                streamed: guard,
                labels: enforced.labels.clone(),
            };
            let exec = &mut ready.exec;
            let live = ready.turn.live();
            let inspected = self.inspect_outputs(p, live, exec, left).await;
            enforced.events.extend(inspected.event);
            enforced.held = inspected.held;
        }
        let exec = &mut ready.exec;
        if let Some(job) = job {
            for a in &exec.artifacts {
                job.log.push(JobEvent::Artifact(a.clone()));
            }
        }
        // What the code loaded at run time, decided again; a denial withholds the result.
        let (imp_input, imp) = self.runtime_imports_decision(&ready.input, &outcome.imports)?;
        if imp.result != DecisionResult::Allow {
            self.withhold(ready.turn.live(), exec, &imp).await;
        }
        let sid = exec.session_id.clone();
        Some(self.decided_event(p, &imp_input, &imp, &sid, Some(exec.id.as_str())))
    }

    /// The error for an end the sandbox caused rather than the code (None: the code's own).
    fn sandbox_error(
        &self,
        outcome: &JobOutcome,
        timeout_seconds: u32,
        cancelled_by: Option<String>,
    ) -> Option<ExecutionError> {
        let restarted = if outcome.kernel_restarted {
            "; the kernel did not stop and was restarted, so its variables are gone"
        } else {
            "; variables are kept"
        };
        let (name, value, code) = match outcome.end {
            JobEnd::TimedOut => (
                "TimeoutError",
                format!("the execution exceeded its {timeout_seconds} s limit and was interrupted{restarted}"),
                ExecutionErrorCode::TimedOut,
            ),
            JobEnd::Cancelled => (
                "Cancelled",
                format!(
                    "the execution was cancelled by {}{restarted}",
                    cancelled_by.as_deref().unwrap_or("the gateway")
                ),
                ExecutionErrorCode::Cancelled,
            ),
            JobEnd::OutOfMemory => (
                "MemoryError",
                format!("the sandbox ran out of memory (limit {} MiB); the kernel was restarted and its variables are gone", self.settings.limits.memory_mib),
                ExecutionErrorCode::OutOfMemory,
            ),
            JobEnd::KernelDied => (
                "KernelDied",
                "the kernel process died; it was restarted and its variables are gone".to_owned(),
                ExecutionErrorCode::KernelDied,
            ),
            JobEnd::Completed | JobEnd::Failed | JobEnd::QuotaExceeded => return None,
        };
        Some(ExecutionError {
            name: name.into(),
            value,
            traceback: vec![],
            code: Some(code),
        })
    }
}

fn status_of(end: JobEnd) -> ExecutionStatus {
    match end {
        JobEnd::Completed => ExecutionStatus::Succeeded,
        JobEnd::TimedOut => ExecutionStatus::TimedOut,
        JobEnd::Cancelled => ExecutionStatus::Cancelled,
        JobEnd::Failed | JobEnd::OutOfMemory | JobEnd::KernelDied | JobEnd::QuotaExceeded => {
            ExecutionStatus::Failed
        }
    }
}

/// A failed execution for followers when the run broke before its own record said how.
pub(super) fn broken(
    mut exec: airlock_gateway_domain::Execution,
    e: &GatewayError,
    now: time::OffsetDateTime,
) -> airlock_gateway_domain::Execution {
    exec.status = ExecutionStatus::Failed;
    exec.error = Some(ExecutionError {
        name: "GatewayError".into(),
        value: e.message.clone(),
        traceback: vec![],
        code: Some(ExecutionErrorCode::Gateway(e.code)),
    });
    exec.finished_at = Some(now);
    exec
}
