//! airlock-bench: the performance targets of the design, measured on this machine.
//!
//!   cargo build --release --bins && cargo run --release -p airlock-tests --bin airlock-bench
//!
//! 1. Policy decision latency, default bundle, in process, beside a one-rule baseline policy
//!    evaluated by the same engine in the same process.
//! 2. Warm `1+1` round trip through the agent directly (the sandbox backend, no gateway) and
//!    through the whole HTTP path of a running `airlock serve` (authentication, policy, audit in
//!    SQLite and the JSON-lines file, the sandbox), in the same run: the difference is the
//!    gateway's overhead; and, as the target's baseline, a bare Python `jupyter_client` sending
//!    `1+1` straight to the runtime's ipykernel in bubblewrap (`jupyter.rs`).
//! 3. Cold session start (sandbox + kernel) through HTTP (`AIRLOCK_BENCH_ONLY=http` stops after
//!    1-3).
//! 4. Audit events into Kafka (a tansu broker on 127.0.0.1): relay throughput from the outbox
//!    beside producing the same events straight to the broker, the append latency meanwhile,
//!    and a read-back of the topic (`AIRLOCK_BENCH_ONLY=kafka` runs only this).
//! 5. Warehouse SQL with a Vault-issued login per query against a standing login, same query,
//!    same connector code (`AIRLOCK_BENCH_ONLY=connectors`).
//! 6. Session start on Kubernetes from the warm pool against one agent round trip, and a cold
//!    start, with the tests' fake API server (`AIRLOCK_BENCH_ONLY=kubernetes`).
//! 7. Live streams: a printed line's delay to an SSE client beside its delay to the gateway
//!    process, and gateway memory with 100 streams open (`AIRLOCK_BENCH_ONLY=stream`).
//! 8. Output inspection: the scanner's MB/s on mixed text beside a plain byte scan, and its
//!    latency on 10 KB outputs (`AIRLOCK_BENCH_ONLY=inspect`).
//!
//! 9. The review queue over 100,000 cases on PostgreSQL through HTTP beside the session list
//!    (`AIRLOCK_BENCH_ONLY=reviews`).
//!
//! 10. `1+1` through MCP beside the same cell through REST (`AIRLOCK_BENCH_ONLY=mcp`).
//! 11. `POST /v1/sessions` from the warm pool beside cold starts, and the memory of an idle
//!     warm sandbox (`AIRLOCK_BENCH_ONLY=pool`).
//! 12. Executions per second of `1+1` across 50 sessions, through the gateway and straight to
//!     the kernels (`AIRLOCK_BENCH_ONLY=throughput`).
//!
//! Prints a Markdown table; docs/performance.md records a run.

use airlock_gateway_domain::{
    execution::Language,
    policy_input::{Action, CodeFacts, PolicyInput, RequestFacts},
    ports::{PolicyEngine, SandboxBackend, SandboxJob, SandboxSpec},
    IdGenerator, Limits, Principal, SystemIds,
};
use airlock_gateway_sandbox_local::{CgroupMode, LocalBackend, LocalBackendConfig};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// The gateway's allocator (gateway/cli/src/main.rs), so that in-process numbers are the
/// gateway's numbers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod connectors;
mod inspect;
mod jupyter;
mod kafka;
mod kubernetes;
mod mcp;
mod pool;
mod reviews;
mod serve;
mod stream;
mod throughput;

pub(crate) struct Stats {
    p50: f64,
    p99: f64,
    n: usize,
}

pub(crate) fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e3;
    Stats {
        p50: at(0.50),
        p99: at(0.99),
        n: v.len(),
    }
}

pub(crate) fn row(name: &str, s: &Stats, unit_us: bool) {
    if unit_us {
        println!(
            "| {name} | {} | {:.1} µs | {:.1} µs |",
            s.n,
            s.p50 * 1e3,
            s.p99 * 1e3
        );
    } else {
        println!("| {name} | {} | {:.2} ms | {:.2} ms |", s.n, s.p50, s.p99);
    }
}

pub(crate) fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default()
}

