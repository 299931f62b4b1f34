//! A stand-in cluster: the fake API server with a kubelet that runs real agents, the gateway
//! and the backend wired to it, and what tests read back from it.

use airlock_gateway_domain::Limits;
use airlock_gateway_sandbox_kubernetes::{PodManager, PodTemplate};
use airlock_tests::fake_kube::{self, NS};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Five free loopback ports in a row for one host-run agent's kernel (in a pod the kernel has
/// its own loopback; on the test host each stand-in pod needs its own range). Handed out from
/// one counter in this process, so agents of tests running side by side never share a range.
/// The ranges lie below the kernel's ephemeral port range: the kernel binds them a second or
/// more after this check, and a port from the ephemeral range can be taken in between by any
/// outgoing connection of the busy test machine (seen in CI: the agent never became ready).
pub(super) fn kernel_port_base() -> u16 {
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
pub(super) struct GroupKill(std::process::Child, std::path::PathBuf);

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

pub(super) type Agents = Arc<Mutex<Vec<GroupKill>>>;

/// A stand-in kubelet: when a pod is created, the real `airlock-agent` starts at the pod's own
/// loopback IP (127.1.x.y) with the start-up token from the pod's Secret, `--claimable` as the
/// pod's arguments say, its relay at the pod IP's port 3128 and the pod's proxy variables
/// pointing there (a pod's 127.0.0.1 is its own; the host's is shared).
pub(super) fn kubelet(
    dir: Arc<tempfile::TempDir>,
    agent_port: u16,
    agents: Agents,
) -> fake_kube::OnPod {
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
pub(super) async fn cluster() -> (
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
pub(super) fn kube_gateway(
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

pub(super) fn template(agent_port: u16) -> PodTemplate {
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

pub(super) async fn backend(
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

pub(super) fn job(
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
pub(super) async fn upstream(body: &'static str) -> u16 {
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

/// A ready warm pod's name and IP.
pub(super) fn warm_pod(state: &fake_kube::Shared) -> (String, String) {
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
pub(super) fn startup_token(state: &fake_kube::Shared, pod: &str) -> String {
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

pub(super) fn adopted_dead(s: &dyn airlock_gateway_domain::ports::Sandbox) -> bool {
    futures_lite(s.alive()) == Some(false)
}

/// Polls a future once (the sandbox's `alive` reads memory; no I/O to wait for).
pub(super) fn futures_lite<F: std::future::Future>(f: F) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
