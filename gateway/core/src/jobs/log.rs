//! The event log of one execution: every event it produced, numbered from 1, kept in memory for
//! followers (SSE clients) to replay and resume from any id without gap or duplicate.

use airlock_gateway_domain::{files::FileInfo, Execution, ExecutionError, ExecutionStatus, Output};
use std::{sync::Mutex, time::Instant};
use tokio::sync::watch;

/// One thing that happened to an execution, in the order it happened.
#[derive(Clone, Debug, PartialEq)]
pub enum JobEvent {
    Status(ExecutionStatus),
    /// Printed text, already redacted.
    Printed {
        stderr: bool,
        text: String,
    },
    Displayed(Output),
    Artifact(FileInfo),
    Error(ExecutionError),
    /// The finished execution, as `GET /v1/executions/{id}` shows it. Always the last event.
    Result(Box<Execution>),
}

impl JobEvent {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status(_) => "status",
            Self::Printed { stderr: false, .. } => "stdout",
            Self::Printed { stderr: true, .. } => "stderr",
            Self::Displayed(_) => "display",
            Self::Artifact(_) => "artifact",
            Self::Error(_) => "error",
            Self::Result(_) => "result",
        }
    }
}

/// An event with its id (1, 2, ... within its execution).
#[derive(Clone, Debug, PartialEq)]
pub struct Numbered {
    pub id: u64,
    pub event: JobEvent,
}

#[derive(Debug)]
struct State {
    events: Vec<Numbered>,
    status: ExecutionStatus,
    finished_at: Option<Instant>,
}

/// Appended to by the execution's own task, read by any number of followers.
#[derive(Debug)]
pub struct JobLog {
    state: Mutex<State>,
    /// The id of the last event; followers wait on it.
    last: watch::Sender<u64>,
}

impl JobLog {
    pub fn new(status: ExecutionStatus) -> Self {
        let log = Self {
            state: Mutex::new(State {
                events: vec![],
                status,
                finished_at: None,
            }),
            last: watch::Sender::new(0),
        };
        log.push(JobEvent::Status(status));
        log
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an event (a status event also sets the status). Nothing is appended after the
    /// result.
    pub fn push(&self, event: JobEvent) {
        let id = {
            let mut s = self.lock();
            if s.finished_at.is_some() {
                return;
            }
            match &event {
                JobEvent::Status(st) => s.status = *st,
                JobEvent::Result(e) => {
                    s.status = e.status;
                    s.finished_at = Some(Instant::now());
                }
                _ => {}
            }
            let id = s.events.len() as u64 + 1;
            s.events.push(Numbered { id, event });
            id
        };
        self.last.send_replace(id);
    }

    /// Events after `after` (0: from the start), and whether the log is complete.
    pub fn after(&self, after: u64) -> (Vec<Numbered>, bool) {
        let s = self.lock();
        let from = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(s.events.len());
        (s.events[from..].to_vec(), s.finished_at.is_some())
    }

    /// Wakes when an event is appended.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.last.subscribe()
    }

    pub fn status(&self) -> ExecutionStatus {
        self.lock().status
    }

    /// When the result was appended (None: still going).
    pub fn finished_at(&self) -> Option<Instant> {
        self.lock().finished_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_from_one_and_resume_exactly() {
        let log = JobLog::new(ExecutionStatus::Queued);
        log.push(JobEvent::Status(ExecutionStatus::Running));
        log.push(JobEvent::Printed {
            stderr: false,
            text: "a".into(),
        });
        let (all, done) = log.after(0);
        assert_eq!(all.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(!done);
        let (rest, _) = log.after(2);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].id, 3);
        assert!(log.after(99).0.is_empty());
        assert_eq!(log.status(), ExecutionStatus::Running);
    }
}
