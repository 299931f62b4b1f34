//! One execution, every step in order: authenticate (done by the HTTP layer: the caller arrives
//! as a `Principal`), analyse, decide, record (`prepare`), then, as a job of its own that
//! clients follow, cancel and wait for: enforce, inspect, record and reply (`run`).
//!
//! ```text
//! submit ─ prepare.rs  the session's turn, then
//!                      analyse.rs  the code's facts (and its SQL's)
//!                      decide.rs   policy on request, session and facts
//!                      prepare.rs  recorded: queued | denied | pending_review
//!        └ spawn ───── enforce.rs  sandbox.rs (live output) | connector.rs
//!                      inspect.rs  the outcome as the caller sees it (status, error, redaction)
//!                      outputs.rs  what leaves, inspected: masked, or withheld
//!                      record.rs   execution.completed with everything it touched; result
//! ```

mod analyse;
mod connector;
mod decide;
mod enforce;
mod follow;
mod inspect;
mod outputs;
mod prepare;
mod record;
mod recover;
mod sandbox;

pub use follow::{Follow, Page};
pub(crate) use prepare::Resumed;

use crate::{
    jobs::{Job, JobEvent},
    service::Gateway,
};
use airlock_gateway_domain::ExecutionStatus;
use airlock_gateway_domain::{Execution, ExecutionRequest, GatewayError, Principal, SessionId};
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The finished (or refused, or held) execution.
pub struct ExecutionReply {
    pub execution: Execution,
}

/// An accepted execution: recorded, and running as a job unless policy stopped it.
pub struct Submitted {
    /// As recorded: `queued`, or `denied` / `pending_review` (then nothing runs).
    pub execution: Execution,
    /// Its live events (None when nothing runs).
    pub job: Option<Arc<Job>>,
    done: Option<JoinHandle<Result<Execution, GatewayError>>>,
}

impl Submitted {
    /// Waits for the job to end (at once when nothing runs).
    pub async fn finished(self) -> Result<Execution, GatewayError> {
        match self.done {
            None => Ok(self.execution),
            Some(h) => h.await.map_err(|e| {
                tracing::error!(error = %e, "execution task failed");
                GatewayError::internal("the execution's task failed")
            })?,
        }
    }
}

impl Gateway {
    /// Runs an execution and waits for its end (the blocking form of [`Gateway::submit`]).
    pub async fn execute(
        self: &Arc<Self>,
        p: &Principal,
        session_id: &SessionId,
        req: ExecutionRequest,
    ) -> Result<ExecutionReply, GatewayError> {
        let execution = self.submit(p, session_id, req).await?.finished().await?;
        Ok(ExecutionReply { execution })
    }

    /// Analyses, decides and records the execution; if policy allows it, starts it as a job
    /// (holding the session's turn until it ends) and returns at once.
    pub async fn submit(
        self: &Arc<Self>,
        p: &Principal,
        session_id: &SessionId,
        req: ExecutionRequest,
    ) -> Result<Submitted, GatewayError> {
        self.submit_within(p, session_id, req, std::time::Duration::ZERO)
            .await
    }

    /// [`Gateway::submit`], waiting up to `wait` for the session's current execution to end
    /// instead of answering `session_busy` at once (for clients whose calls come one after
    /// another, such as MCP's, where a just-cancelled execution may still be stopping).
    pub async fn submit_within(
        self: &Arc<Self>,
        p: &Principal,
        session_id: &SessionId,
        req: ExecutionRequest,
        wait: std::time::Duration,
    ) -> Result<Submitted, GatewayError> {
        let turn = self.take_turn(p, session_id, wait).await?;
        let ready = match self.prepare(p, session_id, req, turn).await? {
            prepare::Prepared::Stopped(execution) => {
                return Ok(Submitted {
                    execution: *execution,
                    job: None,
                    done: None,
                })
            }
            prepare::Prepared::Ready(r) => r,
        };
        let execution = ready.exec.clone();
        let (job, done) = self.start_job(p.clone(), *ready);
        Ok(Submitted {
            execution,
            job: Some(job),
            done: Some(done),
        })
    }

    /// Opens the execution's job and runs it in a task of its own.
    fn start_job(
        self: &Arc<Self>,
        p: Principal,
        ready: prepare::Ready,
    ) -> (Arc<Job>, JoinHandle<Result<Execution, GatewayError>>) {
        let job = self.jobs.open(
            &ready.exec.id,
            &ready.exec.session_id,
            &p.owner_key(),
            ready.exec.status,
        );
        let gw = self.clone();
        let running = job.clone();
        let done = tokio::spawn(async move { gw.run(&p, ready, Some(running)).await });
        (job, done)
    }

    /// An approved execution: its job opens at once (the requester follows it), and it runs
    /// when the session's current execution, if any, has ended.
    pub(crate) fn start_resumed(self: &Arc<Self>, p: Principal, resumed: prepare::Resumed) {
        let job = self.jobs.open(
            &resumed.exec.id,
            &resumed.exec.session_id,
            &p.owner_key(),
            resumed.exec.status,
        );
        let gw = self.clone();
        tokio::spawn(async move {
            let ready = resumed.take_turn().await;
            if let Err(e) = gw.run(&p, ready, Some(job)).await {
                tracing::warn!(error = %e, "an approved execution failed");
            }
        });
    }

    /// SQL that code inside the sandbox sent (`sql.airlock`) while one of the session's
    /// executions runs and holds the turn: it runs beside that execution, through the connector
    /// only, and its rows come back whole instead of as a workspace file.
    pub(crate) async fn execute_nested(
        &self,
        p: &Principal,
        session_id: &SessionId,
        req: ExecutionRequest,
    ) -> Result<Execution, GatewayError> {
        let turn = self.nested_turn(p, session_id, &req).await?;
        match self.prepare(p, session_id, req, turn).await? {
            prepare::Prepared::Stopped(execution) => Ok(*execution),
            prepare::Prepared::Ready(r) => self.run(p, *r, None).await,
        }
    }

    /// Steps 5 to 7; the job's followers get every step and, whatever happens, the result.
    pub(crate) async fn run(
        &self,
        p: &Principal,
        ready: prepare::Ready,
        job: Option<Arc<Job>>,
    ) -> Result<Execution, GatewayError> {
        let as_recorded = ready.exec.clone();
        let result = self.run_steps(p, ready, job.as_ref()).await;
        if let Some(job) = &job {
            let last = match &result {
                Ok(e) => e.clone(),
                Err(f) => f
                    .exec
                    .clone()
                    .unwrap_or_else(|| inspect::broken(as_recorded, &f.error, self.now())),
            };
            if let Some(e) = &last.error {
                job.log.push(JobEvent::Error(e.clone()));
            }
            job.log.push(JobEvent::Result(Box::new(last)));
        }
        result.map_err(|f| f.error)
    }

    async fn run_steps(
        &self,
        p: &Principal,
        mut ready: prepare::Ready,
        job: Option<&Arc<Job>>,
    ) -> Result<Execution, record::RunFailure> {
        if let Some(j) = job {
            j.log.push(JobEvent::Status(ExecutionStatus::Running));
        }
        // 5. enforce
        let mut enforced = self.enforce(p, &ready, job).await?;
        // 6. inspect
        let imports_decided = self.inspect(p, &mut ready, &mut enforced, job).await;
        // 7. record and reply
        Ok(self
            .record_result(p, ready, enforced, imports_decided)
            .await?)
    }
}
