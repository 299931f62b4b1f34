//! `LocalBackend` (implements `SandboxBackend`) and `LocalSandbox` (implements `Sandbox`).

use crate::{
    bwrap::{sandbox_env, BwrapPlan},
    cgroup::{self, CgroupHost, CgroupMode, CgroupVersion, SandboxCgroup},
};
use airlock_gateway_agent_client::{AgentAddr, AgentClient};
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
    path::{Path, PathBuf},
    process::Stdio,
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};
use tokio::{process::Child, sync::Mutex};

#[derive(Clone, Debug)]
pub struct LocalBackendConfig {
    /// Sandboxes live under `state_dir/sandboxes/`.
    pub state_dir: PathBuf,
    /// The `airlock-agent` binary (bound read-only into each sandbox).
    pub agent_path: PathBuf,
    /// The Python runtime (a venv made from the system Python; bound read-only at the same path).
    pub runtime_dir: PathBuf,
    pub bwrap_path: PathBuf,
    pub setpriv_path: PathBuf,
    /// Host uids for sandboxes when the gateway runs as root: `uid_base .. uid_base + uid_count`.
    pub uid_base: u32,
    pub uid_count: u32,
    pub cgroups: CgroupMode,
    /// Names this gateway's cgroups (`airlock-<instance>`).
    pub instance_id: String,
    pub extra_ro_binds: Vec<PathBuf>,
    pub start_timeout: Duration,
    /// Name overrides for the egress proxy's upstream connections.
    pub egress_resolver: airlock_gateway_egress::ProxyConfig,
}

pub struct LocalBackend {
    cfg: LocalBackendConfig,
    cgroup_host: CgroupHost,
    cgroup_version: Option<CgroupVersion>,
    uids: Arc<crate::uids::UidPool>,
}

impl LocalBackend {
    pub fn new(cfg: LocalBackendConfig) -> Result<Self, SandboxError> {
        let cgroup_host = CgroupHost::system();
        let cgroup_version = cgroup_host.detect();
        if cgroup_version.is_none() && cfg.cgroups == CgroupMode::Required {
            return Err(SandboxError::Start(Cause::msg("no cgroup memory controller found (v1 or v2); set sandbox.local.cgroups = \"best_effort\" only for development")));
        }
        for (what, p) in [
            ("agent", &cfg.agent_path),
            ("bwrap", &cfg.bwrap_path),
            ("python runtime", &cfg.runtime_dir),
        ] {
            if !p.exists() {
                return Err(SandboxError::Start(Cause::msg(format!(
                    "{what} not found at {}",
                    p.display()
                ))));
            }
        }
        let uids = crate::uids::UidPool::new(cfg.uid_base, cfg.uid_count);
        Ok(Self {
            cfg,
            cgroup_host,
            cgroup_version,
            uids,
        })
    }

    fn sandboxes_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("sandboxes")
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }
}

