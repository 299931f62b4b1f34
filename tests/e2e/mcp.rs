//! Airlock as an MCP server, driven by the official SDK clients against the real binary with
//! real OIDC provider tokens: the Python SDK (PyPI `mcp`, tests/mcp/python_client.py) for the
//! whole surface, and the TypeScript SDK (npm `@modelcontextprotocol/sdk`,
//! tests/mcp/ts_client.mjs) for interoperability. Every call goes through the same pipeline
//! as the REST API and is audited naming the MCP client and session.

use crate::harness::{self, Gateway};
use serde_json::Value;
use std::{process::Command, time::Duration};

fn run_client(cmd: &mut Command) -> Value {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("starting the MCP client: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the MCP client failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_python_sdk_discovers_authenticates_runs_streams_cancels_and_reads_files() {
    let gw = Gateway::start();
    let url = format!("{}/mcp", gw.url);
    let alice = harness::token("alice-tool");
    let out = run_client(
        Command::new(harness::python())
            .arg(harness::repo_root().join("tests/mcp/python_client.py"))
            .env("MCP_URL", &url)
            .env("ISSUER", &harness::oidc().issuer)
            .env("TOKEN", &alice)
            .env("OTHER_TOKEN", harness::token("bob-tool")),
    );
    assert_eq!(out["authorization_servers"][0], harness::oidc().issuer);
    let sid = out["session_id"].as_str().unwrap_or_default().to_owned();

    // The same session through the REST API: the cancelled cell ended cancelled, the
    // denied one denied; the MCP session's end ended the sandbox session.
    let api = gw.api(&alice);
    let history = api
        .get(&format!("/v1/sessions/{sid}/executions?limit=50"))
        .body;
    let statuses: Vec<&str> = history["executions"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["status"].as_str()).collect())
        .unwrap_or_default();
    assert!(statuses.contains(&"cancelled"), "{history}");
    assert!(statuses.contains(&"denied"), "{history}");
    harness::wait_until(
        "the MCP session's end ends its sandbox session",
        Duration::from_secs(30),
        || api.get(&format!("/v1/sessions/{sid}")).body["status"] == "deleted",
    );
    // Bob never reached it.
    let bob = gw.api(&harness::token("bob-tool"));
    assert_eq!(bob.get(&format!("/v1/sessions/{sid}")).status, 404);

    // Audited like the REST API, naming the MCP client and session.
    let events = harness::audit_events(&gw.audit_file());
    let via: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "execution.requested")
        .filter_map(|e| {
            e["data"]["principal"]["via"]
                .as_object()
                .map(|_| &e["data"]["principal"]["via"])
        })
        .collect();
    assert!(!via.is_empty(), "no execution names its channel");
    assert!(via.iter().all(|v| v["protocol"] == "mcp"
        && v["client"] == "airlock-e2e/1.0"
        && v["session"] == out["mcp_session"]));
    assert!(events
        .iter()
        .any(|e| e["type"] == "execution.cancel_requested"));
}

#[test]
fn the_typescript_sdk_lists_the_tools_and_runs_code() {
    let dir = harness::repo_root().join("tests/mcp");
    assert!(
        dir.join("node_modules/@modelcontextprotocol/sdk").exists(),
        "run `npm ci` in tests/mcp (deploy/test.sh does)"
    );
    let gw = Gateway::start();
    let out = run_client(
        Command::new("node")
            .arg("ts_client.mjs")
            .current_dir(&dir)
            .env("MCP_URL", format!("{}/mcp", gw.url))
            .env("TOKEN", harness::token("alice-tool")),
    );
    assert!(out["tools"]
        .as_array()
        .is_some_and(|t| t.iter().any(|n| n == "execute_code")));
    assert_eq!(out["stdout"], "42\n");
    assert_eq!(out["denied"], true);
}

/// A bare JSON-RPC client of `/mcp` (initialize, then one POST per call, the answer read from
/// the SSE stream rmcp closes after it): enough for the tools the SDK tests do not reach.
struct RawMcp {
    url: String,
    token: String,
    session: String,
}

