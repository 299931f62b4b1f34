//! One `airlock serve` per test: its config, process, log and state directory.

use super::*;

pub struct Gateway {
    pub url: String,
    pub port: u16,
    pub dir: PathBuf,
    pub config: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    _tmp: Option<tempfile::TempDir>,
}

pub const TEST_SECRET: &str = "gateway-secret-7d1f0a9c";

impl Gateway {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// Starts a gateway with the test config plus `extra` TOML.
    pub fn start_with(extra: &str) -> Self {
        Self::start_opts(extra, &[])
    }

    /// Starts a gateway with `extra` TOML in `[sessions]` and `AIRLOCK_*` overrides in `env`.
    pub fn start_opts(extra: &str, env: &[(&str, &str)]) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("airlock-e2e-")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().to_path_buf();
        let mut g = Self::configure(&dir, extra);
        g.env = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        g._tmp = Some(tmp);
        g.spawn();
        g
    }

    pub fn configure(dir: &Path, extra: &str) -> Self {
        let port = free_port();
        let config = dir.join("airlock.toml");
        let text = format!(
            r#"[server]
listen = "127.0.0.1:{port}"
instance_id = "e2e-{port}"

[state]
dir = "{state}"

[[auth.issuers]]
issuer = "{issuer}"
audiences = ["airlock"]
algorithms = ["RS256"]
leeway_seconds = 0
min_refetch_seconds = 1

[limits]
memory_mib = 512
timeout_seconds = 30
output_bytes = 1048576
upload_bytes = 1048576
code_bytes = 65536

[sessions]
sweep_interval_seconds = 1
{extra}
"#,
            state = dir.join("state").display(),
            issuer = oidc().issuer,
        );
        std::fs::write(&config, text).unwrap_or_else(|e| panic!("{e}"));
        Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir: dir.to_path_buf(),
            config,
            env: vec![],
            child: None,
            _tmp: None,
        }
    }

    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("gateway.log"))
            .unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(airlock_bin())
            .args(["serve", "--config"])
            .arg(&self.config)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AIRLOCK_TEST_SECRET", TEST_SECRET)
            .env("AIRLOCK_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting airlock: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if client()
                .get(format!("{}/healthz", self.url))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("gateway exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("gateway did not become healthy: {}", self.log());
    }

    /// Points the gateway's state at `url` (PostgreSQL) instead of its SQLite file.
    pub fn use_database(&self, url: &str) {
        let text = std::fs::read_to_string(&self.config)
            .unwrap_or_default()
            .replace("[state]\n", &format!("[state]\ndatabase_url = \"{url}\"\n"));
        std::fs::write(&self.config, text).unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gateway.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().and_then(|c| i32::try_from(c.id()).ok())
    }

    /// Starts the gateway again with `env` added to (or replacing) its overrides: the same
    /// state and configuration as another process, e.g. a replica with another instance id.
    pub fn respawn_with(&mut self, env: &[(&str, &str)]) {
        for (k, v) in env {
            self.env.retain(|(key, _)| key != k);
            self.env.push(((*k).to_owned(), (*v).to_owned()));
        }
        self.spawn();
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            // Generous: a graceful stop on a machine busy with every other test can be slow,
            // and a stop cut short by SIGKILL would look like a gateway that forgot its record.
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            eprintln!("the gateway did not stop within 60 s of SIGTERM; killing it");
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn audit_file(&self) -> PathBuf {
        self.dir.join("state/audit.jsonl")
    }

    pub fn sandboxes_dir(&self) -> PathBuf {
        self.dir.join("state/sandboxes")
    }

    pub fn api(&self, token: &str) -> Api {
        Api {
            base: self.url.clone(),
            token: token.to_owned(),
            http: client(),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
    }
}
