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
//! 13. `1+1` over the Jupyter kernel websocket beside REST, a bare jupyter_client and Jupyter
//!     Kernel Gateway (`AIRLOCK_BENCH_ONLY=jupyter`).
//! 14. The console's pages over 10,000 cases, 1,000,000 audit events and 100,000 executions on
//!     PostgreSQL (`AIRLOCK_BENCH_ONLY=console`).
//!
//! Prints a Markdown table; docs/performance.md records a run.

use airlock_gateway_domain::Limits;
use airlock_gateway_sandbox_local::{CgroupMode, LocalBackend, LocalBackendConfig};
use std::{path::PathBuf, time::Duration};

/// The gateway's allocator (gateway/cli/src/main.rs), so that in-process numbers are the
/// gateway's numbers.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod audit;
mod connectors;
mod console;
mod http;
mod inspect;
mod jupyter;
mod kafka;
mod kernel_gateway;
mod kubernetes;
mod mcp;
mod policy;
mod pool;
mod reviews;
mod rows;
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
        rows::kafka_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("connectors") {
        rows::connector_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("kubernetes") {
        rows::kubernetes_rows().await;
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
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("console") {
        console::console_rows().await;
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
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("jupyter") {
        kernel_gateway::kernel_gateway_rows().await;
        return;
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("stream") {
        stream::stream_rows().await;
        return;
    }
    println!("| measurement | samples | p50 | p99 |\n|---|---|---|---|");
    let (policy, baseline, released) = policy::policy_bench();
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
    if policy::policy_comparisons() {
        row(
            "fixed CPU work as long as the decision's p50 (this machine's own tail)",
            &policy::fixed_work_like(policy.p50),
            true,
        );
    }
    if std::env::var("AIRLOCK_BENCH_ONLY").as_deref() == Ok("policy") {
        return;
    }
    let (audit, outbox_only) = audit::audit_bench().await;
    row(
        "audit record, outbox + JSON-lines file (fsync both)",
        &audit,
        true,
    );
    row("audit record, outbox only (baseline)", &outbox_only, true);
    let direct = http::direct_bench().await;
    row(
        "`1+1` direct to the sandbox agent (no gateway)",
        &direct,
        false,
    );
    let (warm, cold, live) = http::http_bench().await;
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
    let raw = jupyter::raw_zmq_client(&runtime_dir(), 300);
    row(
        "`1+1` over raw ZeroMQ to ipykernel in bubblewrap (the kernel's floor)",
        &raw,
        false,
    );
    println!();
    println!(
        "`1+1` through HTTP / bare jupyter_client: {:.2}x at p50 (target <= 1.0), {:.2}x at p99",
        warm.p50 / bare.p50,
        warm.p99 / bare.p99
    );
    // An audit record's commit (outbox only): what each of an execution's two commits costs.
    let two_commits = 2.0 * outbox_only.p50;
    println!(
        "what jupyter_client adds to the kernel: {:.2} ms at p50; the kernel's floor plus two durable commits (one before the code runs, one after): {:.2} ms = {:.2}x the bare client",
        bare.p50 - raw.p50,
        raw.p50 + two_commits,
        (raw.p50 + two_commits) / bare.p50
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
    rows::kafka_rows().await;
    rows::connector_rows().await;
    if let Some((n, secs, mib, correct)) = live {
        println!("live sessions: {n} created in {secs:.1} s ({:.0} ms each with 8 in parallel), about {mib} MiB of host memory in use for them ({:.0} MiB each), {correct}/{n} read back their own variable", secs * 1e3 / n.max(1) as f64, mib as f64 / n.max(1) as f64);
    }
}

/// Recorder options as `airlock serve` sets them.
pub(crate) use audit::bench_audit_options;

/// A sandbox of the default limits from `backend`, for a session of no tenant.
pub(crate) async fn new_sandbox(
    backend: &dyn airlock_gateway_domain::ports::SandboxBackend,
) -> std::sync::Arc<dyn airlock_gateway_domain::ports::Sandbox> {
    use airlock_gateway_domain::{ports::SandboxSpec, IdGenerator, SystemIds};
    backend
        .create(SandboxSpec {
            session_id: SystemIds.session_id(),
            limits: Limits::default(),
            tenant: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A Python cell as a sandbox job, with nothing granted.
pub(crate) fn python_job(
    code: &str,
    timeout: Duration,
) -> airlock_gateway_domain::ports::SandboxJob {
    use airlock_gateway_domain::{execution::Language, IdGenerator, SystemIds};
    airlock_gateway_domain::ports::SandboxJob {
        execution_id: SystemIds.execution_id(),
        language: Language::Python,
        code: code.into(),
        timeout,
        output_limit: 1 << 20,
        egress: None,
        packages: vec![],
        denied_imports: vec![],
        observer: None,
        cancel: Default::default(),
        egress_log: Default::default(),
    }
}
