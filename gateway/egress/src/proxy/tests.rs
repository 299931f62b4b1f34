use super::*;
use crate::{tls::build_client_hello, Epoch};
use airlock_gateway_domain::egress::EgressLog;
use std::sync::Arc;
use tokio::net::TcpListener;

fn grant(hosts: &[&str]) -> Option<EgressGrant> {
    Some(EgressGrant {
        hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        http_methods: vec!["GET".into(), "HEAD".into()],
        packages: vec!["airlock-demo==1.0.0".into()],
        package_hashes: Default::default(),
        decision_id: "d1".into(),
    })
}

/// An upstream on 127.0.0.1 that records what it reads and answers "pong" after a head.
async fn upstream() -> (u16, Arc<std::sync::Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    let seen = Arc::new(std::sync::Mutex::new(vec![]));
    let s2 = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let seen = s2.clone();
            tokio::spawn(async move {
                let mut b = [0u8; 4096];
                // Read whatever arrives within a moment (a pipelined request would too).
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(300), s.read(&mut b)).await
                {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut v) = seen.lock() {
                        v.extend_from_slice(&b[..n]);
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong")
                    .await;
            });
        }
    });
    (port, seen)
}

fn config() -> ProxyConfig {
    let mut cfg = ProxyConfig::default();
    let lo = IpAddr::from([127, 0, 0, 1]);
    cfg.overrides.insert("allowed.test".into(), lo);
    cfg.overrides.insert("denied.test".into(), lo);
    cfg
}

async fn through(request: Vec<u8>, g: Option<EgressGrant>) -> (EgressRecord, Vec<u8>) {
    let (mut a, b) = tokio::io::duplex(1 << 16);
    let cfg = config();
    let task = tokio::spawn(async move {
        let mut rec = EgressRecord::default();
        serve(b, g.as_ref(), &cfg, &mut rec, &Default::default()).await;
        rec
    });
    a.write_all(&request)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(5), a.read_to_end(&mut out)).await;
    drop(a);
    (task.await.unwrap_or_default(), out)
}

#[tokio::test]
async fn plain_http_to_a_granted_host_is_relayed() {
    let (p, _) = upstream().await;
    let (rec, out) = through(format!("GET http://allowed.test:{p}/x HTTP/1.1\r\nHost: allowed.test:{p}\r\nProxy-Authorization: x\r\n\r\n").into_bytes(), grant(&[&format!("allowed.test:{p}")])).await;
    assert!(rec.admitted, "{rec:?}");
    assert!(String::from_utf8_lossy(&out).ends_with("pong"));
    assert_eq!(
        (rec.host.as_str(), rec.port, rec.method.as_str()),
        ("allowed.test", p, "GET")
    );
    assert!(rec.bytes_down > 0 && rec.bytes_up > 0);
}

