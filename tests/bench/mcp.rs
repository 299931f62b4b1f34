//! `1+1` through MCP (`tools/call` of `execute_code` over Streamable HTTP) beside the same cell
//! through `POST /v1/sessions/{id}/executions`, on one gateway, interleaved sample by sample
//! (`AIRLOCK_BENCH_ONLY=mcp`). The MCP side speaks JSON-RPC over HTTP by hand (an SDK client
//! would add its own cost, not the server's): initialize once, then one POST per call whose
//! answer is the SSE stream rmcp closes after the result.

use crate::{row, serve::Served, stats};
use serde_json::{json, Value};
use std::time::Instant;

const SAMPLES: usize = 300;
const WARMUP: usize = 20;

struct McpClient<'a> {
    s: &'a Served,
    url: String,
    session: String,
    next_id: u64,
}

impl<'a> McpClient<'a> {
    async fn connect(s: &'a Served) -> Self {
        let url = format!("{}/mcp", s.base);
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "airlock-bench", "version": "1"}}});
        let r = s
            .http
            .post(&url)
            .header("authorization", &s.auth)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_else(|| panic!("no MCP session: {}", r.status()))
            .to_owned();
        let _ = r.text().await;
        let mut c = Self {
            s,
            url,
            session,
            next_id: 1,
        };
        c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        c
    }

    async fn send(&mut self, body: Value) -> String {
        self.s
            .http
            .post(&self.url)
            .header("authorization", &self.s.auth)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// `execute_code` of `code`; its structured result.
    async fn execute(&mut self, code: &str) -> Value {
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
            "params": {"name": "execute_code", "arguments": {"code": code}}});
        let text = self.send(body).await;
        let data = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v.get("id").is_some())
            .unwrap_or_else(|| panic!("no result in {text}"));
        data["result"]["structuredContent"].clone()
    }
}

pub(crate) async fn mcp_rows() {
    let s = Served::start("bench-mcp").await;
    let sid = s.session().await;
    let rest_url = format!("{}/v1/sessions/{sid}/executions", s.base);
    let mut mcp = McpClient::connect(&s).await;
    let rest_cell = json!({"language": "python", "code": "1+1"});
    for _ in 0..WARMUP {
        let r = s.post_json(&rest_url, rest_cell.clone()).await;
        assert_eq!(r["status"], "succeeded", "{r}");
        let m = mcp.execute("1+1").await;
        assert_eq!(m["status"], "succeeded", "{m}");
    }
    let (mut rest, mut over_mcp) = (Vec::with_capacity(SAMPLES), Vec::with_capacity(SAMPLES));
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let r = s.post_json(&rest_url, rest_cell.clone()).await;
        rest.push(t.elapsed());
        assert_eq!(r["status"], "succeeded");
        let t = Instant::now();
        let m = mcp.execute("1+1").await;
        over_mcp.push(t.elapsed());
        assert_eq!(m["status"], "succeeded");
    }
    let (rest, over_mcp) = (stats(rest), stats(over_mcp));
    row("`1+1` through REST (baseline)", &rest, false);
    row("`1+1` through MCP `execute_code`", &over_mcp, false);
    println!(
        "| MCP over REST at p50 | | {:+.2} ms (target <= +1 ms) | |",
        over_mcp.p50 - rest.p50
    );
}
