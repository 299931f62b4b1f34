//! Starting one bubblewrap sandbox: its directory, cgroup, uid, seccomp filter, egress socket
//! and agent, ready when the agent answers. A started sandbox belongs to no session until one
//! takes it ([`crate::sandbox::LocalSandbox::bind`]).

use crate::{
    bwrap::{sandbox_env, BwrapPlan},
    cgroup::{self, CgroupHost, CgroupMode, CgroupVersion, SandboxCgroup},
    sandbox::{set_mode, EgressState, LocalSandbox},
};
use airlock_gateway_agent_client::{AgentAddr, AgentClient};
use airlock_gateway_domain::{ids::SessionId, ports::SandboxError, Cause, Limits};
use std::{
    path::PathBuf,
    process::Stdio,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};
use tokio::sync::Mutex;

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

pub(crate) struct Starter {
    pub(crate) cfg: LocalBackendConfig,
    cgroup_host: CgroupHost,
    cgroup_version: Option<CgroupVersion>,
    uids: Arc<crate::uids::UidPool>,
}

impl Starter {
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

    pub(crate) fn sandboxes_dir(&self) -> PathBuf {
        self.cfg.state_dir.join("sandboxes")
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Starts a sandbox named `name` (its directory and cgroup) with `limits`, bound to no
    /// session yet.
    pub async fn start(&self, name: &str, limits: &Limits) -> Result<LocalSandbox, SandboxError> {
        let started = Instant::now();
        let dir = self.sandboxes_dir().join(name);
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

        let cg_limits = cgroup::Limits {
            memory_bytes: u64::from(limits.memory_mib) << 20,
            pids: limits.max_processes,
            cpu_millis: limits.cpu_millis,
        };
        let cg = match self.cgroup_version {
            Some(v) => match SandboxCgroup::create(
                &self.cgroup_host,
                v,
                &self.cfg.instance_id,
                name,
                &cg_limits,
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
            (u64::from(limits.workspace_mib) << 20).to_string(),
            "--max-file-bytes".into(),
            (u64::from(limits.max_file_mib) << 20).to_string(),
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
        let session: Arc<OnceLock<SessionId>> = Arc::default();
        let egress_task = {
            let path = run_dir.join("egress.sock");
            let listener = tokio::net::UnixListener::bind(&path).map_err(io)?;
            if let Some(uid) = host_uid {
                std::os::unix::fs::chown(&path, Some(uid), Some(uid)).map_err(io)?;
            }
            set_mode(&path, 0o600).map_err(io)?;
            let sandbox_uid = host_uid.unwrap_or_else(|| nix::unistd::geteuid().as_raw());
            let resolver = self.cfg.egress_resolver.clone();
            let state = egress.clone();
            let bound = session.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    // SQL through `sql.airlock` is the bound session's (none before a session
                    // takes the sandbox: refused).
                    let mut r = resolver.clone();
                    r.session_id = bound.get().map(ToString::to_string);
                    state.accept(stream, sandbox_uid, &r);
                }
            })
        };
        let sandbox = LocalSandbox {
            session,
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
        tracing::info!(
            sandbox = name,
            ms = started.elapsed().as_millis() as u64,
            "sandbox ready"
        );
        Ok(sandbox)
    }
}