#[tokio::test]
async fn exactly_the_admitted_request_goes_upstream() {
    let (p, seen) = upstream().await;
    // A second request pipelined behind the first must not reach the upstream.
    let req = format!("GET http://allowed.test:{p}/a HTTP/1.1\r\nHost: allowed.test:{p}\r\nConnection: keep-alive\r\nProxy-Connection: keep-alive\r\n\r\nDELETE /admin HTTP/1.1\r\nHost: allowed.test\r\n\r\n");
    let (rec, _) = through(req.into_bytes(), grant(&[&format!("allowed.test:{p}")])).await;
    assert!(rec.admitted);
    let head =
        String::from_utf8_lossy(&seen.lock().map(|v| v.clone()).unwrap_or_default()).into_owned();
    assert!(head.starts_with("GET /a HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains("Connection: close\r\n") && !head.to_ascii_lowercase().contains("keep-alive"),
        "{head}"
    );
    assert!(
        !head.contains("DELETE"),
        "a pipelined request rode the connection: {head}"
    );
}

#[tokio::test]
async fn refusals_have_reasons() {
    let (p, _) = upstream().await;
    let g = grant(&[&format!("allowed.test:{p}")]);
    let cases = [
        (format!("GET http://denied.test:{p}/ HTTP/1.1\r\nHost: denied.test:{p}\r\n\r\n"), g.clone(), "not_granted"),
        (format!("GET http://127.0.0.1:{p}/ HTTP/1.1\r\nHost: 127.0.0.1:{p}\r\n\r\n"), g.clone(), "raw_ip"),
        (format!("POST http://allowed.test:{p}/ HTTP/1.1\r\nHost: allowed.test:{p}\r\nContent-Length: 0\r\n\r\n"), g.clone(), "method_not_allowed"),
        (format!("GET http://allowed.test:{p}/ HTTP/1.1\r\nHost: allowed.test:{p}\r\n\r\n"), None, "not_granted"),
        ("GET /relative HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), g.clone(), "bad_request"),
        (format!("GET http://allowed.test:{}/ HTTP/1.1\r\nHost: allowed.test:{}\r\n\r\n", p + 1, p + 1), g.clone(), "not_granted"),
        // Another virtual host behind the granted address.
        (format!("GET http://allowed.test:{p}/ HTTP/1.1\r\nHost: internal-admin.test\r\n\r\n"), g.clone(), "host_mismatch"),
        (format!("GET http://allowed.test:{p}/ HTTP/1.1\r\nHost: allowed.test:{p}\r\nTransfer-Encoding: chunked\r\n\r\n"), g.clone(), "bad_request"),
    ];
    for (req, g, want) in cases {
        let (rec, out) = through(req.clone().into_bytes(), g).await;
        assert!(!rec.admitted, "{req}");
        assert_eq!(rec.reason.map(|r| r.as_str()), Some(want), "{req}: {rec:?}");
        assert!(String::from_utf8_lossy(&out).contains(&format!("X-Airlock-Egress: {want}")));
    }
}

#[tokio::test]
async fn a_granted_name_that_resolves_to_loopback_is_refused() {
    // `localhost` through the system resolver: 127.0.0.1 (not pinned by the operator).
    let (p, seen) = upstream().await;
    let g = grant(&[&format!("localhost:{p}")]);
    let (rec, out) = through(
        format!("GET http://localhost:{p}/ HTTP/1.1\r\nHost: localhost:{p}\r\n\r\n").into_bytes(),
        g.clone(),
    )
    .await;
    assert_eq!(
        rec.reason.map(|r| r.as_str()),
        Some("private_address"),
        "{rec:?}"
    );
    assert!(String::from_utf8_lossy(&out).contains("403"));
    let mut connect = format!("CONNECT localhost:{p} HTTP/1.1\r\n\r\n").into_bytes();
    connect.extend_from_slice(&build_client_hello(Some("localhost")));
    let (rec, _) = through(connect, g).await;
    assert_eq!(
        rec.reason.map(|r| r.as_str()),
        Some("private_address"),
        "{rec:?}"
    );
    assert!(
        seen.lock().map(|v| v.is_empty()).unwrap_or(false),
        "the upstream was reached"
    );
}

#[tokio::test]
async fn connect_checks_the_tls_server_name() {
    let (p, _) = upstream().await;
    let g = grant(&[&format!("allowed.test:{p}")]);
    let mut ok = format!("CONNECT allowed.test:{p} HTTP/1.1\r\n\r\n").into_bytes();
    ok.extend_from_slice(&build_client_hello(Some("allowed.test")));
    let (rec, out) = through(ok, g.clone()).await;
    assert!(rec.admitted, "{rec:?}");
    assert!(String::from_utf8_lossy(&out).contains("200 Connection established"));

    let mut mismatch = format!("CONNECT allowed.test:{p} HTTP/1.1\r\n\r\n").into_bytes();
    mismatch.extend_from_slice(&build_client_hello(Some("denied.test")));
    let (rec, _) = through(mismatch, g.clone()).await;
    assert_eq!(
        (rec.admitted, rec.reason.map(|r| r.as_str())),
        (false, Some("sni_mismatch"))
    );

    let mut none = format!("CONNECT allowed.test:{p} HTTP/1.1\r\n\r\n").into_bytes();
    none.extend_from_slice(&build_client_hello(None));
    let (rec, _) = through(none, g.clone()).await;
    assert_eq!(rec.reason.map(|r| r.as_str()), Some("no_sni"));

    let mut plain = format!("CONNECT allowed.test:{p} HTTP/1.1\r\n\r\n").into_bytes();
    plain.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let (rec, _) = through(plain, g).await;
    assert_eq!(rec.reason.map(|r| r.as_str()), Some("not_tls"));
}

#[tokio::test]
async fn an_open_tunnel_is_cut_and_recorded_when_its_execution_ends() {
    // An upstream that never answers: the tunnel stays open until the epoch closes.
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let p = l.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let log = Arc::new(EgressLog::default());
    let epoch = Epoch::new(grant(&[&format!("allowed.test:{p}")]), log.clone());
    let (mut a, b) = tokio::io::duplex(1 << 16);
    epoch.serve(b, config());
    let mut hello = format!("CONNECT allowed.test:{p} HTTP/1.1\r\n\r\n").into_bytes();
    hello.extend_from_slice(&build_client_hello(Some("allowed.test")));
    a.write_all(&hello).await.unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 64];
    let n = a.read(&mut buf).await.unwrap_or(0);
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(log.take().is_empty(), "recorded before it ended");
    epoch.close().await;
    let recs = log.take();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert!(recs[0].admitted && recs[0].bytes_up > 0, "{recs:?}");
    assert_eq!(recs[0].reason.map(|r| r.as_str()), Some("execution_ended"));
    // The client side is closed too.
    let mut rest = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(2), a.read_to_end(&mut rest)).await;
}

/// An upstream that answers "late" once the client side has closed (after `delay`, or never
/// when None): its port, and a signal sent when it saw the client's close.
async fn closing_upstream(delay: Option<Duration>) -> (u16, tokio::sync::oneshot::Receiver<()>) {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let p = l.local_addr().map(|a| a.port()).unwrap_or(0);
    let (saw_close, closed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let mut sink = vec![];
        let _ = s.read_to_end(&mut sink).await;
        let _ = saw_close.send(());
        match delay {
            Some(d) => {
                tokio::time::sleep(d).await;
                let _ = s.write_all(b"late").await;
            }
            None => std::future::pending::<()>().await,
        }
    });
    (p, closed)
}

