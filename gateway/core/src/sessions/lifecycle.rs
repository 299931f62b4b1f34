//! A session's life: created (policy, sandbox, record), found for its owner, ended.

use super::LiveSession;
use crate::{
    metric,
    quota::{over_cap, within_policy, Capped},
    service::{err, store_err, Gateway},
};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    policy_input::{Action, RequestFacts},
    ports::{Change, SandboxSpec},
    session::{Session, SessionStatus},
    ErrorCode, GatewayError, Principal, SessionId,
};
use std::sync::Arc;

impl Gateway {
    pub async fn create_session(&self, p: &Principal) -> Result<Session, GatewayError> {
        self.check_admits_work()?;
        let place = self
            .sessions
            .reserve(p, self.settings.session_caps)
            .map_err(|over| over_cap(&over, Capped::Sessions))?;
        let id = self.deps.ids.session_id();
        let input = self.input(Action::SessionCreate, p, None, 0, RequestFacts::default());
        let decision = self.decide_recorded(p, &input, &id).await?;
        let o = &decision.obligations;
        within_policy(
            self.sessions.held(p),
            o.max_sessions,
            o.tenant_max_sessions,
            p.tenant.is_some(),
        )
        .map_err(|over| over_cap(&over, Capped::Sessions))?;
        // The sandbox's resources: the gateway's defaults, lowered by the decision's
        // obligations (never raised).
        let mut limits = self.settings.limits.clone();
        if let Some(m) = decision.obligations.memory_mib {
            limits.memory_mib = limits.memory_mib.min(m.max(64));
        }
        if let Some(c) = decision.obligations.cpu_millis {
            limits.cpu_millis = limits.cpu_millis.min(c.max(50));
        }

        let started = std::time::Instant::now();
        let sandbox = self
            .deps
            .backend
            .create(SandboxSpec {
                session_id: id.clone(),
                limits: limits.clone(),
                tenant: p.tenant.clone(),
            })
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "sandbox start failed");
                err(
                    ErrorCode::SandboxUnavailable,
                    format!("the sandbox could not start: {e}"),
                )
            })?;
        metrics::histogram!(metric::SANDBOX_START_SECONDS).record(started.elapsed().as_secs_f64());
        let now = self.now();
        let session = Session {
            id: id.clone(),
            owner: p.clone(),
            status: SessionStatus::Active,
            status_reason: None,
            created_at: now,
            expires_at: now + self.settings.session_ttl,
            last_active_at: now,
            limits,
            labels: vec![],
            instance_id: self.settings.instance_id.clone(),
        };
        let ev = NewEvent::new(
            types::SESSION_CREATED,
            Some(id.to_string()),
            payload::session(
                &session,
                serde_json::json!({"backend": self.deps.backend.name(), "start_ms": started.elapsed().as_millis() as u64, "warm": sandbox.prestarted()}),
            ),
        );
        if let Err(e) = self
            .deps
            .audit
            .record(
                vec![Change::PutSession(Box::new(session.clone()))],
                vec![ev],
            )
            .await
        {
            let _ = sandbox.destroy().await;
            return Err(e);
        }
        self.sessions
            .insert_reserved(LiveSession::new(session.clone(), sandbox), place)
            .await;
        Ok(session)
    }

    /// The session if `p` owns it (another principal gets 404, never 403: ids are not oracles).
    pub async fn get_session(
        &self,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Session, GatewayError> {
        if let Some(l) = self.sessions.get(id).await {
            let s = l.session.lock().await.clone();
            if s.owner.owner_key() == p.owner_key() {
                return Ok(s);
            }
        }
        match self.deps.store.session(id).await.map_err(store_err)? {
            Some(s) if s.owner.owner_key() == p.owner_key() => Ok(s),
            _ => Err(err(ErrorCode::SessionNotFound, format!("no session {id}"))),
        }
    }

    /// The live session of `p`, touched (idle timer reset).
    pub(crate) async fn live_session(
        &self,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Arc<LiveSession>, GatewayError> {
        self.check_running()?;
        let live = self.sessions.get(id).await;
        match live {
            Some(l) => {
                let mut s = l.session.lock().await;
                if s.owner.owner_key() != p.owner_key() {
                    return Err(err(ErrorCode::SessionNotFound, format!("no session {id}")));
                }
                s.last_active_at = self.now();
                drop(s);
                Ok(l)
            }
            None => {
                let s = self.get_session(p, id).await?;
                // Active but not held here: another replica started it, or this one before a
                // restart. Where the backend can re-attach (pods), this replica serves it.
                if s.status == SessionStatus::Active
                    && self.adopt(s.clone(), "served by another replica").await?
                {
                    if let Some(l) = self.sessions.get(id).await {
                        l.session.lock().await.last_active_at = self.now();
                        return Ok(l);
                    }
                }
                Err(err(
                    ErrorCode::SessionNotActive,
                    format!("session {id} is {}", s.status.as_str()),
                )
                .with_details(
                    serde_json::json!({"status": s.status.as_str(), "reason": s.status_reason}),
                ))
            }
        }
    }

    pub async fn delete_session(
        &self,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Session, GatewayError> {
        let live = self.live_session(p, id).await?;
        self.end_session(
            &live,
            SessionStatus::Deleted,
            "deleted by its owner",
            types::SESSION_DELETED,
        )
        .await
    }

    /// Destroys the sandbox and records the end of the session.
    pub(crate) async fn end_session(
        &self,
        live: &Arc<LiveSession>,
        status: SessionStatus,
        reason: &str,
        event_type: &'static str,
    ) -> Result<Session, GatewayError> {
        let id = live.session.lock().await.id.clone();
        self.sessions.remove(&id).await;
        // Why the sandbox stopped, if it did (a pod's OOM kill, eviction, lost node), before
        // destroying it makes every sandbox look deleted.
        let failure = live.sandbox.failure().await;
        let destroyed = live.sandbox.destroy().await;
        let mut s = live.session.lock().await.clone();
        s.status = status;
        s.status_reason = Some(reason.to_owned());
        let ev = NewEvent::new(
            event_type,
            Some(id.to_string()),
            payload::session(
                &s,
                serde_json::json!({
                    "sandbox_destroyed": destroyed.is_ok(),
                    "sandbox_failure": failure.map(|(code, _)| code),
                }),
            ),
        );
        self.deps
            .audit
            .record(vec![Change::PutSession(Box::new(s.clone()))], vec![ev])
            .await?;
        Ok(s)
    }
}
