//! The bubblewrap command line of one sandbox.
//!
//! New user, mount, pid, ipc, uts, net and cgroup namespaces; every capability dropped; a
//! non-root uid inside (and, when the gateway runs as root, an unprivileged host uid from
//! `setpriv` before bwrap starts, so an escape lands as nobody in particular); the system
//! read-only; only the workspace writable; a cleared environment.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

pub struct BwrapPlan<'a> {
    pub bwrap: &'a Path,
    pub setpriv: &'a Path,
    pub host_uid: Option<u32>,
    pub runtime_dir: &'a Path,
    pub agent: &'a Path,
    pub workspace: &'a Path,
    pub run_dir: &'a Path,
    pub etc_dir: &'a Path,
    pub extra_ro_binds: &'a [PathBuf],
    /// Host directories hidden under an empty tmpfs (the system Python's package directories:
    /// only the runtime's allowlisted packages may be importable in the sandbox).
    pub masked: &'a [PathBuf],
    pub cgroup_procs: &'a [PathBuf],
    /// The compiled seccomp filter, opened as fd 3 by the shell and handed to bwrap.
    pub seccomp: Option<&'a Path>,
    pub agent_args: Vec<String>,
    pub env: Vec<(String, String)>,
}

pub const SANDBOX_UID: u32 = 1000;
pub const AGENT_PATH: &str = "/opt/airlock/bin/airlock-agent";

impl BwrapPlan<'_> {
    /// `sh -c` joins the cgroups (the process's own pid, before exec), then execs
    /// `[setpriv ...] bwrap ... -- agent ...`. Returns program and arguments.
    pub fn command(&self) -> (PathBuf, Vec<OsString>) {
        let mut script = String::new();
        let mut positional: Vec<OsString> = vec![];
        if let Some(filter) = self.seccomp {
            // Paths are passed as positional parameters, never interpolated.
            script.push_str("exec 3<\"$1\" || exit 96; shift; ");
            positional.push(filter.as_os_str().to_owned());
        }
        for (i, _) in self.cgroup_procs.iter().enumerate() {
            script.push_str(&format!("echo $$ > \"${}\" || exit 97; ", i + 1));
        }
        script.push_str(&format!("shift {}; exec \"$@\"", self.cgroup_procs.len()));
        let mut args: Vec<OsString> = vec!["-c".into(), script.into(), "airlock-sandbox".into()];
        args.extend(positional);
        args.extend(self.cgroup_procs.iter().map(|p| p.as_os_str().to_owned()));
        if let Some(uid) = self.host_uid {
            args.push(self.setpriv.as_os_str().to_owned());
            for a in [
                format!("--reuid={uid}"),
                format!("--regid={uid}"),
                "--clear-groups".into(),
                "--inh-caps=-all".into(),
                "--bounding-set=-all".into(),
                "--no-new-privs".into(),
                "--".into(),
            ] {
                args.push(a.into());
            }
        }
        args.push(self.bwrap.as_os_str().to_owned());
        args.extend(self.bwrap_args());
        ("/bin/sh".into(), args)
    }

    fn bwrap_args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(OsString::from));
        push(&[
            "--unshare-user",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--uid",
            &SANDBOX_UID.to_string(),
            "--gid",
            &SANDBOX_UID.to_string(),
            "--hostname",
            "sandbox",
        ]);
        push(SYSTEM_MOUNTS);
        let mut bind = |flag: &str, src: &Path, dst: &str| {
            a.push(flag.into());
            a.push(src.as_os_str().to_owned());
            a.push(dst.into());
        };
        bind(
            "--ro-bind",
            self.runtime_dir,
            &self.runtime_dir.to_string_lossy(),
        );
        bind("--ro-bind", self.agent, AGENT_PATH);
        bind("--ro-bind", &self.etc_dir.join("passwd"), "/etc/passwd");
        bind("--ro-bind", &self.etc_dir.join("group"), "/etc/group");
        for p in self.extra_ro_binds {
            if p.exists() {
                bind("--ro-bind", p, &p.to_string_lossy());
            }
        }

        bind("--bind", self.workspace, "/workspace");
        bind("--bind", self.run_dir, "/run/airlock");
        for p in self.masked {
            for flag in ["--tmpfs", "--remount-ro"] {
                a.push(flag.into());
                a.push(p.as_os_str().to_owned());
            }
        }
        let mut push = |xs: &[&str]| a.extend(xs.iter().map(OsString::from));
        push(&["--remount-ro", "/", "--chdir", "/workspace", "--clearenv"]);
        for (k, v) in &self.env {
            push(&["--setenv", k, v]);
        }
        if self.seccomp.is_some() {
            push(&["--disable-userns", "--seccomp", "3"]);
        }
        push(&["--cap-drop", "ALL", "--", AGENT_PATH]);
        a.extend(self.agent_args.iter().map(OsString::from));
        a
    }
}

