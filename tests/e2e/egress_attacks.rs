//! The egress proxy tried as an attacker would: names that resolve to loopback, another
//! virtual host behind a granted address, a connection held open into a later execution, an
//! agent killed after egress, and local users (and the gateway host's root) on the sandbox's
//! sockets.

use crate::harness::{self, stdout_of, Gateway};
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    time::Duration,
};

/// An upstream that answers each request with its Host header.
fn echo_host(ip: &str) -> u16 {
    let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s);
            let mut host = String::new();
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 2 {
                if line.to_ascii_lowercase().starts_with("host:") {
                    host = line[5..].trim().to_owned();
                }
                line.clear();
            }
            let body = format!("host={host}");
            let _ = r.get_mut().write_all(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
    port
}

/// An upstream that accepts and holds every connection without answering.
fn silent(ip: &str) -> u16 {
    let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("{e}"));
    let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        let mut held = vec![];
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

fn egress_events(gw: &Gateway) -> Vec<Value> {
    harness::audit_events(&gw.audit_file())
        .into_iter()
        .filter(|e| e["type"] == "egress.connection")
        .collect()
}

fn gateway(rules: Value) -> (Gateway, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = harness::bundle_copy(tmp.path(), |d| {
        d["airlock"]["egress_rules"]["default"] = rules;
    });
    let gw = Gateway::start_opts(
        "",
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", dir.as_str()),
            (
                "AIRLOCK_EGRESS__RESOLVE",
                r#"{"allowed.test" = "127.0.0.2"}"#,
            ),
        ],
    );
    (gw, tmp)
}

/// A raw request through the sandbox's proxy; the first line of the answer and its egress reason.
fn raw(request: &str) -> String {
    format!("import socket\ns = socket.create_connection(('127.0.0.1', 3128), timeout=10)\ns.sendall({request:?}.encode())\ndata = b''\nwhile True:\n    b = s.recv(4096)\n    if not b: break\n    data += b\ntext = data.decode(errors='replace')\nreason = [l for l in text.split('\\r\\n') if l.lower().startswith('x-airlock-egress')]\nprint(text.split('\\r\\n')[0], reason[0] if reason else text.split('\\r\\n\\r\\n')[-1])")
}

#[test]
fn names_that_resolve_to_internal_addresses_and_other_virtual_hosts_are_refused() {
    let port = echo_host("127.0.0.1");
    let pinned = echo_host("127.0.0.2");
    let (gw, _tmp) = gateway(json!([
        format!("localhost:{port}"),
        format!("ip6-localhost:{port}"),
        format!("allowed.test:{pinned}")
    ]));
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let grant = json!([
        format!("localhost:{port}"),
        format!("allowed.test:{pinned}")
    ]);
    let fetch = |url: String| {
        format!("import urllib.request, urllib.error\ntry:\n    print(urllib.request.urlopen({url:?}, timeout=10).read().decode())\nexcept urllib.error.HTTPError as e:\n    print('HTTP', e.code, e.headers.get('X-Airlock-Egress'))")
    };
    // A granted name that the system resolver maps to loopback.
    let r = api.run_with(&sid, json!({"language": "python", "code": fetch(format!("http://localhost:{port}/")), "egress": grant}));
    assert_eq!(stdout_of(&r), "HTTP 403 private_address\n", "{}", r.body);
    // The operator-pinned name still works, and its Host header reaches the upstream as sent.
    let r = api.run_with(&sid, json!({"language": "python", "code": fetch(format!("http://allowed.test:{pinned}/")), "egress": grant}));
    assert_eq!(
        stdout_of(&r),
        format!("host=allowed.test:{pinned}\n"),
        "{}",
        r.body
    );
    // Another virtual host behind the granted address, and a second Host header.
    for req in [
        format!("GET http://allowed.test:{pinned}/ HTTP/1.1\r\nHost: admin.internal\r\n\r\n"),
        format!("GET http://allowed.test:{pinned}/ HTTP/1.1\r\nHost: allowed.test:{pinned}\r\nHost: admin.internal\r\n\r\n"),
    ] {
        let r = api.run_with(&sid, json!({"language": "python", "code": raw(&req), "egress": grant}));
        assert_eq!(stdout_of(&r), "HTTP/1.1 403 Forbidden X-Airlock-Egress: host_mismatch\n", "{req}: {}", r.body);
    }
    let reasons: Vec<String> = egress_events(&gw)
        .iter()
        .filter_map(|e| e["data"]["reason"].as_str().map(str::to_owned))
        .collect();
    assert!(
        reasons.contains(&"private_address".to_owned())
            && reasons.contains(&"host_mismatch".to_owned()),
        "{reasons:?}"
    );
}

