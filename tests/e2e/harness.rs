//! Starts the OIDC provider (once per run) and gateways (one per test), fetches real tokens.

use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

pub struct Oidc {
    pub issuer: String,
    pub rogue: String,
    _child: std::sync::Mutex<Child>,
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `target/debug/` beside this test executable (`target/debug/deps/e2e-*`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn airlock_bin() -> PathBuf {
    let p = bin_dir().join("airlock");
    assert!(
        p.exists() && bin_dir().join("airlock-agent").exists(),
        "build the binaries first: cargo build --workspace --bins ({})",
        p.display()
    );
    p
}

pub fn oidc() -> &'static Oidc {
    static OIDC: OnceLock<Oidc> = OnceLock::new();
    OIDC.get_or_init(|| {
        let dir = repo_root().join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "run `npm ci` in tests/oidc (the .ci/run script does)"
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting node: {e}"));
        let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut lines = BufReader::new(out).lines();
        let ready: Value = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("oidc provider exited"))
                .unwrap_or_default();
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                break v;
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Oidc {
            issuer: ready["issuer"].as_str().unwrap_or_default().to_owned(),
            rogue: ready["rogue"].as_str().unwrap_or_default().to_owned(),
            _child: std::sync::Mutex::new(child),
        }
    })
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(180))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A real access token from the provider for `client_id` and `resource`.
pub fn token_from(issuer: &str, client_id: &str, resource: &str) -> String {
    let resp: Value = client()
        .post(format!("{issuer}/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", &format!("{client_id}-secret")),
            ("resource", resource),
            ("scope", "execute"),
        ])
        .send()
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("token request: {e}"));
    resp["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {resp}"))
        .to_owned()
}

pub fn token(client_id: &str) -> String {
    token_from(&oidc().issuer, client_id, "urn:airlock")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

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

pub struct Api {
    pub base: String,
    pub token: String,
    pub http: reqwest::blocking::Client,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl Resp {
    /// A response read whole; its body as JSON (Null when it is not).
    pub fn of(r: reqwest::blocking::Response) -> Self {
        let status = r.status().as_u16();
        let bytes = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Self {
            status,
            body,
            bytes,
        }
    }
}

impl Api {
    fn send(&self, rb: reqwest::blocking::RequestBuilder) -> Resp {
        Resp::of(
            rb.bearer_auth(&self.token)
                .send()
                .unwrap_or_else(|e| panic!("request: {e}")),
        )
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(format!("{}{path}", self.base)))
    }

    pub fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("content-type", content_type)
                .body(body),
        )
    }

    pub fn session(&self) -> String {
        let r = self.post("/v1/sessions", json!({}));
        assert_eq!(r.status, 201, "create session: {}", r.body);
        r.body["id"].as_str().unwrap_or_default().to_owned()
    }

    pub fn run(&self, session: &str, language: &str, code: &str) -> Resp {
        self.post(
            &format!("/v1/sessions/{session}/executions"),
            json!({"language": language, "code": code}),
        )
    }

    pub fn run_with(&self, session: &str, body: Value) -> Resp {
        self.post(&format!("/v1/sessions/{session}/executions"), body)
    }

    pub fn upload(
        &self,
        session: &str,
        name: &str,
        data: Vec<u8>,
        classification: Option<&str>,
    ) -> Resp {
        let part = reqwest::blocking::multipart::Part::bytes(data).file_name(name.to_owned());
        let mut form = reqwest::blocking::multipart::Form::new().part("file", part);
        if let Some(c) = classification {
            form = form.text("classification", c.to_owned());
        }
        self.send(
            self.http
                .post(format!("{}/v1/sessions/{session}/files", self.base))
                .multipart(form),
        )
    }

    pub fn upload_path(&self, session: &str, path: &str, data: Vec<u8>) -> Resp {
        let part = reqwest::blocking::multipart::Part::bytes(data).file_name("x.bin");
        let form = reqwest::blocking::multipart::Form::new()
            .part("file", part)
            .text("path", path.to_owned());
        self.send(
            self.http
                .post(format!("{}/v1/sessions/{session}/files", self.base))
                .multipart(form),
        )
    }
}

/// The `stdout` of a succeeded execution, or a panic that shows the whole response.
pub fn stdout_of(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "succeeded", "{}", r.body);
    r.body["stdout"].as_str().unwrap_or_default().to_owned()
}

pub fn write_file(path: &Path, text: &str) {
    let mut f = std::fs::File::create(path).unwrap_or_else(|e| panic!("{e}"));
    f.write_all(text.as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Runs `airlock audit verify FILE`; returns (exit code, stdout).
pub fn verify(file: &Path) -> (i32, String) {
    let out = Command::new(airlock_bin())
        .args(["audit", "verify"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

pub fn audit_events(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

pub use airlock_tests::KillOnDrop;

/// A copy of the shipped default bundle in `dir` with `edit` applied to its `data.json`;
/// returns the directory for `AIRLOCK_POLICY__BUNDLE_DIR`.
pub fn bundle_copy(dir: &Path, edit: impl FnOnce(&mut Value)) -> String {
    let mut files = airlock_policy::read_dir_raw(&repo_root().join("policy/bundle"))
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some((_, bytes)) = files.iter_mut().find(|(n, _)| n == "data.json") {
        let mut data: Value = serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{e}"));
        edit(&mut data);
        *bytes = data.to_string().into_bytes();
    }
    for (name, bytes) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap_or(dir)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(p, bytes).unwrap_or_else(|e| panic!("{e}"));
    }
    dir.display().to_string()
}

/// The gateway's public audit key as `airlock audit key` prints it, saved in the gateway's dir.
pub fn audit_key(gw: &Gateway) -> PathBuf {
    let out = Command::new(airlock_bin())
        .arg("--config")
        .arg(&gw.config)
        .args(["audit", "key"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = gw.dir.join("audit-key.jwks");
    std::fs::write(&path, &out.stdout).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// A fresh PostgreSQL database for one test, dropped when the test ends.
pub struct PostgresDb {
    pub url: String,
    admin: String,
    name: String,
}

impl PostgresDb {
    pub fn create() -> Self {
        let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("airlock_e2e_{}", free_port());
        let db = Self {
            url: format!(
                "{}/{name}",
                admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
            ),
            admin,
            name,
        };
        assert!(
            db.admin_sql(&format!("CREATE DATABASE {}", db.name)),
            "PostgreSQL must be reachable at {}",
            db.admin
        );
        db
    }

    fn admin_sql(&self, sql: &str) -> bool {
        Command::new("psql")
            .args([self.admin.as_str(), "-v", "ON_ERROR_STOP=1", "-qc", sql])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// One query's rows (`psql -tA`), trimmed.
    pub fn query(&self, sql: &str) -> Vec<String> {
        let out = Command::new("psql")
            .args([self.url.as_str(), "-v", "ON_ERROR_STOP=1", "-tAc", sql])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for PostgresDb {
    fn drop(&mut self) {
        self.admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Waits until `f` holds (polling), or panics with `what`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}
