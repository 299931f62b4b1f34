//! Reading, following and cancelling executions, and listing a caller's sessions and a
//! session's executions. Another principal's execution or session is a 404, never a 403.

use crate::{
    jobs::Job,
    service::{store_err, Gateway},
};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    ports::Change,
    session::SessionStatus,
    ErrorCode, Execution, ExecutionError, ExecutionErrorCode, ExecutionId, ExecutionStatus,
    GatewayError, Principal, Session, SessionId,
};
use std::{sync::Arc, time::Duration};

/// How a caller follows an execution's events.
pub enum Follow {
    /// Running here, or finished here recently: its event log, replayed and followed.
    Live(Arc<Job>),
    /// Finished, its events no longer held: the result alone.
    Finished(Execution),
    /// Not ended and not running here (another replica runs it, or review holds it): the
    /// store tells when it ends.
    Elsewhere(Execution),
}

/// One page of a listing, newest first; `next` is the cursor of the following page.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// How long a cancel request waits for the execution to stop before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

fn not_found(id: &ExecutionId) -> GatewayError {
    GatewayError::new(ErrorCode::ExecutionNotFound, format!("no execution {id}"))
}

impl Gateway {
    /// The execution if `p` owns it; while it runs here, with its live status.
    pub async fn get_execution(
        &self,
        p: &Principal,
        id: &ExecutionId,
    ) -> Result<Execution, GatewayError> {
        let mut e = match self.deps.store.execution(id).await.map_err(store_err)? {
            Some(e) if e.owner_key == p.owner_key() => e,
            _ => return Err(not_found(id)),
        };
        if let Some(job) = self.jobs.get(id) {
            if job.log.finished_at().is_none() {
                e.status = job.log.status();
            }
        }
        Ok(e)
    }

    pub async fn follow(&self, p: &Principal, id: &ExecutionId) -> Result<Follow, GatewayError> {
        if let Some(job) = self.jobs.get(id) {
            if job.owner_key != p.owner_key() {
                return Err(not_found(id));
            }
            return Ok(Follow::Live(job));
        }
        let e = self.get_execution(p, id).await?;
        Ok(if e.status.is_finished() {
            Follow::Finished(e)
        } else {
            Follow::Elsewhere(e)
        })
    }

    /// Stops an execution: a running one is interrupted and ends `cancelled`, a held one is
    /// cancelled at once, a finished one is returned as it is (cancelling is idempotent).
    /// Returns the execution and whether it has ended.
    pub async fn cancel_execution(
        self: &std::sync::Arc<Self>,
        p: &Principal,
        id: &ExecutionId,
    ) -> Result<(Execution, bool), GatewayError> {
        let exec = self.get_execution(p, id).await?;
        if exec.status.is_finished() {
            return Ok((exec, true));
        }
        if exec.status == ExecutionStatus::PendingReview {
            // Held work with a case: cancelling withdraws the case (one versioned write,
            // so an approval at the same moment either wins or sees it withdrawn).
            if let Some(case) = exec.case_id.clone() {
                let reason = crate::review::CaseAction::Withdraw {
                    reason: "the execution was cancelled".into(),
                };
                match self.act_on_case(p, &case, reason).await {
                    Ok(_) => {}
                    Err(e) if e.code == ErrorCode::CaseClosed => {}
                    Err(e) => return Err(e),
                }
                let now = self.get_execution(p, id).await?;
                let ended = now.status.is_finished();
                return Ok((now, ended));
            }
            return self.cancel_held(p, exec).await.map(|e| (e, true));
        }
        let Some(job) = self.jobs.get(id).filter(|j| j.log.finished_at().is_none()) else {
            return Err(GatewayError::new(
                ErrorCode::ExecutionElsewhere,
                "the execution runs on another gateway replica; send the request there (session affinity)",
            ));
        };
        if job.request_cancel(&p.subject) {
            let ev = NewEvent::new(
                types::EXECUTION_CANCEL_REQUESTED,
                Some(exec.session_id.to_string()),
                serde_json::json!({
                    "principal": payload::principal(p),
                    "session_id": exec.session_id,
                    "execution_id": exec.id,
                }),
            );
            self.deps.audit.record(vec![], vec![ev]).await?;
        }
        let mut changed = job.log.subscribe();
        let _ = tokio::time::timeout(CANCEL_WAIT, async {
            while job.log.finished_at().is_none() {
                if changed.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        let ended = job.log.finished_at().is_some();
        Ok((self.get_execution(p, id).await?, ended))
    }

    /// A held execution that its requester cancels: nothing ran, nothing will.
    async fn cancel_held(
        &self,
        p: &Principal,
        mut exec: Execution,
    ) -> Result<Execution, GatewayError> {
        exec.status = ExecutionStatus::Cancelled;
        exec.error = Some(ExecutionError {
            name: "Cancelled".into(),
            value: format!(
                "cancelled by {} while held for review; nothing ran",
                p.subject
            ),
            traceback: vec![],
            code: Some(ExecutionErrorCode::Cancelled),
        });
        exec.finished_at = Some(self.now());
        exec.audit_id.clear();
        let done = NewEvent::new(
            types::EXECUTION_COMPLETED,
            Some(exec.session_id.to_string()),
            payload::completed(p, &exec, false, false),
        );
        let sealed = self
            .deps
            .audit
            .record(
                vec![Change::PutExecution(Box::new(exec.clone()))],
                vec![done],
            )
            .await?;
        exec.audit_id = sealed.last().map(|e| e.id.clone()).unwrap_or_default();
        Ok(exec)
    }

    /// The caller's sessions, newest first, optionally of one status.
    pub async fn list_sessions(
        &self,
        p: &Principal,
        status: Option<SessionStatus>,
        before: Option<&SessionId>,
        limit: u32,
    ) -> Result<Page<Session>, GatewayError> {
        let mut items = self
            .deps
            .store
            .sessions_of_owner(&p.owner_key(), status, before, limit + 1)
            .await
            .map_err(store_err)?;
        let next = page_cursor(&mut items, limit, |s| s.id.to_string());
        Ok(Page { items, next })
    }

    /// A session's executions, newest first.
    pub async fn list_executions(
        &self,
        p: &Principal,
        session: &SessionId,
        before: Option<&ExecutionId>,
        limit: u32,
    ) -> Result<Page<Execution>, GatewayError> {
        self.get_session(p, session).await?;
        let mut items = self
            .deps
            .store
            .executions_of_session(session, before, limit + 1)
            .await
            .map_err(store_err)?;
        for e in &mut items {
            if let Some(job) = self.jobs.get(&e.id) {
                if job.log.finished_at().is_none() {
                    e.status = job.log.status();
                }
            }
        }
        let next = page_cursor(&mut items, limit, |e| e.id.to_string());
        Ok(Page { items, next })
    }
}

/// Trims a page fetched with one extra row; the cursor is the last kept item's id.
fn page_cursor<T>(items: &mut Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Option<String> {
    let limit = limit as usize;
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(id)
}
