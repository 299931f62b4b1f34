//! In-memory fakes of the gateway's ports, so the pipeline runs in a test without any service:
//! a store, a policy that answers what the test says, an analyser, and a sandbox backend whose
//! sandboxes play a script (print, wait, end) and honour cancellation.

#![allow(dead_code)]

mod access_keys;
mod clock;
pub mod hooks;
mod policy;
mod reviews;
mod sandbox;
mod stats;
mod usage;
mod warehouse;
pub use clock::{ManualClock, SequentialIds};
pub use policy::*;
pub use sandbox::*;
#[allow(unused_imports)] // not every test binary uses the warehouse
pub use warehouse::{Answer, FakeBroker, FakeWarehouse};

use airlock_gateway_audit::{AuditOptions, AuditRecorder, Redactor};
use airlock_gateway_core::{Connectors, Gateway, GatewayDeps, GatewaySettings, OutputInspection};
use airlock_gateway_domain::{Language, Limits, Principal};

mod store;
use std::{sync::Arc, time::Duration};
pub use store::MemStore;

// ---------------------------------------------------------------------------------------------
// The gateway on fakes

pub struct Rig {
    pub gateway: Arc<Gateway>,
    pub store: Arc<MemStore>,
    pub policy: Arc<ScriptedPolicy>,
    pub backend: Arc<ScriptedBackend>,
    pub clock: Arc<ManualClock>,
    /// The webhook receivers: `all` hears every case, `globex` only globex's.
    pub hooks: Arc<hooks::FakeHooks>,
}

pub fn alice() -> Principal {
    Principal {
        issuer: "https://issuer.test".into(),
        subject: "alice".into(),
        email: None,
        groups: vec![],
        tenant: None,
        via: None,
    }
}

pub fn bob() -> Principal {
    Principal {
        subject: "bob".into(),
        ..alice()
    }
}

pub async fn rig_on(store: Arc<MemStore>, instance: &str) -> Rig {
    rig_with(store, instance, Connectors::default()).await
}

/// A rig whose gateway has `connectors`.
pub async fn rig_with(store: Arc<MemStore>, instance: &str, connectors: Connectors) -> Rig {
    let policy = Arc::new(ScriptedPolicy::new());
    let backend = Arc::new(ScriptedBackend::default());
    let clock = Arc::new(ManualClock::new());
    let ids = Arc::new(SequentialIds::default());
    let hooks = Arc::new(hooks::FakeHooks::default());
    let audit = AuditRecorder::open(
        AuditOptions {
            chain_id: "test-chain".into(),
            source: "airlock://test".into(),
            store_code: true,
            redactor: Arc::new(Redactor::new(&[]).unwrap_or_else(|e| panic!("{e}"))),
            signer: None,
            max_backlog: None,
            clock: clock.clone(),
            ids: ids.clone(),
        },
        store.clone(),
        vec![],
    )
    .await
    .unwrap_or_else(|e| panic!("{e:?}"));
    let gateway = Gateway::new(
        GatewaySettings {
            instance_id: instance.into(),
            limits: Limits::default(),
            session_ttl: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(3600),
            session_caps: airlock_gateway_core::Caps {
                total: 10,
                per_principal: 5,
                per_tenant: 6,
            },
            running_caps: airlock_gateway_core::Caps {
                total: 0,
                per_principal: 8,
                per_tenant: 3,
            },
            auditor_groups: vec!["auditors".into()],
            tenant_auditor_groups: vec!["tenant-auditors".into()],
            stream_retention: Duration::from_secs(60),
            rate_per_principal: airlock_gateway_core::RateLimit {
                per_minute: 60,
                burst: 5,
            },
            rate_per_tenant: airlock_gateway_core::RateLimit {
                per_minute: 60,
                burst: 8,
            },
            access_keys: Default::default(),
        },
        GatewayDeps {
            store: store.clone(),
            policy: policy.clone(),
            analyzer: Arc::new(NoAnalysis),
            backend: Arc::new(Backend(backend.clone())),
            audit: Arc::new(audit),
            relay: None,
            connectors,
            clock: clock.clone(),
            ids,
            outputs: OutputInspection::new(&[]).unwrap_or_else(|e| panic!("{e}")),
            webhooks: hooks::FakeHooks::wired(&hooks),
            bundles: None,
        },
    );
    Rig {
        gateway,
        store,
        policy,
        backend,
        clock,
        hooks,
    }
}

impl Rig {
    /// A new session of `p`'s.
    pub async fn session_of(&self, p: &Principal) -> airlock_gateway_domain::SessionId {
        self.gateway
            .create_session(p)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
            .id
    }
}

pub async fn rig() -> Rig {
    rig_on(Arc::new(MemStore::default()), "test-instance").await
}

pub fn python(code: &str) -> airlock_gateway_domain::ExecutionRequest {
    airlock_gateway_domain::ExecutionRequest {
        language: Language::Python,
        code: code.into(),
        timeout_seconds: None,
        packages: vec![],
        egress: vec![],
        connector: None,
    }
}

/// Waits (on the job's own log, not a clock) until the job reports `status`.
pub async fn until_status(
    job: &airlock_gateway_core::jobs::Job,
    status: airlock_gateway_domain::ExecutionStatus,
) {
    let mut changed = job.log.subscribe();
    while job.log.status() != status {
        if changed.changed().await.is_err() {
            panic!("the job ended before {status:?}");
        }
    }
}

// Review helpers (tests/review.rs, tests/held_outputs.rs)

pub fn reviewer(name: &str) -> Principal {
    Principal {
        subject: name.into(),
        groups: vec!["reviewers".into()],
        ..alice()
    }
}

/// `who` acts on `case`: the case's status after, or the refusal's code.
pub async fn act(
    r: &Rig,
    who: &Principal,
    case: &airlock_gateway_domain::review::CaseId,
    a: airlock_gateway_core::CaseAction,
) -> Result<airlock_gateway_domain::review::CaseStatus, airlock_gateway_domain::ErrorCode> {
    r.gateway
        .act_on_case(who, case, a)
        .await
        .map(|c| c.status)
        .map_err(|e| e.code)
}

pub fn approve() -> airlock_gateway_core::CaseAction {
    airlock_gateway_core::CaseAction::Approve {
        comment: String::new(),
    }
}
