//! One execution, every step in order: authenticate (done by the HTTP layer: the caller arrives
//! as a `Principal`), analyse, decide, record, enforce, inspect, record and reply.

use crate::{
    events, metric,
    service::{store_err, Gateway},
};
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    decision::DecisionResult,
    egress::EgressGrant,
    policy_input::{Action, RequestFacts},
    ports::{Change, JobEnd, SandboxError, SandboxJob},
    session::SessionStatus,
    ErrorCode, Execution, ExecutionError, ExecutionId, ExecutionRequest, ExecutionStatus,
    GatewayError, Principal, SessionId,
};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// The finished (or refused, or held) execution.
pub struct ExecutionReply {
    pub execution: Execution,
}

impl Gateway {
    pub async fn execute(
        &self,
        p: &Principal,
        session_id: &SessionId,
        req: ExecutionRequest,
    ) -> Result<ExecutionReply, GatewayError> {
        self.execute_in(p, session_id, req, false).await
    }

    /// `nested`: SQL that code inside the sandbox sent (`sql.airlock`) while one of the
    /// session's executions runs and holds its turn; it runs beside that execution, through the
    /// connector only, and its result rows come back whole instead of as a workspace file.
    pub(crate) async fn execute_in(
        &self,
        p: &Principal,
        session_id: &SessionId,
        req: ExecutionRequest,
        nested: bool,
    ) -> Result<ExecutionReply, GatewayError> {
        let started = Instant::now();
        let limits = &self.settings.limits;
        self.check_admits_work()?;
        let live = self.live_session(p, session_id).await?;
        let _turn = if nested {
            if req.connector.is_none() || live.turn.try_lock().is_ok() {
                return Err(GatewayError::new(
                    ErrorCode::InvalidRequest,
                    "sql.airlock answers connector SQL from code of a running execution only",
                ));
            }
            None
        } else {
            Some(live.turn.try_lock().map_err(|_| {
                GatewayError::new(
                    ErrorCode::SessionBusy,
                    "another execution is running in this session; wait for it",
                )
            })?)
        };
        let session = live.session.lock().await.clone();
        let executions = live
            .executions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);

        // 2. analyse
        let facts = self.analyse(req.language, &req.code, req.connector.as_deref())?;

        // 3. decide
        let mut input = self.input(
            Action::ExecutionRun,
            p,
            Some(&session),
            executions,
            RequestFacts {
                language: Some(req.language.as_str().into()),
                code_bytes: Some(req.code.len() as u64),
                timeout_seconds: req.timeout_seconds,
                packages: req.packages.clone(),
                egress: req.egress.clone(),
                connector: req.connector.clone(),
                connector_labels: req
                    .connector
                    .as_deref()
                    .map(|c| self.connector_labels(c))
                    .unwrap_or_default(),
                running_egress: if nested {
                    live.running_egress
                        .lock()
                        .map(|g| g.clone())
                        .unwrap_or_default()
                } else {
                    vec![]
                },
                ..Default::default()
            },
        );
        input.analysis = Some(facts.clone());
        let decision = self.decide(&input)?;
        let decision = crate::connector_run::enforce_sql_analysis(decision, facts.sql.as_ref());

