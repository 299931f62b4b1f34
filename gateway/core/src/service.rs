//! The gateway: its settings, its dependencies (the ports), and what every part shares
//! (deciding, admitting work, the clock). Sessions, the execution pipeline, connectors and
//! files are in modules of their own, each an `impl Gateway` over these fields.

use crate::{metric, sessions::SessionRegistry};
use airlock_gateway_audit::{payload, AuditPage, AuditReader, AuditRecorder, AuditRelay};
use airlock_gateway_domain::{
    audit::{types, Checkpoint, NewEvent},
    decision::{Decision, DecisionResult},
    policy_input::{Action, PolicyInput, RequestFacts, SessionFacts},
    ports::{AuditQuery, CodeAnalyzer, PolicyEngine, SandboxBackend, Store},
    session::Session,
    Clock, ErrorCode, GatewayError, IdGenerator, Limits, Principal, SessionId,
};
use std::{sync::Arc, time::Duration};

#[derive(Clone, Debug)]
pub struct GatewaySettings {
    pub instance_id: String,
    pub limits: Limits,
    pub session_ttl: Duration,
    pub idle_timeout: Duration,
    /// Live sessions, and running executions: in total, per principal, per tenant.
    pub session_caps: crate::Caps,
    pub running_caps: crate::Caps,
    /// Principals in one of these groups may read the audit trail.
    pub auditor_groups: Vec<String>,
    /// ...and in one of these, only their own tenant's events.
    pub tenant_auditor_groups: Vec<String>,
    /// How long a finished execution's events stay for followers to replay.
    pub stream_retention: Duration,
    /// Requests per principal, and per tenant (all its principals together).
    pub rate_per_principal: crate::RateLimit,
    pub rate_per_tenant: crate::RateLimit,
    /// Personal access keys.
    pub access_keys: crate::AccessKeySettings,
}

pub struct GatewayDeps {
    pub store: Arc<dyn Store>,
    pub policy: Arc<dyn PolicyEngine>,
    pub analyzer: Arc<dyn CodeAnalyzer>,
    pub backend: Arc<dyn SandboxBackend>,
    pub audit: Arc<AuditRecorder>,
    /// The relay to Kafka, when configured (for readiness).
    pub relay: Option<Arc<AuditRelay>>,
    /// Warehouses SQL may reach, and the broker of their credentials.
    pub connectors: crate::Connectors,
    /// The wall clock of every record (never read directly: `clippy.toml`).
    pub clock: Arc<dyn Clock>,
    /// Session, execution and decision ids.
    pub ids: Arc<dyn IdGenerator>,
    /// The detectors of output inspection.
    pub outputs: crate::OutputInspection,
    /// Signed webhooks of review cases.
    pub webhooks: crate::Webhooks,
    /// Compiles candidate bundles for replay (None: replay through the API is off).
    pub bundles: Option<Arc<dyn airlock_gateway_domain::ports::BundleCompiler>>,
}

pub struct Gateway {
    pub(crate) settings: GatewaySettings,
    pub(crate) deps: GatewayDeps,
    pub(crate) sessions: SessionRegistry,
    pub(crate) audit_reader: AuditReader,
    /// Executions running here, and recently finished ones, as jobs.
    pub(crate) jobs: crate::jobs::JobHub,
    pub(crate) shutting_down: std::sync::atomic::AtomicBool,
    /// Wakes the webhook task when a commit queued deliveries.
    pub(crate) webhook_wake: Arc<tokio::sync::Notify>,
    pub(crate) rate: crate::rate::RateLimits,
    /// Places of the executions running (or approved and waiting) here.
    pub(crate) running: crate::quota::Quota,
}

