//! The gateway binary on the Kubernetes backend: sessions as pods, re-attachment, expiry,
//! resources per decision and pool class.

use super::cluster::*;
use airlock_tests::fake_kube;
use serde_json::json;
use std::time::Duration;

/// The gateway binary with `[sandbox] backend = "kubernetes"` against the fake API server: a
/// session is a pod, code runs in it; the gateway is SIGKILLed and started again: it
/// re-attaches to the pod (the kernel's variables survive, `session.adopted` is recorded);
/// deleting the session deletes the pod and its Secrets.
#[test]
fn the_gateway_runs_sessions_as_pods_and_reattaches_after_a_restart() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let (state, api_url, agent_port, _dir, agents) = rt.block_on(cluster());
    let mut gw = kube_gateway(
        "",
        &api_url,
        agent_port,
        &[("AIRLOCK_SANDBOX__KUBERNETES__EGRESS_LISTEN", "127.0.0.1:0")],
    );
    let api = gw.api(&crate::harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(
        crate::harness::stdout_of(&api.run(&sid, "python", "x = 6 * 7\nprint(x)")),
        "42\n"
    );
    let pods = state.lock().map(|s| s.pods.len()).unwrap_or(0);
    assert_eq!(pods, 1, "one pod for the session");
    gw.kill9();
    gw.spawn();
    let r = api.run(&sid, "python", "print(x + 1)");
    assert_eq!(crate::harness::stdout_of(&r), "43\n", "{:?}", r.body);
    let events = crate::harness::audit_events(&gw.audit_file());
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "session.adopted" && e["subject"] == sid.as_str()),
        "session.adopted recorded"
    );
    assert_eq!(api.delete(&format!("/v1/sessions/{sid}")).status, 200);
    let (pods, secrets) = state
        .lock()
        .map(|s| (s.pods.len(), s.secrets.len()))
        .unwrap_or((9, 9));
    assert_eq!((pods, secrets), (0, 0));

    // A pod the node OOM-kills: the watch sees it, the session ends `lost` with the reason and
    // the event names the failure.
    let sid = api.session();
    let pod = state
        .lock()
        .ok()
        .and_then(|s| s.pods.keys().next().cloned())
        .unwrap_or_default();
    fake_kube::set_status(&state, &pod, fake_kube::oom_killed());
    crate::harness::wait_until("the session lost", Duration::from_secs(20), || {
        api.get(&format!("/v1/sessions/{sid}")).body["status"] == "lost"
    });
    let s = api.get(&format!("/v1/sessions/{sid}")).body;
    assert!(
        s["status_reason"]
            .as_str()
            .is_some_and(|r| r.contains("too much memory")),
        "{s}"
    );
    let events = crate::harness::audit_events(&gw.audit_file());
    assert!(events.iter().any(|e| e["type"] == "session.lost"
        && e["subject"] == sid.as_str()
        && e["data"]["sandbox_failure"] == "oom_killed"));
    drop(gw);
    drop(agents);
}

/// A replica goes away for good (SIGKILL; its replacement has another instance id) and the
/// caller of its session never comes back: once the session is past its time to live, the
/// coordinating replica re-attaches to the pod, ends the session (`session.expired`) and
/// deletes the pod and its Secrets, which would otherwise run forever.
#[test]
fn a_gone_replicas_session_nobody_comes_back_for_ends_at_its_ttl_with_its_pod() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let (state, api_url, agent_port, _dir, agents) = rt.block_on(cluster());
    let mut gw = kube_gateway(
        "ttl_seconds = 3",
        &api_url,
        agent_port,
        &[("AIRLOCK_SERVER__INSTANCE_ID", "replica-1")],
    );
    let api = gw.api(&crate::harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(
        crate::harness::stdout_of(&api.run(&sid, "python", "print(1)")),
        "1\n"
    );
    gw.kill9();
    gw.respawn_with(&[("AIRLOCK_SERVER__INSTANCE_ID", "replica-2")]);
    // At start the new replica keeps the other replica's pod: its session is still active.
    assert_eq!(state.lock().map(|s| s.pods.len()).unwrap_or(0), 1);
    crate::harness::wait_until("the pod deleted", Duration::from_secs(30), || {
        state
            .lock()
            .is_ok_and(|s| s.pods.is_empty() && s.secrets.is_empty())
    });
    // The pod goes first, the record right after it: wait for the record too.
    let is_expiry =
        |e: &serde_json::Value| e["type"] == "session.expired" && e["subject"] == sid.as_str();
    crate::harness::wait_until("session.expired recorded", Duration::from_secs(30), || {
        crate::harness::audit_events(&gw.audit_file())
            .iter()
            .any(is_expiry)
    });
    let events = crate::harness::audit_events(&gw.audit_file());
    let expired = events
        .iter()
        .find(|e| is_expiry(e))
        .unwrap_or_else(|| panic!("no session.expired"));
    assert_eq!(expired["data"]["sandbox_destroyed"], true);
    assert!(events
        .iter()
        .any(|e| e["type"] == "session.adopted" && e["subject"] == sid.as_str()));
    let r = api.get(&format!("/v1/sessions/{sid}"));
    assert_eq!(r.body["status"], "expired", "{:?}", r.body);
    drop(gw);
    drop(agents);
}