#[async_trait]
impl SandboxBackend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn create(&self, spec: SandboxSpec) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let started = Instant::now();
        let dir = self.sandboxes_dir().join(spec.session_id.short());
        let (workspace, run_dir, etc_dir) =
            (dir.join("workspace"), dir.join("run"), dir.join("etc"));
        for d in [&workspace, &run_dir, &etc_dir] {
            std::fs::create_dir_all(d)
                .map_err(|e| SandboxError::Start(Cause::msg(format!("{}: {e}", d.display()))))?;
        }
        let io = |e: std::io::Error| SandboxError::Start(Cause::new(e));
        let held_uid = match Self::is_root() {
            true => Some(self.uids.take().ok_or_else(|| {
                SandboxError::Start(Cause::msg(
                    "every sandbox uid is in use (sandbox.local.uid_count)",
                ))
            })?),
            false => None,
        };
        let host_uid = held_uid.as_ref().map(|h| h.uid);
        #[allow(clippy::disallowed_methods)] // a secret: the OS's random numbers, never a test's
        let token = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        std::fs::write(run_dir.join("token"), &token).map_err(io)?;
        std::fs::write(
            etc_dir.join("passwd"),
            "sandbox:x:1000:1000:sandbox:/tmp/home:/bin/bash\n",
        )
        .map_err(io)?;
        std::fs::write(etc_dir.join("group"), "sandbox:x:1000:\n").map_err(io)?;
        if let Some(uid) = host_uid {
            for d in [&workspace, &run_dir] {
                std::os::unix::fs::chown(d, Some(uid), Some(uid)).map_err(io)?;
            }
            std::os::unix::fs::chown(run_dir.join("token"), Some(uid), Some(uid)).map_err(io)?;
        }
        // The sandbox uid may traverse (not list) the path to its binds; nothing else of the
        // state directory is readable to it.
        set_mode(&self.sandboxes_dir(), 0o711).map_err(io)?;
        set_mode(&dir, 0o711).map_err(io)?;
        set_mode(&etc_dir, 0o755).map_err(io)?;
        set_mode(&etc_dir.join("passwd"), 0o644).map_err(io)?;
        set_mode(&etc_dir.join("group"), 0o644).map_err(io)?;
        set_mode(&workspace, 0o700).map_err(io)?;
        set_mode(&run_dir, 0o700).map_err(io)?;

        let limits = cgroup::Limits {
            memory_bytes: u64::from(spec.limits.memory_mib) << 20,
            pids: spec.limits.max_processes,
            cpu_millis: spec.limits.cpu_millis,
        };
        let cg = match self.cgroup_version {
            Some(v) => match SandboxCgroup::create(
                &self.cgroup_host,
                v,
                &self.cfg.instance_id,
                spec.session_id.short(),
                &limits,
            ) {
                Ok(cg) => Some(cg),
                Err(e) if self.cfg.cgroups == CgroupMode::Required => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(SandboxError::Start(Cause::context("cgroup limits", e)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "running sandbox without cgroup limits (best_effort)");
                    None
                }
            },
            None => None,
        };
        let procs = cg
            .as_ref()
            .map(SandboxCgroup::procs_files)
            .unwrap_or_default();
        let cg_record: Vec<String> = cg
            .iter()
            .flat_map(|c| c.dirs.iter().map(|d| d.display().to_string()))
            .collect();
        std::fs::write(dir.join("cgroups"), cg_record.join("\n")).map_err(io)?;

        let agent_args = vec![
            "--listen".into(),
            "unix:/run/airlock/agent.sock".into(),
            "--token-file".into(),
            "/run/airlock/token".into(),
            "--python".into(),
            self.cfg
                .runtime_dir
                .join("bin/python3")
                .display()
                .to_string(),
            "--quota-bytes".into(),
            (u64::from(spec.limits.workspace_mib) << 20).to_string(),
            "--max-file-bytes".into(),
            (u64::from(spec.limits.max_file_mib) << 20).to_string(),
            "--egress-socket".into(),
            "/run/airlock/egress.sock".into(),
            "--kernel-start-seconds".into(),
            self.cfg.start_timeout.as_secs().max(1).to_string(),
        ];
        let seccomp_path = dir.join("seccomp.bpf");
        std::fs::write(
            &seccomp_path,
            crate::seccomp::program().map_err(|e| SandboxError::Start(Cause::msg(e)))?,
        )
        .map_err(io)?;
        let plan = BwrapPlan {
            bwrap: &self.cfg.bwrap_path,
            setpriv: &self.cfg.setpriv_path,
            host_uid,
            runtime_dir: &self.cfg.runtime_dir,
            agent: &self.cfg.agent_path,
            workspace: &workspace,
            run_dir: &run_dir,
            etc_dir: &etc_dir,
            extra_ro_binds: &self.cfg.extra_ro_binds,
            masked: &crate::bwrap::host_python_package_dirs(),
            cgroup_procs: &procs,
            seccomp: Some(&seccomp_path),
            agent_args,
            env: sandbox_env(&self.cfg.runtime_dir),
        };
        let (program, args) = plan.command();
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| SandboxError::Start(Cause::context("spawning bwrap", e)))?;
        let stderr = child.stderr.take();

        // The egress proxy's end of the sandbox's only way out: a socket in the run directory
        // that the agent's in-sandbox proxy relays to. Owner-only and owned by the sandbox's
        // uid, and every peer's credentials are checked: no other host user can use it.
        let egress = Arc::new(EgressState::default());
        let egress_task = {
            let path = run_dir.join("egress.sock");
            let listener = tokio::net::UnixListener::bind(&path).map_err(io)?;
            if let Some(uid) = host_uid {
                std::os::unix::fs::chown(&path, Some(uid), Some(uid)).map_err(io)?;
            }
            set_mode(&path, 0o600).map_err(io)?;
            let sandbox_uid = host_uid.unwrap_or_else(|| nix::unistd::geteuid().as_raw());
            let mut resolver = self.cfg.egress_resolver.clone();
            resolver.session_id = Some(spec.session_id.to_string());
            let state = egress.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    state.accept(stream, sandbox_uid, &resolver);
                }
            })
        };
        let sandbox = LocalSandbox {
            session_id: spec.session_id.clone(),
            dir: dir.clone(),
            client: AgentClient::new(AgentAddr::Unix(run_dir.join("agent.sock")), token),
            child: Mutex::new(Some(child)),
            cgroup: cg,
            destroyed: std::sync::atomic::AtomicBool::new(false),
            egress,
            egress_task,
            _uid: held_uid,
        };
        // Wait for the agent: it binds its socket once the kernel is ready.
        let deadline = Instant::now() + self.cfg.start_timeout;
        loop {
            if sandbox.client.ping().await.unwrap_or(false) {
                break;
            }
            if !sandbox.alive().await || Instant::now() > deadline {
                let mut msg = String::new();
                if let Some(mut s) = stderr {
                    use tokio::io::AsyncReadExt;
                    let mut buf = vec![0u8; 4096];
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await
                    {
                        msg = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
                    }
                }
                let _ = sandbox.destroy().await;
                return Err(SandboxError::Start(Cause::msg(format!(
                    "sandbox agent did not become ready: {msg}"
                ))));
            }
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
        // The agent has bound its socket and consumed its token: take the run directory away from
        // the sandbox uid, so code in the sandbox cannot replace the socket with its own listener.
        if host_uid.is_some() {
            std::os::unix::fs::chown(&run_dir, Some(0), Some(0)).map_err(io)?;
            set_mode(&run_dir, 0o755).map_err(io)?;
        }
        tracing::info!(session = %spec.session_id, ms = started.elapsed().as_millis() as u64, "sandbox ready");
        Ok(Arc::new(sandbox))
    }

    async fn reap_leftovers(&self, _keep: &[SessionId]) -> Result<ReconcileReport, SandboxError> {
        // A bubblewrap sandbox dies with the gateway process: nothing can be kept.
        let mut report = ReconcileReport::default();
        let Ok(rd) = std::fs::read_dir(self.sandboxes_dir()) else {
            return Ok(report);
        };
        for entry in rd.flatten() {
            let dir = entry.path();
            let cgs: Vec<PathBuf> = std::fs::read_to_string(dir.join("cgroups"))
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.is_empty())
                .map(PathBuf::from)
                .collect();
            SandboxCgroup::destroy(&cgs).await;
            let _ = std::fs::remove_dir_all(&dir);
            report
                .destroyed
                .push(entry.file_name().to_string_lossy().into_owned());
        }
        Ok(report)
    }

    async fn ready(&self) -> Result<(), SandboxError> {
        std::fs::create_dir_all(self.sandboxes_dir())
            .map_err(|e| SandboxError::Start(Cause::new(e)))
    }
}

