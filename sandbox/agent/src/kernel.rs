//! Starts and supervises the ipykernel: connection file, ZeroMQ sockets, readiness, execute with
//! a deadline, interrupt, restart after death or an unresponsive interrupt.

use crate::jupyter_wire::{strip_ansi, Message, Signer};
use crate::output::OutputCollector;
use airlock_sandbox_protocol::RunEnd;
use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use std::{os::unix::process::ExitStatusExt, path::PathBuf, process::Stdio, time::Duration};
use tokio::{
    process::Command,
    sync::{mpsc, watch},
    time::{timeout, Instant},
};
use tokio_util::sync::CancellationToken;
use zeromq::{DealerSocket, Socket, SocketRecv, SocketSend, SubSocket};

/// Code run (silently) in every fresh kernel.
const STARTUP: &str = r#"
import os as __airlock_os, warnings as __airlock_warnings
__airlock_os.chdir(WORKSPACE)
import sys as __airlock_sys
__airlock_sys.path.insert(1, "/tmp/airlock-site")
__airlock_warnings.filterwarnings("ignore", message=".*non-interactive.*")
__airlock_warnings.filterwarnings("ignore", message=".*Matplotlib is currently using agg.*")
get_ipython().run_line_magic("colors", "NoColor")
# Printed output reaches the gateway's streams within a few milliseconds (ipykernel batches
# writes for 0.2 s by default).
for __airlock_s in (__airlock_sys.stdout, __airlock_sys.stderr):
    if hasattr(__airlock_s, "flush_interval"):
        __airlock_s.flush_interval = 0.005

from airlock._kernel import flush_figures as __airlock_flush_figures, sql as __airlock_sql
get_ipython().events.register("post_execute", __airlock_flush_figures)
"#;

pub struct KernelConfig {
    pub python: PathBuf,
    pub runtime_dir: PathBuf,
    pub workspace: PathBuf,
    pub start_timeout: Duration,
    /// The first of the kernel's five loopback ports.
    pub port_base: u16,
}

pub struct Kernel {
    cfg: KernelConfig,
    pid: Option<u32>,
    signer: Signer,
    shell: DealerSocket,
    control: DealerSocket,
    iopub: mpsc::Receiver<Message>,
    exited: watch::Receiver<Option<i32>>,
    iopub_task: tokio::task::JoinHandle<()>,
}

pub struct RunResult {
    pub end: RunEnd,
    pub signal: Option<i32>,
    pub kernel_restarted: bool,
}

/// How long an interrupted kernel has to return to idle, and answer the interrupt, before it
/// is restarted.
const INTERRUPT_WAIT: Duration = Duration::from_secs(3);

/// Where one execution stands: what the kernel sent back, and any interrupt sent to it.
#[derive(Default)]
struct RunState {
    idle: bool,
    reply_status: Option<String>,
    interrupt: Option<Interrupt>,
    cancelled: bool,
}

/// An `interrupt_request` sent, and whether its reply came: the kernel signals its process
/// group before it replies, so after the reply the signal cannot land in a later cell.
struct Interrupt {
    id: String,
    sent: Instant,
    answered: bool,
}

impl RunState {
    /// Over once the kernel is idle with its reply, and any interrupt it was sent is answered
    /// (one still on its way could interrupt the next cell instead).
    fn over(&self) -> bool {
        self.idle
            && self.reply_status.is_some()
            && self.interrupt.as_ref().is_none_or(|i| i.answered)
    }

    fn end(&self, out: &OutputCollector) -> RunEnd {
        if self.cancelled {
            RunEnd::Cancelled
        } else if self.interrupt.is_some() {
            RunEnd::TimedOut
        } else if self.reply_status.as_deref() == Some("ok") && out.error.is_none() {
            RunEnd::Completed
        } else {
            RunEnd::Failed
        }
    }
}

/// Takes one iopub message of the running execution into `out`; true when it says the kernel
/// is idle again.
fn take_iopub(m: &Message, out: &mut OutputCollector) -> bool {
    let text = |k: &str| m.content.get(k).and_then(Value::as_str).unwrap_or("");
    match m.msg_type.as_str() {
        "status" => return text("execution_state") == "idle",
        "stream" => {
            let name = m
                .content
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("stdout");
            out.stream(name, text("text"));
        }
        "execute_result" | "display_data" => {
            if let Some(Value::Object(data)) = m.content.get("data") {
                out.output(&m.msg_type, data.clone().into_iter().collect());
            }
        }
        "error" => {
            let tb = m
                .content
                .get("traceback")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(strip_ansi).collect())
                .unwrap_or_default();
            out.error(text("ename").to_owned(), strip_ansi(text("evalue")), tb);
        }
        _ => {}
    }
    false
}

