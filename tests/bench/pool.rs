//! `POST /v1/sessions` over HTTP, with its audit record, served from the local backend's warm
//! pool, beside the same request on a gateway without a pool (cold: bubblewrap, cgroup, agent
//! and kernel started for the request), interleaved sample by sample; and the memory an idle
//! warm sandbox holds (its cgroup's count), from a pool in this process
//! (`AIRLOCK_BENCH_ONLY=pool`).

use crate::{local_backend_with_pool, row, serve::Served, stats};
use airlock_gateway_domain::ports::SandboxBackend;
use std::time::{Duration, Instant};

const POOL: usize = 4;
const WARM_SAMPLES: usize = 100;
/// Every how many warm samples a cold one is taken (a cold start takes a few hundred ms).
const COLD_EVERY: usize = 2;

async fn warm_ready(s: &Served) -> usize {
    let text = s
        .http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("airlock_sandboxes_warm{pool=\"default\"} "))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .map_or(0, |n| n as usize)
}

/// One timed create, then the session is deleted (not timed).
async fn create(s: &Served) -> Duration {
    let t = Instant::now();
    let r = s
        .http
        .post(format!("{}/v1/sessions", s.base))
        .header("authorization", &s.auth)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = t.elapsed();
    assert_eq!(r.status().as_u16(), 201);
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let id = body["id"].as_str().unwrap_or_default();
    let _ = s
        .http
        .delete(format!("{}/v1/sessions/{id}", s.base))
        .header("authorization", &s.auth)
        .send()
        .await;
    took
}

pub(crate) async fn pool_rows() {
    let pool_size = POOL.to_string();
    let warm_gw = Served::start_with(
        "bench-pool",
        &[("AIRLOCK_SANDBOX__LOCAL__POOL_SIZE", pool_size.as_str())],
        &["--sub", "bench"],
    )
    .await;
    let cold_gw = Served::start("bench-cold").await;
    let (mut warm, mut cold) = (vec![], vec![]);
    for i in 0..WARM_SAMPLES {
        // Each sample finds the pool full: it measures a claim, not a refill.
        while warm_ready(&warm_gw).await < POOL {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        warm.push(create(&warm_gw).await);
        if i % COLD_EVERY == 0 {
            cold.push(create(&cold_gw).await);
        }
    }
    let (w, c) = (stats(warm), stats(cold));
    println!("| measurement | samples | p50 | p99 |\n|---|---|---|---|");
    row(
        "POST /v1/sessions from the warm pool (HTTP + audit)",
        &w,
        false,
    );
    row("POST /v1/sessions cold (no pool; baseline)", &c, false);
    println!(
        "\nwarm/cold: p50 {:.3}, p99 {:.3}",
        w.p50 / c.p50,
        w.p99 / c.p99
    );
    drop(warm_gw);
    drop(cold_gw);

    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = local_backend_with_pool(state.path(), POOL);
    let _ = backend.reap_leftovers(&[]).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while backend.idle().0 < POOL && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the kernels settle after their start.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (n, mem) = backend.idle();
    let mib: Vec<f64> = mem.iter().map(|b| *b as f64 / 1048576.0).collect();
    let mean = mib.iter().sum::<f64>() / mib.len().max(1) as f64;
    println!(
        "\nidle warm sandboxes: {n}; memory each (cgroup, incl. page cache): mean {mean:.1} MiB, {}",
        mib.iter()
            .map(|m| format!("{m:.1}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    backend.shutdown().await;
}
