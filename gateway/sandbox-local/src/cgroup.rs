//! cgroup v1 (memory, pids, cpu controllers) and v2 limits for one sandbox.

use std::path::PathBuf;

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

/// Where the cgroup hierarchies are and which cgroup this process is in (injectable so the
/// v1 and v2 layouts can be tested on any host).
#[derive(Clone, Debug)]
pub struct CgroupHost {
    pub root: PathBuf,
    /// The text of `/proc/self/cgroup`.
    pub self_cgroup: String,
}

impl CgroupHost {
    pub fn system() -> Self {
        Self {
            root: PathBuf::from("/sys/fs/cgroup"),
            self_cgroup: std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default(),
        }
    }

    /// The hierarchy this host offers for memory limits: v2 when the unified hierarchy has the
    /// memory controller, else v1 when the memory controller is mounted.
    pub fn detect(&self) -> Option<CgroupVersion> {
        let v2 = std::fs::read_to_string(self.root.join("cgroup.controllers")).unwrap_or_default();
        if v2.split_whitespace().any(|c| c == "memory") {
            return Some(CgroupVersion::V2);
        }
        if self.root.join("memory/memory.limit_in_bytes").exists() {
            return Some(CgroupVersion::V1);
        }
        None
    }

    /// This process's cgroup path in a controller's hierarchy (v1) or the unified one (v2).
    fn own_path(&self, controller: Option<&str>) -> String {
        for line in self.self_cgroup.lines() {
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

    /// `<root>[/<controller>]/<own path>/airlock-<instance>`
    fn parent(&self, controller: Option<&str>, instance: &str) -> PathBuf {
        let mut p = self.root.clone();
        if let Some(c) = controller {
            p.push(c);
        }
        p.push(self.own_path(controller).trim_start_matches('/'));
        p.push(format!("airlock-{instance}"));
        p
    }
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
        host: &CgroupHost,
        version: CgroupVersion,
        instance: &str,
        name: &str,
        limits: &Limits,
    ) -> std::io::Result<Self> {
        let parent = |ctrl: Option<&str>| host.parent(ctrl, instance);
        let cg = match version {
            CgroupVersion::V1 => {
                let mut dirs: Vec<PathBuf> = ["memory", "pids", "cpu"]
                    .iter()
                    .map(|c| parent(Some(c)).join(name))
                    .collect();
                // CPU accounting, for metering: its own hierarchy, or the cpu one's when the two
                // are mounted together (the same directory then).
                if host.root.join("cpuacct").exists() {
                    dirs.push(parent(Some("cpuacct")).join(name));
                }
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

    /// CPU time the sandbox's processes used so far (None where the hierarchy does not
    /// account it).
    pub fn cpu_used(&self) -> Option<std::time::Duration> {
        match self.version {
            CgroupVersion::V1 => self.dirs.iter().find_map(|d| {
                let ns = std::fs::read_to_string(d.join("cpuacct.usage")).ok()?;
                ns.trim().parse().ok().map(std::time::Duration::from_nanos)
            }),
            CgroupVersion::V2 => {
                let stat = std::fs::read_to_string(self.dirs[0].join("cpu.stat")).ok()?;
                stat.lines().find_map(|l| {
                    l.strip_prefix("usage_usec ")
                        .and_then(|n| n.trim().parse().ok())
                        .map(std::time::Duration::from_micros)
                })
            }
        }
    }

    /// Memory the sandbox's processes use now.
    pub fn memory_used(&self) -> Option<u64> {
        let file = match self.version {
            CgroupVersion::V1 => "memory.usage_in_bytes",
            CgroupVersion::V2 => "memory.current",
        };
        std::fs::read_to_string(self.dirs[0].join(file))
            .ok()?
            .trim()
            .parse()
            .ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: PathBuf) -> String {
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_owned()
    }

    const LIMITS: Limits = Limits {
        memory_bytes: 512 << 20,
        pids: 64,
        cpu_millis: 500,
    };

    #[test]
    fn v1_layout_per_controller_below_own_cgroup() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for c in ["memory", "pids", "cpu"] {
            std::fs::create_dir_all(root.path().join(c)).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(root.path().join("memory/memory.limit_in_bytes"), "max")
            .unwrap_or_else(|e| panic!("{e}"));
        let host = CgroupHost {
            root: root.path().to_path_buf(),
            self_cgroup: "8:pids:/svc\n4:memory:/svc/mem\n1:cpu:/\n0::/".into(),
        };
        assert_eq!(host.detect(), Some(CgroupVersion::V1));
        let cg = SandboxCgroup::create(&host, CgroupVersion::V1, "gw1", "s1", &LIMITS)
            .unwrap_or_else(|e| panic!("{e}"));
        let mem = root.path().join("memory/svc/mem/airlock-gw1/s1");
        assert_eq!(
            cg.dirs,
            vec![
                mem.clone(),
                root.path().join("pids/svc/airlock-gw1/s1"),
                root.path().join("cpu/airlock-gw1/s1")
            ]
        );
        assert_eq!(
            read(mem.join("memory.limit_in_bytes")),
            (512u64 << 20).to_string()
        );
        assert_eq!(read(cg.dirs[1].join("pids.max")), "64");
        assert_eq!(read(cg.dirs[2].join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(cg.dirs[2].join("cpu.cfs_period_us")), "100000");
        std::fs::write(
            mem.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cg.oom_kills(), 3);
        assert_eq!(cg.procs_files().len(), 3);
        assert_eq!(cg.cpu_used(), None, "no cpuacct hierarchy here");
    }

    #[test]
    fn v2_layout_in_the_unified_hierarchy() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(
            root.path().join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let host = CgroupHost {
            root: root.path().to_path_buf(),
            self_cgroup: "0::/system.slice/airlock.service\n".into(),
        };
        assert_eq!(host.detect(), Some(CgroupVersion::V2));
        let cg = SandboxCgroup::create(&host, CgroupVersion::V2, "gw1", "s1", &LIMITS)
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = root
            .path()
            .join("system.slice/airlock.service/airlock-gw1/s1");
        assert_eq!(cg.dirs, vec![dir.clone()]);
        assert_eq!(read(dir.join("memory.max")), (512u64 << 20).to_string());
        assert_eq!(read(dir.join("memory.swap.max")), "0");
        assert_eq!(read(dir.join("pids.max")), "64");
        assert_eq!(read(dir.join("cpu.max")), "50000 100000");
        assert_eq!(
            read(
                dir.parent()
                    .map(|p| p.join("cgroup.subtree_control"))
                    .unwrap_or_default()
            ),
            "+memory +pids +cpu"
        );
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cg.oom_kills(), 2);
        std::fs::write(
            dir.join("cpu.stat"),
            "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cg.cpu_used(), Some(std::time::Duration::from_millis(1500)));
    }

    #[test]
    fn v1_accounts_cpu_in_the_cpuacct_hierarchy_when_there_is_one() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for c in ["memory", "pids", "cpu", "cpuacct"] {
            std::fs::create_dir_all(root.path().join(c)).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(root.path().join("memory/memory.limit_in_bytes"), "max")
            .unwrap_or_else(|e| panic!("{e}"));
        let host = CgroupHost {
            root: root.path().to_path_buf(),
            self_cgroup: "4:memory:/\n2:cpuacct:/\n1:cpu:/\n".into(),
        };
        let cg = SandboxCgroup::create(&host, CgroupVersion::V1, "gw1", "s1", &LIMITS)
            .unwrap_or_else(|e| panic!("{e}"));
        let acct = root.path().join("cpuacct/airlock-gw1/s1");
        assert_eq!(cg.dirs.last(), Some(&acct));
        std::fs::write(acct.join("cpuacct.usage"), "2500000000\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cg.cpu_used(), Some(std::time::Duration::from_millis(2500)));
    }

    #[test]
    fn no_memory_controller_means_no_cgroups() {
        let root = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.path().join("cgroup.controllers"), "hugetlb")
            .unwrap_or_else(|e| panic!("{e}"));
        let host = CgroupHost {
            root: root.path().to_path_buf(),
            self_cgroup: String::new(),
        };
        assert_eq!(host.detect(), None);
    }
}
