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

/// Waits (without blocking the runtime) until `f` holds, or panics with `what`.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
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

/// Five free loopback ports in a row for one host-run agent's kernel (in a pod the kernel has
/// its own loopback; on the test host each stand-in pod needs its own range). Handed out from
/// one counter in this process, so agents of tests running side by side never share a range.
/// The ranges lie below the kernel's ephemeral port range: the kernel binds them a second or
/// more after this check, and a port from the ephemeral range can be taken in between by any
/// outgoing connection of the busy test machine (seen in CI: the agent never became ready).
fn kernel_port_base() -> u16 {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(20_000);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32_768u16);
    loop {
        let p = NEXT.fetch_add(5, std::sync::atomic::Ordering::Relaxed);
        assert!(p + 5 <= ephemeral_low, "out of kernel port ranges");
        if (0..5).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
    }
}

/// Kills the agent's process group and its kernel (which the agent starts in a session of its
/// own, found by its runtime directory) when dropped. In a pod the container's end does this.
struct GroupKill(std::process::Child, std::path::PathBuf);

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = self.0.wait();
        let _ = std::process::Command::new("pkill")
            .args(["-9", "-f"])
            .arg(self.1.join("kernel.json"))
            .status();
    }
}

type Agents = Arc<Mutex<Vec<GroupKill>>>;

/// A stand-in kubelet: when a pod is created, the real `airlock-agent` starts at the pod's own
/// loopback IP (127.1.x.y) with the start-up token from the pod's Secret, `--claimable` as the
/// pod's arguments say, its relay at the pod IP's port 3128 and the pod's proxy variables
/// pointing there (a pod's 127.0.0.1 is its own; the host's is shared).
fn kubelet(dir: Arc<tempfile::TempDir>, agent_port: u16, agents: Agents) -> fake_kube::OnPod {
    let agent_bin = crate::harness::bin_dir().join("airlock-agent");
    assert!(agent_bin.exists(), "build the binaries first");
    Box::new(move |pod, secret, ip| {
        use base64::Engine;
        let name = pod["metadata"]["name"].as_str().unwrap_or("pod");
        let token = secret
            .and_then(|s| s["data"]["token"].as_str())
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .unwrap_or_default();
        let d = dir.path().join(name);
        let ws = d.join("workspace");
        std::fs::create_dir_all(&ws).unwrap_or_else(|e| panic!("{e}"));
        let token_file = d.join("token");
        std::fs::write(&token_file, token).unwrap_or_else(|e| panic!("{e}"));
        let args: Vec<String> = pod["spec"]["containers"][0]["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        let proxy = format!("http://{ip}:3128");
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(&agent_bin);
        cmd.process_group(0)
            .args(["--listen", &format!("tcp:{ip}:{agent_port}")])
            .arg("--token-file")
            .arg(&token_file)
            .args(args.iter().filter(|a| *a == "--claimable"))
            .arg("--workspace")
            .arg(&ws)
            .arg("--runtime-dir")
            .arg(d.join("kernel"))
            .args(["--kernel-port-base", &kernel_port_base().to_string()])
            .args(["--egress-listen", &format!("{ip}:3128")])
            .env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("HTTPS_PROXY", &proxy)
            .env("https_proxy", &proxy)
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(d.join("agent.log"))
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            );
        let child = cmd.spawn().unwrap_or_else(|e| panic!("{e}"));
        agents
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(GroupKill(child, d.join("kernel")));
    })
}

