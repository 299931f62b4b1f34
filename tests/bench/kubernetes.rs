//! Session start on Kubernetes from the warm pool, against the fake API server of the tests
//! (tests/src/fake_kube.rs: real HTTP, watch streams, patches and leases, answered in memory)
//! with stand-in agents that answer the protocol's `ping` and `claim` (no kernel: a claim is
//! a token swap in the agent). Measured: `create` of a session claiming a warm pod (pool
//! selection from the watch's memory, the claim patch, the start-up token read, the agent's
//! claim beside the session-token Secret) beside one agent round trip (`ping`) in the same
//! process; and a cold start for comparison (pod created, watched until ready, claimed). A
//! real API server adds its own latency to each of the three API calls of a claim.

use airlock_gateway_agent_client::{AgentAddr, AgentClient};
use airlock_gateway_domain::{
    ports::{SandboxBackend, SandboxSpec},
    IdGenerator, Limits, SystemIds,
};
use airlock_gateway_sandbox_kubernetes::{
    KubernetesBackend, KubernetesOptions, PodManager, PodTemplate, PoolSettings,
};
use airlock_sandbox_protocol::{Conn, Envelope, Event, PROTOCOL_VERSION};
use airlock_tests::fake_kube;
use std::time::{Duration, Instant};

pub struct PoolReport {
    pub claim: crate::Stats,
    pub ping: crate::Stats,
    pub cold: crate::Stats,
    pub fallbacks: usize,
}

const AGENT_PORT: u16 = 17070;

/// A stand-in agent at the pod's IP: answers every request with `pong`.
fn stand_in_agent(_pod: &serde_json::Value, _secret: Option<&serde_json::Value>, ip: &str) {
    let addr = format!("{ip}:{AGENT_PORT}");
    tokio::spawn(async move {
        let Ok(listener) = tokio::net::TcpListener::bind(&addr).await else {
            return;
        };
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = stream.set_nodelay(true);
                let mut conn = Conn::new(stream);
                if conn.recv_json::<Envelope>().await.is_ok() {
                    let _ = conn
                        .send_json(&Event::Pong {
                            version: PROTOCOL_VERSION,
                            kernel_ready: true,
                        })
                        .await;
                }
            });
        }
    });
}

async fn backend(api: &str, pool: usize) -> KubernetesBackend {
    let template = PodTemplate {
        name: "default".into(),
        namespace: fake_kube::NS.into(),
        image: "airlock-sandbox:bench".into(),
        runtime_class: None,
        labels: Default::default(),
        node_selector: Default::default(),
        user_namespace: true,
        agent_port: AGENT_PORT,
    };
    let manager = PodManager::connect(Some(api), template)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    KubernetesBackend::start(
        manager,
        KubernetesOptions {
            start_timeout: Duration::from_secs(30),
            pools: (pool > 0)
                .then(|| PoolSettings {
                    name: "default".into(),
                    size: pool,
                    identity: "bench".into(),
                    lease_name: format!("bench-pool-{pool}"),
                    lease_seconds: 10,
                    limits: Limits::default(),
                })
                .into_iter()
                .collect(),
            egress: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn until(mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

pub async fn pool_bench(samples: usize) -> PoolReport {
    let state = fake_kube::state(None, Some(Box::new(stand_in_agent)), false);
    let port = fake_kube::serve(state.clone()).await;
    let api = format!("http://127.0.0.1:{port}");
    let pooled = backend(&api, 4).await;
    let pool = pooled.pool().unwrap_or_else(|| panic!("no pool"));
    let (mut claim, mut fallbacks) = (vec![], 0);
    for _ in 0..samples {
        until(|| pool.ready_count() == 4).await;
        let session = SystemIds.session_id();
        let t = Instant::now();
        let sandbox = pooled
            .create(SandboxSpec {
                session_id: session.clone(),
                limits: Limits::default(),
                tenant: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        claim.push(t.elapsed());
        let from_pool = state.lock().is_ok_and(|s| {
            s.pods.iter().any(|(name, p)| {
                name.starts_with("sbx-pool-")
                    && p["metadata"]["labels"]["airlock.dev/session"]
                        == airlock_gateway_sandbox_kubernetes::label_value(session.as_str())
            })
        });
        fallbacks += usize::from(!from_pool);
        let _ = sandbox.destroy().await;
    }
    // One agent round trip, same process, same stand-in agents.
    let ip = state
        .lock()
        .ok()
        .and_then(|s| {
            s.pods
                .values()
                .find_map(|p| p["status"]["podIP"].as_str().map(str::to_owned))
        })
        .unwrap_or_default();
    let agent = AgentClient::new(
        AgentAddr::Tcp(
            format!("{ip}:{AGENT_PORT}")
                .parse()
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        "t".into(),
    );
    let mut ping = vec![];
    for _ in 0..samples {
        let t = Instant::now();
        let _ = agent.ping().await;
        ping.push(t.elapsed());
    }
    drop(pooled);
    let cold_backend = backend(&api, 0).await;
    let mut cold = vec![];
    for _ in 0..samples.min(50) {
        let t = Instant::now();
        let sandbox = cold_backend
            .create(SandboxSpec {
                session_id: SystemIds.session_id(),
                limits: Limits::default(),
                tenant: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        cold.push(t.elapsed());
        let _ = sandbox.destroy().await;
    }
    PoolReport {
        claim: crate::stats(claim),
        ping: crate::stats(ping),
        cold: crate::stats(cold),
        fallbacks,
    }
}
