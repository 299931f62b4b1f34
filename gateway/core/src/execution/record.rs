//! Step 7: `execution.completed` with everything the execution touched, in one commit with the
//! execution, its files and the session; and the record of a run the sandbox or connector
//! failed under.

use super::{enforce::Enforced, outputs::HeldForReview, prepare::Ready};
use crate::{metric, service::Gateway, sessions::LiveSession};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    ports::{Change, SandboxError},
    session::SessionStatus,
    ErrorCode, Execution, ExecutionError, ExecutionErrorCode, ExecutionStatus, GatewayError,
    Principal,
};
use std::sync::Arc;
use tracing::Instrument;

/// A run that ended in an error for the caller; `exec` is the failed execution as recorded,
/// when it could be recorded.
pub(crate) struct RunFailure {
    pub exec: Option<Execution>,
    pub error: GatewayError,
}

impl From<GatewayError> for RunFailure {
    fn from(error: GatewayError) -> Self {
        Self { exec: None, error }
    }
}

/// What a case of held output pins of the request that ran.
struct Pinned<'a> {
    req: &'a airlock_gateway_domain::ExecutionRequest,
    facts: &'a airlock_gateway_domain::policy_input::CodeFacts,
    timeout_seconds: u32,
}

impl Gateway {
    pub(super) async fn record_result(
        &self,
        p: &Principal,
        ready: Ready,
        enforced: Enforced,
        imports_decided: Option<NewEvent>,
    ) -> Result<Execution, GatewayError> {
        let Ready {
            mut exec,
            turn,
            started,
            req,
            facts,
            timeout_seconds,
            ..
        } = ready;
        exec.duration_ms = started.elapsed().as_millis() as u64;
        exec.finished_at = Some(self.now());
        exec.audit_id.clear();
        let live = turn.live();
        let mut s = live.session.lock().await;
        s.last_active_at = self.now();
        // Reading through a connector marks the session with the connector's labels.
        live.add_labels(&mut s, enforced.labels);
        let mut used = crate::usage::of_run(
            &enforced.outcome.usage,
            s.limits.memory_mib,
            exec.duration_ms,
        );
        let mut changes = vec![Change::PutSession(Box::new(s.clone()))];
        let mut recorded = enforced.events;
        // Output policy held: the output waits in a case, in this same commit.
        if let Some(held) = enforced
            .held
            .filter(|_| exec.status == ExecutionStatus::PendingReview)
        {
            let pinned = Pinned {
                req: &req,
                facts: &facts,
                timeout_seconds,
            };
            let (case_changes, opened) = self.hold_output(p, &s, &mut exec, held, pinned);
            changes.extend(case_changes);
            recorded.push(opened);
            used.review_cases += 1;
        }
        // SQL from running code is part of that execution: its rows count, not another run.
        if let super::prepare::Turn::InsideRunning { .. } = turn {
            used.executions = 0;
            used.memory_mib_ms = 0;
        }
        changes.push(self.usage_change(p, used));
        drop(s);
        let stored = match &turn {
            // Rows that went to the running code are its input, not output for the caller:
            // they are not kept where the API could read them back uninspected.
            super::prepare::Turn::InsideRunning { .. } => without_rows(&exec),
            super::prepare::Turn::Held { .. } => exec.clone(),
        };
        changes.insert(0, Change::PutExecution(Box::new(stored)));
        for a in &exec.artifacts {
            changes.push(Change::PutFile {
                session_id: exec.session_id.clone(),
                file: a.clone(),
            });
        }
        let done = NewEvent::new(
            types::EXECUTION_COMPLETED,
            Some(exec.session_id.to_string()),
            payload::completed(
                p,
                &exec,
                enforced.outcome.kernel_restarted,
                enforced.outcome.output_truncated,
            ),
        );
        recorded.extend(imports_decided);
        recorded.push(done);
        let sealed = self
            .deps
            .audit
            .record(changes, recorded)
            .instrument(tracing::info_span!("record_result"))
            .await?;
        exec.audit_id = sealed.last().map(|e| e.id.clone()).unwrap_or_default();
        Self::count_usage(p, &used);
        metrics::counter!(metric::EXECUTIONS, "status" => exec.status.as_str()).increment(1);
        metrics::histogram!(metric::EXECUTION_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(exec)
    }

    /// The case of an output policy held (its changes and `review.requested`); the execution
    /// names it.
    fn hold_output(
        &self,
        p: &Principal,
        session: &airlock_gateway_domain::Session,
        exec: &mut Execution,
        held: HeldForReview,
        pinned: Pinned<'_>,
    ) -> (Vec<Change>, NewEvent) {
        let (case, opened) = self.open_case(crate::review::Held {
            requester: p,
            session,
            exec,
            req: pinned.req,
            facts: pinned.facts,
            decision: &held.decision,
            timeout_seconds: pinned.timeout_seconds,
            output: Some(held.output),
        });
        exec.case_id = Some(case.id.clone());
        if let Some(e) = exec.error.as_mut() {
            e.value.push_str(&format!(
                " Follow review case {} (GET /v1/reviews/{}).",
                case.id, case.id
            ));
        }
        let mut changes = self.webhook_changes(&case, std::slice::from_ref(&opened));
        changes.push(Change::PutCase(Box::new(case)));
        (changes, opened)
    }

    /// No credential or no database: nothing ran. Record the failure and the credential's
    /// events, answer 503.
    pub(super) async fn connector_failed(
        &self,
        p: &Principal,
        mut exec: Execution,
        mut evs: Vec<NewEvent>,
        e: GatewayError,
    ) -> RunFailure {
        exec.status = ExecutionStatus::Failed;
        exec.error = Some(ExecutionError {
            name: "ConnectorError".into(),
            value: e.message.clone(),
            traceback: vec![],
            code: Some(ExecutionErrorCode::Gateway(e.code)),
        });
        exec.finished_at = Some(self.now());
        evs.push(NewEvent::new(
            types::EXECUTION_COMPLETED,
            Some(exec.session_id.to_string()),
            payload::completed(p, &exec, false, false),
        ));
        exec.audit_id.clear();
        if let Ok(sealed) = self
            .deps
            .audit
            .record(vec![Change::PutExecution(Box::new(exec.clone()))], evs)
            .await
        {
            exec.audit_id = sealed.last().map(|e| e.id.clone()).unwrap_or_default();
        }
        let error = e.with_details(serde_json::json!({"execution_id": exec.id}));
        RunFailure {
            exec: Some(exec),
            error,
        }
    }

    /// The sandbox failed underneath the execution: record the failure, end the session if the
    /// sandbox is gone, and answer 503.
    pub(super) async fn sandbox_failed(
        &self,
        live: &Arc<LiveSession>,
        mut exec: Execution,
        e: SandboxError,
        mut recorded: Vec<NewEvent>,
        egress_bytes: u64,
    ) -> RunFailure {
        tracing::error!(error = %e, execution = %exec.id, "sandbox failed during execution");
        exec.status = ExecutionStatus::Failed;
        exec.error = Some(ExecutionError {
            name: "SandboxError".into(),
            value: e.to_string(),
            traceback: vec![],
            code: Some(e.execution_code()),
        });
        let now = self.now();
        exec.finished_at = Some(now);
        exec.duration_ms = u64::try_from((now - exec.created_at).whole_milliseconds()).unwrap_or(0);
        let (p, memory_mib) = {
            let s = live.session.lock().await;
            (s.owner.clone(), s.limits.memory_mib)
        };
        // It ran, until the sandbox failed under it: metered like any run.
        let run = airlock_gateway_domain::ports::RunUsage {
            egress_bytes,
            ..Default::default()
        };
        let used = crate::usage::of_run(&run, memory_mib, exec.duration_ms);
        recorded.push(NewEvent::new(
            types::EXECUTION_COMPLETED,
            Some(exec.session_id.to_string()),
            payload::completed(&p, &exec, false, false),
        ));
        exec.audit_id.clear();
        if let Ok(sealed) = self
            .deps
            .audit
            .record(
                vec![
                    Change::PutExecution(Box::new(exec.clone())),
                    self.usage_change(&p, used),
                ],
                recorded,
            )
            .await
        {
            exec.audit_id = sealed.last().map(|e| e.id.clone()).unwrap_or_default();
            Self::count_usage(&p, &used);
        }
        if !live.sandbox.alive().await {
            let reason = Self::died_reason(&*live.sandbox).await;
            let _ = self
                .end_session(live, SessionStatus::Lost, &reason, types::SESSION_LOST)
                .await;
        }
        let code = match e {
            SandboxError::Busy | SandboxError::Quota(_) => e.error_code(),
            _ => ErrorCode::SandboxUnavailable,
        };
        let error = GatewayError::new(code, format!("the sandbox failed: {e}"))
            .with_details(serde_json::json!({"execution_id": exec.id}));
        RunFailure {
            exec: Some(exec),
            error,
        }
    }
}

/// `exec` with the rows of its statement's result left out (their count stays).
fn without_rows(exec: &Execution) -> Execution {
    let mut e = exec.clone();
    for o in e.outputs.iter_mut().filter(|o| o.kind == "sql_result") {
        if let Some(serde_json::Value::Object(r)) = o.data.get_mut("application/json") {
            r.insert("rows".into(), serde_json::Value::Array(vec![]));
            r.insert("rows_shown".into(), 0.into());
            r.insert("delivered_to".into(), "the running code".into());
        }
    }
    e
}
