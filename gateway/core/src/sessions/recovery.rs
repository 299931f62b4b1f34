//! Sessions across restarts and replicas: re-attached where the backend can, recorded as lost
//! where it cannot; and the graceful shutdown that ends them.

use super::LiveSession;
use crate::service::{err, store_err, Gateway};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    ports::Change,
    session::{Session, SessionStatus},
    ErrorCode, GatewayError,
};
use std::time::Duration;

impl Gateway {
    /// At start: the sessions this instance ran before a restart are re-attached where the
    /// backend can (pods outlive the gateway) and marked lost where it cannot; every leftover
    /// sandbox of no active session is removed. Returns how many sessions were lost.
    pub async fn recover(&self) -> Result<usize, GatewayError> {
        let active = self
            .deps
            .store
            .sessions_by_status(SessionStatus::Active)
            .await
            .map_err(store_err)?;
        let mut keep = vec![];
        let mut lost = vec![];
        for s in active {
            if s.instance_id != self.settings.instance_id {
                // Another replica's: left alone (it may be serving it).
                keep.push(s.id.clone());
                continue;
            }
            match self.adopt(s.clone(), "the gateway restarted").await {
                Ok(true) => keep.push(s.id.clone()),
                _ => lost.push(s),
            }
        }
        let report = self
            .deps
            .backend
            .reap_leftovers(&keep)
            .await
            .map_err(|e| err(ErrorCode::SandboxUnavailable, e.to_string()))?;
        if !report.destroyed.is_empty() {
            tracing::warn!(
                count = report.destroyed.len(),
                "removed sandboxes left by a previous gateway process"
            );
        }
        self.sweep_leases(true).await;
        let n = lost.len();
        for mut s in lost {
            s.status = SessionStatus::Lost;
            s.status_reason = Some(
                "the gateway restarted; the sandbox and its variables and files are gone".into(),
            );
            let ev = NewEvent::new(
                types::SESSION_LOST,
                Some(s.id.to_string()),
                payload::session(&s, serde_json::json!({})),
            );
            self.deps
                .audit
                .record(vec![Change::PutSession(Box::new(s))], vec![ev])
                .await?;
        }
        self.fail_orphaned_executions().await?;
        Ok(n)
    }

    /// The reason a session ends with when its sandbox died (with the backend's why, if known).
    pub(crate) async fn died_reason(
        sandbox: &dyn airlock_gateway_domain::ports::Sandbox,
    ) -> String {
        match sandbox.failure().await {
            Some((_, why)) => format!("the sandbox died: {why}"),
            None => "the sandbox died".to_owned(),
        }
    }

    /// Re-attaches this replica to the running sandbox of an active session and takes the
    /// session over (it is recorded as this instance's, with a `session.adopted` event).
    /// Ok(false): the backend has no sandbox to re-attach to.
    pub(crate) async fn adopt(&self, mut s: Session, why: &str) -> Result<bool, GatewayError> {
        let sandbox = match self.deps.backend.adopt(&s.id).await {
            Ok(Some(sb)) => sb,
            Ok(None) => return Ok(false),
            Err(e) => {
                tracing::warn!(session = %s.id, error = %e, "re-attaching to a sandbox failed");
                return Ok(false);
            }
        };
        let previous = std::mem::replace(&mut s.instance_id, self.settings.instance_id.clone());
        let ev = NewEvent::new(
            types::SESSION_ADOPTED,
            Some(s.id.to_string()),
            payload::session(
                &s,
                serde_json::json!({"previous_instance": previous, "reason": why}),
            ),
        );
        self.deps
            .audit
            .record(vec![Change::PutSession(Box::new(s.clone()))], vec![ev])
            .await?;
        self.sessions.insert(LiveSession::new(s, sandbox)).await;
        Ok(true)
    }

    /// Graceful shutdown: refuse new work, destroy every sandbox, record why.
    pub async fn shutdown(&self) {
        self.shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Running executions are stopped and recorded before their sandboxes go.
        let running = self.jobs.unfinished();
        for j in &running {
            j.request_cancel("the gateway (shutting down)");
        }
        let _ = tokio::time::timeout(Duration::from_secs(15), async {
            for j in &running {
                let mut changed = j.log.subscribe();
                while j.log.finished_at().is_none() {
                    if changed.changed().await.is_err() {
                        break;
                    }
                }
            }
        })
        .await;
        let all = self.sessions.all().await;
        tracing::info!(
            sessions = all.len(),
            jobs = running.len(),
            "shutdown: ending sessions"
        );
        for l in all {
            if let Err(e) = self
                .end_session(
                    &l,
                    SessionStatus::Lost,
                    "the gateway shut down; the sandbox was destroyed",
                    types::SESSION_LOST,
                )
                .await
            {
                tracing::error!(error = %e.message, "shutdown: recording a session's end failed");
            }
        }
        // Sandboxes started ahead for sessions to come (a warm pool) go too.
        self.deps.backend.shutdown().await;
        let stopped = NewEvent::new(
            types::GATEWAY_STOPPED,
            None,
            serde_json::json!({"instance_id": self.settings.instance_id}),
        );
        if let Err(e) = self.deps.audit.record(vec![], vec![stopped]).await {
            tracing::error!(error = %e.message, "shutdown: recording gateway.stopped failed");
        }
        // A cleanly stopped chain ends with a checkpoint.
        if let Err(e) = self.deps.audit.checkpoint().await {
            tracing::error!(error = %e.message, "final audit checkpoint failed");
        }
    }
}
