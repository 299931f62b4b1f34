//! Signed webhooks of review cases to a real HTTP receiver that verifies every signature (the
//! Standard Webhooks scheme), sees every event in order, and gets what it missed while down.

use crate::harness::{self, Gateway};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpListener,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

const SECRET: &str = "whsec_c2VjcmV0LWtleS1mb3ItdGhlLWUyZS10ZXN0cw==";

#[derive(Default)]
struct Seen {
    events: Mutex<Vec<Value>>,
    refused: AtomicUsize,
    bad_signatures: AtomicUsize,
    down: AtomicBool,
}

/// A receiver on a free port: verifies, then answers 503 while `down`, else keeps the event.
fn receiver() -> (u16, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn);
            let mut headers = std::collections::HashMap::new();
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                }
                line.clear();
            }
            let len = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            if !verified(&headers, &body) {
                s.bad_signatures.fetch_add(1, Ordering::SeqCst);
            }
            let status = if s.down.load(Ordering::SeqCst) {
                s.refused.fetch_add(1, Ordering::SeqCst);
                "503 Service Unavailable"
            } else {
                s.events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(serde_json::from_str(&body).unwrap_or(Value::Null));
                "200 OK"
            };
            let mut conn = reader.into_inner();
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
    });
    (port, seen)
}

/// The Standard Webhooks check a receiver makes.
fn verified(h: &std::collections::HashMap<String, String>, body: &str) -> bool {
    let (Some(id), Some(ts), Some(sig)) = (
        h.get("webhook-id"),
        h.get("webhook-timestamp"),
        h.get("webhook-signature"),
    ) else {
        return false;
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap_or_default();
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return false;
    };
    mac.update(format!("{id}.{ts}.{body}").as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    sig.split(' ').any(|s| s == format!("v1,{expected}"))
}

fn types(seen: &Seen) -> Vec<String> {
    seen.events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_receiver_verifies_every_signature_and_gets_what_it_missed_in_order() {
    let (acme_port, acme) = receiver();
    let (globex_port, globex) = receiver();
    acme.down.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = harness::bundle_copy(dir.path(), |d| {
        d["airlock"]["packages"]["review"] = json!(["numpy"]);
    });
    let hooks = format!(
        "\n[[review.webhooks]]\nname = \"acme-chat\"\nurl = \"http://127.0.0.1:{acme_port}/hook\"\nsecret_env = \"AIRLOCK_E2E_HOOK_SECRET\"\ntenants = [\"acme\"]\n\n[[review.webhooks]]\nname = \"globex-chat\"\nurl = \"http://127.0.0.1:{globex_port}/hook\"\nsecret_env = \"AIRLOCK_E2E_HOOK_SECRET\"\ntenants = [\"globex\"]\n"
    );
    let gw = Gateway::start_opts(
        &hooks,
        &[
            ("AIRLOCK_POLICY__BUNDLE_DIR", bundle.as_str()),
            ("AIRLOCK_E2E_HOOK_SECRET", SECRET),
        ],
    );
    let alice = gw.api(&harness::token("alice-tool"));
    let rita = gw.api(&harness::token("rita-tool"));
    let sid = alice.session();
    let held = alice.run(&sid, "python", "import numpy\nprint(1)");
    assert_eq!(held.status, 202, "{}", held.body);
    let case = held.body["case_id"].as_str().unwrap_or_default().to_owned();
    let c = rita.post(
        &format!("/v1/reviews/{case}/comments"),
        json!({"text": "why numpy?"}),
    );
    assert_eq!(c.status, 200, "{}", c.body);
    // The receiver is down: the gateway tried, answered every request anyway, and kept them.
    harness::wait_until("a delivery was tried", Duration::from_secs(30), || {
        acme.refused.load(Ordering::SeqCst) > 0
    });
    let a = rita.post(&format!("/v1/reviews/{case}/approve"), json!({}));
    assert_eq!(a.body["status"], "approved", "{}", a.body);
    acme.down.store(false, Ordering::SeqCst);
    harness::wait_until("the missed events arrive", Duration::from_secs(60), || {
        types(&acme).len() >= 3
    });
    assert_eq!(
        types(&acme),
        ["review.requested", "review.commented", "review.approved"]
    );
    assert_eq!(acme.bad_signatures.load(Ordering::SeqCst), 0);
    let events = acme
        .events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(events
        .iter()
        .all(|e| e["subject"] == case.as_str() && e["specversion"] == "1.0"));
    assert_eq!(events[1]["data"]["text"], "why numpy?");
    assert_eq!(events[2]["data"]["reviewer"]["subject"], "rita-tool");
    // Another tenant's receiver hears nothing of acme's case.
    assert!(types(&globex).is_empty());
}
