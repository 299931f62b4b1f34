//! Metrics and OTLP trace export.

use crate::harness::{self, stdout_of, Gateway};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
};

/// A minimal OTLP/HTTP receiver on loopback: records (path, content-type, body) of each POST.
/// (path, content-type, body) of each request received.
type Posts = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

fn collector() -> (String, Posts) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let seen = Arc::new(Mutex::new(vec![]));
    let sink = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let (mut path, mut ctype, mut len) = (String::new(), String::new(), 0usize);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let l = line.trim_end().to_owned();
                line.clear();
                if l.is_empty() {
                    break;
                }
                if let Some(p) = l.strip_prefix("POST ") {
                    path = p.split(' ').next().unwrap_or_default().to_owned();
                }
                let lower = l.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-type:") {
                    ctype = v.trim().to_owned();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            if let Ok(mut s) = sink.lock() {
                s.push((path, ctype, body));
            }
            let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n");
        }
    });
    (url, seen)
}

#[test]
fn metrics_count_executions_and_traces_reach_the_collector() {
    let (url, seen) = collector();
    let mut gw = Gateway::start_opts("", &[("AIRLOCK_TELEMETRY__OTLP_ENDPOINT", url.as_str())]);
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    assert_eq!(
        stdout_of(&api.run(&sid, "python", "print('traced')")),
        "traced\n"
    );
    assert_eq!(api.run(&sid, "python", "import requests").status, 403);

    let metrics = harness::client()
        .get(format!("{}/metrics", gw.url))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    for needle in [
        "airlock_executions_total{status=\"succeeded\"} 1",
        "airlock_executions_total{status=\"denied\"} 1",
        "airlock_policy_decision_seconds",
        "airlock_sandboxes_live 1",
        "airlock_audit_events_total",
    ] {
        assert!(
            metrics.contains(needle),
            "{needle} missing from /metrics:\n{metrics}"
        );
    }

    gw.stop(); // flushes the batch exporter
    let posts = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(!posts.is_empty(), "no OTLP export arrived");
    assert!(
        posts
            .iter()
            .all(|(p, c, _)| p == "/v1/traces" && c == "application/x-protobuf"),
        "{:?}",
        posts.iter().map(|(p, c, _)| (p, c)).collect::<Vec<_>>()
    );
    let all: Vec<u8> = posts.iter().flat_map(|(_, _, b)| b.clone()).collect();
    for span in ["decide", "analyse", "enforce", "record"] {
        assert!(
            all.windows(span.len()).any(|w| w == span.as_bytes()),
            "span {span} not exported"
        );
    }
}
