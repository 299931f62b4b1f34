//! The gateway's side of the sandbox agent protocol: one client for every backend, over the
//! session's Unix socket (local sandboxes) or TCP (pods). The agent runs beside untrusted
//! code, so everything it answers is bounded here as well.

mod stream;

pub use stream::AgentStream;

use airlock_gateway_domain::{
    execution::{ExecutionError, Output},
    files::{media_type_for, FileInfo, WorkspacePath},
    ports::{JobEnd, JobOutcome, SandboxError, SandboxJob},
    Cause,
};
pub use airlock_sandbox_protocol::EgressRoute;
use airlock_sandbox_protocol::{
    Conn, Envelope, Event, ExecuteRequest, FailCode, FileEntry, Request, RunEnd, PROTOCOL_VERSION,
};
use std::{
    net::SocketAddr,
    path::PathBuf,
    time::{Duration, Instant},
};

/// Most bytes of results (streams, rich outputs, tracebacks) accepted from an agent for one
/// execution, and most rich outputs. The agent caps streams at `limits.output_bytes` and each
/// rich output at 4 MiB; these bounds hold even if the agent were replaced.
const MAX_RESULT_BYTES: usize = 64 << 20;
const MAX_OUTPUTS: usize = 1000;
/// Most module names accepted in an inventory or an execution's import report.
const MAX_INVENTORY: usize = 10_000;

#[derive(Clone, Debug)]
pub enum AgentAddr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

#[derive(Clone)]
pub struct AgentClient {
    addr: AgentAddr,
    token: String,
}

impl AgentClient {
    pub fn new(addr: AgentAddr, token: String) -> Self {
        Self { addr, token }
    }

    /// Opens a connection and sends the request envelope.
    pub async fn open(&self, request: Request) -> Result<Conn<AgentStream>, SandboxError> {
        let stream = match &self.addr {
            AgentAddr::Unix(p) => tokio::net::UnixStream::connect(p)
                .await
                .map(AgentStream::Unix),
            AgentAddr::Tcp(a) => tokio::net::TcpStream::connect(a)
                .await
                .map(AgentStream::Tcp),
        }
        .map_err(|e| SandboxError::Gone(Cause::context("agent connection", e)))?;
        let mut conn = Conn::new(stream);
        let env = Envelope {
            version: PROTOCOL_VERSION,
            token: self.token.clone(),
            request,
        };
        conn.send_json(&env).await.map_err(wire)?;
        Ok(conn)
    }

