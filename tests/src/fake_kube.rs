//! A fake Kubernetes API server at the HTTP level, for the Kubernetes backend's tests (no API
//! server can run on these machines; docs/kubernetes.md says what only a real cluster shows).
//!
//! What it serves, in the sandbox namespace only (anything else is 404, and recorded):
//! - pods: create, get, list and watch (label selectors; resource versions; `ADDED`,
//!   `MODIFIED`, `DELETED` events streamed as the API server does), JSON merge patch with a
//!   `resourceVersion` precondition (409 Conflict when it is stale), delete;
//! - secrets: create, get, merge patch, delete;
//! - `coordination.k8s.io/v1` leases: create, get, patch (server-side apply and strategic merge,
//!   with the field ownership of `spec.holderIdentity` that makes two managers' applies
//!   conflict).
//!
//! Pod status: a created pod is `Pending`; shortly after, the stand-in kubelet (`on_pod`) has
//! been called and the pod becomes what its name asks for (`pull-`: ImagePullBackOff; `oom-`:
//! OOMKilled; `evict-`: evicted; anything else: running and ready). Tests change a pod's status
//! later with `set_status` (an OOM kill, node loss) or remove it as a node would (`vanish`).

use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const NS: &str = "airlock-sandboxes";

/// The next loopback address for a pod (127.1.x.y), shared by every fake in the process.
static NEXT_POD_IP: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Called when a pod is created, with the pod, the Secret it mounts and the IP it will have (a
/// stand-in kubelet).
pub type OnPod = Box<dyn Fn(&Value, Option<&Value>, &str) + Send + Sync>;

#[derive(Default)]
pub struct State {
    /// (method, path and query) of every request, in order.
    pub requests: Vec<(String, String)>,
    pub pods: BTreeMap<String, Value>,
    pub secrets: BTreeMap<String, Value>,
    pub leases: BTreeMap<String, Value>,
    /// The IP every ready pod reports; None: each pod its own loopback address (127.1.x.y).
    pub pod_ip: Option<String>,
    pub on_pod: Option<OnPod>,
    /// Report a pod ready only once its readiness probe's TCP port answers at its IP (with a
    /// stand-in kubelet that starts real agents); otherwise ready shortly after creation.
    pub probe_readiness: bool,
    /// Field manager owning each lease's `spec.holderIdentity`.
    lease_holder_owner: HashMap<String, String>,
    rv: u64,
    /// Pod events (resource version, type, object) for watches.
    events: Vec<(u64, &'static str, Value)>,
    notify: Arc<tokio::sync::Notify>,
}

impl State {
    fn bump(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn pod_event(&mut self, kind: &'static str, name: &str) {
        let rv = self.bump();
        let Some(pod) = self.pods.get_mut(name) else {
            return;
        };
        pod["metadata"]["resourceVersion"] = json!(rv);
        let obj = pod.clone();
        self.events.push((self.rv, kind, obj));
        self.notify.notify_waiters();
    }

    /// How many requests matched `method` and a path containing `needle`.
    pub fn count(&self, method: &str, needle: &str) -> usize {
        self.requests
            .iter()
            .filter(|(m, p)| m == method && p.contains(needle))
            .count()
    }
}

/// The fake's state, shared with the test.
pub type Shared = Arc<Mutex<State>>;

/// A fresh fake: `pod_ip` for every pod (None: one loopback address each), a stand-in kubelet,
/// and whether readiness waits for the pod's probe port.
pub fn state(pod_ip: Option<&str>, on_pod: Option<OnPod>, probe_readiness: bool) -> Shared {
    Arc::new(Mutex::new(State {
        pod_ip: pod_ip.map(str::to_owned),
        on_pod,
        probe_readiness,
        ..Default::default()
    }))
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets a pod's status (a watch sees `MODIFIED`).
pub fn set_status(state: &Shared, name: &str, status: Value) {
    let mut st = lock(state);
    if let Some(p) = st.pods.get_mut(name) {
        p["status"] = status;
        st.pod_event("MODIFIED", name);
    }
}

/// Removes a pod as a lost node's pods are removed (a watch sees `DELETED`).
pub fn vanish(state: &Shared, name: &str) {
    let mut st = lock(state);
    st.pod_event("DELETED", name);
    st.pods.remove(name);
}

pub fn running(ip: &str) -> Value {
    json!({"phase": "Running", "podIP": ip, "containerStatuses": [{"name": "sandbox", "ready": true, "restartCount": 0, "image": "i", "imageID": "", "state": {"running": {}}}]})
}

pub fn oom_killed() -> Value {
    json!({"phase": "Failed", "containerStatuses": [{"name": "sandbox", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}]})
}

pub fn node_lost() -> Value {
    json!({"phase": "Unknown", "reason": "NodeLost", "message": "Node node-3 which was running pod is unresponsive"})
}

fn status_for(name: &str, ip: &str) -> Value {
    let waiting = |reason: &str| json!({"phase": "Pending", "containerStatuses": [{"name": "sandbox", "ready": false, "restartCount": 0, "image": "i", "imageID": "", "state": {"waiting": {"reason": reason, "message": "back-off pulling image"}}}]});
    match name.split('-').next().unwrap_or("") {
        "pull" => waiting("ImagePullBackOff"),
        "oom" => oom_killed(),
        "evict" => {
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."})
        }
        _ => running(ip),
    }
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
    )
}

fn not_found() -> (u16, Value) {
    status(404, "NotFound", "not found")
}

/// RFC 7386 JSON merge patch (also what a strategic merge patch does to the scalar fields the
/// backend and the lease manager send).
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Equality-based label selectors: `k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated.
fn selects(selector: &str, obj: &Value) -> bool {
    let labels = &obj["metadata"]["labels"];
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k].as_str() != Some(v)
        } else if let Some((k, v)) = term.split_once('=') {
            labels[k].as_str() == Some(v.trim_start_matches('='))
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k).is_none()
        } else {
            labels.get(term).is_some()
        }
    })
}

fn query(target: &str, key: &str) -> Option<String> {
    let q = target.split_once('?')?.1;
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| {
            v.replace("%3D", "=")
                .replace("%2C", ",")
                .replace("%21", "!")
                .replace("%2F", "/")
                .replace('+', " ")
        })
    })
}

enum Reply {
    Full(u16, Value),
    Watch { since: u64, selector: String },
}

fn handle(state: &Shared, method: &str, target: &str, content_type: &str, body: &[u8]) -> Reply {
    let mut st = lock(state);
    st.requests.push((method.to_owned(), target.to_owned()));
    let path = target.split('?').next().unwrap_or("");
    let core = format!("/api/v1/namespaces/{NS}/");
    let leases = format!("/apis/coordination.k8s.io/v1/namespaces/{NS}/");
    let rest = if let Some(r) = path.strip_prefix(&core) {
        r
    } else if let Some(r) = path.strip_prefix(&leases) {
        r
    } else {
        let (c, v) = not_found();
        return Reply::Full(c, v);
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let obj: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let selector = query(target, "labelSelector").unwrap_or_default();
    let (code, value) = match (method, parts.as_slice()) {
        ("POST", ["secrets"]) => {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
            if st.secrets.contains_key(&name) {
                status(409, "AlreadyExists", "secret exists")
            } else {
                // As the API server does: stringData is written into data, base64.
                let mut obj = obj.clone();
                if let Some(sd) = obj.get("stringData").cloned() {
                    use base64::Engine;
                    let data: serde_json::Map<String, Value> = sd
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| {
                            let b = base64::engine::general_purpose::STANDARD
                                .encode(v.as_str().unwrap_or(""));
                            (k.clone(), json!(b))
                        })
                        .collect();
                    obj["data"] = Value::Object(data);
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("stringData");
                    }
                }
                obj["metadata"]["resourceVersion"] = json!(st.bump());
                st.secrets.insert(name, obj.clone());
                (201, obj)
            }
        }
        ("GET", ["secrets", name]) => match st.secrets.get(*name) {
            Some(s) => (200, s.clone()),
            None => not_found(),
        },
        ("PATCH", ["secrets", name]) => {
            let rv = st.bump();
            match st.secrets.get_mut(*name) {
                Some(s) => {
                    merge(s, &obj);
                    s["metadata"]["resourceVersion"] = json!(rv);
                    (200, s.clone())
                }
                None => not_found(),
            }
        }
        ("POST", ["pods"]) => {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
            if st.pods.contains_key(&name) {
                status(409, "AlreadyExists", "pod exists")
            } else {
                let mut pod = obj.clone();
                pod["metadata"]["uid"] = json!(format!("uid-{name}"));
                pod["status"] = json!({"phase": "Pending"});
                st.pods.insert(name.clone(), pod.clone());
                st.pod_event("ADDED", &name);
                // Unique in the whole test process: fakes of tests running side by side must
                // not hand out the same address (each stand-in pod binds its relay port there).
                let n = NEXT_POD_IP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let ip = st
                    .pod_ip
                    .clone()
                    .unwrap_or_else(|| format!("127.1.{}.{}", (n / 250) % 250, n % 250 + 1));
                let secret = obj["spec"]["volumes"]
                    .as_array()
                    .and_then(|v| v.iter().find_map(|v| v["secret"]["secretName"].as_str()))
                    .and_then(|s| st.secrets.get(s));
                if let Some(kubelet) = &st.on_pod {
                    kubelet(&obj, secret, &ip);
                }
                // The kubelet reports back a moment later (after the readiness probe passes,
                // when asked to probe).
                let probe_port = obj["spec"]["containers"][0]["readinessProbe"]["tcpSocket"]
                    ["port"]
                    .as_u64()
                    .filter(|_| st.probe_readiness);
                let (state, n) = (state.clone(), name.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    if let Some(port) = probe_port {
                        for _ in 0..1200 {
                            if tokio::net::TcpStream::connect((ip.as_str(), port as u16))
                                .await
                                .is_ok()
                            {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                    set_status(&state, &n, status_for(&n, &ip));
                });
                let created = st.pods.get(&name).cloned().unwrap_or(Value::Null);
                (201, created)
            }
        }
        ("GET", ["pods"]) if query(target, "watch").is_some_and(|w| w == "true" || w == "1") => {
            let since = query(target, "resourceVersion")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            return Reply::Watch { since, selector };
        }
        ("GET", ["pods"]) => {
            let items: Vec<Value> = st
                .pods
                .values()
                .filter(|p| selects(&selector, p))
                .cloned()
                .collect();
            (
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": st.rv.to_string()}, "items": items}),
            )
        }
        ("GET", ["pods", name]) => match st.pods.get(*name) {
            Some(p) => (200, p.clone()),
            None => not_found(),
        },
        ("PATCH", ["pods", name]) => {
            let Some(current) = st.pods.get(*name) else {
                let (c, v) = not_found();
                return Reply::Full(c, v);
            };
            let want = obj["metadata"]["resourceVersion"].as_str();
            if want.is_some() && want != current["metadata"]["resourceVersion"].as_str() {
                status(409, "Conflict", "the object has been modified")
            } else {
                let mut patch = obj.clone();
                if let Some(m) = patch["metadata"].as_object_mut() {
                    m.remove("resourceVersion");
                }
                if let Some(p) = st.pods.get_mut(*name) {
                    merge(p, &patch);
                }
                st.pod_event("MODIFIED", name);
                (200, st.pods.get(*name).cloned().unwrap_or(Value::Null))
            }
        }
        ("DELETE", ["pods", name]) => {
            if st.pods.contains_key(*name) {
                st.pod_event("DELETED", name);
                let p = st.pods.remove(*name).unwrap_or(Value::Null);
                (200, p)
            } else {
                not_found()
            }
        }
        ("DELETE", ["secrets", name]) => match st.secrets.remove(*name) {
            Some(s) => (200, s),
            None => not_found(),
        },
        ("GET", ["leases", name]) => match st.leases.get(*name) {
            Some(l) => (200, l.clone()),
            None => not_found(),
        },
        ("POST", ["leases"]) => {
            let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
            if st.leases.contains_key(&name) {
                status(409, "AlreadyExists", "lease exists")
            } else {
                let mut l = obj.clone();
                l["metadata"]["resourceVersion"] = json!(st.bump());
                st.leases.insert(name, l.clone());
                (201, l)
            }
        }
        ("PATCH", ["leases", name]) => {
            let manager = query(target, "fieldManager").unwrap_or_default();
            let apply = content_type.starts_with("application/apply-patch");
            let Some(current) = st.leases.get(*name).cloned() else {
                let (c, v) = not_found();
                return Reply::Full(c, v);
            };
            let held = current["spec"]["holderIdentity"]
                .as_str()
                .map(str::to_owned);
            let owner = st.lease_holder_owner.get(*name).cloned();
            let wanted = &obj["spec"]["holderIdentity"];
            // Server-side apply: setting a field another manager owns to a different value
            // conflicts (unless forced).
            let conflict = apply
                && wanted.is_string()
                && held.is_some()
                && wanted.as_str() != held.as_deref()
                && owner.as_deref().is_some_and(|o| o != manager)
                && query(target, "force").as_deref() != Some("true");
            if conflict {
                status(
                    409,
                    "Conflict",
                    "Apply failed with 1 conflict: conflict with \"other\": .spec.holderIdentity",
                )
            } else {
                match wanted {
                    Value::Null if obj["spec"].get("holderIdentity").is_some() => {
                        st.lease_holder_owner.remove(*name);
                    }
                    Value::String(_) => {
                        st.lease_holder_owner.insert((*name).to_owned(), manager);
                    }
                    _ => {}
                }
                let rv = st.bump();
                let l = st.leases.entry((*name).to_owned()).or_insert(current);
                let mut patch = obj.clone();
                if let Some(m) = patch.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
                merge(l, &patch);
                l["metadata"]["resourceVersion"] = json!(rv);
                (200, l.clone())
            }
        }
        _ => not_found(),
    };
    Reply::Full(code, value)
}

async fn write_full(sock: &mut tokio::net::TcpStream, code: u16, body: &Value) {
    let text = body.to_string();
    let resp = format!("HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len());
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// Streams pod events after `since` matching `selector`, as chunked JSON lines, until the
/// client goes away.
async fn stream_watch(state: Shared, sock: &mut tokio::net::TcpStream, since: u64, selector: &str) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let mut seen = since;
    loop {
        let notify = lock(&state).notify.clone();
        let notified = notify.notified();
        let batch: Vec<(u64, &'static str, Value)> = {
            let st = lock(&state);
            let b = st
                .events
                .iter()
                .filter(|(rv, _, o)| *rv > seen && selects(selector, o))
                .cloned()
                .collect();
            seen = st.rv.max(seen);
            b
        };
        for (_, kind, obj) in batch {
            let line = json!({"type": kind, "object": obj}).to_string() + "\n";
            let chunk = format!("{:x}\r\n{line}\r\n", line.len());
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
        // Wake on the next event; also check now and then whether the client left.
        tokio::select! {
            () = notified => {}
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                let mut probe = [0u8; 1];
                if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(1), sock.peek(&mut probe)).await {
                    return;
                }
            }
        }
    }
}

/// Serves on 127.0.0.1; returns the port.
pub async fn serve(state: Shared) -> u16 {
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
                let header = |name: &str| {
                    head.lines().find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                };
                let len = header("content-length")
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let content_type = header("content-type").unwrap_or_default();
                while buf.len() < head_end + len {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let mut first = head.lines().next().unwrap_or("").split_whitespace();
                let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
                let body = &buf[head_end..head_end + len.min(buf.len() - head_end)];
                match handle(&state, method, target, &content_type, body) {
                    Reply::Full(code, value) => write_full(&mut sock, code, &value).await,
                    Reply::Watch { since, selector } => {
                        stream_watch(state, &mut sock, since, &selector).await
                    }
                }
            });
        }
    });
    port
}
