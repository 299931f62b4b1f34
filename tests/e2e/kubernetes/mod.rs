//! The Kubernetes backend against a fake API server at the HTTP level (tests/src/fake_kube.rs):
//! it records every request, keeps pods, Secrets and Leases in memory, streams watch events,
//! and serves status transitions: a pod is `Pending`, then what its name asks for (`pull-`:
//! ImagePullBackOff; `oom-`: OOMKilled; `evict-`: evicted; else running and ready, after its
//! readiness probe passes when a stand-in kubelet runs real agents).

use airlock_gateway_domain::Limits;
use airlock_gateway_sandbox_kubernetes::{PodFailure, PodManager, PodTemplate};
use airlock_tests::fake_kube::{self, State, NS};
use serde_json::json;
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

mod cluster;
mod gateway;
mod pool;
/// Waits (without blocking the runtime) until `f` holds, or panics with `what`.
pub(super) async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn manager() -> (PodManager, Arc<Mutex<State>>) {
    let state = fake_kube::state(Some("10.0.0.7"), None, false);
    let port = fake_kube::serve(state.clone()).await;
    let template = PodTemplate {
        name: "default".into(),
        namespace: NS.into(),
        image: "airlock-sandbox:test".into(),
        runtime_class: Some("gvisor".into()),
        labels: BTreeMap::new(),
        node_selector: BTreeMap::new(),
        user_namespace: true,
        agent_port: 7070,
    };
    let m = PodManager::connect(Some(&format!("http://127.0.0.1:{port}")), template)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (m, state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_pod_is_created_hardened_in_the_sandbox_namespace_and_becomes_ready() {
    let (m, state) = manager().await;
    m.create(
        "ok-1",
        Some("ses_a"),
        Some("acme"),
        &Limits::default(),
        "tok-123",
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let ip = m.wait_ready("ok-1", Duration::from_secs(5)).await;
    assert_eq!(ip, Ok("10.0.0.7".into()), "ready once the watch saw it run");
    let st = state.lock().unwrap_or_else(|e| e.into_inner());
    // The token goes in a Secret first; the pod mounts it (the watch's list and watch
    // requests aside).
    let writes: Vec<&(String, String)> = st.requests.iter().filter(|(m, _)| m != "GET").collect();
    assert_eq!(writes[0].0, "POST");
    let paths: Vec<&str> = writes
        .iter()
        .map(|(_, p)| p.split('?').next().unwrap_or(""))
        .collect();
    assert!(
        paths[0].ends_with("/secrets") && paths[1].ends_with("/pods"),
        "{paths:?}"
    );
    // base64 of "tok-123": the start-up token, which only lets the gateway claim the pod.
    assert_eq!(st.secrets["ok-1-token"]["data"]["token"], "dG9rLTEyMw==");
    let pod = &st.pods["ok-1"];
    let c = &pod["spec"]["containers"][0];
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod["metadata"]["labels"]["airlock.dev/tenant"], "acme");
    assert_eq!(pod["metadata"]["labels"]["airlock.dev/state"], "claimed");
    let args = c["args"].as_array().cloned().unwrap_or_default();
    assert!(args.contains(&json!("--claimable")), "{args:?}");
    assert_eq!(c["readinessProbe"]["tcpSocket"]["port"], 7070);
    assert_eq!(c["env"][0]["value"], "http://127.0.0.1:3128", "the relay");
    // Nothing outside the sandbox namespace, ever (watches included).
    let prefix = format!("/api/v1/namespaces/{NS}/");
    assert!(st.requests.iter().any(|(_, p)| p.contains("watch=true")));
    assert!(
        st.requests.iter().all(|(_, p)| p.starts_with(&prefix)),
        "{:?}",
        st.requests
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_failures_become_clear_errors() {
    let (m, state) = manager().await;
    for (name, want) in [
        ("pull-1", "image_pull"),
        ("oom-1", "oom_killed"),
        ("evict-1", "evicted"),
    ] {
        m.create(name, Some("ses_x"), None, &Limits::default(), "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let r = m.wait_ready(name, Duration::from_secs(5)).await;
        assert_eq!(
            r.as_ref().err().map(PodFailure::code),
            Some(want),
            "{name}: {r:?}"
        );
    }
    assert_eq!(
        m.wait_ready("never-created", Duration::from_secs(1)).await,
        Err(PodFailure::Timeout)
    );
    // A running pod that fails later: the watch turns it into the failure, no polling.
    for (name, change, want) in [
        ("ok-oom", Some(fake_kube::oom_killed()), "oom_killed"),
        ("ok-node", Some(fake_kube::node_lost()), "node_lost"),
        ("ok-gone", None, "pod_deleted"),
    ] {
        m.create(name, Some("ses_y"), None, &Limits::default(), "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(m.wait_ready(name, Duration::from_secs(5)).await.is_ok());
        assert_eq!(m.failure(name), None);
        match change {
            Some(status) => fake_kube::set_status(&state, name, status),
            None => fake_kube::vanish(&state, name),
        }
        eventually(name, || m.failure(name).map(|f| f.code()) == Some(want)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_pods_of_unknown_sessions_are_deleted_with_their_secrets() {
    let (m, state) = manager().await;
    for (pod, ses) in [
        ("ok-a", Some("ses_a")),
        ("ok-b", Some("ses_b")),
        ("ok-w", None),
    ] {
        m.create(pod, ses, None, &Limits::default(), "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(m.wait_ready(pod, Duration::from_secs(5)).await.is_ok());
    }
    let live: HashSet<String> = ["ses_a".to_owned()].into();
    let deleted = m
        .delete_orphans(&live)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deleted, ["ok-b"], "a warm pool pod is not an orphan");
    eventually("ok-b gone from the watch", || m.pod("ok-b").is_none()).await;
    let mut names: Vec<String> = m.pods().into_iter().map(|p| p.name).collect();
    names.sort();
    assert_eq!(names, ["ok-a", "ok-w"]);
    let (b_gone, a_kept) = {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        (
            !st.secrets.contains_key("ok-b-token"),
            st.secrets.contains_key("ok-a-token"),
        )
    };
    assert!(b_gone && a_kept);
    // Deleting again is fine (already gone).
    m.delete("ok-b").await.unwrap_or_else(|e| panic!("{e}"));
}
