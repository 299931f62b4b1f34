//! Airlock as a Jupyter kernel gateway, on the real binary with real OIDC tokens and
//! personal access keys: the protocol as chat tools and agent frameworks speak it directly
//! (`direct.rs`), Jupyter Server attached with `--gateway-url` and driven as JupyterLab drives
//! it (`server.rs`), what another principal or a bad client cannot do (`refusals.rs`), and held
//! work, stdin and URL tokens (`review.rs`).

mod direct;
mod refusals;
mod review;
mod server;

use crate::harness::{self, Gateway, Resp};
use airlock_tests::jupyter_client::{self as client, Cell, KernelSocket};
use serde_json::Value;
use std::time::Duration;

/// A client of a Jupyter REST API with one `Authorization` value (`token ...`, `Bearer ...`).
pub struct JupyterApi {
    pub base: String,
    pub authorization: String,
    http: reqwest::blocking::Client,
}

impl JupyterApi {
    /// Airlock's kernel gateway API of `gw` as `authorization`.
    pub fn of(gw: &Gateway, authorization: &str) -> Self {
        Self::at(&format!("{}/jupyter", gw.url), authorization)
    }

    pub fn at(base: &str, authorization: &str) -> Self {
        Self {
            base: base.to_owned(),
            authorization: authorization.to_owned(),
            http: crate::harness::client(),
        }
    }

    fn send(&self, rb: reqwest::blocking::RequestBuilder) -> Resp {
        let rb = if self.authorization.is_empty() {
            rb
        } else {
            rb.header("authorization", &self.authorization)
        };
        Resp::of(rb.send().unwrap_or_else(|e| panic!("request: {e}")))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base)))
    }

    pub fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(format!("{}{path}", self.base)))
    }

    /// Starts a kernel of `spec`; its id.
    pub fn start_kernel(&self, spec: &str) -> String {
        let r = self.post("/api/kernels", serde_json::json!({"name": spec}));
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["id"].as_str().unwrap_or_default().to_owned()
    }

    /// The websocket URL of a kernel's channels.
    pub fn channels_url(&self, kernel: &str) -> String {
        format!(
            "{}/api/kernels/{kernel}/channels",
            self.base.replacen("http", "ws", 1)
        )
    }
}

/// Mints a personal access key for the holder of `bearer`; (id, secret).
pub fn mint_key(gw: &Gateway, bearer: &str, name: &str) -> (String, String) {
    let r = gw.api(bearer).post(
        "/v1/access-keys",
        serde_json::json!({"name": name, "expires_in_days": 1}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    (
        r.body["id"].as_str().unwrap_or_default().to_owned(),
        r.body["secret"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The Airlock session id of a kernel id (its UUID, hyphenated).
pub fn session_of(kernel: &str) -> String {
    format!("ses_{}", kernel.replace('-', ""))
}

/// Starts a minute-long cell on `ws`, interrupts it through `rest`'s interrupt route (Airlock's
/// own, or Jupyter Server's) once `airlock` shows the kernel busy, and returns the cell.
pub fn interrupt_a_long_cell(
    ws: &mut KernelSocket,
    rest: &JupyterApi,
    airlock: &JupyterApi,
    kernel: &str,
) -> Cell {
    let code = client::execute_content("import time\ntime.sleep(60)");
    let id = ws.send("shell", "execute_request", code, serde_json::json!({}));
    harness::wait_until("the long cell runs", Duration::from_secs(30), || {
        airlock.get(&format!("/api/kernels/{kernel}")).body["execution_state"] == "busy"
    });
    let r = rest.post(
        &format!("/api/kernels/{kernel}/interrupt"),
        serde_json::json!({}),
    );
    assert_eq!(r.status, 204, "{}", r.body);
    ws.collect(&id, Duration::from_secs(30))
}
