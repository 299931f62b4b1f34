//! Accepts gateway connections (Unix socket or TCP) and serves one request per connection.

use crate::{
    kernel::Kernel,
    workspace::{Workspace, WsError},
};
use airlock_sandbox_protocol::{
    token_matches, Conn, Envelope, Event, FailCode, Request, PROTOCOL_VERSION,
};
use std::{sync::Arc, time::Duration};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::Mutex,
};

/// The token a request must carry. A warm-pool agent starts unclaimed: its start-up token
/// answers only `ping` and `claim`, and the claim replaces it with the session's, once.
pub struct AgentToken {
    pub value: String,
    pub claimed: bool,
}

pub struct Agent {
    pub token: std::sync::Mutex<AgentToken>,
    /// Where the in-sandbox proxy relays while an execution runs (pods).
    pub egress_route: Arc<std::sync::Mutex<Option<airlock_sandbox_protocol::EgressRoute>>>,
    pub workspace: Workspace,
    pub kernel: Mutex<Option<Kernel>>,
    pub node: String,
    pub bash: String,
    pub python: std::path::PathBuf,
    /// The running execution's id and the token that cancels it.
    pub running: std::sync::Mutex<Option<(String, tokio_util::sync::CancellationToken)>>,
}

/// Where granted packages are installed; the kernel has it on `sys.path`.
pub const SITE_DIR: &str = "/tmp/airlock-site";

/// Installs `pins` from the gateway's package index (through the egress relay; the index
/// serves only what the decision granted, with hashes pip verifies). Returns pip's complaint.
pub(crate) async fn install_packages(
    python: &std::path::Path,
    pins: &[String],
    limit: Duration,
) -> Result<(), String> {
    // Requirement lines ("name==version --hash=sha256:..."): pip checks every file against the
    // hashes policy pinned, and with --require-hashes refuses anything unpinned.
    let req_file = std::path::Path::new("/tmp/airlock-requirements.txt");
    std::fs::write(req_file, pins.join("\n") + "\n")
        .map_err(|e| format!("writing the requirements: {e}"))?;
    let mut cmd = tokio::process::Command::new(python);
    cmd.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-cache-dir",
        "--only-binary=:all:",
        "--upgrade",
    ])
    // Plain HTTP is fine here: the "network" is the agent's relay to the gateway over a local
    // socket, and every file comes with the sha256 pip verifies.
    .args([
        "--index-url",
        "http://index.airlock/simple/",
        "--trusted-host",
        "index.airlock",
        "--target",
        SITE_DIR,
    ])
    .arg("-r")
    .arg(req_file)
    .args(
        pins.iter()
            .all(|p| p.contains("--hash="))
            .then_some("--require-hashes"),
    )
    .stdin(std::process::Stdio::null())
    .kill_on_drop(true);
    match tokio::time::timeout(limit.min(Duration::from_secs(300)), cmd.output()).await {
        Err(_) => Err("package installation timed out".into()),
        Ok(Err(e)) => Err(format!("pip could not start: {e}")),
        Ok(Ok(o)) if o.status.success() => Ok(()),
        Ok(Ok(o)) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = err
                .lines()
                .filter(|l| !l.trim().is_empty())
                .rev()
                .take(3)
                .collect();
            Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
        }
    }
}