/// An epoch granting `allowed.test:{port}`, a tunnel through it, and the epoch's log.
async fn tunnel_in_epoch(port: u16) -> (Arc<Epoch>, Arc<EgressLog>, tokio::io::DuplexStream) {
    let log = Arc::new(EgressLog::default());
    let epoch = Epoch::new(grant(&[&format!("allowed.test:{port}")]), log.clone());
    let (mut a, b) = tokio::io::duplex(1 << 16);
    epoch.serve(b, config());
    let mut hello = format!("CONNECT allowed.test:{port} HTTP/1.1\r\n\r\n").into_bytes();
    hello.extend_from_slice(&build_client_hello(Some("allowed.test")));
    a.write_all(&hello).await.unwrap_or_else(|e| panic!("{e}"));
    let mut buf = [0u8; 64];
    let n = a.read(&mut buf).await.unwrap_or(0);
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200"));
    (epoch, log, a)
}

#[tokio::test]
async fn a_connection_closing_when_its_execution_ends_finishes_and_is_recorded_as_finished() {
    // The code closed its side in its last line; the upstream's answer and close follow after
    // the execution ended. Within the grace that is a finished connection, not a cut one.
    let (p, closed) = closing_upstream(Some(Duration::from_millis(200))).await;
    let (epoch, log, mut a) = tunnel_in_epoch(p).await;
    a.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    closed.await.unwrap_or_else(|e| panic!("{e}"));
    epoch.close().await;
    let recs = log.take();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].reason, None, "{recs:?}");
    assert!(recs[0].admitted && recs[0].bytes_down == 4, "{recs:?}");
    let mut rest = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(2), a.read_to_end(&mut rest)).await;
    assert_eq!(rest, b"late");
}

#[tokio::test]
async fn a_closing_connection_that_does_not_finish_within_the_grace_is_cut() {
    let (p, closed) = closing_upstream(None).await;
    let (epoch, log, mut a) = tunnel_in_epoch(p).await;
    a.shutdown().await.unwrap_or_else(|e| panic!("{e}"));
    closed.await.unwrap_or_else(|e| panic!("{e}"));
    epoch.close().await;
    let recs = log.take();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].reason.map(|r| r.as_str()), Some("execution_ended"));
}

#[tokio::test]
async fn a_plain_request_sent_before_its_execution_ended_gets_its_answer_and_is_finished() {
    // The upstream answers 300 ms after the request's last byte, after the execution ended.
    let (p, seen) = upstream().await;
    let log = Arc::new(EgressLog::default());
    let epoch = Epoch::new(grant(&[&format!("allowed.test:{p}")]), log.clone());
    let (mut a, b) = tokio::io::duplex(1 << 16);
    epoch.serve(b, config());
    let req = format!("GET http://allowed.test:{p}/x HTTP/1.1\r\nHost: allowed.test:{p}\r\n\r\n");
    a.write_all(req.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    while seen.lock().map(|v| v.is_empty()).unwrap_or(true) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    epoch.close().await;
    let recs = log.take();
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].reason, None, "{recs:?}");
    let mut out = vec![];
    let _ = tokio::time::timeout(Duration::from_secs(2), a.read_to_end(&mut out)).await;
    assert!(String::from_utf8_lossy(&out).ends_with("pong"), "{out:?}");
}

/// An upstream that closes its side at once and keeps reading: its port, and what it read.
async fn half_closing_upstream() -> (u16, Arc<std::sync::Mutex<Vec<u8>>>) {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let p = l.local_addr().map(|a| a.port()).unwrap_or(0);
    let got = Arc::new(std::sync::Mutex::new(vec![]));
    let g2 = got.clone();
    tokio::spawn(async move {
        let Ok((mut s, _)) = l.accept().await else {
            return;
        };
        let _ = s.shutdown().await;
        let mut b = [0u8; 4096];
        while let Ok(n) = s.read(&mut b).await {
            if n == 0 {
                break;
            }
            if let Ok(mut v) = g2.lock() {
                v.extend_from_slice(&b[..n]);
            }
        }
    });
    (p, got)
}

#[tokio::test]
async fn an_upstream_closing_first_does_not_let_the_code_send_after_its_execution_ended() {
    // A granted host that half-closes must not buy the code a grace to keep uploading.
    let (p, got) = half_closing_upstream().await;
    let (epoch, log, mut a) = tunnel_in_epoch(p).await;
    let mut eof = vec![];
    a.read_to_end(&mut eof)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let closing = tokio::spawn(async move { epoch.close().await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = a.write_all(b"after-the-end").await;
    closing.await.unwrap_or_else(|e| panic!("{e}"));
    let recs = log.take();
    assert_eq!(recs[0].reason.map(|r| r.as_str()), Some("execution_ended"));
    let seen = got.lock().map(|v| v.clone()).unwrap_or_default();
    let seen = String::from_utf8_lossy(&seen);
    assert!(!seen.contains("after-the-end"), "{seen}");
}
