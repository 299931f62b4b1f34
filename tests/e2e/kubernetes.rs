//! The Kubernetes backend against a fake API server at the HTTP level (tests/src/fake_kube.rs):
//! it records every request, keeps pods and Secrets in memory, and serves status transitions:
//! a pod is `Pending` on its first read, then what its name asks for (`ok-`/`sbx-`: running and
//! ready; `pull-`: ImagePullBackOff; `oom-`: OOMKilled; `evict-`: evicted).

use airlock_gateway_domain::Limits;
use airlock_gateway_sandbox_kubernetes::{PodFailure, PodManager, PodTemplate};
use airlock_tests::fake_kube::{self, State, NS};
use serde_json::json;
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

async fn manager() -> (PodManager, Arc<Mutex<State>>) {
    let state = Arc::new(Mutex::new(State::default()));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

/// The backend end to end: the fake API server's stand-in kubelet starts the real
/// `airlock-agent` on 127.0.0.1 with the token from the pod's Secret when the pod is created;
/// the backend waits for the pod, reaches the agent over TCP and runs code in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_runs_code_in_its_pod_through_the_agent_over_tcp() {
    let _host_agent = HOST_AGENT.lock().await;
    use airlock_gateway_domain::{
        ports::{SandboxBackend, SandboxJob, SandboxSpec},
        ExecutionId, Language, SessionId,
    };
    use airlock_gateway_sandbox_kubernetes::KubernetesBackend;
    let agent_port = crate::harness::free_port();
    let dir = Arc::new(tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")));
    let agents: Arc<Mutex<Vec<GroupKill>>> = Arc::default();
    let state = Arc::new(Mutex::new(State {
        pod_ip: Some("127.0.0.1".into()),
        on_pod: Some(kubelet(dir.clone(), agent_port, agents.clone())),
        ..Default::default()
    }));
    let port = fake_kube::serve(state.clone()).await;
    let template = PodTemplate {
        name: "default".into(),
        namespace: NS.into(),
        image: "airlock-sandbox:test".into(),
        runtime_class: None,
        labels: BTreeMap::new(),
        node_selector: BTreeMap::new(),
        user_namespace: true,
        agent_port,
    };
    let manager = PodManager::connect(Some(&format!("http://127.0.0.1:{port}")), template.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let backend = KubernetesBackend::new(manager, template, Duration::from_secs(60));
    let session = SessionId::generate();
    let sandbox = backend
        .create(SandboxSpec {
            session_id: session.clone(),
            limits: Limits::default(),
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}: {}",
                std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default()
            )
        });
    let out = sandbox
        .run(SandboxJob {
            execution_id: ExecutionId::generate(),
            language: Language::Python,
            code: "x = 6 * 7\nprint(x)".into(),
            timeout: Duration::from_secs(30),
            output_limit: 1 << 20,
            egress: None,
            packages: vec![],
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout, "42\n", "{out:?}");
    let path = airlock_gateway_domain::files::WorkspacePath::parse("data.csv")
        .unwrap_or_else(|e| panic!("{e}"));
    sandbox
        .write_file(&path, b"a,b\n1,2\n".to_vec())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        sandbox.read_file(&path, 100).await.ok(),
        Some(b"a,b\n1,2\n".to_vec())
    );
    assert!(sandbox.alive().await);
    let name = airlock_gateway_sandbox_kubernetes::pod_name(&session);
    assert!(state
        .lock()
        .map(|s| s.pods.contains_key(&name))
        .unwrap_or(false));
    sandbox.destroy().await.unwrap_or_else(|e| panic!("{e}"));
    let (pods, secrets) = state
        .lock()
        .map(|s| (s.pods.len(), s.secrets.len()))
        .unwrap_or((9, 9));
    assert_eq!((pods, secrets), (0, 0), "pod and token Secret deleted");
    assert!(!sandbox.alive().await);
    drop(agents);
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

/// The agents these tests start on the host share the kernel's fixed loopback ports: one at a
/// time.
static HOST_AGENT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A stand-in kubelet: when a pod is created, the real `airlock-agent` starts on 127.0.0.1 with
/// the token from the pod's Secret.
fn kubelet(
    dir: Arc<tempfile::TempDir>,
    agent_port: u16,
    agents: Arc<Mutex<Vec<GroupKill>>>,
) -> fake_kube::OnPod {
    let agent_bin = crate::harness::bin_dir().join("airlock-agent");
    assert!(agent_bin.exists(), "build the binaries first");
    let (d, a) = (dir, agents);
    Box::new(move |_pod, secret| {
        let token = secret
            .and_then(|s| s["stringData"]["token"].as_str())
            .unwrap_or_default();
        let token_file = d.path().join("token");
        let ws = d.path().join("workspace");
        std::fs::create_dir_all(&ws).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&token_file, token).unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::process::CommandExt;
        // Kernel ports are fixed (52001-52005; a pod has its own loopback): one such agent at
        // a time on a host.
        let child = std::process::Command::new(&agent_bin)
            // Its own process group, killed with it.
            .process_group(0)
            .args(["--listen", &format!("tcp:127.0.0.1:{agent_port}")])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--workspace")
            .arg(&ws)
            .arg("--runtime-dir")
            .arg(d.path().join("kernel"))
            .stdout(std::process::Stdio::null())
            .stderr(
                std::fs::File::create(d.path().join("agent.log"))
                    .map(std::process::Stdio::from)
                    .unwrap_or_else(|_| std::process::Stdio::null()),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        a.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(GroupKill(child, d.path().join("kernel")));
    })
}

/// The gateway binary with `[sandbox] backend = "kubernetes"` against the fake API server: a
/// session is a pod, code runs in it, deleting the session deletes the pod and its Secret.
#[test]
fn the_gateway_runs_sessions_as_pods_when_configured() {
    let _host_agent = HOST_AGENT.blocking_lock();
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let agent_port = crate::harness::free_port();
    let dir = Arc::new(tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")));
    let agents: Arc<Mutex<Vec<GroupKill>>> = Arc::default();
    let state = Arc::new(Mutex::new(State {
        pod_ip: Some("127.0.0.1".into()),
        on_pod: Some(kubelet(dir.clone(), agent_port, agents.clone())),
        ..Default::default()
    }));
    let port = rt.block_on(fake_kube::serve(state.clone()));
    let api_url = format!("http://127.0.0.1:{port}");
    let agent_port_s = agent_port.to_string();
    let gw = crate::harness::Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_SANDBOX__BACKEND", "kubernetes"),
            ("AIRLOCK_SANDBOX__KUBERNETES__API_URL", api_url.as_str()),
            (
                "AIRLOCK_SANDBOX__KUBERNETES__AGENT_PORT",
                agent_port_s.as_str(),
            ),
        ],
    );
    let api = gw.api(&crate::harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(
        crate::harness::stdout_of(&api.run(&sid, "python", "print(6 * 7)")),
        "42\n"
    );
    let pods = state.lock().map(|s| s.pods.len()).unwrap_or(0);
    assert_eq!(pods, 1, "one pod for the session");
    assert_eq!(api.delete(&format!("/v1/sessions/{sid}")).status, 200);
    let (pods, secrets) = state
        .lock()
        .map(|s| (s.pods.len(), s.secrets.len()))
        .unwrap_or((9, 9));
    assert_eq!((pods, secrets), (0, 0));
    drop(gw);
    drop(agents);
}