impl Agent {
    pub async fn serve<T: AsyncRead + AsyncWrite + Unpin>(self: Arc<Self>, io: T) {
        let mut conn = Conn::new(io);
        let env: Envelope = match conn.recv_json().await {
            Ok(e) => e,
            Err(e) => {
                let _ = conn
                    .send_json(&fail(FailCode::BadRequest, &e.to_string()))
                    .await;
                return;
            }
        };
        let (matches, claimed) = {
            let t = self.token.lock().unwrap_or_else(|e| e.into_inner());
            (token_matches(&t.value, &env.token), t.claimed)
        };
        if !matches {
            let _ = conn
                .send_json(&fail(FailCode::Unauthorized, "bad session token"))
                .await;
            return;
        }
        if !claimed && !matches!(env.request, Request::Ping | Request::Claim { .. }) {
            let _ = conn
                .send_json(&fail(
                    FailCode::Unauthorized,
                    "this sandbox has not been claimed for a session",
                ))
                .await;
            return;
        }
        if env.version != PROTOCOL_VERSION {
            let _ = conn
                .send_json(&fail(FailCode::BadRequest, "unsupported protocol version"))
                .await;
            return;
        }
        let result = match env.request {
            Request::Ping => {
                let ready = self
                    .kernel
                    .try_lock()
                    .map(|k| k.as_ref().is_some_and(Kernel::alive))
                    .unwrap_or(true);
                conn.send_json(&Event::Pong {
                    version: PROTOCOL_VERSION,
                    kernel_ready: ready,
                })
                .await
            }
            Request::Claim { token } => {
                let accepted = {
                    let mut t = self.token.lock().unwrap_or_else(|e| e.into_inner());
                    if t.claimed || token.len() < 32 {
                        false
                    } else {
                        t.value = token;
                        t.claimed = true;
                        true
                    }
                };
                if accepted {
                    conn.send_json(&Event::Pong {
                        version: PROTOCOL_VERSION,
                        kernel_ready: true,
                    })
                    .await
                } else {
                    conn.send_json(&fail(
                        FailCode::Unauthorized,
                        "this sandbox is already claimed (or the new token is too short)",
                    ))
                    .await
                }
            }
            Request::ListFiles => {
                conn.send_json(&Event::Files {
                    files: self.workspace.list(),
                })
                .await
            }
            Request::PutFile { path, size } => match conn.recv_data(size).await {
                Ok(data) => {
                    conn.send_json(
                        &self.ws_result(
                            self.workspace
                                .write(&path, &data)
                                .map(|file| Event::Written { file }),
                        ),
                    )
                    .await
                }
                Err(e) => {
                    conn.send_json(&fail(FailCode::BadRequest, &e.to_string()))
                        .await
                }
            },
            Request::GetFile { path, max_bytes } => match self.workspace.read(&path, max_bytes) {
                Ok(data) => match conn
                    .send_json(&Event::File {
                        size: data.len() as u64,
                    })
                    .await
                {
                    Ok(()) => conn.send_data(&data).await,
                    Err(e) => Err(e),
                },
                Err(e) => conn.send_json(&self.ws_result::<Event>(Err(e))).await,
            },
            Request::Execute(req) => self.execute(req, &mut conn).await,
            Request::Inventory => {
                conn.send_json(&Event::Inventory {
                    modules: crate::imports::inventory(&self.python),
                })
                .await
            }
            Request::Quarantine { remove } => self.quarantine(&remove, &mut conn).await,
            Request::Cancel { execution_id } => {
                self.cancel(&execution_id);
                conn.send_json(&Event::Pong {
                    version: PROTOCOL_VERSION,
                    kernel_ready: true,
                })
                .await
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended early");
        }
    }

    fn ws_result<E: Into<Event>>(&self, r: Result<E, WsError>) -> Event {
        match r {
            Ok(e) => e.into(),
            Err(WsError::BadPath) => fail(FailCode::BadRequest, "invalid path"),
            Err(WsError::NotFound) => fail(FailCode::NotFound, "no such file"),
            Err(e @ WsError::TooLarge(_)) => fail(FailCode::TooLarge, &e.to_string()),
            Err(e @ WsError::Quota(_)) => fail(FailCode::QuotaExceeded, &e.to_string()),
            Err(e @ WsError::Io(_)) => fail(FailCode::Internal, &e.to_string()),
        }
    }

    /// Restarts the kernel and removes the listed workspace files (what a withheld execution
    /// left behind), then answers `pong`.
    async fn quarantine<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        remove: &[String],
        conn: &mut Conn<T>,
    ) -> Result<(), airlock_sandbox_protocol::WireError> {
        let Ok(mut kernel) = self.kernel.try_lock() else {
            return conn
                .send_json(&fail(FailCode::Busy, "an execution is running"))
                .await;
        };
        for p in remove {
            if let Ok(path) = self.workspace.resolve(p) {
                let _ = std::fs::remove_file(path);
            }
        }
        let ready = match kernel.as_mut() {
            Some(k) => k.restart().await.is_ok(),
            None => false,
        };
        conn.send_json(&Event::Pong {
            version: PROTOCOL_VERSION,
            kernel_ready: ready,
        })
        .await
    }
}

pub(crate) fn fail(code: FailCode, message: &str) -> Event {
    Event::Failed {
        code,
        message: message.to_owned(),
    }
}