fn policy_bench() -> (Stats, Stats, Option<Stats>) {
    // AIRLOCK_BENCH_BUNDLE=DIR measures another bundle (for tuning policy).
    let bundle = match std::env::var_os("AIRLOCK_BENCH_BUNDLE") {
        Some(dir) => airlock_policy::Bundle::from_dir(std::path::Path::new(&dir)),
        None => airlock_policy::Bundle::embedded(),
    }
    .unwrap_or_else(|e| panic!("{e}"));
    let policy = airlock_policy::RegoPolicy::new(&bundle).unwrap_or_else(|e| panic!("{e}"));
    let input = PolicyInput {
        action: Action::ExecutionRun,
        principal: Principal {
            issuer: "https://idp".into(),
            subject: "alice".into(),
            email: None,
            groups: vec!["analysts".into()],
            tenant: Some("acme".into()),
            via: None,
        },
        session: None,
        request: RequestFacts {
            language: Some("python".into()),
            code_bytes: Some(120),
            ..Default::default()
        },
        analysis: Some(CodeFacts {
            imports: vec!["matplotlib".into(), "os".into(), "pandas".into()],
            ..Default::default()
        }),
    };
    // Baseline: the smallest policy that yields a decision, through the same engine and code path.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.path().join("airlock")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("airlock/d.rego"),
        "package airlock.decision\n\ndecision := {\"result\": \"allow\", \"violations\": []}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let baseline = airlock_policy::RegoPolicy::new(
        &airlock_policy::Bundle::from_dir(dir.path()).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // AIRLOCK_BENCH_POLICY_ITERATIONS=N (default 20000): fewer for runs under callgrind
    // (tests/bench/policy-instructions.sh).
    let iterations: usize = std::env::var("AIRLOCK_BENCH_POLICY_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(20_000);
    let run = |p: &airlock_policy::RegoPolicy| {
        for _ in 0..500 {
            let _ = p.decide(&input);
        }
        (0..iterations)
            .map(|_| {
                let t = Instant::now();
                let d = p.decide(&input);
                let e = t.elapsed();
                assert!(d.is_ok());
                e
            })
            .collect::<Vec<_>>()
    };
    let released = released_regorus_run(&bundle, &input, iterations);
    (
        stats(run(&policy)),
        stats(run(&baseline)),
        released.map(stats),
    )
}

/// Whether to run the policy comparisons (the released engine, fixed work):
/// AIRLOCK_BENCH_POLICY_COMPARISONS=0 skips them, as tests/bench/policy-instructions.sh does.
fn policy_comparisons() -> bool {
    std::env::var("AIRLOCK_BENCH_POLICY_COMPARISONS").as_deref() != Ok("0")
}

/// A loop of pure arithmetic (no memory, no allocation, no system calls) calibrated to take
/// `p50_ms`, timed 20,000 times: what this machine adds to the tail of any computation that long
/// (timer ticks, steal time of a shared host), to read the decision's p99 against.
fn fixed_work_like(p50_ms: f64) -> Stats {
    fn work(n: u64) -> u64 {
        let mut x = 1u64;
        for i in 0..n {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(i ^ (x >> 7));
        }
        x
    }
    let probe = 100_000u64;
    let t = Instant::now();
    std::hint::black_box(work(std::hint::black_box(probe)));
    let per_step = t.elapsed().as_secs_f64() * 1e3 / probe as f64;
    let steps = ((p50_ms / per_step.max(1e-9)) as u64).max(1);
    for _ in 0..500 {
        std::hint::black_box(work(std::hint::black_box(steps)));
    }
    stats(
        (0..20_000)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(work(std::hint::black_box(steps)));
                t.elapsed()
            })
            .collect(),
    )
}