impl RawMcp {
    fn connect(url: &str, token: &str) -> Self {
        let r = harness::client()
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(
                &serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}}),
            )
            .send()
            .unwrap_or_else(|e| panic!("{e}"));
        let session = r
            .headers()
            .get("mcp-session-id")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_else(|| panic!("no MCP session: {}", r.status()))
            .to_owned();
        let mcp = Self {
            url: url.to_owned(),
            token: token.to_owned(),
            session,
        };
        mcp.post(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn post(&self, body: Value) -> String {
        harness::client()
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.session)
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body)
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `tools/call`: the JSON-RPC result.
    fn call(&self, name: &str, args: Value) -> Value {
        let text = self.post(
            serde_json::json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": name, "arguments": args}}),
        );
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|v| v["id"] == 7)
            .map(|v| v["result"].clone())
            .unwrap_or_else(|| panic!("no result in {text}"))
    }
}

#[test]
fn query_warehouse_returns_rows_and_a_csv_through_vault_issued_logins() {
    let bao = crate::vault::Bao::start();
    let gw = crate::connectors::start(&bao, "", &[]);
    let mcp = RawMcp::connect(&format!("{}/mcp", gw.url), &harness::token("alice-tool"));
    let r = mcp.call(
        "query_warehouse",
        serde_json::json!({"connector": "warehouse",
            "sql": "SELECT region, sum(amount) AS total FROM sales.orders GROUP BY region ORDER BY region"}),
    );
    assert_ne!(r["isError"], true, "{r}");
    let s = &r["structuredContent"];
    assert_eq!(s["columns"], serde_json::json!(["region", "total"]), "{r}");
    assert_eq!(
        s["rows"],
        serde_json::json!([["east", 300.0], ["north", 162.75], ["south", 95.75]])
    );
    let csv = r["content"]
        .as_array()
        .and_then(|c| c.iter().find_map(|x| x["resource"]["text"].as_str()))
        .unwrap_or_else(|| panic!("no CSV resource in {r}"));
    assert!(
        csv.starts_with("region,total\n") && csv.contains("east,300"),
        "{csv}"
    );
    // A table outside the grants: an error result with the violation, before any login.
    let r = mcp.call(
        "query_warehouse",
        serde_json::json!({"connector": "warehouse", "sql": "SELECT * FROM hr.salaries"}),
    );
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(r["structuredContent"]["status"], "denied", "{r}");
    assert!(!r["structuredContent"]["violations"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
}

/// Held work over MCP: not an error, the case id and how to follow it; `review_status` shows
/// the case as its requester sees it.
#[test]
fn held_work_returns_its_case_and_review_status_follows_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["packages"]["review"] = serde_json::json!(["numpy"]);
    });
    let gw = Gateway::start_opts("", &[("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str())]);
    let mcp = RawMcp::connect(&format!("{}/mcp", gw.url), &harness::token("alice-tool"));
    let r = mcp.call(
        "execute_code",
        serde_json::json!({"code": "import numpy as np\nprint(np.arange(3).sum())"}),
    );
    assert_ne!(r["isError"], true, "{r}");
    let s = &r["structuredContent"];
    assert_eq!(s["status"], "pending_review", "{r}");
    let case = s["case_id"].as_str().unwrap_or_default().to_owned();
    assert!(case.starts_with("rev_"), "{r}");
    assert!(r["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.contains(&case) && t.contains("review_status")));
    let st = mcp.call("review_status", serde_json::json!({"case_id": case}));
    assert_eq!(
        st["structuredContent"]["cases"][0]["status"], "pending",
        "{st}"
    );
    assert_eq!(
        st["structuredContent"]["cases"][0]["kind"], "execution",
        "{st}"
    );
    // Another principal's case id is not found for her.
    let other = RawMcp::connect(&format!("{}/mcp", gw.url), &harness::token("carol-tool"));
    let r = other.call("review_status", serde_json::json!({"case_id": case}));
    assert_eq!(r["isError"], true, "{r}");
}
