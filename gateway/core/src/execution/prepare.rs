//! The session's turn, then steps 2 to 4: analyse the code (`analyse.rs`), decide
//! (`decide.rs`), and record both before anything is enforced.

use crate::{
    metric,
    quota::{over_cap, within_policy, Capped, Permit},
    service::Gateway,
    sessions::LiveSession,
};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    decision::DecisionResult,
    policy_input::{CodeFacts, PolicyInput},
    ports::Change,
    ErrorCode, Execution, ExecutionRequest, ExecutionStatus, GatewayError, Principal, SessionId,
};
use std::{sync::Arc, time::Instant};
use tokio::sync::OwnedMutexGuard;
use tracing::Instrument;

/// The right to run in a session: its one execution at a time, or SQL from inside the
/// execution that holds it.
pub(crate) enum Turn {
    Held {
        live: Arc<LiveSession>,
        _guard: OwnedMutexGuard<()>,
        /// Its place under the caps on running executions, until the job ends.
        _place: Permit,
    },
    /// `sql.airlock`: the running execution holds the session's turn.
    InsideRunning { live: Arc<LiveSession> },
}

impl Turn {
    pub(crate) fn live(&self) -> &Arc<LiveSession> {
        match self {
            Self::Held { live, .. } | Self::InsideRunning { live } => live,
        }
    }

    /// The egress of the execution whose code sends this SQL (none for a turn of its own).
    fn running_egress(&self) -> Vec<String> {
        match self {
            Self::InsideRunning { live } => live
                .running_egress
                .lock()
                .map(|g| g.clone())
                .unwrap_or_default(),
            Self::Held { .. } => vec![],
        }
    }
}

/// An execution recorded and allowed, ready for its sandbox or connector.
pub(crate) struct Ready {
    pub exec: Execution,
    pub turn: Turn,
    pub req: ExecutionRequest,
    pub input: PolicyInput,
    pub facts: CodeFacts,
    pub timeout_seconds: u32,
    pub started: Instant,
}

/// An execution a review approved, waiting for its session's turn.
pub(crate) struct Resumed {
    pub exec: Execution,
    pub live: Arc<LiveSession>,
    pub req: ExecutionRequest,
    pub input: PolicyInput,
    pub facts: CodeFacts,
    pub timeout_seconds: u32,
    pub place: Permit,
}

impl Resumed {
    /// Waits for the session's turn (another execution may hold it).
    pub(crate) async fn take_turn(self) -> Ready {
        let guard = self.live.turn.clone().lock_owned().await;
        Ready {
            exec: self.exec,
            turn: Turn::Held {
                live: self.live,
                _guard: guard,
                _place: self.place,
            },
            req: self.req,
            input: self.input,
            facts: self.facts,
            timeout_seconds: self.timeout_seconds,
            started: Instant::now(),
        }
    }
}

pub(crate) enum Prepared {
    /// Denied or held: recorded, nothing runs.
    Stopped(Box<Execution>),
    Ready(Box<Ready>),
}

impl Gateway {
    /// The session's turn, waiting up to `wait` for the execution that holds it (zero: not
    /// at all), or 409 while another execution holds it.
    pub(crate) async fn take_turn(
        &self,
        p: &Principal,
        session_id: &SessionId,
        wait: std::time::Duration,
    ) -> Result<Turn, GatewayError> {
        self.check_admits_work()?;
        let live = self.live_session(p, session_id).await?;
        let place = self
            .running
            .acquire(
                &p.owner_key(),
                p.tenant.as_deref(),
                self.settings.running_caps,
            )
            .map_err(|over| over_cap(&over, Capped::RunningExecutions))?;
        let busy = || {
            GatewayError::new(
                ErrorCode::SessionBusy,
                "another execution is running in this session; wait for it",
            )
        };
        let turn = live.turn.clone();
        let guard = match turn.clone().try_lock_owned() {
            Ok(g) => g,
            Err(_) if wait.is_zero() => return Err(busy()),
            Err(_) => tokio::time::timeout(wait, turn.lock_owned())
                .await
                .map_err(|_| busy())?,
        };
        Ok(Turn::Held {
            live,
            _guard: guard,
            _place: place,
        })
    }

    /// For `sql.airlock`: connector SQL from code of a running execution only.
    pub(crate) async fn nested_turn(
        &self,
        p: &Principal,
        session_id: &SessionId,
        req: &ExecutionRequest,
    ) -> Result<Turn, GatewayError> {
        self.check_admits_work()?;
        let live = self.live_session(p, session_id).await?;
        if req.connector.is_none() || live.turn.try_lock().is_ok() {
            return Err(GatewayError::new(
                ErrorCode::InvalidRequest,
                "sql.airlock answers connector SQL from code of a running execution only",
            ));
        }
        Ok(Turn::InsideRunning { live })
    }

