//! `1+1` through the agent directly and through the whole HTTP path, cold session starts, and
//! many live sessions at once without cross-talk.

use crate::local_backend;
use crate::{stats, Stats};
use std::time::{Duration, Instant};

pub(crate) async fn direct_bench() -> Stats {
    let state = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let backend = local_backend(state.path());
    let sb = crate::new_sandbox(&backend).await;
    let job = || crate::python_job("1+1", Duration::from_secs(10));
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

pub(crate) async fn http_bench() -> (Stats, Stats, Option<(usize, f64, u64, usize)>) {
    let g = crate::serve::Served::start("bench-http").await;
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
        crate::serve::one_plus_one(http, &url, &auth).await;
        warm.push(t.elapsed());
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

pub(crate) fn mem_available_mib() -> u64 {
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
pub(crate) async fn live_sessions(
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

pub(crate) async fn futures_join<F: std::future::Future>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output> {
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
