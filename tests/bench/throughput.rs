//! Executions per second of `1+1` across 50 sessions at once on this machine, through the
//! gateway's REST API (policy, two durable audit commits, inspection, HTTP), against the same
//! cells sent straight to 50 kernels through their sandbox agents in this process (no gateway,
//! no policy, no audit) as the baseline; two rounds of each, alternating
//! (`AIRLOCK_BENCH_ONLY=throughput`).

use crate::{local_backend, serve::Served};
use airlock_gateway_domain::ports::{Sandbox, SandboxJob};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const SESSIONS: usize = 50;
const ROUND: Duration = Duration::from_secs(10);

fn job() -> SandboxJob {
    crate::python_job("1+1", Duration::from_secs(30))
}

/// Cells finished per second, every sandbox running its own loop for one round.
async fn direct_round(sandboxes: &[Arc<dyn Sandbox>]) -> f64 {
    let started = Instant::now();
    let loops = sandboxes.iter().cloned().map(|sb| {
        tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < ROUND {
                let r = sb.run(job()).await.unwrap_or_else(|e| panic!("{e}"));
                assert!(r.error.is_none(), "{:?}", r.error);
                n += 1;
            }
            n
        })
    });
    let mut total = 0;
    for l in loops.collect::<Vec<_>>() {
        total += l.await.unwrap_or(0);
    }
    total as f64 / started.elapsed().as_secs_f64()
}

/// The same through the gateway: each session's loop posts and waits for the result.
async fn gateway_round(s: &Served, sessions: &[String]) -> f64 {
    let started = Instant::now();
    let loops = sessions.iter().map(|sid| {
        let (http, auth) = (s.http.clone(), s.auth.clone());
        let url = format!("{}/v1/sessions/{sid}/executions", s.base);
        tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < ROUND {
                crate::serve::one_plus_one(&http, &url, &auth).await;
                n += 1;
            }
            n
        })
    });
    let mut total = 0;
    for l in loops.collect::<Vec<_>>() {
        total += l.await.unwrap_or(0);
    }
    total as f64 / started.elapsed().as_secs_f64()
}

pub(crate) async fn throughput_rows() {
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = local_backend(state.path());
    let mut sandboxes = vec![];
    for _ in 0..SESSIONS {
        let sb = crate::new_sandbox(&backend).await;
        sandboxes.push(sb);
    }
    let served = Served::start_with(
        "bench-throughput",
        &[
            ("AIRLOCK_EXECUTIONS__MAX_RUNNING_PER_PRINCIPAL", "100"),
            ("AIRLOCK_SESSIONS__MAX_PER_PRINCIPAL", "100"),
        ],
        &["--sub", "bench"],
    )
    .await;
    let mut sessions = vec![];
    for _ in 0..SESSIONS {
        sessions.push(served.session().await);
    }
    // Warm both: every kernel has run a cell.
    let _ = direct_round_once(&sandboxes).await;
    let (mut direct, mut gateway) = (vec![], vec![]);
    for _ in 0..2 {
        direct.push(direct_round(&sandboxes).await);
        gateway.push(gateway_round(&served, &sessions).await);
    }
    println!("| measurement | round 1 | round 2 |\n|---|---|---|");
    println!(
        "| `1+1` across {SESSIONS} sessions through the gateway (REST), executions/s | {:.0} | {:.0} |",
        gateway[0], gateway[1]
    );
    println!(
        "| `1+1` across {SESSIONS} kernels straight through their agents (baseline), executions/s | {:.0} | {:.0} |",
        direct[0], direct[1]
    );
    println!(
        "\ngateway/baseline: {:.2}, {:.2}",
        gateway[0] / direct[0],
        gateway[1] / direct[1]
    );
    for sb in &sandboxes {
        let _ = sb.destroy().await;
    }
}

async fn direct_round_once(sandboxes: &[Arc<dyn Sandbox>]) -> usize {
    let mut n = 0;
    for sb in sandboxes {
        if sb.run(job()).await.is_ok() {
            n += 1;
        }
    }
    n
}
