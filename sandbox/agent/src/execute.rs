//! One execution: install granted packages, run the code on the kernel or as a process, send
//! what it prints and displays to the gateway while it runs, then the error and `done`.
//! A `cancel` request on another connection stops it.

use crate::{
    output::OutputCollector,
    runner,
    server::{fail, install_packages, Agent, SITE_DIR},
    workspace::Workspace,
};
use airlock_sandbox_protocol::{Conn, Event, ExecuteRequest, FailCode, RunEnd, WireError};
use base64::Engine;
use std::time::Duration;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
    time::Instant,
};
use tokio_util::sync::CancellationToken;

/// How a run ended, as the kernel or process reported it.
struct Ended {
    end: RunEnd,
    signal: Option<i32>,
    kernel_restarted: bool,
}

impl Agent {
    /// Cancels the running execution if it is `execution_id` (a no-op otherwise).
    pub(crate) fn cancel(&self, execution_id: &str) {
        let running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((id, token)) = running.as_ref() {
            if id == execution_id {
                token.cancel();
            }
        }
    }

    pub(crate) async fn execute<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        req: ExecuteRequest,
        conn: &mut Conn<T>,
    ) -> Result<(), WireError> {
        let Ok(mut kernel) = self.kernel.try_lock() else {
            return conn
                .send_json(&fail(FailCode::Busy, "an execution is already running"))
                .await;
        };
        if !matches!(
            req.language.as_str(),
            "python" | "sql" | "bash" | "javascript"
        ) {
            let msg = format!("unknown language {}", req.language);
            return conn.send_json(&fail(FailCode::BadRequest, &msg)).await;
        }
        let cancel = CancellationToken::new();
        let _running = RunningGuard::set(self, &req.execution_id, cancel.clone());
        let _route = RouteGuard::set(&self.egress_route, &req.egress_route);
        let started = Instant::now();
        let before = self.workspace.snapshot();
        crate::imports::prepare(&req.denied_imports);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let limit = usize::try_from(req.output_limit).unwrap_or(usize::MAX);
        let mut out = OutputCollector::live(limit, tx);

        // Pieces go to the gateway as they come; if it hung up, the run is cancelled (nobody
        // is left to see it) and finishes on its own.
        let mut hung_up = false;
        let ended = {
            let run = self.run_code(&req, kernel.as_mut(), &mut out, &cancel);
            tokio::pin!(run);
            loop {
                tokio::select! {
                    ended = &mut run => break ended,
                    Some(ev) = rx.recv() => {
                        if !hung_up && conn.send_json(&ev).await.is_err() {
                            hung_up = true;
                            cancel.cancel();
                        }
                    }
                }
            }
        };
        out.stop_live();
        while let Ok(ev) = rx.try_recv() {
            if !hung_up {
                conn.send_json(&ev).await?;
            }
        }
        if hung_up {
            return Err(WireError::Closed);
        }
        self.finish(conn, &req, out, &before, started, ended).await
    }

    /// Installs the granted packages, then runs the code; what it prints goes to `out`.
    async fn run_code(
        &self,
        req: &ExecuteRequest,
        kernel: Option<&mut crate::kernel::Kernel>,
        out: &mut OutputCollector,
        cancel: &CancellationToken,
    ) -> Ended {
        let limit = Duration::from_millis(req.timeout_ms);
        let mut kernel = kernel;
        if !req.packages.is_empty() {
            if let Err(msg) = install_packages(&self.python, &req.packages, limit).await {
                out.error(
                    "PackageInstallError".into(),
                    format!("installing {}: {msg}", req.packages.join(", ")),
                    vec![],
                );
                return Ended {
                    end: RunEnd::Failed,
                    signal: None,
                    kernel_restarted: false,
                };
            }
            if let Some(k) = kernel.as_deref_mut() {
                let _ = k.refresh_imports().await;
            }
        }
        let process = |program: &str, flag: &'static str| (program.to_owned(), flag);
        let (program, flag) = match req.language.as_str() {
            "bash" => process(&self.bash, "-c"),
            "javascript" => process(&self.node, "-e"),
            _ => return run_on_kernel(req, kernel, out, limit, cancel).await,
        };
        let args = [flag, req.code.as_str()];
        let (end, signal) =
            runner::run_process(&program, &args, &self.workspace.root, limit, out, cancel).await;
        Ended {
            end,
            signal,
            kernel_restarted: false,
        }
    }

    /// Sends the error and `done` (the printed output went as it came).
    async fn finish<T: AsyncRead + AsyncWrite + Unpin>(
        &self,
        conn: &mut Conn<T>,
        req: &ExecuteRequest,
        mut out: OutputCollector,
        before: &crate::workspace::Snapshot,
        started: Instant,
        ended: Ended,
    ) -> Result<(), WireError> {
        save_figures(&self.workspace, &req.execution_id, &out);
        let mut end = ended.end;
        let mut artifacts = self.workspace.changed_since(before);
        if self.workspace.usage() > self.workspace.quota_bytes {
            // Enforce the quota: what this execution wrote goes, the rest of the workspace stays.
            let removed: Vec<String> = artifacts.iter().map(|a| a.path.clone()).collect();
            for p in &removed {
                if let Ok(path) = self.workspace.resolve(p) {
                    let _ = std::fs::remove_file(path);
                }
            }
            out.error(
                "WorkspaceQuotaExceeded".into(),
                format!("the execution wrote past the workspace quota of {} bytes; the files it wrote were removed: {}", self.workspace.quota_bytes, removed.join(", ")),
                vec![],
            );
            artifacts.clear();
            end = RunEnd::QuotaExceeded;
        }
        if let Some((name, value, traceback)) = &out.error {
            conn.send_json(&Event::Error {
                name: name.clone(),
                value: value.clone(),
                traceback: traceback.clone(),
            })
            .await?;
        }
        conn.send_json(&Event::Done {
            end,
            signal: ended.signal,
            kernel_restarted: ended.kernel_restarted,
            output_truncated: out.truncated,
            artifacts,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            imports: crate::imports::collect(&self.python, std::path::Path::new(SITE_DIR)),
        })
        .await
    }
}

