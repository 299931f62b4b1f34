//! The gateway service: sessions and their sandboxes, shared by the pipeline and file handling.

use crate::{audit_recorder::AuditRecorder, events, metric};
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    decision::{Decision, DecisionResult},
    policy_input::{Action, PolicyInput, RequestFacts, SessionFacts},
    ports::{Change, CodeAnalyzer, PolicyEngine, Sandbox, SandboxBackend, SandboxSpec, Store},
    session::{Session, SessionStatus},
    ErrorCode, GatewayError, Limits, Principal, SessionId,
};
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::{Mutex, RwLock};

#[derive(Clone, Debug)]
pub struct GatewaySettings {
    pub instance_id: String,
    pub limits: Limits,
    pub session_ttl: Duration,
    pub idle_timeout: Duration,
    pub max_sessions_total: u32,
    pub max_sessions_per_principal: u32,
    /// Principals in one of these groups may read the audit trail.
    pub auditor_groups: Vec<String>,
    /// How long a finished execution's events stay for followers to replay.
    pub stream_retention: Duration,
}

pub struct GatewayDeps {
    pub store: Arc<dyn Store>,
    pub policy: Arc<dyn PolicyEngine>,
    pub analyzer: Arc<dyn CodeAnalyzer>,
    pub backend: Arc<dyn SandboxBackend>,
    pub audit: Arc<AuditRecorder>,
    /// The relay to Kafka, when configured (for readiness).
    pub relay: Option<Arc<crate::AuditRelay>>,
    /// Warehouses SQL may reach, and the broker of their credentials.
    pub connectors: crate::Connectors,
}

/// A session with a running sandbox, held in memory by the gateway that runs it.
pub(crate) struct LiveSession {
    pub session: Mutex<Session>,
    pub sandbox: Arc<dyn Sandbox>,
    /// One execution or file operation that changes the workspace at a time (an execution's
    /// job holds it until it ends).
    pub turn: Arc<Mutex<()>>,
    /// Executions asked for so far (a policy input).
    pub executions: std::sync::atomic::AtomicU64,
    /// The runtime modules this session's principal may not load, per policy revision.
    pub denied_imports: Mutex<Option<crate::imports::DeniedImports>>,
    /// The egress the running execution holds (`host:port`), empty between executions.
    pub running_egress: std::sync::Mutex<Vec<String>>,
}

pub struct Gateway {
    pub(crate) settings: GatewaySettings,
    pub(crate) deps: GatewayDeps,
    pub(crate) live: RwLock<HashMap<SessionId, Arc<LiveSession>>>,
    /// Executions running here, and recently finished ones, as jobs.
    pub(crate) jobs: crate::jobs::JobHub,
    pub(crate) shutting_down: std::sync::atomic::AtomicBool,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> GatewayError {
    GatewayError::new(code, msg)
}

pub(crate) fn store_err(e: airlock_gateway_domain::ports::StoreError) -> GatewayError {
    tracing::error!(error = %e, "state store error");
    err(ErrorCode::Internal, "the state store failed")
}

impl Gateway {
    pub fn new(settings: GatewaySettings, deps: GatewayDeps) -> Arc<Self> {
        Arc::new(Self {
            jobs: crate::jobs::JobHub::new(settings.stream_retention),
            settings,
            deps,
            live: RwLock::new(HashMap::new()),
            shutting_down: false.into(),
        })
    }

