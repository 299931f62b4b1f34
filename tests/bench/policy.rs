//! Policy decision latency: the default bundle in process beside a one-rule baseline in the
//! same engine, and the released regorus beside the vendored one.

use crate::{stats, Stats};
use airlock_gateway_domain::{
    policy_input::{Action, CodeFacts, PolicyInput, RequestFacts},
    ports::PolicyEngine,
    Principal,
};
use std::time::{Duration, Instant};

pub(crate) fn policy_bench() -> (Stats, Stats, Option<Stats>) {
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
pub(crate) fn policy_comparisons() -> bool {
    std::env::var("AIRLOCK_BENCH_POLICY_COMPARISONS").as_deref() != Ok("0")
}

/// A loop of pure arithmetic (no memory, no allocation, no system calls) calibrated to take
/// `p50_ms`, timed 20,000 times: what this machine adds to the tail of any computation that long
/// (timer ticks, steal time of a shared host), to read the decision's p99 against.
pub(crate) fn fixed_work_like(p50_ms: f64) -> Stats {
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
