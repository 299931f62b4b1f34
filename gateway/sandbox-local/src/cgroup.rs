//! cgroup v1 (memory, pids, cpu controllers) and v2 limits for one sandbox.

use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupMode {
    /// Limits are required: refuse to start a sandbox without them.
    Required,
    /// Development only: run without cgroup limits when none can be created.
    BestEffort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

const ROOT: &str = "/sys/fs/cgroup";

/// Detects the hierarchy this host offers for memory limits.
pub fn detect() -> Option<CgroupVersion> {
    let v2 = std::fs::read_to_string(format!("{ROOT}/cgroup.controllers")).unwrap_or_default();
    if v2.split_whitespace().any(|c| c == "memory") {
        return Some(CgroupVersion::V2);
    }
    if Path::new(&format!("{ROOT}/memory/memory.limit_in_bytes")).exists() {
        return Some(CgroupVersion::V1);
    }
    None
}

/// This process's own cgroup path in a controller's hierarchy (v1) or the unified one (v2).
fn own_path(controller: Option<&str>) -> String {
    let text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("/"),
        );
        let hit = match controller {
            Some(c) => ctrls.split(',').any(|x| x == c),
            None => ctrls.is_empty(),
        };
        if hit {
            return path.to_owned();
        }
    }
    "/".to_owned()
}

#[derive(Clone, Debug, Default)]
pub struct Limits {
    pub memory_bytes: u64,
    pub pids: u32,
    pub cpu_millis: u32,
}

/// The cgroup directories of one sandbox.
#[derive(Clone, Debug)]
pub struct SandboxCgroup {
    pub version: CgroupVersion,
    pub dirs: Vec<PathBuf>,
}

impl SandboxCgroup {
    /// Creates the directories (`<own>/airlock-<instance>/<name>`) and writes the limits.
    pub fn create(
        version: CgroupVersion,
        instance: &str,
        name: &str,
        limits: &Limits,
    ) -> std::io::Result<Self> {
        let parent = |ctrl: Option<&str>| -> PathBuf {
            let base = match ctrl {
                Some(c) => format!("{ROOT}/{c}"),
                None => ROOT.to_owned(),
            };
            let own = own_path(ctrl);
            let mut p = PathBuf::from(base);
            p.push(own.trim_start_matches('/'));
            p.push(format!("airlock-{instance}"));
            p
        };
        let cg = match version {
            CgroupVersion::V1 => {
                let dirs: Vec<PathBuf> = ["memory", "pids", "cpu"]
                    .iter()
                    .map(|c| parent(Some(c)).join(name))
                    .collect();
                for d in &dirs {
                    std::fs::create_dir_all(d)?;
                }
                let cg = Self { version, dirs };
                cg.write(0, "memory.limit_in_bytes", &limits.memory_bytes.to_string())?;
                // Without swap accounting this file does not exist; there is no swap to escape to then.
                let _ = cg.write(
                    0,
                    "memory.memsw.limit_in_bytes",
                    &limits.memory_bytes.to_string(),
                );
                cg.write(1, "pids.max", &limits.pids.to_string())?;
                cg.write(2, "cpu.cfs_period_us", "100000")?;
                cg.write(
                    2,
                    "cpu.cfs_quota_us",
                    &(u64::from(limits.cpu_millis) * 100).to_string(),
                )?;
                cg
            }
            CgroupVersion::V2 => {
                let p = parent(None);
                std::fs::create_dir_all(&p)?;
                let _ = std::fs::write(p.join("cgroup.subtree_control"), "+memory +pids +cpu");
                let d = p.join(name);
                std::fs::create_dir_all(&d)?;
                let cg = Self {
                    version,
                    dirs: vec![d],
                };
                cg.write(0, "memory.max", &limits.memory_bytes.to_string())?;
                let _ = cg.write(0, "memory.swap.max", "0");
                cg.write(0, "pids.max", &limits.pids.to_string())?;
                cg.write(
                    0,
                    "cpu.max",
                    &format!("{} 100000", u64::from(limits.cpu_millis) * 100),
                )?;
                cg
            }
        };
        Ok(cg)
    }

    fn write(&self, idx: usize, file: &str, value: &str) -> std::io::Result<()> {
        std::fs::write(self.dirs[idx].join(file), value).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("{}/{file}: {e}", self.dirs[idx].display()),
            )
        })
    }

    /// The `cgroup.procs` files a new process must join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// How many times the OOM killer fired in this sandbox.
    pub fn oom_kills(&self) -> u64 {
        let file = match self.version {
            CgroupVersion::V1 => "memory.oom_control",
            CgroupVersion::V2 => "memory.events",
        };
        let text = std::fs::read_to_string(self.dirs[0].join(file)).unwrap_or_default();
        text.lines()
            .find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// Kills every process in the cgroup and removes it.
    pub async fn destroy(dirs: &[PathBuf]) {
        for _ in 0..50 {
            let mut any = false;
            for d in dirs {
                if d.join("cgroup.kill").exists() {
                    let _ = std::fs::write(d.join("cgroup.kill"), "1");
                }
                let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    any = true;
                    kill9(pid);
                }
            }
            if !any {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        for d in dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn kill9(pid: i32) {
    if pid > 1 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}