/// The host's Python package directories (Debian's `dist-packages`, anything pip put under
/// `/usr/local`): the system interpreter in the sandbox sees the standard library only, so no
/// The system a sandbox sees: `/usr` read-only (with the usual links into it), a fresh `/proc`,
/// a minimal `/dev` and an empty `/tmp`. Shared with the bench's bare-kernel baseline, so both
/// run the same kind of sandbox.
pub const SYSTEM_MOUNTS: &[&str] = &[
    "--ro-bind",
    "/usr",
    "/usr",
    "--symlink",
    "usr/lib",
    "/lib",
    "--symlink",
    "usr/lib64",
    "/lib64",
    "--symlink",
    "usr/bin",
    "/bin",
    "--symlink",
    "usr/sbin",
    "/sbin",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--tmpfs",
    "/tmp",
];

/// package outside the runtime's allowlisted set can be imported from the sandbox at all.
pub fn host_python_package_dirs() -> Vec<PathBuf> {
    let mut out = vec![];
    for base in [
        "/usr/lib",
        "/usr/local/lib",
        "/usr/lib64",
        "/usr/local/lib64",
    ] {
        let Ok(rd) = std::fs::read_dir(base) else {
            continue;
        };
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with("python") {
                continue;
            }
            for sub in ["dist-packages", "site-packages"] {
                let p = e.path().join(sub);
                if p.is_dir() {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// The environment inside the sandbox: nothing of the gateway's.
pub fn sandbox_env(runtime_dir: &Path) -> Vec<(String, String)> {
    let bin = runtime_dir.join("bin");
    [
        (
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        ),
        ("HOME", "/tmp/home".into()),
        ("USER", "sandbox".into()),
        ("LANG", "C.UTF-8".into()),
        ("TMPDIR", "/tmp".into()),
        ("PYTHONUNBUFFERED", "1".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
        ("MPLBACKEND", "Agg".into()),
        ("MPLCONFIGDIR", "/tmp/matplotlib".into()),
        ("IPYTHONDIR", "/tmp/ipython".into()),
        ("JUPYTER_RUNTIME_DIR", "/tmp/jupyter".into()),
        // pids.max counts threads: keep BLAS and friends single-threaded.
        // Every client that honours the usual variables goes through the agent's relay to the
        // gateway's egress proxy; anything else finds no route.
        ("HTTP_PROXY", "http://127.0.0.1:3128".into()),
        ("HTTPS_PROXY", "http://127.0.0.1:3128".into()),
        ("http_proxy", "http://127.0.0.1:3128".into()),
        ("https_proxy", "http://127.0.0.1:3128".into()),
        ("OPENBLAS_NUM_THREADS", "1".into()),
        ("OMP_NUM_THREADS", "1".into()),
        ("MKL_NUM_THREADS", "1".into()),
        ("NUMEXPR_MAX_THREADS", "1".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_joins_cgroups_drops_privileges_and_isolates() {
        let (bw, sp, rt, ag) = (
            PathBuf::from("/usr/bin/bwrap"),
            PathBuf::from("/usr/bin/setpriv"),
            PathBuf::from("/opt/rt"),
            PathBuf::from("/opt/agent"),
        );
        let (ws, run, etc) = (
            PathBuf::from("/s/ws"),
            PathBuf::from("/s/run"),
            PathBuf::from("/s/etc"),
        );
        let procs = vec![
            PathBuf::from("/sys/fs/cgroup/memory/x/cgroup.procs; rm -rf /"),
            PathBuf::from("/sys/fs/cgroup/pids/x/cgroup.procs"),
        ];
        let plan = BwrapPlan {
            bwrap: &bw,
            setpriv: &sp,
            host_uid: Some(201_234),
            runtime_dir: &rt,
            agent: &ag,
            workspace: &ws,
            run_dir: &run,
            etc_dir: &etc,
            extra_ro_binds: &[],
            masked: &[PathBuf::from("/usr/lib/python3/dist-packages")],
            cgroup_procs: &procs,
            seccomp: Some(std::path::Path::new("/s/seccomp.bpf")),
            agent_args: vec!["--listen".into(), "unix:/run/airlock/agent.sock".into()],
            env: sandbox_env(&rt),
        };
        let (prog, args) = plan.command();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(prog, PathBuf::from("/bin/sh"));
        // cgroup paths are positional parameters, never part of the script text
        assert!(!args[1].contains("rm -rf"), "{}", args[1]);
        assert!(
            args[1].starts_with("exec 3<\"$1\" || exit 96; shift; ")
                && args[1].contains("echo $$ > \"$1\"")
                && args[1].contains("echo $$ > \"$2\"")
                && args[1].contains("shift 2; exec \"$@\"")
        );
        assert_eq!(&args[3], "/s/seccomp.bpf");
        assert_eq!(&args[4], "/sys/fs/cgroup/memory/x/cgroup.procs; rm -rf /");
        let joined = args.join(" ");
        for needle in [
            "/usr/bin/setpriv --reuid=201234 --regid=201234 --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs --",
            "--unshare-user --unshare-ipc --unshare-pid --unshare-net --unshare-uts --unshare-cgroup-try --die-with-parent --new-session",
            "--uid 1000 --gid 1000",
            "--ro-bind /usr /usr",
            "--ro-bind /opt/rt /opt/rt",
            "--ro-bind /opt/agent /opt/airlock/bin/airlock-agent",
            "--bind /s/ws /workspace",
            "--bind /s/run /run/airlock",
            "--tmpfs /usr/lib/python3/dist-packages --remount-ro /usr/lib/python3/dist-packages",
            "--remount-ro / --chdir /workspace --clearenv",
            "--disable-userns --seccomp 3 --cap-drop ALL",
            "--cap-drop ALL -- /opt/airlock/bin/airlock-agent --listen unix:/run/airlock/agent.sock",
        ] {
            assert!(joined.contains(needle), "missing {needle:?} in {joined}");
        }
        // setpriv runs before bwrap, bwrap before the agent
        let pos = |s: &str| joined.find(s).unwrap_or(usize::MAX);
        assert!(
            pos("/usr/bin/setpriv") < pos("/usr/bin/bwrap")
                && pos("/usr/bin/bwrap") < pos("--cap-drop ALL")
        );
        // no environment of the gateway: only the fixed sandbox variables are set
        let env_keys: Vec<&str> = args
            .windows(2)
            .filter(|w| w[0] == "--setenv")
            .map(|w| w[1].as_str())
            .collect();
        assert!(
            env_keys.iter().all(|k| !k.starts_with("AIRLOCK")),
            "{env_keys:?}"
        );
        assert!(env_keys.contains(&"OPENBLAS_NUM_THREADS"));
    }

    #[test]
    fn no_setpriv_when_not_root() {
        let p = PathBuf::from("/x");
        let plan = BwrapPlan {
            bwrap: &p,
            setpriv: &p,
            host_uid: None,
            runtime_dir: &p,
            agent: &p,
            workspace: &p,
            run_dir: &p,
            etc_dir: &p,
            extra_ro_binds: &[],
            masked: &[],
            cgroup_procs: &[],
            seccomp: None,
            agent_args: vec![],
            env: vec![],
        };
        let (_, args) = plan.command();
        assert!(!args
            .iter()
            .any(|a| a.to_string_lossy().starts_with("--reuid")));
    }
}
