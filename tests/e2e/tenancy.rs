//! Tenancy on the real binary with real OIDC personas (acme: alice, bob; globex: carol): caps
//! per tenant hold under concurrent requests, and usage is metered per principal and read back
//! by whoever may read it (GET /v1/usage, Prometheus).

use crate::harness::{self, Api, Gateway};
use serde_json::{json, Value};
use std::{collections::BTreeMap, time::Duration};

/// Twelve concurrent creates from two tenants' principals under `sessions.max_per_tenant = 2`:
/// no tenant passes two, every refusal is `429 too_many_sessions` naming the cap, and an ended
/// session gives its place back.
#[test]
fn concurrent_session_creates_across_two_tenants_never_pass_a_tenant_cap() {
    let gw = Gateway::start_with("max_per_tenant = 2\n");
    let personas = [
        ("alice-tool", "acme"),
        ("bob-tool", "acme"),
        ("carol-tool", "globex"),
    ];
    let results: Vec<(&str, String, u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (persona, tenant) = personas[i % 3];
                let api = gw.api(&harness::token(persona));
                s.spawn(move || {
                    let r = api.post("/v1/sessions", json!({}));
                    (tenant, persona.to_owned(), r.status, r.body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| panic!("a create thread panicked"))
            })
            .collect()
    });
    let mut made: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    for (tenant, persona, status, body) in &results {
        match status {
            201 => made.entry(tenant).or_default().push((
                persona.clone(),
                body["id"].as_str().unwrap_or_default().to_owned(),
            )),
            429 => {
                assert_eq!(body["error"]["code"], "too_many_sessions", "{body}");
                assert_eq!(body["error"]["details"]["scope"], "tenant", "{body}");
                assert_eq!(body["error"]["details"]["limit"], 2, "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(made.get("acme").map(Vec::len), Some(2), "{made:?}");
    assert_eq!(made.get("globex").map(Vec::len), Some(2), "{made:?}");

    // An ended session gives its place back to its tenant.
    let (persona, id) = made["acme"][0].clone();
    let owner = gw.api(&harness::token(&persona));
    assert_eq!(owner.delete(&format!("/v1/sessions/{id}")).status, 200);
    let again = gw
        .api(&harness::token("bob-tool"))
        .post("/v1/sessions", json!({}));
    assert_eq!(again.status, 201, "{}", again.body);
    let full = gw
        .api(&harness::token("alice-tool"))
        .post("/v1/sessions", json!({}));
    assert_eq!(full.status, 429, "{}", full.body);
}

fn submit_async(api: &Api, session: &str, code: &str) -> (u16, Value) {
    let r = api
        .http
        .post(format!("{}/v1/sessions/{session}/executions", api.base))
        .bearer_auth(&api.token)
        .header("prefer", "respond-async")
        .json(&json!({"language": "python", "code": code}))
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn usage(api: &Api, query: &str) -> (u16, Value) {
    let r = api.get(&format!("/v1/usage{query}"));
    (r.status, r.body)
}

fn row<'a>(report: &'a Value, subject: &str) -> Option<&'a Value> {
    report["principals"]
        .as_array()?
        .iter()
        .find(|p| p["subject"] == subject)
}

/// One running execution per tenant: bob waits for alice's (429 with Retry-After), carol of
/// globex does not. Usage then shows each principal's executions, the CPU their cgroups
/// counted and the memory reserved, to an auditor for all, to acme's auditor for acme only,
/// to carol for herself; and Prometheus counts per tenant.
#[test]
fn running_executions_are_capped_per_tenant_and_usage_is_metered_per_principal() {
    let gw = Gateway::start_with("\n[executions]\nmax_running_per_tenant = 1\n");
    let alice = gw.api(&harness::token("alice-tool"));
    let bob = gw.api(&harness::token("bob-tool"));
    let carol = gw.api(&harness::token("carol-tool"));
    let (sa, sb, sc) = (alice.session(), bob.session(), carol.session());

    let (status, long) = submit_async(&alice, &sa, "import time\ntime.sleep(60)");
    assert_eq!(status, 202, "{long}");
    let refused = bob
        .http
        .post(format!("{}/v1/sessions/{sb}/executions", bob.base))
        .bearer_auth(&bob.token)
        .json(&json!({"language": "python", "code": "1+1"}))
        .send()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(refused.status().as_u16(), 429);
    assert_eq!(
        refused
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = refused.json().unwrap_or(Value::Null);
    assert_eq!(body["error"]["code"], "too_many_executions", "{body}");
    assert_eq!(body["error"]["details"]["scope"], "tenant", "{body}");
    let burn = "n = sum(i * i for i in range(4_000_000))\nprint(n > 0)";
    assert_eq!(
        harness::stdout_of(&carol.run(&sc, "python", burn)),
        "True\n"
    );

    // Alice's ends (cancelled); bob's turn comes.
    let id = long["id"].as_str().unwrap_or_default();
    let c = alice.post(&format!("/v1/executions/{id}/cancel"), json!({}));
    assert!(c.status == 200 || c.status == 202, "{}", c.body);
    harness::wait_until("the cancel to end it", Duration::from_secs(30), || {
        alice.get(&format!("/v1/executions/{id}")).body["status"] == "cancelled"
    });
    assert_eq!(harness::stdout_of(&bob.run(&sb, "python", burn)), "True\n");
    assert_eq!(
        harness::stdout_of(&alice.run(&sa, "python", burn)),
        "True\n"
    );

    let auditor = gw.api(&harness::token("auditor-tool"));
    let (status, all) = usage(&auditor, "");
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["scope"], "all");
    let a = row(&all, "alice-tool").unwrap_or_else(|| panic!("no alice: {all}"));
    assert_eq!(a["tenant"], "acme");
    assert_eq!(
        a["usage"]["executions"], 2,
        "the cancelled run and the burn: {a}"
    );
    let cpu = |r: &Value| r["usage"]["cpu_seconds"].as_f64().unwrap_or(0.0);
    assert!(cpu(a) > 0.05, "the burn used CPU: {a}");
    assert!(
        a["usage"]["memory_mib_seconds"].as_f64().unwrap_or(0.0) > 0.0,
        "{a}"
    );
    let b = row(&all, "bob-tool").unwrap_or_else(|| panic!("no bob: {all}"));
    assert_eq!(
        b["usage"]["executions"], 1,
        "the refused run is not metered: {b}"
    );
    assert!(row(&all, "carol-tool").is_some(), "{all}");
    assert_eq!(all["total"]["executions"], 4, "{all}");

    let tenant_auditor = gw.api(&harness::token("acme-auditor-tool"));
    let (_, acme) = usage(&tenant_auditor, "");
    assert_eq!(acme["scope"], "tenant");
    assert!(row(&acme, "carol-tool").is_none(), "{acme}");
    assert!(row(&acme, "alice-tool").is_some(), "{acme}");
    let (status, other) = usage(&tenant_auditor, "?tenant=globex");
    assert_eq!(status, 403, "{other}");

    let (_, own) = usage(&carol, "?tenant=acme");
    assert_eq!(own["scope"], "self");
    let subjects: Vec<&Value> = own["principals"]
        .as_array()
        .map(|a| a.iter().map(|p| &p["subject"]).collect())
        .unwrap_or_default();
    assert_eq!(subjects, [&json!("carol-tool")], "{own}");

    let (status, bad) = usage(&auditor, "?from=2026-02-30");
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["error"]["code"], "invalid_request");

    let metrics = harness::client()
        .get(format!("{}/metrics", gw.url))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(
        metrics.contains("airlock_usage_executions_total{tenant=\"acme\"} 3"),
        "{metrics}"
    );
    assert!(metrics.contains("airlock_usage_cpu_milliseconds_total{tenant=\"globex\"}"));
    assert!(metrics.contains("airlock_capped_total{"), "{metrics}");
}
