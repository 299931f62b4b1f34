//! Egress enforced: only hosts the decision granted for the running execution, through the
//! gateway's proxy; SNI checked; raw IPs and unlisted methods refused; every connection audited.
//! Upstreams are HTTP servers on 127.0.0.2 and 127.0.0.3 of this machine, named allowed.test and
//! denied.test through `[egress] resolve`.

use crate::harness::{self, stdout_of, Gateway};
use serde_json::json;
use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
};

fn upstream(ip: &str, name: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("{ip}: {e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    let hits = Arc::new(Mutex::new(vec![]));
    let h = hits.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s);
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            if let Ok(mut h) = h.lock() {
                h.push(first.trim().to_owned());
            }
            let body = format!("hello from {name}");
            let _ = r.get_mut().write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    (port, hits)
}

#[test]
fn egress_only_to_granted_hosts_through_the_proxy() {
    let (pa, hits_a) = upstream("127.0.0.2", "A");
    let (pb, hits_b) = upstream("127.0.0.3", "B");
    let bundle = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = harness::bundle_copy(bundle.path(), |data| {
        data["airlock"]["egress_rules"]["default"] = json!([format!("allowed.test:{pa}")]);
    });
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", dir.as_str()),
            (
                "AIRLOCK_EGRESS__RESOLVE",
                r#"{"allowed.test" = "127.0.0.2", "denied.test" = "127.0.0.3"}"#,
            ),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let allowed = format!("allowed.test:{pa}");
    let fetch = |url: &str, method: &str| {
        format!("import urllib.request, urllib.error\ntry:\n    r = urllib.request.urlopen(urllib.request.Request({url:?}, method={method:?}, data=b'x' if {method:?} == 'POST' else None), timeout=10)\n    print(r.read().decode())\nexcept urllib.error.HTTPError as e:\n    print('HTTP', e.code, e.headers.get('X-Airlock-Egress'))\nexcept Exception as e:\n    print('ERR', type(e).__name__)")
    };

    // Granted: the request reaches allowed.test through the proxy.
    let r = api.run_with(&sid, json!({"language": "python", "code": fetch(&format!("http://allowed.test:{pa}/hi"), "GET"), "egress": [allowed]}));
    assert_eq!(stdout_of(&r), "hello from A\n");
    // Not asked for in this execution: refused by the proxy.
    let r = api.run(
        &sid,
        "python",
        &fetch(&format!("http://allowed.test:{pa}/again"), "GET"),
    );
    assert_eq!(stdout_of(&r), "HTTP 403 not_granted\n");
    // Not allowed by policy: the execution is denied before it runs.
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": "print(1)", "egress": [format!("denied.test:{pb}")]}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.body["decision"]["violations"][0]["code"],
        "egress_not_allowed"
    );
    assert!(r.body["decision"]["violations"][0]["hint"]
        .as_str()
        .unwrap_or_default()
        .contains(&format!("allowed.test:{pa}")));
    // Granted host, but POST where only GET/HEAD are allowed; and the raw IP of the granted host.
    let r = api.run_with(&sid, json!({"language": "python", "code": fetch(&format!("http://allowed.test:{pa}/post"), "POST"), "egress": [format!("allowed.test:{pa}")]}));
    assert_eq!(stdout_of(&r), "HTTP 405 method_not_allowed\n");
    let r = api.run_with(&sid, json!({"language": "python", "code": fetch(&format!("http://127.0.0.2:{pa}/ip"), "GET"), "egress": [format!("allowed.test:{pa}")]}));
    assert_eq!(stdout_of(&r), "HTTP 403 raw_ip\n");
    // TLS naming another host than the CONNECT target is cut off.
    let sni = format!("import socket, ssl\ns = socket.create_connection(('127.0.0.1', 3128), timeout=10)\ns.sendall(b'CONNECT allowed.test:{pa} HTTP/1.1\\r\\n\\r\\n')\nprint(s.recv(1024).split(b'\\r\\n')[0].decode())\nctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\ntry:\n    ctx.wrap_socket(s, server_hostname='denied.test')\n    print('TLS OK')\nexcept Exception as e:\n    print('TLS refused')");
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": sni, "egress": [format!("allowed.test:{pa}")]}),
    );
    assert_eq!(
        stdout_of(&r),
        "HTTP/1.1 200 Connection established\nTLS refused\n"
    );
    // Code that ignores the proxy reaches nothing.
    let direct = format!("import socket, urllib.request\ntry:\n    socket.create_connection(('127.0.0.2', {pa}), timeout=3); print('CONNECTED')\nexcept OSError as e:\n    print('no route:', type(e).__name__)\ntry:\n    urllib.request.build_opener(urllib.request.ProxyHandler({{}})).open('http://allowed.test:{pa}/', timeout=3); print('FETCHED')\nexcept Exception as e:\n    print('no proxy:', type(e).__name__)");
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": direct, "egress": [format!("allowed.test:{pa}")]}),
    );
    let out = stdout_of(&r);
    assert!(
        !out.contains("CONNECTED") && !out.contains("FETCHED"),
        "{out}"
    );

    // The upstreams saw exactly the one admitted request.
    assert_eq!(
        hits_a.lock().map(|h| h.clone()).unwrap_or_default(),
        vec!["GET /hi HTTP/1.1".to_string()]
    );
    assert!(hits_b.lock().map(|h| h.is_empty()).unwrap_or(false));

    // Every connection is an audit event with its outcome and the decision that granted it.
    let events = harness::audit_events(&gw.audit_file());
    let egress: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "egress.connection")
        .collect();
    let outcome = |e: &serde_json::Value| {
        (
            e["data"]["admitted"].as_bool().unwrap_or(false),
            e["data"]["reason"].as_str().unwrap_or("").to_owned(),
        )
    };
    let outcomes: Vec<(bool, String)> = egress.iter().map(|e| outcome(e)).collect();
    for want in [
        (true, String::new()),
        (false, "not_granted".into()),
        (false, "method_not_allowed".into()),
        (false, "raw_ip".into()),
        (false, "sni_mismatch".into()),
    ] {
        assert!(
            outcomes.contains(&want),
            "{want:?} missing from {outcomes:?}"
        );
    }
    let admitted = egress
        .iter()
        .find(|e| e["data"]["admitted"] == true)
        .unwrap_or_else(|| panic!("no admitted event"));
    assert_eq!(admitted["data"]["host"], "allowed.test");
    assert!(admitted["data"]["bytes_down"].as_u64().unwrap_or(0) > 0);
    assert!(admitted["data"]["decision_id"].is_string());
    let (code, out) = harness::verify(&gw.audit_file());
    assert_eq!(code, 0, "{out}");
}