fn set_mode(p: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
}

/// The egress of the running job (its epoch) and connections made between jobs.
#[derive(Default)]
struct EgressState {
    current: std::sync::Mutex<Option<Arc<airlock_gateway_egress::Epoch>>>,
    /// Connections made while no execution runs (refused): recorded with the next execution.
    idle: Arc<airlock_gateway_domain::egress::EgressLog>,
}

impl EgressState {
    fn epoch(&self) -> Arc<airlock_gateway_egress::Epoch> {
        let current = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        current.unwrap_or_else(|| airlock_gateway_egress::Epoch::new(None, self.idle.clone()))
    }

    /// One connection on the sandbox's egress socket: only the sandbox's own uid may use it.
    fn accept(
        &self,
        stream: tokio::net::UnixStream,
        sandbox_uid: u32,
        cfg: &airlock_gateway_egress::ProxyConfig,
    ) {
        let epoch = self.epoch();
        match stream.peer_cred() {
            Ok(c) if c.uid() == sandbox_uid => epoch.serve(stream, cfg.clone()),
            other => {
                tracing::warn!(peer = ?other.map(|c| c.uid()), "egress socket used by another process than the sandbox's; refused");
                epoch.refuse(airlock_gateway_domain::egress::EgressRefusal::PeerRefused);
            }
        }
    }
}