/// A fake API server whose pods run real agents.
async fn cluster() -> (
    fake_kube::Shared,
    String,
    u16,
    Arc<tempfile::TempDir>,
    Agents,
) {
    let agent_port = crate::harness::free_port();
    let dir = Arc::new(tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")));
    let agents: Agents = Arc::default();
    let state = fake_kube::state(
        None,
        Some(kubelet(dir.clone(), agent_port, agents.clone())),
        true,
    );
    let port = fake_kube::serve(state.clone()).await;
    (
        state,
        format!("http://127.0.0.1:{port}"),
        agent_port,
        dir,
        agents,
    )
}

/// The gateway binary with the Kubernetes backend against the fake API server, plus `env`.
fn kube_gateway(
    extra: &str,
    api_url: &str,
    agent_port: u16,
    env: &[(&str, &str)],
) -> crate::harness::Gateway {
    let agent_port = agent_port.to_string();
    let mut all = vec![
        ("AIRLOCK_SANDBOX__BACKEND", "kubernetes"),
        ("AIRLOCK_SANDBOX__KUBERNETES__API_URL", api_url),
        (
            "AIRLOCK_SANDBOX__KUBERNETES__AGENT_PORT",
            agent_port.as_str(),
        ),
    ];
    all.extend_from_slice(env);
    crate::harness::Gateway::start_opts(extra, &all)
}

fn template(agent_port: u16) -> PodTemplate {
    PodTemplate {
        name: "default".into(),
        namespace: NS.into(),
        image: "airlock-sandbox:test".into(),
        runtime_class: None,
        labels: BTreeMap::new(),
        node_selector: BTreeMap::new(),
        user_namespace: true,
        agent_port,
    }
}

async fn backend(
    api: &str,
    agent_port: u16,
    identity: &str,
    pool_size: usize,
    egress: Option<Arc<airlock_gateway_egress::EgressHub>>,
) -> airlock_gateway_sandbox_kubernetes::KubernetesBackend {
    use airlock_gateway_sandbox_kubernetes::{KubernetesBackend, KubernetesOptions, PoolSettings};
    let manager = PodManager::connect(Some(api), template(agent_port))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    KubernetesBackend::start(
        manager,
        KubernetesOptions {
            start_timeout: Duration::from_secs(60),
            pools: (pool_size > 0)
                .then(|| PoolSettings {
                    name: "default".into(),
                    size: pool_size,
                    identity: identity.into(),
                    lease_name: "airlock-sandbox-pool".into(),
                    // Renewed a third of this before it ends: room for a loaded CI machine.
                    lease_seconds: 6,
                    limits: Limits::default(),
                })
                .into_iter()
                .collect(),
            egress,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

fn job(
    code: &str,
    egress: Option<airlock_gateway_domain::egress::EgressGrant>,
) -> airlock_gateway_domain::ports::SandboxJob {
    airlock_gateway_domain::ports::SandboxJob {
        execution_id: airlock_gateway_domain::IdGenerator::execution_id(
            &airlock_gateway_domain::SystemIds,
        ),
        language: airlock_gateway_domain::Language::Python,
        code: code.into(),
        timeout: Duration::from_secs(30),
        output_limit: 1 << 20,
        egress,
        packages: vec![],
        denied_imports: vec![],
        observer: None,
        cancel: Default::default(),
        egress_log: Default::default(),
    }
}

/// One plain-HTTP upstream on 127.0.0.1 that answers every request with `body`.
async fn upstream(body: &'static str) -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
        }
    });
    port
}

/// The backend end to end with a warm pool: pool pods start with no session, tenant or usable
/// token; a session claims one (no cold pod is created for it) and the pool refills; code runs
/// in it over TCP; its egress goes through this replica's egress port under the execution's
/// grant; another replica (or this one after a restart) re-attaches to the session with its
/// kernel state intact; destroying deletes the pod and both Secrets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_claims_a_warm_pod_runs_code_with_governed_egress_and_survives_a_replica_change()
{
    use airlock_gateway_domain::{
        egress::EgressGrant,
        ports::{SandboxBackend, SandboxSpec},
        IdGenerator, SystemIds,
    };
    let (state, api, agent_port, dir, agents) = cluster().await;
    let allowed = upstream("hello from allowed").await;
    let denied = upstream("should never be seen").await;
    let hub = airlock_gateway_egress::EgressHub::bind(
        "127.0.0.1:0",
        None,
        airlock_gateway_egress::ProxyConfig {
            overrides: [
                ("allowed.test".to_owned(), [127, 0, 0, 1].into()),
                ("denied.test".to_owned(), [127, 0, 0, 1].into()),
            ]
            .into(),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let a = backend(&api, agent_port, "replica-a", 2, Some(hub.clone())).await;
    let pool_ready = || a.pool().map_or(0, |p| p.ready_count());
    eventually("two warm pods", || pool_ready() == 2).await;
    {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        for pod in st.pods.values() {
            let labels = &pod["metadata"]["labels"];
            assert_eq!(labels["airlock.dev/state"], "warm");
            assert!(labels.get("airlock.dev/session").is_none(), "{labels}");
            assert!(labels.get("airlock.dev/tenant").is_none(), "{labels}");
        }
        assert_eq!(
            st.leases["airlock-sandbox-pool"]["spec"]["holderIdentity"],
            "replica-a"
        );
    }
    // A warm pod's start-up token answers a ping but runs nothing and reads no file.
    {
        let (name, ip) = warm_pod(&state);
        let agent = airlock_gateway_agent_client::AgentClient::new(
            airlock_gateway_agent_client::AgentAddr::Tcp(
                format!("{ip}:{agent_port}")
                    .parse()
                    .unwrap_or_else(|e| panic!("{e}")),
            ),
            startup_token(&state, &name),
        );
        assert_eq!(agent.ping().await.ok(), Some(true));
        let refused = agent.list_files().await.err().map(|e| e.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("not been claimed")),
            "{refused:?}"
        );
    }
    let posts_before = state.lock().map(|s| s.count("POST", "/pods")).unwrap_or(0);
    let session = SystemIds.session_id();
    let sandbox = a
        .create(SandboxSpec {
            session_id: session.clone(),
            limits: Limits::default(),
            tenant: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pod = a.pool().map(|_| ()).and_then(|()| {
        let st = state.lock().ok()?;
        st.pods
            .iter()
            .find(|(_, p)| p["metadata"]["labels"]["airlock.dev/state"] == "claimed")
            .map(|(n, _)| n.clone())
    });
    let pod = pod.unwrap_or_else(|| panic!("no claimed pod"));
    assert!(
        pod.starts_with("sbx-pool-default-"),
        "claimed from the pool: {pod}"
    );
    assert!(
        sandbox.prestarted(),
        "a claimed pod says it was started ahead"
    );
    // The start-up token no longer works; it never could run code.
    let startup = startup_token(&state, &pod);
    let ip = state
        .lock()
        .map(|s| {
            s.pods[&pod]["status"]["podIP"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let stale = airlock_gateway_agent_client::AgentClient::new(
        airlock_gateway_agent_client::AgentAddr::Tcp(
            format!("{ip}:{agent_port}")
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        startup,
    );
    assert!(
        stale.list_files().await.is_err(),
        "the start-up token is dead after the claim"
    );

    let code = format!(
        "import urllib.request\nx = 41\nprint(urllib.request.urlopen('http://allowed.test:{allowed}/').read().decode())\n\
         try:\n    urllib.request.urlopen('http://denied.test:{denied}/')\nexcept Exception as e:\n    print('refused', getattr(e, 'code', e))\n"
    );
    let grant = EgressGrant {
        hosts: vec![format!("allowed.test:{allowed}")],
        http_methods: vec!["GET".into()],
        packages: vec![],
        package_hashes: Default::default(),
        decision_id: "dec_k8s".into(),
    };
    let j = job(&code, Some(grant));
    let log = j.egress_log.clone();
    let out = sandbox.run(j).await.unwrap_or_else(|e| {
        panic!(
            "{e}: {}",
            std::fs::read_to_string(dir.path().join(&pod).join("agent.log")).unwrap_or_default()
        )
    });
    assert!(out.stdout.contains("hello from allowed"), "{out:?}");
    assert!(out.stdout.contains("refused 403"), "{out:?}");
    assert!(!out.stdout.contains("should never be seen"));
    // Recorded as each connection ends (in any order).
    let egress = log.take();
    let mut recs: Vec<(String, bool)> = egress
        .iter()
        .map(|r| (r.host.clone(), r.admitted))
        .collect();
    recs.sort();
    assert_eq!(
        recs,
        [
            ("allowed.test".to_owned(), true),
            ("denied.test".to_owned(), false)
        ]
    );
    assert!(egress
        .iter()
        .all(|r| r.decision_id.as_deref() == Some("dec_k8s")));
    // Between executions the relay has no route at all.
    let out = sandbox
        .run(job(&format!("import urllib.request\ntry:\n    urllib.request.urlopen('http://allowed.test:{allowed}/')\nexcept Exception as e:\n    print('refused', getattr(e, 'code', e))\n"), None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.stdout.contains("refused 403"),
        "no grant, no egress: {out:?}"
    );

    // The pool refills to two warm pods (one more pod created, none for the session itself).
    eventually("the pool refilled", || pool_ready() == 2).await;
    let posts_after = state.lock().map(|s| s.count("POST", "/pods")).unwrap_or(0);
    assert_eq!(posts_after - posts_before, 1, "one refill, no cold pod");

    // Another replica serves the same session: it re-attaches to the pod, the kernel's
    // variables are still there.
    let b = backend(&api, agent_port, "replica-b", 0, None).await;
    let adopted = b
        .adopt(&session)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("replica b found no sandbox for the session"));
    let out = adopted
        .run(job("print(x + 1)", None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout, "42\n");
    assert!(b
        .adopt(&SystemIds.session_id())
        .await
        .ok()
        .flatten()
        .is_none());

    sandbox.destroy().await.unwrap_or_else(|e| panic!("{e}"));
    let (has_pod, secrets) = state
        .lock()
        .map(|s| {
            (
                s.pods.contains_key(&pod),
                s.secrets.keys().filter(|k| k.starts_with(&pod)).count(),
            )
        })
        .unwrap_or((true, 9));
    assert_eq!(
        (has_pod, secrets),
        (false, 0),
        "pod, start-up and session Secrets deleted"
    );
    eventually("the watch saw the pod go", || adopted_dead(&*sandbox)).await;
    drop((a, b));
    drop(agents);
}

/// A ready warm pod's name and IP.
fn warm_pod(state: &fake_kube::Shared) -> (String, String) {
    let st = state.lock().unwrap_or_else(|e| e.into_inner());
    st.pods
        .iter()
        .find(|(_, p)| {
            p["metadata"]["labels"]["airlock.dev/state"] == "warm"
                && p["status"]["phase"] == "Running"
        })
        .map(|(n, p)| {
            (
                n.clone(),
                p["status"]["podIP"].as_str().unwrap_or("").to_owned(),
            )
        })
        .unwrap_or_else(|| panic!("no ready warm pod"))
}

/// The start-up token in a pod's Secret.
fn startup_token(state: &fake_kube::Shared, pod: &str) -> String {
    use base64::Engine;
    let st = state.lock().unwrap_or_else(|e| e.into_inner());
    let t = st.secrets[&format!("{pod}-token")]["data"]["token"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .unwrap_or_default(),
    )
    .unwrap_or_default()
}

fn adopted_dead(s: &dyn airlock_gateway_domain::ports::Sandbox) -> bool {
    futures_lite(s.alive()) == Some(false)
}

/// Polls a future once (the sandbox's `alive` reads memory; no I/O to wait for).
fn futures_lite<F: std::future::Future>(f: F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Two replicas, one pool: only the Lease holder fills it; when it goes away the other takes
/// the Lease over and keeps the pool filled, never doubling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_fills_the_pool_and_a_successor_takes_over() {
    let state = fake_kube::state(Some("10.0.0.9"), None, false);
    let port = fake_kube::serve(state.clone()).await;
    let api = format!("http://127.0.0.1:{port}");
    let a = backend(&api, 7070, "replica-a", 2, None).await;
    let b = backend(&api, 7070, "replica-b", 2, None).await;
    let holder = || {
        state
            .lock()
            .ok()
            .and_then(|s| s.leases.get("airlock-sandbox-pool").cloned())
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    };
    eventually("a leader", || holder().is_some()).await;
    let first = holder().unwrap_or_default();
    eventually("two warm pods", || {
        a.pool().map_or(0, |p| p.ready_count()) == 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        state.lock().map(|s| s.pods.len()).unwrap_or(0),
        2,
        "the pool is not doubled"
    );
    let leaders = [&a, &b]
        .iter()
        .filter(|x| x.pool().is_some_and(|p| p.is_leader()))
        .count();
    assert_eq!(leaders, 1, "one leader");
    // The leader goes away; the other replica takes the Lease over and refills what is claimed.
    let (gone, stays) = if first == "replica-a" { (a, b) } else { (b, a) };
    drop(gone);
    eventually("the successor holds the Lease", || {
        holder().is_some_and(|h| h != first)
    })
    .await;
    let warm: Vec<String> = {
        let st = state.lock().unwrap_or_else(|e| e.into_inner());
        st.pods.keys().cloned().collect()
    };
    fake_kube::vanish(&state, &warm[0]);
    eventually("the successor refilled the pool", || {
        stays.pool().map_or(0, |p| p.ready_count()) == 2
    })
    .await;
    eventually("the successor leads", || {
        stays.pool().is_some_and(|p| p.is_leader())
    })
    .await;
    let transitions = state
        .lock()
        .map(|s| {
            s.leases["airlock-sandbox-pool"]["spec"]["leaseTransitions"]
                .as_u64()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    assert!(transitions >= 1, "the hand-over is counted");
}

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