/// An HTTPS upstream on 127.0.0.2 with a self-signed certificate for `name` (Python's ssl
/// server, a real TLS stack on the other side of the tunnel).
fn tls_upstream(dir: &std::path::Path, name: &str) -> (u16, harness::KillOnDrop) {
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            &format!("subjectAltName=DNS:{name}"),
        ])
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "openssl req failed");
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0);
    let script = format!(
        "import http.server, ssl\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        b = b'hello over tls'\n        self.send_response(200); self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)\n    def log_message(self, *a): pass\ns = http.server.HTTPServer(('127.0.0.2', {port}), H)\nc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('cert.pem', 'key.pem')\ns.socket = c.wrap_socket(s.socket, server_side=True)\nprint('ready', flush=True)\ns.serve_forever()\n"
    );
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = BufReader::new(out).read_line(&mut line);
    }
    let child = harness::KillOnDrop(child);
    assert_eq!(line.trim(), "ready");
    (port, child)
}

#[test]
fn https_through_the_proxy_to_a_granted_host() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (port, _server) = tls_upstream(tmp.path(), "secure.test");
    let dir = harness::bundle_copy(&tmp.path().join("bundle"), |data| {
        data["airlock"]["egress_rules"]["by_group"] =
            json!({"analysts": [format!("secure.test:{port}")]});
    });
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", dir.as_str()),
            (
                "AIRLOCK_EGRESS__RESOLVE",
                r#"{"secure.test" = "127.0.0.2"}"#,
            ),
        ],
    );
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    // The sandbox does not trust the test certificate; verification is off in the client only.
    let code = format!("import ssl, urllib.request\nctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\nprint(urllib.request.urlopen('https://secure.test:{port}/', context=ctx, timeout=10).read().decode())");
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": code, "egress": [format!("secure.test:{port}")]}),
    );
    assert_eq!(stdout_of(&r), "hello over tls\n");
    let events = harness::audit_events(&gw.audit_file());
    let e = events
        .iter()
        .find(|e| e["type"] == "egress.connection")
        .unwrap_or_else(|| panic!("no egress event"));
    assert_eq!(
        (
            e["data"]["method"].as_str(),
            e["data"]["admitted"].as_bool()
        ),
        (Some("CONNECT"), Some(true)),
        "{e}"
    );
    assert!(
        e["data"]["bytes_down"].as_u64().unwrap_or(0) > 1000,
        "the TLS handshake came back: {e}"
    );
}