/// The same bundle and input through the released regorus 0.14.1 (not the patched copy in
/// third_party/regorus), called as the gateway called it before run 12: input as JSON text,
/// result back through JSON text. Skipped with AIRLOCK_BENCH_POLICY_COMPARISONS=0 (the
/// instruction counter runs without it).
fn released_regorus_run(
    bundle: &airlock_policy::Bundle,
    input: &PolicyInput,
    iterations: usize,
) -> Option<Vec<Duration>> {
    if !policy_comparisons() {
        return None;
    }
    let mut engine = regorus_upstream::Engine::new();
    for (path, text) in bundle.policies() {
        engine
            .add_policy(path.clone(), text.clone())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let data = regorus_upstream::Value::from_json_str(&bundle.data.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    engine.add_data(data).unwrap_or_else(|e| panic!("{e}"));
    let mut decide = || {
        let json = serde_json::to_string(input).unwrap_or_else(|e| panic!("{e}"));
        engine
            .set_input_json(&json)
            .unwrap_or_else(|e| panic!("{e}"));
        let value = engine
            .eval_rule("data.airlock.decision.decision".into())
            .unwrap_or_else(|e| panic!("{e}"));
        let text = value.to_json_str().unwrap_or_else(|e| panic!("{e}"));
        serde_json::from_str::<serde_json::Value>(&text).unwrap_or_else(|e| panic!("{e}"))
    };
    for _ in 0..500 {
        decide();
    }
    Some(
        (0..iterations)
            .map(|_| {
                let t = Instant::now();
                let d = decide();
                let e = t.elapsed();
                assert!(d["result"].is_string());
                e
            })
            .collect(),
    )
}

/// One audit event through the recorder: sealed, committed to the SQLite outbox (WAL,
/// synchronous=FULL) and appended with fsync to the JSON-lines file; beside the same commit
/// to the outbox alone (no file sink) as the baseline.
async fn audit_bench() -> (Stats, Stats) {
    use airlock_gateway_domain::audit::NewEvent;
    use std::sync::Arc;
    let mut out = vec![];
    for with_file in [true, false] {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("state.db").display()
        );
        let store = Arc::new(
            airlock_gateway_store::SqlStore::connect(&url, true)
                .await
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let sinks: Vec<Arc<dyn airlock_gateway_domain::ports::AuditSink>> = if with_file {
            vec![Arc::new(
                airlock_gateway_audit::JsonlFileSink::open(&dir.path().join("audit.jsonl"))
                    .unwrap_or_else(|e| panic!("{e}")),
            )]
        } else {
            vec![]
        };
        let rec = airlock_gateway_audit::AuditRecorder::open(
            bench_audit_options("bench", None),
            store,
            sinks,
        )
        .await
        .unwrap_or_else(|e| panic!("{}", e.message));
        let data = serde_json::json!({"principal": {"issuer": "https://idp", "subject": "alice", "groups": ["analysts"]}, "session_id": "ses_x", "code": "print(1)", "code_sha256": "ab".repeat(32)});
        let mut v = vec![];
        for i in 0..1100 {
            let t = Instant::now();
            rec.record(
                vec![],
                vec![NewEvent::new(
                    "execution.requested",
                    Some("ses_x".into()),
                    data.clone(),
                )],
            )
            .await
            .unwrap_or_else(|e| panic!("{}", e.message));
            if i >= 100 {
                v.push(t.elapsed());
            }
        }
        out.push(stats(v));
    }
    let baseline = out.pop().unwrap_or(Stats {
        p50: 0.0,
        p99: 0.0,
        n: 0,
    });
    let full = out.pop().unwrap_or(Stats {
        p50: 0.0,
        p99: 0.0,
        n: 0,
    });
    (full, baseline)
}

/// The local backend as `airlock serve` sets it up, with its state in `state_dir`.
/// The sandbox Python runtime (`AIRLOCK_RUNTIME_DIR`, default `/opt/airlock/runtime`).
pub(crate) fn runtime_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("AIRLOCK_RUNTIME_DIR").unwrap_or_else(|_| "/opt/airlock/runtime".into()),
    )
}

pub(crate) fn local_backend(state_dir: &std::path::Path) -> LocalBackend {
    local_backend_with_pool(state_dir, 0)
}

