//! A fake Kubernetes API server at the HTTP level, for the Kubernetes backend's tests (no API
//! server can run on these machines; docs/kubernetes.md says what only a real cluster shows). The fake records every
//! request, keeps pods and secrets in memory, and serves status transitions: a pod is
//! `Pending` on its first read, then what its name asks for (`ok-`: running and ready; `pull-`:
//! ImagePullBackOff; `oom-`: OOMKilled; `evict-`: evicted).

use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const NS: &str = "airlock-sandboxes";

/// Called when a pod is created, with the pod and the Secret it mounts (a stand-in kubelet).
pub type OnPod = Box<dyn Fn(&Value, Option<&Value>) + Send + Sync>;

#[derive(Default)]
pub struct State {
    pub requests: Vec<(String, String)>,
    pub pods: BTreeMap<String, Value>,
    pub secrets: BTreeMap<String, Value>,
    pub reads: HashMap<String, u32>,
    /// The IP ready pods report.
    pub pod_ip: Option<String>,
    pub on_pod: Option<OnPod>,
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404}),
    )
}

fn status_for(name: &str, reads: u32, ip: &str) -> Value {
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
            json!({"phase": "Running", "podIP": ip, "containerStatuses": [{"name": "sandbox", "ready": true, "restartCount": 0, "image": "i", "imageID": "", "state": {"running": {}}}]})
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
            let secret = obj["spec"]["volumes"]
                .as_array()
                .and_then(|v| v.iter().find_map(|v| v["secret"]["secretName"].as_str()))
                .and_then(|s| st.secrets.get(s));
            if let Some(hook) = &st.on_pod {
                hook(&obj, secret);
            }
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
            let ip = st.pod_ip.clone().unwrap_or_else(|| "10.0.0.7".into());
            pod["status"] = status_for(name, reads, &ip);
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

/// Serves on 127.0.0.1; returns the port.
pub async fn serve(state: Arc<Mutex<State>>) -> u16 {
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