#[test]
fn a_connection_held_open_ends_with_its_execution_and_is_recorded_with_it() {
    let port = silent("127.0.0.2");
    let (gw, _tmp) = gateway(json!([format!("allowed.test:{port}")]));
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    // A thread in the kernel opens a connection under this execution's grant and keeps it.
    let code = format!("import socket, threading\nstate = {{}}\ndef hold():\n    s = socket.create_connection(('127.0.0.1', 3128), timeout=60)\n    s.sendall(b'GET http://allowed.test:{port}/ HTTP/1.1\\r\\nHost: allowed.test:{port}\\r\\n\\r\\n')\n    state['sock'] = s\n    try:\n        state['got'] = s.recv(100)\n    except Exception as e:\n        state['got'] = repr(e)\nt = threading.Thread(target=hold, daemon=True); t.start()\nimport time; time.sleep(1)\nprint('holding')");
    let first = api.run_with(
        &sid,
        json!({"language": "python", "code": code, "egress": [format!("allowed.test:{port}")]}),
    );
    assert_eq!(stdout_of(&first), "holding\n", "{}", first.body);
    let first_id = first.body["id"].as_str().unwrap_or_default().to_owned();
    // The next execution has no grant: the held connection was cut when the first one ended.
    let second = api.run(&sid, "python", "t.join(10)\nprint(state.get('got'))");
    assert_eq!(stdout_of(&second), "b''\n", "{}", second.body);
    let held: Vec<Value> = egress_events(&gw)
        .into_iter()
        .filter(|e| e["data"]["host"] == "allowed.test")
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0]["data"]["execution_id"],
        first_id.as_str(),
        "{}",
        held[0]
    );
    assert_eq!(held[0]["data"]["reason"], "execution_ended", "{}", held[0]);
    assert_eq!(held[0]["data"]["admitted"], true, "{}", held[0]);
}

#[test]
fn connections_are_recorded_even_when_the_code_kills_its_agent() {
    let port = echo_host("127.0.0.2");
    let (gw, _tmp) = gateway(json!([format!("allowed.test:{port}")]));
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let code = format!("import os, signal, urllib.request\nprint(urllib.request.urlopen('http://allowed.test:{port}/', timeout=10).read().decode(), flush=True)\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(30)");
    let r = api.run_with(
        &sid,
        json!({"language": "python", "code": code, "egress": [format!("allowed.test:{port}")]}),
    );
    assert_eq!(r.status, 503, "{}", r.body);
    let id = r.body["error"]["details"]["execution_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!id.is_empty(), "{}", r.body);
    let events = egress_events(&gw);
    assert!(
        events
            .iter()
            .any(|e| e["data"]["execution_id"] == id.as_str() && e["data"]["admitted"] == true),
        "the connection made before the agent died is not on the record: {events:?}"
    );
}

/// The run directory of the only sandbox of `gw`.
fn run_dir(gw: &Gateway) -> std::path::PathBuf {
    let entry = std::fs::read_dir(gw.sandboxes_dir())
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .next()
        .unwrap_or_else(|| panic!("no sandbox"));
    entry.path().join("run")
}

#[test]
fn other_local_users_cannot_use_a_sandboxs_sockets() {
    let port = echo_host("127.0.0.2");
    let (gw, _tmp) = gateway(json!([format!("allowed.test:{port}")]));
    let api = gw.api(&harness::token("alice-tool"));
    let sid = api.session();
    let run = run_dir(&gw);
    // Another unprivileged user of the host, with the paths in hand.
    for sock in ["egress.sock", "agent.sock"] {
        let path = run.join(sock);
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c"])
            .arg(format!("import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({:?})\n    print('connected')\nexcept OSError as e:\n    print(type(e).__name__)", path.display().to_string()))
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "PermissionError",
            "{sock}: {out:?}"
        );
    }
    // Even root on the host (which passes file permissions) is not the sandbox's uid: the
    // egress proxy refuses it by its peer credentials, and records that.
    let mut s = std::os::unix::net::UnixStream::connect(run.join("egress.sock"))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(
        format!("GET http://allowed.test:{port}/ HTTP/1.1\r\nHost: allowed.test:{port}\r\n\r\n")
            .as_bytes(),
    );
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(!answer.contains("host="), "{answer}");
    let r = api.run(&sid, "python", "print('next')");
    assert_eq!(stdout_of(&r), "next\n");
    assert!(
        egress_events(&gw)
            .iter()
            .any(|e| e["data"]["reason"] == "peer_refused"),
        "{:?}",
        egress_events(&gw)
    );
}