        // 4. record, before anything is enforced
        let timeout_seconds = req
            .timeout_seconds
            .unwrap_or(limits.timeout_seconds)
            .min(limits.max_timeout_seconds)
            .min(decision.obligations.max_timeout_seconds.unwrap_or(u32::MAX))
            .max(1);
        let mut exec = Execution {
            id: ExecutionId::generate(),
            session_id: session_id.clone(),
            owner_key: p.owner_key(),
            language: req.language,
            code_sha256: events::sha256_hex(req.code.as_bytes()),
            status: match decision.result {
                DecisionResult::Allow => ExecutionStatus::Running,
                DecisionResult::Deny => ExecutionStatus::Denied,
                DecisionResult::Review => ExecutionStatus::PendingReview,
            },
            stdout: String::new(),
            stderr: String::new(),
            error: None,
            outputs: vec![],
            artifacts: vec![],
            decision: decision.clone(),
            duration_ms: 0,
            audit_id: String::new(),
            created_at: airlock_gateway_domain::now(),
            finished_at: None,
        };
        let requested = NewEvent::new(
            types::EXECUTION_REQUESTED,
            Some(session_id.to_string()),
            events::requested(p, &exec, &req.code, &facts, timeout_seconds),
        );
        let decided = self.decided_event(p, &input, &decision, session_id, Some(exec.id.as_str()));
        if exec.status != ExecutionStatus::Running {
            exec.finished_at = Some(airlock_gateway_domain::now());
            exec.duration_ms = started.elapsed().as_millis() as u64;
        }
        let sealed = self
            .deps
            .audit
            .record(
                vec![Change::PutExecution(Box::new(exec.clone()))],
                vec![requested, decided],
            )
            .instrument(tracing::info_span!("record"))
            .await?;
        exec.audit_id = sealed.last().map(|e| e.id.clone()).unwrap_or_default();
        if exec.status != ExecutionStatus::Running {
            metrics::counter!(metric::EXECUTIONS, "status" => exec.status.as_str()).increment(1);
            self.deps
                .store
                .commit(vec![Change::PutExecution(Box::new(exec.clone()))], &[])
                .await
                .map_err(store_err)?;
            return Ok(ExecutionReply { execution: exec });
        }

        // 5. enforce (SQL through a connector runs in the gateway, credentials never enter the
        // sandbox)
        let egress_log = std::sync::Arc::new(airlock_gateway_domain::egress::EgressLog::default());
        let mut connector_events = vec![];
        let mut connector_labels = vec![];
        let outcome = if let Some(grant) = decision.obligations.connector.clone() {
            let run = self
                .run_connector(
                    p,
                    &exec,
                    &live,
                    &grant,
                    crate::connector_run::RunOpts {
                        timeout: Duration::from_secs(u64::from(timeout_seconds)),
                        nested,
                        facts: facts.sql.as_ref(),
                    },
                )
                .instrument(tracing::info_span!("enforce", backend = "connector"))
                .await;
            match run {
                Ok(r) => {
                    connector_events = r.events;
                    connector_labels = r.labels;
                    Ok(r.outcome)
                }
                Err((e, evs)) => return Err(self.connector_failed(p, exec, evs, e).await),
            }
        } else if nested {
            return Err(GatewayError::new(
                ErrorCode::InvalidRequest,
                "sql.airlock runs connector SQL only",
            ));
        } else {
            let denied = self.denied_imports(&live, &input).await;
            let run = SandboxRun {
                timeout_seconds,
                denied_imports: denied,
                egress_log: egress_log.clone(),
            };
            self.run_in_sandbox(&live, &exec, req, &decision, run).await
        };
        // Every connection the code made through the egress proxy, admitted or refused, also
        // when the sandbox failed under it.
        let egress_events: Vec<NewEvent> = egress_log
            .take()
            .iter()
            .map(|r| {
                NewEvent::new(
                    types::EGRESS_CONNECTION,
                    Some(session_id.to_string()),
                    events::egress(p, &exec, r),
                )
            })
            .collect();
        let mut outcome = match outcome {
            Ok(o) => o,
            Err(e) => return Err(self.sandbox_failed(&live, exec, e, egress_events).await),
        };

