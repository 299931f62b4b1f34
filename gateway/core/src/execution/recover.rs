//! After a restart: executions nobody runs any more end `failed` with `gateway_restarted`.

use crate::service::{store_err, Gateway};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    ports::Change,
    ExecutionError, ExecutionErrorCode, ExecutionStatus, GatewayError,
};

impl Gateway {
    /// Ends the executions a previous process of this instance left queued or running (and
    /// those of sessions that have ended). Returns how many.
    pub(crate) async fn fail_orphaned_executions(&self) -> Result<usize, GatewayError> {
        let orphans = self
            .deps
            .store
            .orphaned_executions(&self.settings.instance_id)
            .await
            .map_err(store_err)?;
        let n = orphans.len();
        for mut exec in orphans {
            exec.status = ExecutionStatus::Failed;
            exec.error = Some(ExecutionError {
                name: "GatewayRestarted".into(),
                value: "the gateway restarted while the execution was queued or running; \
                        its output is lost"
                    .into(),
                traceback: vec![],
                code: Some(ExecutionErrorCode::GatewayRestarted),
            });
            exec.finished_at = Some(self.now());
            exec.audit_id.clear();
            let owner = self
                .deps
                .store
                .session(&exec.session_id)
                .await
                .map_err(store_err)?
                .map(|s| s.owner);
            let data = match &owner {
                Some(p) => payload::completed(p, &exec, false, false),
                None => {
                    serde_json::json!({"execution_id": exec.id, "status": exec.status.as_str()})
                }
            };
            let ev = NewEvent::new(
                types::EXECUTION_COMPLETED,
                Some(exec.session_id.to_string()),
                data,
            );
            self.deps
                .audit
                .record(vec![Change::PutExecution(Box::new(exec))], vec![ev])
                .await?;
        }
        if n > 0 {
            tracing::warn!(
                count = n,
                "executions left unfinished by a restart ended as gateway_restarted"
            );
        }
        Ok(n)
    }
}