    /// Whether the agent answers and its kernel is ready.
    pub async fn ping(&self) -> Result<bool, SandboxError> {
        let mut conn = self.open(Request::Ping).await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::Pong { kernel_ready, .. } => Ok(kernel_ready),
            other => Err(unexpected(other)),
        }
    }

    /// Claims a warm-pool agent for a session: its start-up token is replaced by `token`, and
    /// the returned client speaks with the new one. The agent accepts one claim.
    pub async fn claim(self, token: String) -> Result<AgentClient, SandboxError> {
        let mut conn = self
            .open(Request::Claim {
                token: token.clone(),
            })
            .await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::Pong { .. } => Ok(AgentClient {
                addr: self.addr,
                token,
            }),
            other => Err(unexpected(other)),
        }
    }

    pub async fn write_file(
        &self,
        path: &WorkspacePath,
        data: Vec<u8>,
    ) -> Result<FileInfo, SandboxError> {
        let mut conn = self
            .open(Request::PutFile {
                path: path.to_string(),
                size: data.len() as u64,
            })
            .await?;
        conn.send_data(&data).await.map_err(wire)?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::Written { file } => Ok(file_info(file)),
            other => Err(unexpected(other)),
        }
    }

    pub async fn read_file(
        &self,
        path: &WorkspacePath,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SandboxError> {
        let mut conn = self
            .open(Request::GetFile {
                path: path.to_string(),
                max_bytes,
            })
            .await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::File { size } => conn.recv_data(size).await.map_err(wire),
            other => Err(unexpected(other)),
        }
    }

    pub async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError> {
        let mut conn = self.open(Request::ListFiles).await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::Files { files } => Ok(files.into_iter().map(file_info).collect()),
            other => Err(unexpected(other)),
        }
    }

    /// The third-party top-level modules the sandbox's runtime can import.
    pub async fn inventory(&self) -> Result<Vec<String>, SandboxError> {
        let mut conn = self.open(Request::Inventory).await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            // Bounded: the agent runs beside untrusted code.
            Event::Inventory { mut modules } => {
                modules.truncate(MAX_INVENTORY);
                Ok(modules)
            }
            other => Err(unexpected(other)),
        }
    }

    /// Restarts the kernel and removes `remove` from the workspace.
    /// Asks the agent to stop execution `execution_id` (a no-op when it no longer runs).
    pub async fn cancel(&self, execution_id: &str) -> Result<(), SandboxError> {
        let mut conn = self
            .open(Request::Cancel {
                execution_id: execution_id.to_owned(),
            })
            .await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::Pong { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    pub async fn quarantine(&self, remove: &[WorkspacePath]) -> Result<(), SandboxError> {
        let mut conn = self
            .open(Request::Quarantine {
                remove: remove.iter().map(ToString::to_string).collect(),
            })
            .await?;
        match conn.recv_json::<Event>().await.map_err(wire)? {
            Event::Pong { .. } => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Runs one job; `alive` tells a broken connection from a sandbox that died.
    pub async fn execute(
        &self,
        job: SandboxJob,
        egress_route: Option<EgressRoute>,
        alive: impl Fn() -> bool,
    ) -> Result<JobOutcome, SandboxError> {
        let client = self;
        let observer = job.observer.clone();
        let cancel = job.cancel.clone();
        let execution_id = job.execution_id.to_string();

        let started = Instant::now();
        let req = ExecuteRequest {
            execution_id: job.execution_id.to_string(),
            language: job.language.as_str().into(),
            code: job.code,
            timeout_ms: u64::try_from(job.timeout.as_millis()).unwrap_or(u64::MAX),
            output_limit: u64::from(job.output_limit),
            packages: job.packages,
            egress_route,
            denied_imports: job.denied_imports,
        };
        let mut conn = client.open(Request::Execute(req)).await?;
        let mut out = JobOutcome::new(JobEnd::Completed, Duration::ZERO);
        // The agent enforces the timeout; this outer deadline covers an agent that hangs.
        let hard = job.timeout + Duration::from_secs(30);
        let mut received = 0usize;
        let mut cancel_sent = false;
        loop {
            let next = tokio::time::timeout(
                hard.saturating_sub(started.elapsed()),
                conn.recv_json::<Event>(),
            );
            let ev = tokio::select! {
                r = next => r,
                _ = cancel.cancelled(), if !cancel_sent => {
                    // On its own connection: this one carries the execution's stream, which
                    // goes on until the agent reports the run ended.
                    cancel_sent = true;
                    let c = self.clone();
                    let id = execution_id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = c.cancel(&id).await {
                            tracing::warn!(error = %e, execution = %id, "cancel request failed");
                        }
                    });
                    continue;
                }
            };
            let ev = match ev {
                Ok(r) => r.map_err(|e| {
                    if alive() {
                        wire(e)
                    } else {
                        SandboxError::Gone(Cause::msg("sandbox exited"))
                    }
                })?,
                Err(_) => {
                    return Err(SandboxError::Agent(
                        "agent did not answer before the hard deadline".into(),
                    ))
                }
            };
            // The agent runs beside untrusted code: its answers are bounded here too.
            received += match &ev {
                Event::Stream { text, .. } => text.len(),
                Event::Output { data, .. } => {
                    data.values().map(|v| v.as_str().map_or(64, str::len)).sum()
                }
                Event::Error {
                    value, traceback, ..
                } => value.len() + traceback.iter().map(String::len).sum::<usize>(),
                _ => 0,
            };
            if received > MAX_RESULT_BYTES || out.outputs.len() > MAX_OUTPUTS {
                return Err(SandboxError::Agent(Cause::msg(format!("the agent sent more than {MAX_RESULT_BYTES} bytes or {MAX_OUTPUTS} outputs for one execution"))));
            }
            match ev {
                Event::Stream { name, text } => {
                    let stderr = name == "stderr";
                    if let Some(o) = &observer {
                        o.printed(stderr, &text);
                    }
                    if stderr {
                        out.stderr.push_str(&text);
                    } else {
                        out.stdout.push_str(&text);
                    }
                }
                Event::Output { kind, data } => {
                    let output = Output { kind, data };
                    if let Some(o) = &observer {
                        o.displayed(&output);
                    }
                    out.outputs.push(output);
                }
                Event::Error {
                    name,
                    value,
                    traceback,
                } => {
                    out.error = Some(ExecutionError {
                        name,
                        value,
                        traceback,
                        code: None,
                    })
                }
                Event::Done {
                    end,
                    kernel_restarted,
                    output_truncated,
                    artifacts,
                    mut imports,
                    ..
                } => {
                    imports.truncate(MAX_INVENTORY);
                    out.imports = imports;
                    out.kernel_restarted = kernel_restarted;
                    out.output_truncated = output_truncated;
                    out.artifacts = artifacts.into_iter().map(file_info).collect();
                    out.end = match end {
                        RunEnd::Completed => JobEnd::Completed,
                        RunEnd::Failed => JobEnd::Failed,
                        RunEnd::TimedOut => JobEnd::TimedOut,
                        RunEnd::KernelDied => JobEnd::KernelDied,
                        RunEnd::QuotaExceeded => JobEnd::QuotaExceeded,
                        RunEnd::Cancelled => JobEnd::Cancelled,
                    };
                    break;
                }
                other => return Err(unexpected(other)),
            }
        }
        out.duration = started.elapsed();
        Ok(out)
    }
}

pub fn file_info(e: FileEntry) -> FileInfo {
    let media_type = media_type_for(&e.path).to_owned();
    FileInfo {
        path: e.path,
        size: e.size,
        sha256: e.sha256,
        classification: None,
        media_type,
    }
}

pub fn wire(e: airlock_sandbox_protocol::WireError) -> SandboxError {
    SandboxError::Agent(Cause::new(e))
}

pub fn unexpected(e: Event) -> SandboxError {
    match e {
        Event::Failed {
            code: FailCode::NotFound,
            ..
        } => SandboxError::FileNotFound,
        Event::Failed {
            code: FailCode::QuotaExceeded,
            message,
        } => SandboxError::Quota(message),
        Event::Failed {
            code: FailCode::Busy,
            ..
        } => SandboxError::Busy,
        Event::Failed {
            code: FailCode::TooLarge,
            message,
        } => SandboxError::TooLarge(message),
        Event::Failed {
            code: FailCode::Unauthorized | FailCode::BadRequest | FailCode::Internal,
            message,
        } => SandboxError::Agent(Cause::msg(message)),
        other => SandboxError::Agent(Cause::msg(format!("unexpected agent event {other:?}"))),
    }
}
