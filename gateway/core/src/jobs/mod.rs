//! Executions as jobs: each one's live event log, its cancel switch, and the output it streams
//! (redacted as it goes), held by the gateway that runs it.

mod log;
mod observer;
pub mod redact_stream;

pub use log::{JobEvent, JobLog, Numbered};
pub use observer::{LiveOutput, Streamed};

use airlock_gateway_domain::{ExecutionId, ExecutionStatus, SessionId};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// One execution this gateway runs or ran recently.
#[derive(Debug)]
pub struct Job {
    pub execution_id: ExecutionId,
    pub session_id: SessionId,
    pub owner_key: String,
    pub log: JobLog,
    pub cancel: CancellationToken,
    /// The subject that asked to cancel it, once one did.
    cancelled_by: Mutex<Option<String>>,
}

impl Job {
    /// Asks the job to stop. Returns false when someone asked before (cancel is idempotent).
    pub fn request_cancel(&self, by: &str) -> bool {
        let mut who = self.cancelled_by.lock().unwrap_or_else(|e| e.into_inner());
        if who.is_some() {
            return false;
        }
        *who = Some(by.to_owned());
        self.cancel.cancel();
        true
    }

    pub fn cancelled_by(&self) -> Option<String> {
        self.cancelled_by
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The jobs of this gateway; finished ones stay for `retention` so followers can replay them.
pub struct JobHub {
    jobs: Mutex<HashMap<ExecutionId, Arc<Job>>>,
    retention: Duration,
}

impl JobHub {
    pub fn new(retention: Duration) -> Self {
        Self {
            jobs: Mutex::new(HashMap::new()),
            retention,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, Arc<Job>>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new job in `status` (its first event).
    pub fn open(
        &self,
        id: &ExecutionId,
        session: &SessionId,
        owner_key: &str,
        status: ExecutionStatus,
    ) -> Arc<Job> {
        let job = Arc::new(Job {
            execution_id: id.clone(),
            session_id: session.clone(),
            owner_key: owner_key.to_owned(),
            log: JobLog::new(status),
            cancel: CancellationToken::new(),
            cancelled_by: Mutex::new(None),
        });
        self.lock().insert(id.clone(), job.clone());
        job
    }

    pub fn get(&self, id: &ExecutionId) -> Option<Arc<Job>> {
        self.lock().get(id).cloned()
    }

    /// Forgets finished jobs older than the retention; returns how many went.
    pub fn sweep(&self) -> usize {
        let mut jobs = self.lock();
        let before = jobs.len();
        jobs.retain(|_, j| {
            j.log
                .finished_at()
                .is_none_or(|t| t.elapsed() < self.retention)
        });
        before - jobs.len()
    }

    /// The job of `session` not finished yet, if any (one runs per session at a time; an
    /// approved one waiting for the turn counts too).
    pub fn unfinished_in(&self, session: &SessionId) -> Option<Arc<Job>> {
        self.lock()
            .values()
            .find(|j| &j.session_id == session && j.log.finished_at().is_none())
            .cloned()
    }

    /// Jobs not finished yet.
    pub fn unfinished(&self) -> Vec<Arc<Job>> {
        self.lock()
            .values()
            .filter(|j| j.log.finished_at().is_none())
            .cloned()
            .collect()
    }
}