    /// The port the egress proxy hands `sql.airlock` requests to.
    pub fn sandbox_sql(self: &Arc<Self>) -> Arc<dyn airlock_gateway_domain::ports::SandboxSql> {
        Arc::new(crate::connector_run::SandboxSqlPort(Arc::downgrade(self)))
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    pub fn policy_revision(&self) -> String {
        self.deps.policy.revision()
    }

    /// Runs policy, fails closed, and counts the decision.
    pub(crate) fn decide(&self, input: &PolicyInput) -> Result<Decision, GatewayError> {
        let started = std::time::Instant::now();
        let span = tracing::info_span!("decide", action = input.action.as_str());
        let _g = span.enter();
        let d = self.deps.policy.decide(input).map_err(|e| {
            tracing::error!(error = %e, "policy evaluation failed; denying");
            err(
                ErrorCode::PolicyUnavailable,
                "policy could not be evaluated; the request is denied",
            )
        })?;
        metrics::histogram!(metric::DECISION_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::counter!(metric::DECISIONS, "action" => input.action.as_str(), "result" => d.result.as_str()).increment(1);
        Ok(d)
    }

    /// The `policy.decided` event, masked by the bundle's `system.log.mask`.
    pub(crate) fn decided_event(
        &self,
        p: &Principal,
        input: &PolicyInput,
        d: &Decision,
        session_id: &SessionId,
        execution_id: Option<&str>,
    ) -> NewEvent {
        let mut data = events::decided(p, input, d, Some(session_id.as_str()), execution_id);
        self.deps.policy.mask_decision_log(&mut data);
        NewEvent::new(types::POLICY_DECIDED, Some(session_id.to_string()), data)
    }

    /// Decides, records the decision, and turns anything but allow into a 403.
    pub(crate) async fn decide_recorded(
        &self,
        p: &Principal,
        input: &PolicyInput,
        session_id: &SessionId,
    ) -> Result<Decision, GatewayError> {
        let decision = self.decide(input)?;
        let decided = self.decided_event(p, input, &decision, session_id, None);
        self.deps.audit.record(vec![], vec![decided]).await?;
        if decision.result != DecisionResult::Allow {
            return Err(Self::denied(&decision));
        }
        Ok(decision)
    }

    pub(crate) fn input(
        &self,
        action: Action,
        p: &Principal,
        s: Option<&Session>,
        executions: u64,
        request: RequestFacts,
    ) -> PolicyInput {
        PolicyInput {
            action,
            principal: p.clone(),
            session: s.map(|s| SessionFacts {
                id: s.id.to_string(),
                labels: s.labels.clone(),
                executions,
            }),
            request,
            analysis: None,
        }
    }

    /// A 403 carrying the violations, after the decision is recorded.
    pub(crate) fn denied(d: &Decision) -> GatewayError {
        let first = d
            .violations
            .first()
            .map(|v| v.message.clone())
            .unwrap_or_else(|| "denied by policy".into());
        err(ErrorCode::PolicyDenied, first).with_details(serde_json::json!({"decision": d}))
    }

    fn check_running(&self) -> Result<(), GatewayError> {
        if self.shutting_down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(err(ErrorCode::ShuttingDown, "the gateway is shutting down"));
        }
        Ok(())
    }

    /// New work (sessions, executions, uploads) runs only while the audit log keeps up.
    pub(crate) fn check_admits_work(&self) -> Result<(), GatewayError> {
        self.check_running()?;
        self.deps.audit.admit()
    }

    pub async fn create_session(&self, p: &Principal) -> Result<Session, GatewayError> {
        self.check_admits_work()?;
        {
            let live = self.live.read().await;
            if live.len() >= self.settings.max_sessions_total as usize {
                return Err(err(
                    ErrorCode::TooManySessions,
                    "the gateway is at its session limit; try again later",
                ));
            }
            let mut mine = 0;
            for s in live.values() {
                if s.session.lock().await.owner.owner_key() == p.owner_key() {
                    mine += 1;
                }
            }
            if mine >= self.settings.max_sessions_per_principal {
                return Err(err(
                    ErrorCode::TooManySessions,
                    format!("you have {mine} live sessions; delete one first"),
                )
                .with_details(
                    serde_json::json!({"limit": self.settings.max_sessions_per_principal}),
                ));
            }
        }
        let id = SessionId::generate();
        let input = self.input(Action::SessionCreate, p, None, 0, RequestFacts::default());
        let decision = self.decide_recorded(p, &input, &id).await?;
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
        let now = airlock_gateway_domain::now();
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
            events::session(
                &session,
                serde_json::json!({"backend": self.deps.backend.name(), "start_ms": started.elapsed().as_millis() as u64}),
            ),
        );
        if let Err(e) = self
            .deps
            .audit
            .record(vec![Change::PutSession(session.clone())], vec![ev])
            .await
        {
            let _ = sandbox.destroy().await;
            return Err(e);
        }
        let live = Arc::new(LiveSession {
            session: Mutex::new(session.clone()),
            sandbox,
            turn: Arc::new(Mutex::new(())),
            executions: 0.into(),
            denied_imports: Mutex::new(None),
            running_egress: std::sync::Mutex::new(vec![]),
        });
        let mut map = self.live.write().await;
        map.insert(id, live);
        metrics::gauge!(metric::SANDBOXES_LIVE).set(map.len() as f64);
        Ok(session)
    }

    /// The session if `p` owns it (another principal gets 404, never 403: ids are not oracles).
    pub async fn get_session(
        &self,
        p: &Principal,
        id: &SessionId,
    ) -> Result<Session, GatewayError> {
        if let Some(l) = self.live.read().await.get(id) {
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
        let live = self.live.read().await.get(id).cloned();
        match live {
            Some(l) => {
                let mut s = l.session.lock().await;
                if s.owner.owner_key() != p.owner_key() {
                    return Err(err(ErrorCode::SessionNotFound, format!("no session {id}")));
                }
                s.last_active_at = airlock_gateway_domain::now();
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
                    if let Some(l) = self.live.read().await.get(id).cloned() {
                        l.session.lock().await.last_active_at = airlock_gateway_domain::now();
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
        self.live.write().await.remove(&id);
        metrics::gauge!(metric::SANDBOXES_LIVE).set(self.live.read().await.len() as f64);
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
            events::session(
                &s,
                serde_json::json!({
                    "sandbox_destroyed": destroyed.is_ok(),
                    "sandbox_failure": failure.map(|(code, _)| code),
                }),
            ),
        );
        self.deps
            .audit
            .record(vec![Change::PutSession(s.clone())], vec![ev])
            .await?;
        Ok(s)
    }

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
                events::session(&s, serde_json::json!({})),
            );
            self.deps
                .audit
                .record(vec![Change::PutSession(s)], vec![ev])
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
            events::session(
                &s,
                serde_json::json!({"previous_instance": previous, "reason": why}),
            ),
        );
        self.deps
            .audit
            .record(vec![Change::PutSession(s.clone())], vec![ev])
            .await?;
        let live = Arc::new(LiveSession {
            session: Mutex::new(s.clone()),
            sandbox,
            turn: Arc::new(Mutex::new(())),
            executions: 0.into(),
            denied_imports: Mutex::new(None),
            running_egress: std::sync::Mutex::new(vec![]),
        });
        let mut map = self.live.write().await;
        map.insert(s.id, live);
        metrics::gauge!(metric::SANDBOXES_LIVE).set(map.len() as f64);
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
        let all: Vec<Arc<LiveSession>> = self.live.read().await.values().cloned().collect();
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

    pub async fn live_count(&self) -> usize {
        self.live.read().await.len()
    }
}
