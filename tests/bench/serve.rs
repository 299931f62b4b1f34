//! A running `airlock serve` on embedded defaults for the HTTP measurements: a loopback port, a
//! temporary state directory, the development issuer and a token minted for it.

use crate::bin_dir;
use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

pub(crate) struct Served {
    pub http: reqwest::Client,
    pub base: String,
    pub auth: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Served {
    pub async fn start(instance: &str) -> Self {
        Self::start_with(instance, &[], &["--sub", "bench"]).await
    }

    /// With `AIRLOCK_*` overrides in `env` and the token minted with `token_args`.
    pub async fn start_with(instance: &str, env: &[(&str, &str)], token_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(18080);
        let cfg = dir.path().join("airlock.toml");
        std::fs::write(
            &cfg,
            format!("[server]\nlisten = \"127.0.0.1:{port}\"\ninstance_id = \"{instance}\"\n[state]\ndir = \"{}\"\n[auth.dev_issuer]\nenabled = true\n[sessions]\nmax_total = 400\nmax_per_principal = 400\n[rate_limits]\nper_principal_per_minute = 0\nper_tenant_per_minute = 0\n[telemetry]\nlog_filter = \"warn\"\n", dir.path().join("state").display()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let airlock = bin_dir().join("airlock");
        let token = String::from_utf8(
            Command::new(&airlock)
                .args(["token", "mint"])
                .args(token_args)
                .arg("--config")
                .arg(&cfg)
                .output()
                .unwrap_or_else(|e| panic!("{e}"))
                .stdout,
        )
        .unwrap_or_default();
        let child = Command::new(&airlock)
            .envs(env.iter().copied())
            .args(["serve", "--config"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if http.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            http,
            base,
            auth: format!("Bearer {}", token.trim()),
            child,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn post_json(&self, url: &str, body: serde_json::Value) -> serde_json::Value {
        self.http
            .post(url)
            .header("authorization", &self.auth)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_default()
    }

    /// A new session's id.
    pub async fn session(&self) -> String {
        let r = self
            .post_json(&format!("{}/v1/sessions", self.base), serde_json::json!({}))
            .await;
        r["id"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Posts `1+1` to an executions URL and checks the answer is `2`.
pub(crate) async fn one_plus_one(http: &reqwest::Client, url: &str, auth: &str) {
    let r: serde_json::Value = http
        .post(url)
        .header("authorization", auth)
        .json(&serde_json::json!({"language": "python", "code": "1+1"}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_default();
    assert_eq!(r["outputs"][0]["data"]["text/plain"], "2", "{r}");
}
