//! The pod manager against a fake Kubernetes API server at the HTTP level (no API server can
//! run on these machines; docs say what only a real cluster shows). The fake records every
//! request, keeps pods and secrets in memory, and serves status transitions: a pod is
//! `Pending` on its first read, then what its name asks for (`ok-`: running and ready; `pull-`:
//! ImagePullBackOff; `oom-`: OOMKilled; `evict-`: evicted).

use airlock_gateway_domain::Limits;
use airlock_gateway_sandbox_kubernetes::{PodFailure, PodManager, PodTemplate};
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "airlock-sandboxes";

#[derive(Default)]
struct State {
    requests: Vec<(String, String)>,
    pods: BTreeMap<String, Value>,
    secrets: BTreeMap<String, Value>,
    reads: HashMap<String, u32>,
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404}),
    )
}

fn status_for(name: &str, reads: u32) -> Value {
    if reads <= 1 {
        return json!({"phase": "Pending"});
    }
    let waiting = |reason: &str| json!({"phase": "Pending", "containerStatuses": [{"name": "sandbox", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"waiting": {"reason": reason, "message": "back-off pulling image"}}}]});
    match name.split('-').next().unwrap_or("") {
        "pull" => waiting("ImagePullBackOff"),
        "oom" => {
            json!({"phase": "Failed", "containerStatuses": [{"name": "sandbox", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]})
        }
        "evict" => {
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."})
        }
        _ => {
            json!({"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [{"name": "sandbox", "ready": true, "restartCount": 0, "image": "i", "imageID": "", "state": {"running": {}}}]})
        }
    }
}

fn handle(state: &Mutex<State>, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.requests.push((method.to_owned(), target.to_owned()));
    let path = target.split('?').next().unwrap_or("");
    let prefix = format!("/api/v1/namespaces/{NS}/");
    let Some(rest) = path.strip_prefix(&prefix) else {
        return not_found();
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let obj: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (method, parts.as_slice()) {
        ("POST", ["secrets"]) => {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            st.secrets.insert(name, obj.clone());
            (201, obj)
        }
        ("POST", ["pods"]) => {
            let name = obj["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            st.pods.insert(name, obj.clone());
            (201, obj)
        }
        ("GET", ["pods"]) => {
            let items: Vec<Value> = st.pods.values().cloned().collect();
            (
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "1"}, "items": items}),
            )
        }
        ("GET", ["pods", name]) => {
            let Some(mut pod) = st.pods.get(*name).cloned() else {
                return not_found();
            };
            let reads = {
                let r = st.reads.entry((*name).to_owned()).or_default();
                *r += 1;
                *r
            };
            pod["status"] = status_for(name, reads);
            (200, pod)
        }
        ("DELETE", ["pods", name]) => match st.pods.remove(*name) {
            Some(p) => (200, p),
            None => not_found(),
        },
        ("DELETE", ["secrets", name]) => match st.secrets.remove(*name) {
            Some(s) => (200, s),
            None => not_found(),
        },
        _ => not_found(),
    }
}

async fn serve(state: Arc<Mutex<State>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let len = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + len {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let mut first = head.lines().next().unwrap_or("").split_whitespace();
                let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                let (code, body) = handle(
                    &state,
                    method,
                    target,
                    &buf[head_end..head_end + len.min(buf.len() - head_end)],
                );
                let text = body.to_string();
                let resp = format!("HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    port
}

async fn manager() -> (PodManager, Arc<Mutex<State>>) {
    let state = Arc::new(Mutex::new(State::default()));
    let port = serve(state.clone()).await;
    let url: http::Uri = format!("http://127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let client = kube::Client::try_from(kube::Config::new(url)).unwrap_or_else(|e| panic!("{e}"));
    let template = PodTemplate {
        name: "default".into(),
        namespace: NS.into(),
        image: "airlock-sandbox:test".into(),
        runtime_class: Some("gvisor".into()),
        labels: BTreeMap::new(),
        node_selector: BTreeMap::new(),
        user_namespace: true,
    };
    (PodManager::new(client, template), state)
}

#[tokio::test]
async fn a_session_pod_is_created_hardened_in_the_sandbox_namespace_and_becomes_ready() {
    let (m, state) = manager().await;
    m.create("ok-1", "ses_a", Some("acme"), &Limits::default(), "tok-123")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ip = m.wait_ready("ok-1", Duration::from_secs(5)).await;
    assert_eq!(ip, Ok("10.0.0.7".into()), "ready after the Pending read");
    let st = state.lock().unwrap_or_else(|e| e.into_inner());
    // The token goes in a Secret first; the pod mounts it.
    assert_eq!(st.requests[0].0, "POST");
    let paths: Vec<&str> = st
        .requests
        .iter()
        .map(|(_, p)| p.split('?').next().unwrap_or(""))
        .collect();
    assert!(
        paths[0].ends_with("/secrets") && paths[1].ends_with("/pods"),
        "{paths:?}"
    );
    assert_eq!(st.secrets["ok-1-token"]["stringData"]["token"], "tok-123");
    let pod = &st.pods["ok-1"];
    let c = &pod["spec"]["containers"][0];
    assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(pod["metadata"]["labels"]["airlock.dev/tenant"], "acme");
    // Nothing outside the sandbox namespace, ever.
    let prefix = format!("/api/v1/namespaces/{NS}/");
    assert!(
        st.requests.iter().all(|(_, p)| p.starts_with(&prefix)),
        "{:?}",
        st.requests
    );
}

#[tokio::test]
async fn pod_failures_become_clear_errors() {
    let (m, _state) = manager().await;
    for (name, want) in [
        ("pull-1", "ImagePull"),
        ("oom-1", "OutOfMemory"),
        ("evict-1", "Evicted"),
    ] {
        m.create(name, "ses_x", None, &Limits::default(), "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let r = m.wait_ready(name, Duration::from_secs(5)).await;
        let got = format!("{:?}", r.err());
        assert!(got.contains(want), "{name}: {got}");
    }
    assert_eq!(
        m.wait_ready("never-created", Duration::from_secs(1)).await,
        Err(PodFailure::Deleted)
    );
}

#[tokio::test]
async fn after_a_restart_pods_of_unknown_sessions_are_deleted_with_their_secrets() {
    let (m, state) = manager().await;
    for (pod, ses) in [("ok-a", "ses_a"), ("ok-b", "ses_b")] {
        m.create(pod, ses, None, &Limits::default(), "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let live: HashSet<String> = ["ses_a".to_owned()].into();
    let deleted = m
        .delete_orphans(&live)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(deleted, ["ok-b"]);
    let names: Vec<String> = m
        .list()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["ok-a"]);
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