        // 6. inspect
        let _inspect = tracing::info_span!("inspect").entered();
        exec.stdout = std::mem::take(&mut outcome.stdout);
        exec.stderr = std::mem::take(&mut outcome.stderr);
        exec.outputs = std::mem::take(&mut outcome.outputs);
        exec.artifacts = std::mem::take(&mut outcome.artifacts);
        exec.error = outcome.error.take();
        exec.status = match outcome.end {
            JobEnd::Completed => ExecutionStatus::Succeeded,
            JobEnd::TimedOut => ExecutionStatus::TimedOut,
            JobEnd::Failed | JobEnd::OutOfMemory | JobEnd::KernelDied | JobEnd::QuotaExceeded => {
                ExecutionStatus::Failed
            }
        };
        match outcome.end {
            JobEnd::TimedOut => {
                let tb = exec.error.take().map(|e| e.traceback).unwrap_or_default();
                exec.error = Some(ExecutionError {
                    name: "TimeoutError".into(),
                    value: format!(
                        "the execution exceeded its {timeout_seconds} s limit and was interrupted{}",
                        if outcome.kernel_restarted { "; the kernel did not stop and was restarted, so its variables are gone" } else { "; variables are kept" }
                    ),
                    traceback: tb,
                    code: Some("timed_out".into()),
                });
            }
            JobEnd::OutOfMemory => {
                exec.error = Some(ExecutionError {
                    name: "MemoryError".into(),
                    value: format!("the sandbox ran out of memory (limit {} MiB); the kernel was restarted and its variables are gone", limits.memory_mib),
                    traceback: vec![],
                    code: Some("out_of_memory".into()),
                });
            }
            JobEnd::KernelDied => {
                exec.error = Some(ExecutionError {
                    name: "KernelDied".into(),
                    value: "the kernel process died; it was restarted and its variables are gone"
                        .into(),
                    traceback: vec![],
                    code: Some("kernel_died".into()),
                });
            }
            JobEnd::QuotaExceeded => {
                if let Some(e) = exec.error.as_mut() {
                    e.code = Some("workspace_quota_exceeded".into());
                }
            }
            JobEnd::Completed | JobEnd::Failed => {}
        }
        if outcome.kernel_restarted
            || matches!(outcome.end, JobEnd::OutOfMemory | JobEnd::KernelDied)
        {
            metrics::counter!(metric::KERNEL_RESTARTS).increment(1);
        }
        drop(_inspect);
        // What the code loaded at run time, decided again; a denial withholds the result.
        let mut imports_decided = None;
        if let Some((imp_input, imp)) = self.runtime_imports_decision(&input, &outcome.imports) {
            if imp.result != DecisionResult::Allow {
                self.withhold(&live, &mut exec, &imp).await;
            }
            imports_decided =
                Some(self.decided_event(p, &imp_input, &imp, session_id, Some(exec.id.as_str())));
        }
        exec.duration_ms = started.elapsed().as_millis() as u64;
        exec.finished_at = Some(airlock_gateway_domain::now());

