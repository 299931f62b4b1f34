//! Starts the OIDC provider (once per run) and gateways (one per test, `gateway.rs`), fetches
//! real tokens; the REST client (`api.rs`) and per-test PostgreSQL databases (`postgres.rs`).

use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

mod api;
mod gateway;
mod postgres;

pub use api::*;
pub use gateway::*;
pub use postgres::*;

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

/// The Python of the tests' own clients (the test venv's, from deploy/test.sh).
pub fn python() -> String {
    std::env::var("AIRLOCK_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}
