use super::*;
use crate::tls::build_client_hello;
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

/// An upstream on 127.0.0.1 that answers every connection with "pong" after reading a bit.
async fn upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                let _ = s.read(&mut b).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong")
                    .await;
            });
        }
    });
    port
}

async fn through(request: Vec<u8>, g: Option<EgressGrant>) -> (EgressRecord, Vec<u8>) {
    let (mut a, b) = tokio::io::duplex(1 << 16);
    let mut res = ProxyConfig::default();
    res.overrides.insert(
        "allowed.test".into(),
        "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
    );
    res.overrides.insert(
        "denied.test".into(),
        "127.0.0.1".parse().unwrap_or(IpAddr::from([127, 0, 0, 1])),
    );
    let task = tokio::spawn(async move { serve(b, g, &res).await });
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
    let p = upstream().await;
    let (rec, out) = through(format!("GET http://allowed.test:{p}/x HTTP/1.1\r\nHost: allowed.test\r\nProxy-Authorization: x\r\n\r\n").into_bytes(), grant(&[&format!("allowed.test:{p}")])).await;
    assert!(rec.admitted, "{rec:?}");
    assert!(String::from_utf8_lossy(&out).ends_with("pong"));
    assert_eq!(
        (rec.host.as_str(), rec.port, rec.method.as_str()),
        ("allowed.test", p, "GET")
    );
    assert!(rec.bytes_down > 0 && rec.bytes_up > 0);
}

#[tokio::test]
async fn forwarded_requests_ask_the_upstream_to_close() {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let p = l.local_addr().map(|a| a.port()).unwrap_or(0);
    let seen = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap_or_else(|e| panic!("{e}"));
        let mut b = vec![0u8; 2048];
        let n = s.read(&mut b).await.unwrap_or(0);
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .await;
        String::from_utf8_lossy(&b[..n]).into_owned()
    });
    let req = format!("GET http://allowed.test:{p}/a HTTP/1.1\r\nHost: allowed.test\r\nConnection: keep-alive\r\nProxy-Connection: keep-alive\r\n\r\n");
    let (rec, _) = through(req.into_bytes(), grant(&[&format!("allowed.test:{p}")])).await;
    assert!(rec.admitted);
    let head = seen.await.unwrap_or_default();
    assert!(head.starts_with("GET /a HTTP/1.1\r\n"), "{head}");
    assert!(
        head.contains("Connection: close\r\n") && !head.to_ascii_lowercase().contains("keep-alive"),
        "{head}"
    );
}

#[tokio::test]
async fn refusals_have_reasons() {
    let p = upstream().await;
    let g = grant(&[&format!("allowed.test:{p}")]);
    let cases = [
        (
            format!("GET http://denied.test:{p}/ HTTP/1.1\r\n\r\n"),
            g.clone(),
            "not_granted",
        ),
        (
            format!("GET http://127.0.0.1:{p}/ HTTP/1.1\r\n\r\n"),
            g.clone(),
            "raw_ip",
        ),
        (
            format!("POST http://allowed.test:{p}/ HTTP/1.1\r\nContent-Length: 0\r\n\r\n"),
            g.clone(),
            "method_not_allowed",
        ),
        (
            format!("GET http://allowed.test:{p}/ HTTP/1.1\r\n\r\n"),
            None,
            "not_granted",
        ),
        (
            "GET /relative HTTP/1.1\r\n\r\n".to_owned(),
            g.clone(),
            "bad_request",
        ),
        (
            format!("GET http://allowed.test:{}/ HTTP/1.1\r\n\r\n", p + 1),
            g.clone(),
            "not_granted",
        ),
    ];
    for (req, g, want) in cases {
        let (rec, out) = through(req.into_bytes(), g).await;
        assert!(!rec.admitted);
        assert_eq!(rec.reason.as_deref(), Some(want), "{rec:?}");
        assert!(String::from_utf8_lossy(&out).contains(&format!("X-Airlock-Egress: {want}")));
    }
}

#[tokio::test]
async fn connect_checks_the_tls_server_name() {
    let p = upstream().await;
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
        (rec.admitted, rec.reason.as_deref()),
        (false, Some("sni_mismatch"))
    );

    let mut none = format!("CONNECT allowed.test:{p} HTTP/1.1\r\n\r\n").into_bytes();
    none.extend_from_slice(&build_client_hello(None));
    let (rec, _) = through(none, g.clone()).await;
    assert_eq!(rec.reason.as_deref(), Some("no_sni"));

    let mut plain = format!("CONNECT allowed.test:{p} HTTP/1.1\r\n\r\n").into_bytes();
    plain.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
    let (rec, _) = through(plain, g).await;
    assert_eq!(rec.reason.as_deref(), Some("not_tls"));
}