/// Python (and SQL over the session's files, which runs as Python) on the kernel.
async fn run_on_kernel(
    req: &ExecuteRequest,
    kernel: Option<&mut crate::kernel::Kernel>,
    out: &mut OutputCollector,
    limit: Duration,
    cancel: &CancellationToken,
) -> Ended {
    let code = if req.language == "sql" {
        format!(
            "__airlock_sql({:?})",
            base64::engine::general_purpose::STANDARD.encode(req.code.as_bytes())
        )
    } else {
        req.code.clone()
    };
    let (end, signal, kernel_restarted) = match kernel {
        Some(k) => match k.execute(&code, limit, out, cancel).await {
            Ok(r) => (r.end, r.signal, r.kernel_restarted),
            Err(e) => {
                out.error("KernelError".into(), e.to_string(), vec![]);
                (RunEnd::KernelDied, None, false)
            }
        },
        None => {
            out.error("KernelError".into(), "no kernel".into(), vec![]);
            (RunEnd::Failed, None, false)
        }
    };
    Ended {
        end,
        signal,
        kernel_restarted,
    }
}

/// The running execution's cancel token on the agent, cleared on every way out.
struct RunningGuard<'a>(&'a Agent);

impl<'a> RunningGuard<'a> {
    fn set(agent: &'a Agent, id: &str, token: CancellationToken) -> Self {
        *agent.running.lock().unwrap_or_else(|e| e.into_inner()) = Some((id.to_owned(), token));
        Self(agent)
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        *self.0.running.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

type Route = std::sync::Mutex<Option<airlock_sandbox_protocol::EgressRoute>>;

/// The execution's egress route, for as long as it runs (cleared on every way out).
struct RouteGuard<'a>(&'a Route);

impl<'a> RouteGuard<'a> {
    fn set(slot: &'a Route, route: &Option<airlock_sandbox_protocol::EgressRoute>) -> Self {
        if let Ok(mut r) = slot.lock() {
            r.clone_from(route);
        }
        Self(slot)
    }
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut r) = self.0.lock() {
            *r = None;
        }
    }
}

/// Saves each PNG the execution displayed as `figures/<execution>-<n>.png`, so figures are
/// artifacts a caller can download like any other file.
fn save_figures(ws: &Workspace, execution_id: &str, out: &OutputCollector) {
    let pngs = out
        .outputs
        .iter()
        .filter_map(|(_, d)| d.get("image/png").and_then(|v| v.as_str()));
    for (n, b64) in pngs.enumerate() {
        let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(clean) {
            let _ = ws.write(&format!("figures/{execution_id}-{}.png", n + 1), &bytes);
        }
    }
}