pub struct LocalSandbox {
    session_id: SessionId,
    dir: PathBuf,
    client: AgentClient,
    child: Mutex<Option<Child>>,
    cgroup: Option<SandboxCgroup>,
    destroyed: std::sync::atomic::AtomicBool,
    egress: Arc<EgressState>,
    egress_task: tokio::task::JoinHandle<()>,
    /// Its host uid, returned to the pool with the sandbox.
    _uid: Option<crate::uids::HeldUid>,
}

#[async_trait]
impl Sandbox for LocalSandbox {
    fn session_id(&self) -> &SessionId {
        &self.session_id
    }

    async fn run(&self, job: SandboxJob) -> Result<JobOutcome, SandboxError> {
        let oom_before = self.cgroup.as_ref().map_or(0, SandboxCgroup::oom_kills);
        let cpu_before = self.cgroup.as_ref().and_then(SandboxCgroup::cpu_used);
        // Refused connections made since the last execution go on this one's record.
        for r in self.egress.idle.take() {
            job.egress_log.push(r);
        }
        let epoch = airlock_gateway_egress::Epoch::new(job.egress.clone(), job.egress_log.clone());
        *self
            .egress
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(epoch.clone());
        let result = self.client.execute(job, None, || self.alive_now()).await;
        *self
            .egress
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = None;
        // Whatever happened (the agent may be gone): every connection is cut and recorded.
        epoch.close().await;
        let mut out = result?;
        let cpu_after = self.cgroup.as_ref().and_then(SandboxCgroup::cpu_used);
        if let (Some(before), Some(after)) = (cpu_before, cpu_after) {
            out.usage.cpu = Some(after.saturating_sub(before));
        }
        let oom_after = self.cgroup.as_ref().map_or(0, SandboxCgroup::oom_kills);
        if oom_after > oom_before && matches!(out.end, JobEnd::KernelDied | JobEnd::Failed) {
            out.end = JobEnd::OutOfMemory;
        }
        Ok(out)
    }

    async fn write_file(
        &self,
        path: &WorkspacePath,
        data: Vec<u8>,
    ) -> Result<FileInfo, SandboxError> {
        self.client.write_file(path, data).await
    }

    async fn read_file(
        &self,
        path: &WorkspacePath,
        max_bytes: u64,
    ) -> Result<Vec<u8>, SandboxError> {
        self.client.read_file(path, max_bytes).await
    }

    async fn list_files(&self) -> Result<Vec<FileInfo>, SandboxError> {
        self.client.list_files().await
    }

    async fn runtime_modules(&self) -> Result<Vec<String>, SandboxError> {
        self.client.inventory().await
    }

    async fn quarantine(&self, remove: &[WorkspacePath]) -> Result<(), SandboxError> {
        self.client.quarantine(remove).await
    }

    async fn alive(&self) -> bool {
        self.alive_now()
    }

    async fn destroy(&self) -> Result<(), SandboxError> {
        if self.destroyed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        self.egress_task.abort();
        if let Some(cg) = &self.cgroup {
            SandboxCgroup::destroy(&cg.dirs).await;
        }
        let dir = self.dir.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir)).await;
        Ok(())
    }
}

impl LocalSandbox {
    fn alive_now(&self) -> bool {
        match self.child.try_lock() {
            Ok(mut guard) => match guard.as_mut() {
                Some(c) => matches!(c.try_wait(), Ok(None)),
                None => false,
            },
            Err(_) => true,
        }
    }
}