/// The local backend with a warm pool of `pool` sandboxes of the default limits.
pub(crate) fn local_backend_with_pool(state_dir: &std::path::Path, pool: usize) -> LocalBackend {
    LocalBackend::new(
        LocalBackendConfig {
            state_dir: state_dir.to_path_buf(),
            agent_path: bin_dir().join("airlock-agent"),
            runtime_dir: runtime_dir(),
            bwrap_path: "/usr/bin/bwrap".into(),
            setpriv_path: "/usr/bin/setpriv".into(),
            uid_base: 200_000,
            uid_count: 60_000,
            cgroups: CgroupMode::Required,
            instance_id: "bench".into(),
            extra_ro_binds: vec!["/etc/fonts".into()],
            start_timeout: Duration::from_secs(30),
            egress_resolver: Default::default(),
        },
        vec![airlock_gateway_sandbox_local::PoolClass {
            name: "default".into(),
            size: pool,
            limits: Limits::default(),
        }],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

async fn direct_bench() -> Stats {
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = local_backend(state.path());
    let sb = backend
        .create(SandboxSpec {
            session_id: SystemIds.session_id(),
            limits: Limits::default(),
            tenant: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let job = || SandboxJob {
        execution_id: SystemIds.execution_id(),
        language: Language::Python,
        code: "1+1".into(),
        timeout: Duration::from_secs(10),
        output_limit: 1 << 20,
        egress: None,
        packages: vec![],
        denied_imports: vec![],
        observer: None,
        cancel: Default::default(),
        egress_log: Default::default(),
    };
    for _ in 0..20 {
        let _ = sb.run(job()).await;
    }
    let mut v = vec![];
    for _ in 0..300 {
        let t = Instant::now();
        let r = sb.run(job()).await.unwrap_or_else(|e| panic!("{e}"));
        v.push(t.elapsed());
        assert_eq!(
            r.outputs
                .first()
                .and_then(|o| o.data.get("text/plain"))
                .and_then(|x| x.as_str()),
            Some("2")
        );
    }
    let _ = sb.destroy().await;
    stats(v)
}

async fn http_bench() -> (Stats, Stats, Option<(usize, f64, u64, usize)>) {
    let g = serve::Served::start("bench-http").await;
    let (http, base, auth) = (&g.http, g.base.clone(), g.auth.clone());
    let mut cold = vec![];
    let mut sid = String::new();
    for i in 0..6 {
        let t = Instant::now();
        let r: serde_json::Value = http
            .post(format!("{base}/v1/sessions"))
            .header("authorization", &auth)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_default();
        cold.push(t.elapsed());
        let id = r["id"].as_str().unwrap_or_default().to_owned();
        if i < 5 {
            let _ = http
                .delete(format!("{base}/v1/sessions/{id}"))
                .header("authorization", &auth)
                .send()
                .await;
        } else {
            sid = id;
        }
    }
    let url = format!("{base}/v1/sessions/{sid}/executions");
    let body = serde_json::json!({"language": "python", "code": "1+1"});
    for _ in 0..20 {
        let _ = http
            .post(&url)
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await;
    }
    let mut warm = vec![];
    for _ in 0..300 {
        let t = Instant::now();
        let r: serde_json::Value = http
            .post(&url)
            .header("authorization", &auth)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .json()
            .await
            .unwrap_or_default();
        warm.push(t.elapsed());
        assert_eq!(r["outputs"][0]["data"]["text/plain"], "2", "{r}");
    }
    let _ = http
        .delete(format!("{base}/v1/sessions/{sid}"))
        .header("authorization", &auth)
        .send()
        .await;
    let live = live_sessions(http, &base, &auth).await;
    drop(g);
    (stats(warm), stats(cold), live)
}

fn mem_available_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemAvailable:")
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

/// N live sessions at once (8 created in parallel at a time), each with its own secret in a
/// kernel variable; every session must read back its own value and no other (no cross-talk).
async fn live_sessions(
    http: &reqwest::Client,
    base: &str,
    auth: &str,
) -> Option<(usize, f64, u64, usize)> {
    let n: usize = std::env::var("AIRLOCK_BENCH_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    if n == 0 {
        return None;
    }
    let before = mem_available_mib();
    let started = Instant::now();
    let mut ids = vec![];
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let futs = chunk.iter().map(|_| async {
            let r: serde_json::Value = http
                .post(format!("{base}/v1/sessions"))
                .header("authorization", auth)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let id = r["id"].as_str()?.to_owned();
            let set = serde_json::json!({"language": "python", "code": format!("secret = {id:?}")});
            http.post(format!("{base}/v1/sessions/{id}/executions"))
                .header("authorization", auth)
                .json(&set)
                .send()
                .await
                .ok()?;
            Some(id)
        });
        ids.extend(futures_join(futs).await.into_iter().flatten());
    }
    let took = started.elapsed().as_secs_f64();
    let used = before.saturating_sub(mem_available_mib());
    let mut correct = 0;
    for id in &ids {
        let get = serde_json::json!({"language": "python", "code": "print(secret)"});
        let r: serde_json::Value = match http
            .post(format!("{base}/v1/sessions/{id}/executions"))
            .header("authorization", auth)
            .json(&get)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => continue,
        };
        if r["stdout"].as_str() == Some(&format!("{id}\n")) {
            correct += 1;
        }
    }
    for id in &ids {
        let _ = http
            .delete(format!("{base}/v1/sessions/{id}"))
            .header("authorization", auth)
            .send()
            .await;
    }
    Some((ids.len(), took, used, correct))
}

async fn futures_join<F: std::future::Future>(futs: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futs.collect();
    let mut out = Vec::with_capacity(handles.len());
    // Poll them concurrently on this task.
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => done[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.extend(done.into_iter().flatten());
    out
}

#[tokio::main]
async fn main() {
    println!(
        "airlock-bench on {} cores ({})\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        if cfg!(debug_assertions) {
            "debug build: numbers are not representative"
        } else {
            "release build"
        }
    );
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("kafka") {
        kafka_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("connectors") {
        connector_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("kubernetes") {
        kubernetes_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("inspect") {
        inspect::inspect_rows();
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("mcp") {
        mcp::mcp_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("reviews") {
        reviews::review_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("throughput") {
        throughput::throughput_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("pool") {
        pool::pool_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("stream") {
        stream::stream_rows().await;
        return;
    }
    println!("| measurement | samples | p50 | p99 |\n|---|---|---|---|");
    let (policy, baseline, released) = policy_bench();
    row(
        "policy decision, default bundle (in process)",
        &policy,
        true,
    );
    row(
        "policy decision, one-rule baseline (same engine)",
        &baseline,
        true,
    );
    if let Some(released) = released {
        row(
            "policy decision, default bundle on the released regorus 0.14.1 (same input)",
            &released,
            true,
        );
    }
    if policy_comparisons() {
        row(
            "fixed CPU work as long as the decision's p50 (this machine's own tail)",
            &fixed_work_like(policy.p50),
            true,
        );
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("policy") {
        return;
    }
    let (audit, outbox_only) = audit_bench().await;
    row(
        "audit record, outbox + JSON-lines file (fsync both)",
        &audit,
        true,
    );
    row("audit record, outbox only (baseline)", &outbox_only, true);
    let direct = direct_bench().await;
    row(
        "`1+1` direct to the sandbox agent (no gateway)",
        &direct,
        false,
    );
    let (warm, cold, live) = http_bench().await;
    row(
        "`1+1` through HTTP (auth, policy, audit, sandbox)",
        &warm,
        false,
    );
    row("session create, cold (sandbox + kernel)", &cold, false);
    let bare = jupyter::bare_jupyter_client(&runtime_dir(), 300);
    row(
        "`1+1` from a bare jupyter_client to ipykernel in bubblewrap (baseline)",
        &bare,
        false,
    );
    println!();
    println!(
        "`1+1` through HTTP / bare jupyter_client: {:.2}x at p50 (target <= 1.0), {:.2}x at p99",
        warm.p50 / bare.p50,
        warm.p99 / bare.p99
    );
    println!(
        "policy: {:.0} decisions/s at p50; default bundle / baseline p50 = {:.2}x",
        1e3 / policy.p50,
        policy.p50 / baseline.p50
    );
    println!(
        "gateway overhead at p50: {:.2} ms ({:.2}x the direct round trip); at p99: {:.2} ms",
        warm.p50 - direct.p50,
        warm.p50 / direct.p50,
        warm.p99 - direct.p99
    );
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("http") {
        return;
    }
    kafka_rows().await;
    connector_rows().await;
    if let Some((n, secs, mib, correct)) = live {
        println!("live sessions: {n} created in {secs:.1} s ({:.0} ms each with 8 in parallel), about {mib} MiB of host memory in use for them ({:.0} MiB each), {correct}/{n} read back their own variable", secs * 1e3 / n.max(1) as f64, mib as f64 / n.max(1) as f64);
    }
}

/// Recorder options as `airlock serve` sets them (built-in redaction on, no signer).
pub(crate) fn bench_audit_options(
    chain: &str,
    max_backlog: Option<u64>,
) -> airlock_gateway_audit::AuditOptions {
    airlock_gateway_audit::AuditOptions {
        chain_id: chain.into(),
        source: "airlock://bench".into(),
        store_code: true,
        redactor: std::sync::Arc::new(
            airlock_gateway_audit::Redactor::new(&[]).unwrap_or_else(|e| panic!("{e}")),
        ),
        signer: None,
        max_backlog,
        clock: std::sync::Arc::new(airlock_gateway_domain::SystemClock),
        ids: std::sync::Arc::new(airlock_gateway_domain::SystemIds),
    }
}

async fn kafka_rows() {
    let Some(k) = kafka::kafka_bench().await else {
        return;
    };
    println!();
    println!("| audit to Kafka | value |\n|---|---|");
    println!(
        "| events relayed: a backlog drained, then 1,000 live appends | {} |",
        k.events
    );
    println!(
        "| relay draining the backlog: read from the outbox, acknowledged by the broker, marked | {:.0} events/s |",
        k.relay_per_s
    );
    println!(
        "| baseline: same events produced from memory, same publisher | {:.0} events/s |",
        k.baseline_per_s
    );
    println!(
        "| relay / baseline | {:.2}x |",
        k.relay_per_s / k.baseline_per_s
    );
    println!(
        "| outbox append (one event per commit) while the relay publishes, p50 / p99 ({} samples) | {:.0} µs / {:.0} µs |",
        k.append.n,
        k.append.p50 * 1e3,
        k.append.p99 * 1e3
    );
    println!(
        "| read back from the topic | {} messages, {} duplicates dropped, chain {} |",
        k.read_back,
        k.duplicates,
        if k.chain_ok {
            "verified, no loss"
        } else {
            "BROKEN OR INCOMPLETE"
        }
    );
}

async fn kubernetes_rows() {
    let r = kubernetes::pool_bench(300).await;
    println!(
        "| Kubernetes session start (fake API server) | samples | p50 | p99 |\n|---|---|---|---|"
    );
    row("session ready from the warm pool (claim)", &r.claim, false);
    row("one agent round trip (ping, baseline)", &r.ping, false);
    row(
        "cold start (pod created, watched ready, claimed)",
        &r.cold,
        false,
    );
    println!(
        "\ngateway time of a claim beyond one agent round trip: {:.2} ms p50, {:.2} ms p99 (target <= 50 ms); claims that fell back to a cold start: {}",
        r.claim.p50 - r.ping.p50,
        r.claim.p99 - r.ping.p99,
        r.fallbacks
    );
}

async fn connector_rows() {
    let Some(c) = connectors::connectors_bench().await else {
        return;
    };
    println!();
    println!("| warehouse SQL (PostgreSQL) | samples | p50 | p99 |\n|---|---|---|---|");
    row(
        "query with a standing login (baseline: connect, read-only tx, query)",
        &c.baseline,
        false,
    );
    row(
        "query with a per-query Vault login (issue + shorten, connect, query, revoke)",
        &c.governed,
        false,
    );
    row(
        "  of which: issue (Vault creates the role, lease shortened)",
        &c.issue,
        false,
    );
    row(
        "  of which: revoke (Vault drops the role)",
        &c.revoke,
        false,
    );
    println!(
        "per-query credential overhead at p50: {:.2} ms ({:.2}x the baseline)",
        c.governed.p50 - c.baseline.p50,
        c.governed.p50 / c.baseline.p50
    );
}