        // 7. record and reply
        let mut changes = vec![Change::PutExecution(Box::new(exec.clone()))];
        for a in &exec.artifacts {
            changes.push(Change::PutFile {
                session_id: session_id.clone(),
                file: a.clone(),
            });
        }
        let mut s = live.session.lock().await;
        s.last_active_at = airlock_gateway_domain::now();
        // Reading through a connector marks the session with the connector's labels.
        for l in connector_labels {
            if !s.labels.contains(&l) {
                s.labels.push(l);
            }
        }
        changes.push(Change::PutSession(s.clone()));
        drop(s);
        let done = NewEvent::new(
            types::EXECUTION_COMPLETED,
            Some(session_id.to_string()),
            events::completed(p, &exec, outcome.kernel_restarted, outcome.output_truncated),
        );
        let mut recorded = egress_events;
        recorded.extend(connector_events);
        recorded.extend(imports_decided);
        recorded.push(done);
        let sealed = self
            .deps
            .audit
            .record(changes, recorded)
            .instrument(tracing::info_span!("record_result"))
            .await?;
        exec.audit_id = sealed.last().map(|e| e.id.clone()).unwrap_or_default();
        metrics::counter!(metric::EXECUTIONS, "status" => exec.status.as_str()).increment(1);
        metrics::histogram!(metric::EXECUTION_SECONDS).record(started.elapsed().as_secs_f64());
        Ok(ExecutionReply { execution: exec })
    }

    /// Step 5 for code: the sandbox runs it with the grants of the decision.
    async fn run_in_sandbox(
        &self,
        live: &crate::service::LiveSession,
        exec: &Execution,
        req: ExecutionRequest,
        decision: &airlock_gateway_domain::Decision,
        run: SandboxRun,
    ) -> Result<airlock_gateway_domain::ports::JobOutcome, SandboxError> {
        let SandboxRun {
            timeout_seconds,
            denied_imports,
            egress_log,
        } = run;
        let limits = &self.settings.limits;
        let job = SandboxJob {
            execution_id: exec.id.clone(),
            language: req.language,
            code: req.code,
            timeout: Duration::from_secs(u64::from(timeout_seconds)),
            output_limit: limits.output_bytes,
            egress_log,
            egress: (!decision.obligations.egress.is_empty()
                || !decision.obligations.packages.is_empty())
            .then(|| EgressGrant {
                hosts: decision
                    .obligations
                    .egress
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                http_methods: decision.obligations.egress_http_methods.clone(),
                packages: decision.obligations.packages.clone(),
                package_hashes: decision.obligations.package_hashes.clone(),
                decision_id: decision.decision_id.clone(),
            }),
            // Requirement lines for pip, each with the hashes policy pinned.
            packages: decision
                .obligations
                .packages
                .iter()
                .map(|p| {
                    let hashes = decision
                        .obligations
                        .package_hashes
                        .get(p)
                        .cloned()
                        .unwrap_or_default();
                    std::iter::once(p.clone())
                        .chain(hashes.iter().map(|h| format!("--hash=sha256:{h}")))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect(),
            denied_imports,
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

    /// No credential or no database: nothing ran. Record the failure and the credential's
    /// events, answer 503.
    async fn connector_failed(
        &self,
        p: &Principal,
        mut exec: Execution,
        mut evs: Vec<NewEvent>,
        e: GatewayError,
    ) -> GatewayError {
        exec.status = ExecutionStatus::Failed;
        exec.error = Some(ExecutionError {
            name: "ConnectorError".into(),
            value: e.message.clone(),
            traceback: vec![],
            code: Some(e.code.as_str().into()),
        });
        exec.finished_at = Some(airlock_gateway_domain::now());
        evs.push(NewEvent::new(
            types::EXECUTION_COMPLETED,
            Some(exec.session_id.to_string()),
            events::completed(p, &exec, false, false),
        ));
        let _ = self
            .deps
            .audit
            .record(vec![Change::PutExecution(Box::new(exec.clone()))], evs)
            .await;
        e.with_details(serde_json::json!({"execution_id": exec.id}))
    }

    /// The sandbox failed underneath the execution: record the failure, end the session if the
    /// sandbox is gone, and answer 503.
    async fn sandbox_failed(
        &self,
        live: &std::sync::Arc<crate::service::LiveSession>,
        mut exec: Execution,
        e: SandboxError,
        mut recorded: Vec<NewEvent>,
    ) -> GatewayError {
        tracing::error!(error = %e, execution = %exec.id, "sandbox failed during execution");
        exec.status = ExecutionStatus::Failed;
        exec.error = Some(ExecutionError {
            name: "SandboxError".into(),
            value: e.to_string(),
            traceback: vec![],
            code: Some("sandbox_lost".into()),
        });
        exec.finished_at = Some(airlock_gateway_domain::now());
        let p = live.session.lock().await.owner.clone();
        recorded.push(NewEvent::new(
            types::EXECUTION_COMPLETED,
            Some(exec.session_id.to_string()),
            events::completed(&p, &exec, false, false),
        ));
        let _ = self
            .deps
            .audit
            .record(vec![Change::PutExecution(Box::new(exec.clone()))], recorded)
            .await;
        if !live.sandbox.alive().await {
            let reason = Self::died_reason(&*live.sandbox).await;
            let _ = self
                .end_session(live, SessionStatus::Lost, &reason, types::SESSION_LOST)
                .await;
        }
        GatewayError::new(
            ErrorCode::SandboxUnavailable,
            format!("the sandbox failed: {e}"),
        )
        .with_details(serde_json::json!({"execution_id": exec.id}))
    }

    pub async fn get_execution(
        &self,
        p: &Principal,
        id: &ExecutionId,
    ) -> Result<Execution, GatewayError> {
        match self.deps.store.execution(id).await.map_err(store_err)? {
            Some(e) if e.owner_key == p.owner_key() => Ok(e),
            _ => Err(GatewayError::new(
                ErrorCode::ExecutionNotFound,
                format!("no execution {id}"),
            )),
        }
    }
}

/// The running execution's egress on the live session, cleared on every way out.
struct RunningEgress<'a>(&'a crate::service::LiveSession);

impl<'a> RunningEgress<'a> {
    fn set(live: &'a crate::service::LiveSession, hosts: Option<Vec<String>>) -> Self {
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

/// What a sandbox run gets beside the request and the decision.
struct SandboxRun {
    timeout_seconds: u32,
    denied_imports: Vec<String>,
    egress_log: std::sync::Arc<airlock_gateway_domain::egress::EgressLog>,
}