impl Kernel {
    pub async fn start(cfg: KernelConfig) -> anyhow::Result<Self> {
        let key = uuid::Uuid::new_v4().simple().to_string();
        let b = cfg.port_base;
        let ports = [b, b + 1, b + 2, b + 3, b + 4];
        let conn = json!({
            "transport": "tcp", "ip": "127.0.0.1", "key": key, "signature_scheme": "hmac-sha256",
            "shell_port": ports[0], "iopub_port": ports[1], "stdin_port": ports[2],
            "control_port": ports[3], "hb_port": ports[4], "kernel_name": "python3",
        });
        let conn_file = cfg.runtime_dir.join("kernel.json");
        std::fs::create_dir_all(&cfg.runtime_dir)?;
        std::fs::write(&conn_file, serde_json::to_vec(&conn)?)?;

        let mut cmd = Command::new(&cfg.python);
        cmd.args(["-m", "ipykernel_launcher", "-f"])
            .arg(&conn_file)
            .args(airlock_sandbox_protocol::KERNEL_FLAGS)
            .current_dir(&cfg.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own process group: ipykernel's interrupt_request signals its whole group.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("spawning ipykernel")?;
        let pid = child.id();
        if let Some(pid) = pid {
            // The kernel is the process the OOM killer should pick, never the agent.
            let _ = std::fs::write(format!("/proc/{pid}/oom_score_adj"), "1000");
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        // A waiter task owns the child and publishes its exit (negative: killed by that signal).
        tokio::spawn(async move {
            let code = match child.wait().await {
                Ok(s) => s.signal().map(|sig| -sig).or(s.code()).unwrap_or(-1),
                Err(_) => -1,
            };
            let _ = exit_tx.send(Some(code));
        });

        let signer = Signer::new(&key);
        let endpoint = |p: u16| format!("tcp://127.0.0.1:{p}");
        let mut shell = DealerSocket::new();
        let mut control = DealerSocket::new();
        let mut iopub = SubSocket::new();
        let deadline = Instant::now() + cfg.start_timeout;
        // The kernel binds its ports shortly after start; retry connecting until then.
        loop {
            let ok = shell.connect(&endpoint(ports[0])).await.is_ok()
                && control.connect(&endpoint(ports[3])).await.is_ok()
                && iopub.connect(&endpoint(ports[1])).await.is_ok();
            if ok {
                break;
            }
            if Instant::now() > deadline || exit_rx.borrow().is_some() {
                return Err(anyhow!("kernel did not open its ports"));
            }
            shell = DealerSocket::new();
            control = DealerSocket::new();
            iopub = SubSocket::new();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        iopub.subscribe("").await?;
        let (tx, rx) = mpsc::channel(1024);
        let reader_signer = signer.clone();
        let iopub_task = tokio::spawn(async move {
            while let Ok(m) = iopub.recv().await {
                if let Some(msg) = reader_signer.parse(m) {
                    if tx.send(msg).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut kernel = Self {
            cfg,
            pid,
            signer,
            shell,
            control,
            iopub: rx,
            exited: exit_rx,
            iopub_task,
        };
        kernel.wait_ready(deadline).await?;
        let startup = STARTUP.replace(
            "WORKSPACE",
            &format!("{:?}", kernel.cfg.workspace.display().to_string()),
        );
        kernel.run_silent(&startup, deadline).await?;
        Ok(kernel)
    }

    /// Sends kernel_info_request until the reply and an iopub message have both arrived (the
    /// SUB socket only sees messages published after its subscription reached the kernel).
    async fn wait_ready(&mut self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            let (id, msg) = self.signer.request("kernel_info_request", json!({}));
            self.shell.send(msg).await?;
            let mut got_reply = false;
            let mut got_iopub = false;
            let round = Instant::now() + Duration::from_millis(300);
            while !(got_reply && got_iopub) && Instant::now() < round {
                tokio::select! {
                    r = self.shell.recv() => {
                        if let Some(m) = r.ok().and_then(|m| self.signer.parse(m)) {
                            got_reply |= m.parent_msg_id.as_deref() == Some(&id);
                        }
                    }
                    Some(m) = self.iopub.recv() => { got_iopub |= m.parent_msg_id.as_deref() == Some(&id); }
                    _ = tokio::time::sleep_until(round) => {}
                }
            }
            if got_reply && got_iopub {
                self.drain_iopub();
                return Ok(());
            }
            if Instant::now() > deadline || self.exited.borrow().is_some() {
                return Err(anyhow!("kernel not ready before the start timeout"));
            }
        }
    }

    fn drain_iopub(&mut self) {
        while self.iopub.try_recv().is_ok() {}
    }

    async fn run_silent(&mut self, code: &str, deadline: Instant) -> anyhow::Result<()> {
        let mut sink = OutputCollector::new(1 << 16);
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(5));
        let r = self
            .execute_inner(code, remaining, &mut sink, true, &CancellationToken::new())
            .await?;
        if r.end != RunEnd::Completed || sink.error.is_some() {
            return Err(anyhow!("kernel startup code failed: {:?}", sink.error));
        }
        Ok(())
    }

    /// After packages were installed: make the import system see the new files.
    pub async fn refresh_imports(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        self.run_silent(
            "import importlib as __airlock_il; __airlock_il.invalidate_caches()",
            deadline,
        )
        .await
    }

    pub fn alive(&self) -> bool {
        self.exited.borrow().is_none()
    }

    /// Runs `code`; on timeout or `cancel` interrupts, and restarts the kernel if the interrupt
    /// does not bring it back; on kernel death restarts it.
    pub async fn execute(
        &mut self,
        code: &str,
        limit: Duration,
        out: &mut OutputCollector,
        cancel: &CancellationToken,
    ) -> anyhow::Result<RunResult> {
        if !self.alive() {
            self.restart().await?;
        }
        let r = self.execute_inner(code, limit, out, false, cancel).await?;
        match r.end {
            RunEnd::TimedOut | RunEnd::Cancelled => {
                // The interrupt did not return the kernel to idle in time.
                if r.kernel_restarted {
                    self.restart().await?;
                }
                Ok(r)
            }
            RunEnd::KernelDied => {
                self.restart().await?;
                Ok(RunResult {
                    kernel_restarted: true,
                    ..r
                })
            }
            _ => Ok(r),
        }
    }

    async fn execute_inner(
        &mut self,
        code: &str,
        limit: Duration,
        out: &mut OutputCollector,
        silent: bool,
        cancel: &CancellationToken,
    ) -> anyhow::Result<RunResult> {
        self.drain_iopub();
        let (id, msg) = self.signer.request(
            "execute_request",
            json!({"code": code, "silent": silent, "store_history": !silent, "user_expressions": {},
                   "allow_stdin": false, "stop_on_error": true}),
        );
        self.shell.send(msg).await?;
        let deadline = Instant::now() + limit;
        let mut run = RunState::default();
        let mut exited = self.exited.clone();
        while !run.over() {
            let wake = run
                .interrupt
                .as_ref()
                .map_or(deadline, |i| i.sent + INTERRUPT_WAIT);
            tokio::select! {
                r = self.shell.recv() => {
                    if let Some(m) = r.ok().and_then(|m| self.signer.parse(m)) {
                        if m.parent_msg_id.as_deref() == Some(&id) {
                            run.reply_status = Some(m.content.get("status").and_then(Value::as_str).unwrap_or("error").to_owned());
                        }
                    }
                }
                r = self.control.recv() => {
                    if let (Some(m), Some(i)) = (r.ok().and_then(|m| self.signer.parse(m)), run.interrupt.as_mut()) {
                        i.answered |= m.parent_msg_id.as_deref() == Some(&i.id);
                    }
                }
                Some(m) = self.iopub.recv() => {
                    if m.parent_msg_id.as_deref() == Some(&id) {
                        run.idle |= take_iopub(&m, out);
                    }
                }
                _ = exited.changed() => {
                    let code = *exited.borrow();
                    let signal = code.filter(|c| *c < 0).map(|c| -c);
                    return Ok(RunResult { end: RunEnd::KernelDied, signal, kernel_restarted: false });
                }
                _ = cancel.cancelled(), if !run.cancelled => {
                    run.cancelled = true;
                    if run.interrupt.is_none() {
                        run.interrupt = Some(self.interrupt().await);
                    }
                }
                _ = tokio::time::sleep_until(wake) => {
                    if run.interrupt.is_some() {
                        // The interrupt did not return the kernel to idle in time (or was not
                        // answered, so it may still land later): the caller restarts the kernel.
                        let end = if run.cancelled { RunEnd::Cancelled } else { RunEnd::TimedOut };
                        return Ok(RunResult { end, signal: None, kernel_restarted: true });
                    }
                    run.interrupt = Some(self.interrupt().await);
                }
            }
        }
        Ok(RunResult {
            end: run.end(out),
            signal: None,
            kernel_restarted: false,
        })
    }

    /// Asks the kernel to interrupt what it runs (SIGINT to its process group).
    async fn interrupt(&mut self) -> Interrupt {
        let (id, msg) = self.signer.request("interrupt_request", json!({}));
        let _ = self.control.send(msg).await;
        Interrupt {
            id,
            sent: Instant::now(),
            answered: false,
        }
    }

    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        let cfg = KernelConfig {
            python: self.cfg.python.clone(),
            runtime_dir: self.cfg.runtime_dir.clone(),
            workspace: self.cfg.workspace.clone(),
            start_timeout: self.cfg.start_timeout,
            port_base: self.cfg.port_base,
        };
        let fresh = timeout(
            cfg.start_timeout + Duration::from_secs(5),
            Kernel::start(cfg),
        )
        .await
        .map_err(|_| anyhow!("kernel restart timed out"))??;
        let old = std::mem::replace(self, fresh);
        old.iopub_task.abort();
        Ok(())
    }

    pub async fn kill(&mut self) {
        if let Some(pid) = self.pid.take() {
            if let Ok(pid) = i32::try_from(pid) {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let mut exited = self.exited.clone();
        let _ = timeout(Duration::from_secs(5), async {
            while exited.borrow().is_none() {
                if exited.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        self.iopub_task.abort();
    }
}