pub(crate) fn err(code: ErrorCode, msg: impl Into<String>) -> GatewayError {
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
            audit_reader: AuditReader::new(
                deps.store.clone(),
                deps.audit.clone(),
                airlock_gateway_audit::Auditors {
                    all: settings.auditor_groups.clone(),
                    tenant: settings.tenant_auditor_groups.clone(),
                },
            ),
            sessions: SessionRegistry::default(),
            rate: crate::rate::RateLimits::new(
                settings.rate_per_principal,
                settings.rate_per_tenant,
            ),
            running: crate::quota::Quota::default(),
            settings,
            deps,
            shutting_down: false.into(),
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Admits one request of `p` under the rate limits (every channel asks, right after
    /// authentication), or `429 rate_limited` with the seconds to wait.
    pub fn admit(&self, p: &Principal) -> Result<(), GatewayError> {
        self.rate.admit(p).inspect_err(|_| {
            metrics::counter!(crate::metric::RATE_LIMITED).increment(1);
        })
    }

    /// The port the egress proxy hands `sql.airlock` requests to.
    pub fn sandbox_sql(self: &Arc<Self>) -> Arc<dyn airlock_gateway_domain::ports::SandboxSql> {
        Arc::new(crate::connectors::SandboxSqlPort(Arc::downgrade(self)))
    }

    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    /// The gateway's clock, for defaults of API parameters (time ranges).
    pub fn now_for_api(&self) -> time::OffsetDateTime {
        self.now()
    }

    /// The wall-clock time of a record.
    pub(crate) fn now(&self) -> time::OffsetDateTime {
        self.deps.clock.now()
    }

    pub fn policy_revision(&self) -> String {
        self.deps.policy.revision()
    }

    /// Runs policy, fails closed, and counts the decision.
    pub(crate) fn decide(&self, input: &PolicyInput) -> Result<Decision, GatewayError> {
        decide_with(self.deps.policy.as_ref(), self.deps.ids.as_ref(), input).map_err(|e| {
            tracing::error!(error = %e, "policy evaluation failed; denying");
            err(
                ErrorCode::PolicyUnavailable,
                "policy could not be evaluated; the request is denied",
            )
        })
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
        let mut data = payload::decided(p, input, d, Some(session_id.as_str()), execution_id);
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

    pub(crate) fn check_running(&self) -> Result<(), GatewayError> {
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

    pub async fn live_count(&self) -> usize {
        self.sessions.len().await
    }

    /// Audit events for an auditor (the read itself is recorded).
    /// Recorded decisions of a time range decided again by a candidate bundle (auditors).
    pub async fn replay_policy(
        &self,
        p: &Principal,
        archive: &[u8],
        since_ms: i64,
        until_ms: i64,
    ) -> Result<airlock_gateway_domain::replay::Report, GatewayError> {
        self.audit_reader.require_auditor(p)?;
        let compiler = self.deps.bundles.as_ref().ok_or_else(|| {
            err(
                ErrorCode::PolicyUnavailable,
                "replay is not available on this gateway",
            )
        })?;
        // Loading the candidate (parsing and compiling its Rego) is CPU work as well.
        let compiler = compiler.clone();
        let archive = archive.to_vec();
        let compiled = tokio::task::spawn_blocking(move || compiler.compile(&archive))
            .await
            .map_err(|_| GatewayError::internal("the bundle compiler failed"))?;
        let candidate = compiled.map_err(|e| {
            err(
                ErrorCode::InvalidRequest,
                format!("the candidate bundle: {e}"),
            )
        })?;
        self.audit_reader
            .replay(p, candidate, since_ms, until_ms.max(since_ms))
            .await
    }

    pub async fn audit_events(
        &self,
        p: &Principal,
        q: AuditQuery,
    ) -> Result<AuditPage, GatewayError> {
        self.audit_reader.events(p, q).await
    }

    /// Whether the chain holds across `shown` (events this auditor read).
    pub async fn audit_verify_range(
        &self,
        p: &Principal,
        shown: &[airlock_gateway_domain::audit::AuditEvent],
    ) -> Result<airlock_gateway_audit::RangeCheck, GatewayError> {
        self.audit_reader.verify_range(p, shown).await
    }

    /// A signed checkpoint of this gateway's chain, for an auditor.
    pub async fn audit_checkpoint(&self, p: &Principal) -> Result<Checkpoint, GatewayError> {
        self.audit_reader.checkpoint(p).await
    }
}

/// One decision: the engine's answer with the gateway's decision id, timed and counted. Every
/// path that asks policy (requests, the output guard) goes through here.
pub(crate) fn decide_with(
    policy: &dyn airlock_gateway_domain::ports::PolicyEngine,
    ids: &dyn airlock_gateway_domain::clock::IdGenerator,
    input: &PolicyInput,
) -> Result<Decision, airlock_gateway_domain::ports::PolicyError> {
    let started = std::time::Instant::now();
    let span = tracing::info_span!("decide", action = input.action.as_str());
    let _g = span.enter();
    let mut d = policy.decide(input)?;
    d.decision_id = ids.event_id();
    metrics::histogram!(metric::DECISION_SECONDS).record(started.elapsed().as_secs_f64());
    metrics::counter!(metric::DECISIONS, "action" => input.action.as_str(), "result" => d.result.as_str()).increment(1);
    Ok(d)
}