    pub(crate) async fn prepare(
        &self,
        p: &Principal,
        session_id: &SessionId,
        req: ExecutionRequest,
        turn: Turn,
    ) -> Result<Prepared, GatewayError> {
        let started = Instant::now();
        let live = turn.live().clone();
        let session = live.session.lock().await.clone();
        let executions = live
            .executions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);

        // 2. analyse
        let facts = self.analyse(req.language, &req.code, req.connector.as_deref())?;

        // 3. decide
        let (input, decision) =
            self.decide_execution(p, &session, executions, &req, turn.running_egress(), &facts)?;

        self.within_running_cap(p, &turn, &decision)?;

        // 4. record, before anything is enforced
        let limits = &self.settings.limits;
        let timeout_seconds = req
            .timeout_seconds
            .unwrap_or(limits.timeout_seconds)
            .min(limits.max_timeout_seconds)
            .min(decision.obligations.max_timeout_seconds.unwrap_or(u32::MAX))
            .max(1);
        let mut exec = Execution {
            id: self.deps.ids.execution_id(),
            session_id: session_id.clone(),
            owner_key: p.owner_key(),
            language: req.language,
            code_sha256: payload::sha256_hex(req.code.as_bytes()),
            status: match decision.result {
                DecisionResult::Allow => ExecutionStatus::Queued,
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
            created_at: self.now(),
            finished_at: None,
            case_id: None,
            tenant: p.tenant.clone(),
        };
        let requested = NewEvent::new(
            types::EXECUTION_REQUESTED,
            Some(session_id.to_string()),
            payload::requested(p, &exec, &req.code, &facts, timeout_seconds),
        );
        let decided = self.decided_event(p, &input, &decision, session_id, Some(exec.id.as_str()));
        let mut events = vec![requested, decided];
        let mut changes = vec![];
        let stopped = exec.status != ExecutionStatus::Queued;
        if stopped {
            exec.finished_at = Some(self.now());
            exec.duration_ms = started.elapsed().as_millis() as u64;
        }
        if exec.status == ExecutionStatus::PendingReview {
            // Held work is a case in the same commit: it pins exactly what would run.
            let (case, opened) = self.open_case(crate::review::Held {
                requester: p,
                session: &session,
                exec: &exec,
                req: &req,
                facts: &facts,
                decision: &decision,
                timeout_seconds,
                output: None,
            });
            exec.case_id = Some(case.id.clone());
            changes.extend(self.webhook_changes(&case, std::slice::from_ref(&opened)));
            events.push(opened);
            changes.push(Change::PutCase(Box::new(case)));
            changes.push(self.usage_change(p, crate::usage::of_case()));
        }
        changes.insert(0, Change::PutExecution(Box::new(exec.clone())));
        let sealed = self
            .deps
            .audit
            .record(changes, events)
            .instrument(tracing::info_span!("record"))
            .await?;
        exec.audit_id = sealed.last().map(|e| e.id.clone()).unwrap_or_default();
        if exec.case_id.is_some() {
            Self::count_usage(p, &crate::usage::of_case());
            self.webhook_wake.notify_one();
        }
        if stopped {
            metrics::counter!(metric::EXECUTIONS, "status" => exec.status.as_str()).increment(1);
            return Ok(Prepared::Stopped(Box::new(exec)));
        }
        Ok(Prepared::Ready(Box::new(Ready {
            exec,
            turn,
            req,
            input,
            facts,
            timeout_seconds,
            started,
        })))
    }
}

impl Gateway {
    /// Policy's caps on running executions (the principal's profile, its tenant's limits);
    /// this execution's place is taken already. SQL from a running execution has none.
    fn within_running_cap(
        &self,
        p: &Principal,
        turn: &Turn,
        decision: &airlock_gateway_domain::decision::Decision,
    ) -> Result<(), GatewayError> {
        let Turn::Held { .. } = turn else {
            return Ok(());
        };
        let o = &decision.obligations;
        within_policy(
            self.running.held(&p.owner_key(), p.tenant.as_deref()),
            o.max_running_executions,
            o.tenant_max_running_executions,
            p.tenant.is_some(),
        )
        .map_err(|over| over_cap(&over, Capped::RunningExecutions))
    }
}
