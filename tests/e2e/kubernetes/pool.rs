//! The backend with warm pools: claims, governed egress, replicas and the pool's Lease.

use super::{cluster::*, eventually};
use airlock_gateway_domain::Limits;
use airlock_tests::fake_kube;
use std::time::Duration;

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
