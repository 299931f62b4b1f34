//! A sandbox backend whose sandboxes play a script (print, wait, end) and honour cancellation.

use super::store::lock;
use airlock_gateway_domain::Cause;
use airlock_gateway_domain::{
    files::{FileInfo, WorkspacePath},
    ids::SessionId,
    ports::{
        JobEnd, JobOutcome, ReconcileReport, Sandbox, SandboxBackend, SandboxError, SandboxJob,
        SandboxSpec,
    },
};
use async_trait::async_trait;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

/// One step of what a scripted sandbox does when asked to run code.
#[derive(Clone, Debug)]
pub enum Step {
    Print(&'static str),
    PrintErr(&'static str),
    /// A rich output: this text as `text/plain` and inside `application/json`.
    Display(&'static str),
    Sleep(Duration),
    /// The backend counted this much CPU for the run.
    Cpu(Duration),
    /// A connection through the egress proxy: host, bytes up, bytes down.
    Egress(&'static str, u64, u64),
    /// Waits until cancelled (or the job's timeout).
    Block,
    End(JobEnd),
}

/// Runs the code's script: the code text names the script (`ScriptedBackend::scripts`).
#[derive(Default)]
pub struct ScriptedBackend {
    pub scripts: Mutex<BTreeMap<String, Vec<Step>>>,
    pub created: AtomicUsize,
    pub runs: AtomicUsize,
    /// The next sandbox run fails as if the sandbox died.
    pub die_next: AtomicBool,
    /// How long a sandbox takes to start (a window for concurrent creates).
    pub start_delay: Mutex<Duration>,
    /// Sandboxes fail to start.
    pub fail_start: AtomicBool,
}

impl ScriptedBackend {
    pub fn script(&self, code: &str, steps: Vec<Step>) {
        lock(&self.scripts).insert(code.to_owned(), steps);
    }
}

pub struct ScriptedSandbox {
    session_id: SessionId,
    backend: Arc<ScriptedBackend>,
    alive: AtomicBool,
}

/// The port over the shared script (the test keeps the `Arc` to script and count).
pub struct Backend(pub Arc<ScriptedBackend>);

#[async_trait]
impl SandboxBackend for Backend {
    fn name(&self) -> &'static str {
        "scripted"
    }

    async fn create(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let delay = *lock(&self.0.start_delay);
        tokio::time::sleep(delay).await;
        if self.0.fail_start.load(Ordering::SeqCst) {
            return Err(SandboxError::Start(Cause::msg(
                "the scripted sandbox does not start",
            )));
        }
        self.0.created.fetch_add(1, Ordering::SeqCst);
        Ok(Arc::new(ScriptedSandbox {
            session_id: spec.session_id,
            backend: self.0.clone(),
            alive: AtomicBool::new(true),
        }))
    }

    async fn reap_leftovers(&self, _keep: &[SessionId]) -> Result<ReconcileReport, SandboxError> {
        Ok(ReconcileReport::default())
    }

    async fn ready(&self) -> Result<(), SandboxError> {
        Ok(())
    }
}

fn outcome(end: JobEnd, stdout: String, stderr: String, cpu: Option<Duration>) -> JobOutcome {
    JobOutcome {
        end,
        stdout,
        stderr,
        output_truncated: false,
        error: None,
        outputs: vec![],
        artifacts: vec![],
        kernel_restarted: false,
        duration: Duration::ZERO,
        imports: vec![],
        usage: airlock_gateway_domain::ports::RunUsage {
            cpu,
            ..Default::default()
        },
    }
}

#[async_trait]
impl Sandbox for ScriptedSandbox {
    fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError> {
        self.backend.runs.fetch_add(1, Ordering::SeqCst);
        if self.backend.die_next.swap(false, Ordering::SeqCst) {
            self.alive.store(false, Ordering::SeqCst);
            return Err(SandboxError::Gone(Cause::msg("the scripted sandbox died")));
        }
        let steps = lock(&self.backend.scripts)
            .get(&job.code)
            .cloned()
            .unwrap_or_else(|| vec![Step::Print("ran\n"), Step::End(JobEnd::Completed)]);
        let (mut out, mut err) = (String::new(), String::new());
        let mut cpu = None;
        for step in steps {
            match step {
                Step::Print(t) | Step::PrintErr(t) => {
                    let stderr = matches!(step, Step::PrintErr(_));
                    if let Some(o) = &job.observer {
                        o.printed(stderr, t);
                    }
                    if stderr { &mut err } else { &mut out }.push_str(t);
                }
                Step::Display(t) => {
                    let mut data = BTreeMap::new();
                    data.insert("text/plain".to_owned(), serde_json::json!(t));
                    data.insert(
                        "application/json".to_owned(),
                        serde_json::json!({"v": [t], t: "as a key"}),
                    );
                    if let Some(o) = &job.observer {
                        o.displayed(&airlock_gateway_domain::Output {
                            kind: "display_data".into(),
                            data,
                        });
                    }
                }
                Step::Sleep(d) => tokio::time::sleep(d).await,
                Step::Cpu(d) => cpu = Some(d),
                Step::Egress(host, bytes_up, bytes_down) => {
                    job.egress_log
                        .push(airlock_gateway_domain::egress::EgressRecord {
                            host: host.into(),
                            port: 443,
                            method: "CONNECT".into(),
                            admitted: true,
                            bytes_up,
                            bytes_down,
                            ..Default::default()
                        })
                }
                Step::Block => {
                    tokio::select! {
                        _ = job.cancel.cancelled() => return Ok(outcome(JobEnd::Cancelled, out, err, cpu)),
                        _ = tokio::time::sleep(job.timeout) => return Ok(outcome(JobEnd::TimedOut, out, err, cpu)),
                    }
                }
                Step::End(end) => return Ok(outcome(end, out, err, cpu)),
            }
        }
        Ok(outcome(JobEnd::Completed, out, err, cpu))
    }

    async fn write_file(&self, _p: &WorkspacePath, _d: Vec<u8>) -> Result<FileInfo, SandboxError> {
        Err(SandboxError::Io(Cause::msg("not in the fake")))
    }

    async fn read_file(&self, _p: &WorkspacePath, _m: u64) -> Result<Vec<u8>, SandboxError> {
        Err(SandboxError::FileNotFound)
    }

    async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError> {
        Ok(vec![])
    }

    async fn alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        self.alive.store(false, Ordering::SeqCst);
        Ok(())
    }

    async fn runtime_modules(&self) -> Result<Vec<String>, SandboxError> {
        Ok(vec![])
    }

    async fn quarantine(&self, _remove: &[WorkspacePath]) -> Result<(), SandboxError> {
        Ok(())
    }
}
