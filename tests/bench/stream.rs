//! Live streams (`AIRLOCK_BENCH_ONLY=stream`): how long a printed line takes to reach an SSE
//! client of a running `airlock serve`, beside the same lines reaching the gateway process
//! straight from the sandbox (the local backend's observer, no job log, no HTTP); and what
//! open streams cost in gateway memory.

use crate::{serve::Served, stats, Stats};
use airlock_gateway_domain::{
    ports::{JobObserver, SandboxJob},
    Output,
};
use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// Lines the cell prints, one every 10 ms, each its own print time.
const LINES: usize = 300;
const CELL: &str = "import time\nfor i in range(300):\n    print(f'{time.time():.6f}', flush=True)\n    time.sleep(0.01)";
/// Followers of one execution for the memory measurement.
const FOLLOWERS: usize = 100;

/// The host's wall clock, compared with the times the sandboxed code prints (one host, one
/// clock).
#[allow(clippy::disallowed_methods)]
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// The delay of every line in `text` (each a print time), measured now.
fn delays(text: &str, out: &mut Vec<Duration>) {
    let now = unix_now();
    for l in text.lines() {
        if let Ok(t) = l.trim().parse::<f64>() {
            out.push(Duration::from_secs_f64((now - t).max(0.0)));
        }
    }
}

pub(crate) struct StreamRows {
    pub sse: Stats,
    pub direct: Stats,
    pub rss_before_kib: u64,
    pub rss_open_kib: u64,
    pub followers_done: usize,
}

#[derive(Debug, Default)]
struct Timed(Mutex<Vec<Duration>>);

impl JobObserver for Timed {
    fn printed(&self, _stderr: bool, text: &str) {
        if let Ok(mut v) = self.0.lock() {
            delays(text, &mut v);
        }
    }
    fn displayed(&self, _output: &Output) {}
}

/// The same cell through the local backend, lines timed as the gateway process gets them.
async fn direct() -> Stats {
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = crate::local_backend(state.path());
    let sb = crate::new_sandbox(&backend).await;
    let timed = Arc::new(Timed::default());
    let job = SandboxJob {
        observer: Some(timed.clone()),
        ..crate::python_job(CELL, Duration::from_secs(60))
    };
    let _ = sb.run(job).await.unwrap_or_else(|e| panic!("{e}"));
    let _ = sb.destroy().await;
    let v = timed.0.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(v.len(), LINES, "every line arrived");
    stats(v)
}

/// Reads an SSE response to its end; the delay of every printed line as it arrives.
async fn read_stream(mut r: reqwest::Response) -> (Vec<Duration>, bool) {
    let mut buf = String::new();
    let mut v = vec![];
    let mut got_result = false;
    while let Ok(Some(chunk)) = r.chunk().await {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if event.contains("event: stdout") {
                if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let j: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                    delays(j["text"].as_str().unwrap_or(""), &mut v);
                }
            }
            got_result |= event.contains("event: result");
        }
    }
    (v, got_result)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) async fn stream_bench() -> StreamRows {
    let direct = direct().await;
    let g = Served::start("bench-stream").await;
    let sid = g.session().await;
    let url = format!("{}/v1/sessions/{sid}/executions", g.base);
    // Warm the kernel's imports.
    let _ = g
        .post_json(
            &url,
            serde_json::json!({"language": "python", "code": "import time"}),
        )
        .await;
    let r = g
        .http
        .post(&url)
        .header("authorization", &g.auth)
        .header("accept", "text/event-stream")
        .json(&serde_json::json!({"language": "python", "code": CELL}))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (sse, done) = read_stream(r).await;
    assert!(
        done && sse.len() == LINES,
        "{} lines, result {done}",
        sse.len()
    );

    // Memory: many followers of one running execution.
    let pid = g.pid();
    let rss_before_kib = rss_kib(pid);
    let long = serde_json::json!({"language": "python", "code": "import time; time.sleep(30)"});
    let accepted = g
        .http
        .post(&url)
        .header("authorization", &g.auth)
        .header("prefer", "respond-async")
        .json(&long)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json::<serde_json::Value>()
        .await
        .unwrap_or_default();
    let id = accepted["id"].as_str().unwrap_or_default().to_owned();
    let mut followers = vec![];
    for _ in 0..FOLLOWERS {
        let r = g
            .http
            .get(format!("{}/v1/executions/{id}/events", g.base))
            .header("authorization", &g.auth)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        followers.push(tokio::spawn(read_stream(r)));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open_kib = rss_kib(pid);
    let _ = g
        .http
        .post(format!("{}/v1/executions/{id}/cancel", g.base))
        .header("authorization", &g.auth)
        .send()
        .await;
    let mut followers_done = 0;
    for f in followers {
        if let Ok((_, true)) = f.await {
            followers_done += 1;
        }
    }
    StreamRows {
        sse: stats(sse),
        direct,
        rss_before_kib,
        rss_open_kib,
        followers_done,
    }
}

pub(crate) async fn stream_rows() {
    let r = stream_bench().await;
    println!("| live streams | samples | p50 | p99 |\n|---|---|---|---|");
    crate::row(
        "printed line to an SSE client (kernel, agent, gateway job log, HTTP)",
        &r.sse,
        false,
    );
    crate::row(
        "printed line to the gateway process (baseline: kernel, agent, local backend)",
        &r.direct,
        false,
    );
    println!(
        "\nSSE path beyond the baseline at p50: {:.2} ms; at p99: {:.2} ms",
        r.sse.p50 - r.direct.p50,
        r.sse.p99 - r.direct.p99
    );
    let delta = r.rss_open_kib.saturating_sub(r.rss_before_kib);
    println!(
        "gateway RSS: {} KiB before, {} KiB with {FOLLOWERS} streams open ({} KiB per stream); {}/{FOLLOWERS} followers got the result after cancel",
        r.rss_before_kib,
        r.rss_open_kib,
        delta / FOLLOWERS as u64,
        r.followers_done
    );
}
