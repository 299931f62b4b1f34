//! Ends sessions past their TTL or idle timeout.

use crate::service::Gateway;
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    ports::Change,
    session::SessionStatus,
};
use std::{sync::Arc, time::Duration};

impl Gateway {
    /// One sweep; returns how many sessions ended.
    pub async fn sweep(&self) -> usize {
        let now = self.now();
        let idle =
            time::Duration::try_from(self.settings.idle_timeout).unwrap_or(time::Duration::MAX);
        let all = self.sessions.all().await;
        let mut ended = 0;
        for l in all {
            let (expired, idle_out) = {
                let s = l.session.lock().await;
                (now >= s.expires_at, now - s.last_active_at >= idle)
            };
            let dead = !l.sandbox.alive().await;
            let busy = l.turn.try_lock().is_err();
            let died = Self::died_reason(&*l.sandbox).await;
            let reason = if expired {
                "the session reached its time to live"
            } else if idle_out && !busy {
                "the session was idle too long"
            } else if dead && !busy {
                died.as_str()
            } else {
                continue;
            };
            // Another replica took the session over (it serves it now): let go without
            // touching its sandbox.
            let id = l.session.lock().await.id.clone();
            if let Ok(Some(stored)) = self.deps.store.session(&id).await {
                if stored.instance_id != self.settings.instance_id {
                    self.sessions.remove(&id).await;
                    continue;
                }
            }
            let (status, ty) = if dead && !expired && !idle_out {
                (SessionStatus::Lost, types::SESSION_LOST)
            } else {
                (SessionStatus::Expired, types::SESSION_EXPIRED)
            };
            if self.end_session(&l, status, reason, ty).await.is_ok() {
                ended += 1;
            }
        }
        ended
    }

    /// Ends active sessions no replica holds once they are past their time to live plus
    /// `grace` (a live owner's own sweep ends them first): the sessions of a replica that went
    /// away and whose callers never came back. Their sandboxes (pods outlive the gateway) are
    /// re-attached and destroyed. Only where the backend's sandboxes are shared between
    /// replicas, and only on the replica that coordinates them.
    pub async fn sweep_unheld(&self, grace: Duration) -> usize {
        if !self.deps.backend.coordinates() {
            return 0;
        }
        let Ok(active) = self
            .deps
            .store
            .sessions_by_status(SessionStatus::Active)
            .await
        else {
            return 0;
        };
        let now = self.now();
        let grace = time::Duration::try_from(grace).unwrap_or(time::Duration::ZERO);
        let mut ended = 0;
        for s in active {
            if now < s.expires_at + grace || self.sessions.contains(&s.id).await {
                continue;
            }
            let id = s.id.clone();
            let reason = "the session reached its time to live while no replica held it";
            if matches!(self.adopt(s.clone(), reason).await, Ok(true)) {
                let live = self.sessions.get(&id).await;
                if let Some(l) = live {
                    if self
                        .end_session(&l, SessionStatus::Expired, reason, types::SESSION_EXPIRED)
                        .await
                        .is_ok()
                    {
                        ended += 1;
                    }
                }
                continue;
            }
            // No sandbox left to re-attach to: record the end.
            let mut s = s;
            s.status = SessionStatus::Expired;
            s.status_reason = Some(reason.into());
            let ev = NewEvent::new(
                types::SESSION_EXPIRED,
                Some(id.to_string()),
                payload::session(&s, serde_json::json!({"sandbox_destroyed": false})),
            );
            if self
                .deps
                .audit
                .record(vec![Change::PutSession(Box::new(s))], vec![ev])
                .await
                .is_ok()
            {
                ended += 1;
            }
        }
        ended
    }

    /// Runs `sweep` every `interval` until the gateway shuts down.
    pub fn spawn_sweeper(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let gw = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                let Some(gw) = gw.upgrade() else { break };
                if gw.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                gw.sweep_leases(false).await;
                gw.jobs.sweep();
                gw.rate.sweep();
                if let Err(e) = gw.expire_cases().await {
                    tracing::warn!(error = %e, "review case expiry failed; retried next sweep");
                }
                let n = gw.sweep().await + gw.sweep_unheld(interval * 3).await;
                if n > 0 {
                    tracing::info!(ended = n, "session sweep");
                }
            }
        })
    }
}
