//! A session seen as a kernel (the Jupyter kernel gateway API): what runs in it, interrupting
//! that, and restarting its kernel (variables and imports gone, the workspace's files kept, as
//! a Jupyter restart does). Both go through the same ownership checks and audit as the rest.

use crate::service::{err, Gateway};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    ports::Change,
    ErrorCode, ExecutionId, GatewayError, Principal, Session, SessionId,
};
use std::{sync::Arc, time::Duration};

/// How long a restart waits for an interrupted execution to give the session back.
const RESTART_WAIT: Duration = Duration::from_secs(30);

impl Gateway {
    /// The execution of the caller's session that has not ended, when this gateway runs it.
    pub async fn running_in(
        &self,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Option<ExecutionId>, GatewayError> {
        self.get_session(p, id).await?;
        Ok(self.jobs.unfinished_in(id).map(|j| j.execution_id.clone()))
    }

    /// Interrupts what runs in the session (it ends `cancelled`, audited); returns its id, or
    /// None when nothing runs.
    pub async fn interrupt_session(
        self: &Arc<Self>,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Option<ExecutionId>, GatewayError> {
        let Some(exec) = self.running_in(p, id).await? else {
            return Ok(None);
        };
        self.cancel_execution(p, &exec).await?;
        Ok(Some(exec))
    }

    /// Restarts the session's kernel: interrupts what runs, waits for the session's turn, then
    /// starts a fresh kernel in the same sandbox (`session.kernel_restarted`).
    pub async fn restart_kernel(
        self: &Arc<Self>,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Session, GatewayError> {
        self.interrupt_session(p, id).await?;
        let live = self.live_session(p, id).await?;
        let _turn = tokio::time::timeout(RESTART_WAIT, live.turn.clone().lock_owned())
            .await
            .map_err(|_| {
                err(
                    ErrorCode::SessionBusy,
                    "the interrupted execution did not stop; try again",
                )
            })?;
        let restarted = live.sandbox.quarantine(&[]).await;
        let s = live.session.lock().await.clone();
        let ev = NewEvent::new(
            types::SESSION_KERNEL_RESTARTED,
            Some(id.to_string()),
            serde_json::json!({
                "principal": payload::principal(p),
                "session_id": id,
                "restarted": restarted.is_ok(),
            }),
        );
        self.deps
            .audit
            .record(vec![Change::PutSession(Box::new(s.clone()))], vec![ev])
            .await?;
        restarted.map_err(|e| {
            tracing::warn!(error = %e, session = %id, "restarting a kernel failed");
            err(
                ErrorCode::SandboxUnavailable,
                format!("the kernel did not restart: {e}"),
            )
        })?;
        Ok(s)
    }
}