/// Sandbox resources from the policy decision, and a warm pool per limits class: a group whose
/// profile lowers memory and CPU gets a pod sized so, from the `small` pool; another principal
/// claims from the default pool with the default resources.
#[test]
fn pod_resources_follow_the_decisions_obligations_and_pools_serve_each_limits_class() {
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let (state, api_url, agent_port, _dir, agents) = rt.block_on(cluster());
    let bundle_dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = crate::harness::bundle_copy(bundle_dir.path(), |d| {
        d["airlock"]["profiles"]["by_group"]["analysts"] = json!({
            "languages": ["python"], "max_timeout_seconds": 60, "max_code_bytes": 65536,
            "memory_mib": 256, "cpu_millis": 250
        });
    });
    let gw = kube_gateway(
        "",
        &api_url,
        agent_port,
        &[
            ("AIRLOCK_SANDBOX__KUBERNETES__POOL_SIZE", "1"),
            (
                "AIRLOCK_SANDBOX__KUBERNETES__POOLS",
                r#"[{name = "small", size = 1, memory_mib = 256, cpu_millis = 250}]"#,
            ),
            ("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str()),
        ],
    );
    let pod_of = |sid: &str| {
        let want = airlock_gateway_sandbox_kubernetes::label_value(sid);
        state.lock().ok().and_then(|s| {
            s.pods
                .iter()
                .find(|(_, p)| p["metadata"]["labels"]["airlock.dev/session"] == want.as_str())
                .map(|(n, p)| {
                    (
                        n.clone(),
                        p["spec"]["containers"][0]["resources"]["limits"].clone(),
                    )
                })
        })
    };
    let warm = |pool: &str| {
        state.lock().is_ok_and(|s| {
            s.pods.values().any(|p| {
                p["metadata"]["labels"]["airlock.dev/state"] == "warm"
                    && p["metadata"]["labels"]["airlock.dev/pool"] == pool
                    && p["status"]["phase"] == "Running"
            })
        })
    };
    crate::harness::wait_until("warm pods in both pools", Duration::from_secs(30), || {
        warm("default") && warm("small")
    });
    let analyst = gw.api(&crate::harness::token("alice-tool"));
    let sid = analyst.session();
    let (name, limits) = pod_of(&sid).unwrap_or_else(|| panic!("no pod for {sid}"));
    assert!(
        name.starts_with("sbx-pool-small-"),
        "claimed from the pool of its limits class: {name}"
    );
    assert_eq!(limits["memory"], "256Mi");
    assert_eq!(limits["cpu"], "250m");
    let s = analyst.get(&format!("/v1/sessions/{sid}")).body;
    assert_eq!(s["limits"]["memory_mib"], 256, "{s}");

    let other = gw.api(&crate::harness::token("steward-tool"));
    let sid = other.session();
    let (name, limits) = pod_of(&sid).unwrap_or_else(|| panic!("no pod for {sid}"));
    assert!(
        name.starts_with("sbx-pool-default-"),
        "claimed from the pool: {name}"
    );
    assert_eq!(
        limits["memory"], "512Mi",
        "the gateway's default (the tests' config)"
    );
    assert_eq!(
        crate::harness::stdout_of(&other.run(&sid, "python", "print(2 + 2)")),
        "4\n"
    );
    drop(gw);
    drop(agents);
}
