//! Step 5 in the sandbox: the job with the decision's grants (egress, packages, the runtime
//! modules policy denies), its output streamed to the job's log as it comes, every egress
//! connection it made recorded whatever happens.

use super::{
    enforce::Enforced,
    prepare::{Ready, Turn},
    record::RunFailure,
};
use crate::{
    jobs::{Job, LiveOutput},
    service::Gateway,
    sessions::LiveSession,
};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    egress::{EgressGrant, EgressLog},
    ports::{JobObserver, JobOutcome, SandboxError, SandboxJob},
    Decision, ErrorCode, Execution, GatewayError, Principal,
};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

impl Gateway {
    pub(super) async fn in_sandbox(
        &self,
        p: &Principal,
        ready: &Ready,
        job: Option<&Arc<Job>>,
    ) -> Result<Enforced, RunFailure> {
        let exec = &ready.exec;
        let live = ready.turn.live();
        let timeout = Duration::from_secs(u64::from(ready.timeout_seconds));
        if let Turn::InsideRunning { .. } = ready.turn {
            let e = GatewayError::new(
                ErrorCode::InvalidRequest,
                "sql.airlock runs connector SQL only",
            );
            return Err(self.connector_failed(p, exec.clone(), vec![], e).await);
        }
        let egress_log = Arc::new(EgressLog::default());
        let observer = job.map(|j| {
            Arc::new(LiveOutput::new(
                j.clone(),
                self.deps.audit.redactor().clone(),
                self.output_guard(p, live, &exec.session_id),
            ))
        });
        let run = SandboxRun {
            timeout,
            denied_imports: self.denied_imports(live, &ready.input).await,
            egress_log: egress_log.clone(),
            observer: observer.clone().map(|o| o as Arc<dyn JobObserver>),
            cancel: job.map(|j| j.cancel.clone()).unwrap_or_default(),
        };
        let result = self.run_in_sandbox(live, exec, &ready.req.code, run).await;
        // Every connection the code made through the egress proxy, admitted or refused, also
        // when the sandbox failed under it.
        let connections = egress_log.take();
        let egress_bytes: u64 = connections.iter().map(|r| r.bytes_up + r.bytes_down).sum();
        let egress_events: Vec<NewEvent> = connections
            .iter()
            .map(|r| {
                NewEvent::new(
                    types::EGRESS_CONNECTION,
                    Some(exec.session_id.to_string()),
                    payload::egress(p, exec, r),
                )
            })
            .collect();
        let streamed = observer.map(|o| o.finish());
        match result {
            Ok(mut outcome) => {
                outcome.usage.egress_bytes = egress_bytes;
                Ok(Enforced {
                    outcome,
                    streamed,
                    events: egress_events,
                    labels: vec![],
                    held: None,
                })
            }
            Err(e) => Err(self
                .sandbox_failed(live, exec.clone(), e, egress_events, egress_bytes)
                .await),
        }
    }

    /// The sandbox runs the code with the grants of the decision.
    async fn run_in_sandbox(
        &self,
        live: &LiveSession,
        exec: &Execution,
        code: &str,
        run: SandboxRun,
    ) -> Result<JobOutcome, SandboxError> {
        let decision = &exec.decision;
        let job = SandboxJob {
            execution_id: exec.id.clone(),
            language: exec.language,
            code: code.to_owned(),
            timeout: run.timeout,
            output_limit: self.settings.limits.output_bytes,
            egress_log: run.egress_log,
            egress: egress_grant(decision),
            packages: package_lines(decision),
            denied_imports: run.denied_imports,
            observer: run.observer,
            cancel: run.cancel,
        };
        // While it runs, SQL the code sends (`airlock.sql()`) is decided knowing this egress.
        let _running = RunningEgress::set(live, job.egress.as_ref().map(|g| g.hosts.clone()));
        live.sandbox
            .run(job)
            .instrument(tracing::info_span!(
                "enforce",
                backend = self.deps.backend.name()
            ))
            .await
    }
}

/// The hosts and packages the decision grants, for the egress proxy (None: nothing).
fn egress_grant(decision: &Decision) -> Option<EgressGrant> {
    let o = &decision.obligations;
    (!o.egress.is_empty() || !o.packages.is_empty()).then(|| EgressGrant {
        hosts: o.egress.iter().map(|h| h.to_ascii_lowercase()).collect(),
        http_methods: o.egress_http_methods.clone(),
        packages: o.packages.clone(),
        package_hashes: o.package_hashes.clone(),
        decision_id: decision.decision_id.clone(),
    })
}

/// Requirement lines for pip, each with the hashes policy pinned.
fn package_lines(decision: &Decision) -> Vec<String> {
    let o = &decision.obligations;
    o.packages
        .iter()
        .map(|p| {
            let hashes = o.package_hashes.get(p).cloned().unwrap_or_default();
            std::iter::once(p.clone())
                .chain(hashes.iter().map(|h| format!("--hash=sha256:{h}")))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The running execution's egress on the live session, cleared on every way out.
struct RunningEgress<'a>(&'a LiveSession);

impl<'a> RunningEgress<'a> {
    fn set(live: &'a LiveSession, hosts: Option<Vec<String>>) -> Self {
        if let Ok(mut g) = live.running_egress.lock() {
            *g = hosts.unwrap_or_default();
        }
        Self(live)
    }
}

impl Drop for RunningEgress<'_> {
    fn drop(&mut self) {
        if let Ok(mut g) = self.0.running_egress.lock() {
            g.clear();
        }
    }
}

/// What a sandbox run gets beside the code and the decision.
struct SandboxRun {
    timeout: Duration,
    denied_imports: Vec<String>,
    egress_log: Arc<EgressLog>,
    observer: Option<Arc<dyn JobObserver>>,
    cancel: CancellationToken,
}
