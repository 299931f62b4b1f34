//! Bundle distribution against a real HTTP bundle server on 127.0.0.1: ETag polling, signature
//! checks, last good bundle kept, fail closed without a bundle, evaluation time limit.

use airlock_gateway_domain::{
    decision::DecisionResult,
    policy_input::{Action, CodeFacts, PolicyInput, RequestFacts},
    ports::{PolicyEngine, PolicyError},
    Principal,
};
use airlock_policy::{
    signing::{sign, VerificationKey, Verifier},
    BundleSource, PolicyHolder,
};
use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

const SECRET: &str = "bundle-signing-secret";

fn files(revision: &str, extra_allowed: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = airlock_policy::read_dir_raw(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bundle"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (name, bytes) in &mut out {
        if name == ".manifest" {
            *bytes =
                format!("{{\"revision\": \"{revision}\", \"roots\": [\"airlock\"]}}").into_bytes();
        }
        if name == "data.json" && !extra_allowed.is_empty() {
            let mut d: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
            if let Some(a) = d["airlock"]["packages"]["allowed"].as_array_mut() {
                a.push(extra_allowed.into());
            }
            *bytes = serde_json::to_vec(&d).unwrap_or_default();
        }
    }
    out
}

fn signed(mut f: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let sig = sign(
        &f,
        "k1",
        jsonwebtoken::Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    f.push((".signatures.json".into(), sig));
    f
}

fn verifier(required: bool) -> Verifier {
    Verifier {
        required,
        keys: vec![VerificationKey::new("k1", "HS256", SECRET).unwrap_or_else(|e| panic!("{e}"))],
    }
}

fn input(import: &str) -> PolicyInput {
    PolicyInput {
        action: Action::ExecutionRun,
        principal: Principal {
            issuer: "i".into(),
            subject: "s".into(),
            email: None,
            groups: vec![],
            tenant: None,
            via: None,
        },
        session: None,
        request: RequestFacts {
            language: Some("python".into()),
            code_bytes: Some(10),
            ..Default::default()
        },
        analysis: Some(CodeFacts {
            imports: vec![import.into()],
            ..Default::default()
        }),
    }
}

fn write_dir(dir: &std::path::Path, files: &[(String, Vec<u8>)]) {
    for (n, b) in files {
        let p = dir.join(n);
        std::fs::create_dir_all(p.parent().unwrap_or(dir)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(p, b).unwrap_or_else(|e| panic!("{e}"));
    }
}

#[derive(Default)]
struct Served {
    status: u16,
    body: Vec<u8>,
    etag: String,
    requests: Vec<Option<String>>,
}

/// A bundle server: answers GET with the current body and ETag, 304 on a matching If-None-Match.
fn server() -> (String, Arc<Mutex<Served>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let url = format!(
        "http://{}/bundles/airlock.tar.gz",
        listener.local_addr().unwrap_or_else(|e| panic!("{e}"))
    );
    let state = Arc::new(Mutex::new(Served {
        status: 503,
        ..Default::default()
    }));
    let s = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut inm = None;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let l = line.trim_end().to_owned();
                line.clear();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("if-none-match:") {
                    inm = Some(v.trim().to_owned());
                }
            }
            let Ok(mut st) = s.lock() else { break };
            st.requests.push(inm.clone());
            let resp: Vec<u8> = if st.status != 200 {
                format!(
                    "HTTP/1.1 {} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    st.status
                )
                .into_bytes()
            } else if inm.as_deref() == Some(st.etag.to_ascii_lowercase().as_str()) {
                b"HTTP/1.1 304 Not Modified\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_vec()
            } else {
                let mut r = format!("HTTP/1.1 200 OK\r\ncontent-type: application/gzip\r\netag: {}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", st.etag, st.body.len()).into_bytes();
                r.extend_from_slice(&st.body);
                r
            };
            let _ = reader.get_mut().write_all(&resp);
        }
    });
    (url, state)
}

fn serve(state: &Arc<Mutex<Served>>, files: &[(String, Vec<u8>)], etag: &str) {
    if let Ok(mut s) = state.lock() {
        s.status = 200;
        s.body = airlock_policy::write_tar_gz(files).unwrap_or_default();
        s.etag = etag.into();
    }
}

#[tokio::test]
async fn bundle_server_polling_signatures_and_last_good_bundle() {
    let (url, state) = server();
    let holder = PolicyHolder::new(
        BundleSource::Url(url),
        verifier(true),
        Duration::from_millis(100),
    );

    // Cold start with the server down: no bundle, every decision fails (the gateway denies).
    assert!(holder.refresh().await.is_err());
    assert!(!holder.ready());
    assert!(matches!(
        holder.decide(&input("pandas")),
        Err(PolicyError::NoBundle)
    ));

    // A signed bundle activates.
    serve(&state, &signed(files("rev-1", "")), "\"v1\"");
    assert!(matches!(holder.refresh().await, Ok(true)));
    assert_eq!(holder.revision(), "rev-1");
    assert!(holder.status().signed);
    assert_eq!(
        holder.decide(&input("requests")).map(|d| d.result).ok(),
        Some(DecisionResult::Deny)
    );

    // Unchanged: the server answers 304 to the ETag.
    assert!(matches!(holder.refresh().await, Ok(false)));
    assert_eq!(
        state
            .lock()
            .map(|s| s.requests.last().cloned().flatten())
            .unwrap_or_default(),
        Some("\"v1\"".to_string())
    );

    // A tampered bundle (data changed after signing) is refused; rev-1 stays active.
    let mut tampered = signed(files("rev-2", ""));
    for (n, b) in &mut tampered {
        if n == "data.json" {
            *b = String::from_utf8_lossy(b)
                .replace("\"pandas\"", "\"requests\"")
                .into_bytes();
        }
    }
    serve(&state, &tampered, "\"v2-bad\"");
    let err = holder
        .refresh()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("data.json does not match its signed hash"),
        "{err}"
    );
    assert_eq!(holder.revision(), "rev-1");
    assert!(holder.status().last_error.is_some());

    // An unsigned bundle is refused when signatures are required.
    serve(&state, &files("rev-2", "requests"), "\"v2-unsigned\"");
    let err = holder
        .refresh()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("not signed"), "{err}");
    assert_eq!(holder.revision(), "rev-1");

    // A bundle signed with another key is refused.
    let mut other = files("rev-2", "requests");
    let sig = sign(
        &other,
        "k1",
        jsonwebtoken::Algorithm::HS256,
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-secret"),
    )
    .unwrap_or_default();
    other.push((".signatures.json".into(), sig));
    serve(&state, &other, "\"v2-wrongkey\"");
    assert!(holder.refresh().await.is_err());
    assert_eq!(holder.revision(), "rev-1");

    // A valid new revision activates and changes decisions.
    serve(&state, &signed(files("rev-2", "requests")), "\"v2\"");
    assert!(matches!(holder.refresh().await, Ok(true)));
    assert_eq!(holder.revision(), "rev-2");
    assert_eq!(
        holder.decide(&input("requests")).map(|d| d.result).ok(),
        Some(DecisionResult::Allow)
    );
    assert!(holder.status().last_error.is_none());
}

#[tokio::test]
async fn signature_covers_every_file_both_ways() {
    let v = verifier(false);
    let good = signed(files("r", ""));
    assert!(v.verify(&good).is_ok());
    let mut extra = good.clone();
    extra.push((
        "airlock/evil.rego".into(),
        b"package airlock.evil\nx := 1\n".to_vec(),
    ));
    assert!(v
        .verify(&extra)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("not covered"));
    let mut missing = good.clone();
    missing.retain(|(n, _)| n != "airlock/files/files.rego");
    assert!(v
        .verify(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
        .contains("missing"));
    // Unsigned is accepted only when signing is not required and no key is configured: a
    // signature stripped from a bundle is not an unsigned bundle.
    assert!(Verifier::default().verify(&files("r", "")).is_ok());
    assert!(
        v.verify(&files("r", "")).is_err(),
        "a stripped signature was accepted"
    );
    assert!(verifier(true).verify(&files("r", "")).is_err());
    // Whitespace-only changes to JSON keep the canonical hash (as OPA hashes JSON).
    let mut reformatted = good.clone();
    for (n, b) in &mut reformatted {
        if n == "data.json" {
            let v: serde_json::Value = serde_json::from_slice(b).unwrap_or_default();
            *b = serde_json::to_vec_pretty(&v).unwrap_or_default();
        }
    }
    assert!(v.verify(&reformatted).is_ok());
}

#[tokio::test]
async fn archive_and_directory_sources_load() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let tgz = dir.path().join("bundle.tar.gz");
    std::fs::write(
        &tgz,
        airlock_policy::write_tar_gz(&files("rev-file", "")).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let h = PolicyHolder::new(
        BundleSource::Archive(tgz.clone()),
        Verifier::default(),
        Duration::from_millis(100),
    );
    assert!(matches!(h.refresh().await, Ok(true)));
    assert_eq!(h.revision(), "rev-file");
    std::fs::write(&tgz, b"not a gzip").unwrap_or_else(|e| panic!("{e}"));
    assert!(h.refresh().await.is_err());
    assert_eq!(h.revision(), "rev-file", "the last good bundle stays");
}

#[tokio::test]
async fn evaluation_time_limit_denies_with_its_own_code() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut f = files("slow", "");
    for (n, b) in &mut f {
        if n == "airlock/sessions/sessions.rego" {
            *b = b"package airlock.sessions\n\nviolations contains v if {\n\tcount([x | some x in numbers.range(1, 50000000)]) < 0\n\tv := {\"code\": \"never\", \"message\": \"\", \"hint\": \"\"}\n}\n".to_vec();
        }
    }
    write_dir(dir.path(), &f);
    let h = PolicyHolder::new(
        BundleSource::Dir(dir.path().to_path_buf()),
        Verifier::default(),
        Duration::from_millis(20),
    );
    // Loading probes with session.create, which now runs the slow rule: the probe times out
    // (a denial, not an error), so the bundle still loads.
    assert!(h.refresh().await.is_ok());
    let mut i = input("pandas");
    i.action = Action::SessionCreate;
    let d = h.decide(&i).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.result, DecisionResult::Deny);
    assert_eq!(d.violations[0].code, "policy_evaluation_timeout");
    // Other actions are unaffected.
    assert_eq!(
        h.decide(&input("pandas")).map(|d| d.result).ok(),
        Some(DecisionResult::Allow)
    );
}

#[tokio::test]
async fn decision_log_mask_from_the_bundle() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut f = files("masked", "");
    f.push((
        "system/log/mask.rego".into(),
        b"package system.log\n\nmask contains \"/input/request/path\"\n\nmask contains {\"op\": \"upsert\", \"path\": \"/input/principal/email\", \"value\": \"**REDACTED**\"} if {\n\tinput.input.principal.email\n}\n".to_vec(),
    ));
    write_dir(dir.path(), &f);
    let h = PolicyHolder::new(
        BundleSource::Dir(dir.path().to_path_buf()),
        Verifier::default(),
        Duration::from_millis(100),
    );
    assert!(h.refresh().await.is_ok());
    let mut event = serde_json::json!({
        "result": "allow",
        "input": {"action": "file.download", "principal": {"subject": "s", "email": "a@example.com"}, "request": {"path": "payroll.csv"}}
    });
    h.mask_decision_log(&mut event);
    assert_eq!(event["input"]["request"], serde_json::json!({}));
    assert_eq!(event["input"]["principal"]["email"], "**REDACTED**");
    assert_eq!(event["result"], "allow");

    // The shipped bundle has no mask: events stay as they are.
    let plain = PolicyHolder::new(
        BundleSource::Embedded,
        Verifier::default(),
        Duration::from_millis(100),
    );
    assert!(plain.refresh().await.is_ok());
    let mut e2 = serde_json::json!({"input": {"request": {"path": "x"}}});
    plain.mask_decision_log(&mut e2);
    assert_eq!(e2["input"]["request"]["path"], "x");
}

/// `.signatures.json` with one token whose header and claims are given (HS256 with the test key).
fn with_token(
    mut f: Vec<(String, Vec<u8>)>,
    kid: Option<&str>,
    keyid: Option<&str>,
) -> Vec<(String, Vec<u8>)> {
    let hashes: Vec<serde_json::Value> = f
        .iter()
        .map(|(n, b)| serde_json::json!({"name": n, "hash": airlock_policy::signing::file_hash(n, b), "algorithm": "SHA-256"}))
        .collect();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    let mut claims = serde_json::json!({"files": hashes, "scope": "write"});
    if let Some(k) = keyid {
        claims["keyid"] = k.into();
    }
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    f.push((
        ".signatures.json".into(),
        serde_json::to_vec(&serde_json::json!({"signatures": [token]})).unwrap_or_default(),
    ));
    f
}

#[tokio::test]
async fn a_signature_must_name_its_key() {
    let v = verifier(true);
    assert!(v
        .verify(&with_token(files("r", ""), Some("k1"), Some("k1")))
        .is_ok());
    for (kid, keyid, want) in [
        (None, Some("k1"), "no key id"),
        (Some("k1"), None, "no key id"),
        (Some("k2"), Some("k2"), "no configured key"),
        (Some("k1"), Some("k2"), "claims name key"),
    ] {
        let err = v
            .verify(&with_token(files("r", ""), kid, keyid))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(want), "{kid:?}/{keyid:?}: {err:?}");
    }
}

#[tokio::test]
async fn an_older_revision_is_refused_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bundle = dir.path().join("bundle");
    let floor = dir.path().join("policy-revision");
    write_dir(&bundle, &signed(files("2026.10.2", "")));
    let holder = PolicyHolder::new(
        BundleSource::Dir(bundle.clone()),
        verifier(true),
        Duration::from_secs(1),
    );
    holder.persist_revision_floor(floor.clone());
    assert_eq!(holder.refresh().await.ok(), Some(true));
    // A validly signed bundle of an older revision, replayed.
    std::fs::remove_dir_all(&bundle).unwrap_or_else(|e| panic!("{e}"));
    write_dir(&bundle, &signed(files("2026.9.7", "requests")));
    let err = holder
        .refresh()
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("anti-rollback"), "{err}");
    assert_eq!(holder.revision(), "2026.10.2");
    // A new process with the same state refuses it too, before anything is active.
    let again = PolicyHolder::new(
        BundleSource::Dir(bundle.clone()),
        verifier(true),
        Duration::from_secs(1),
    );
    again.persist_revision_floor(floor);
    assert!(again.refresh().await.is_err());
    assert!(again.decide(&input("requests")).is_err(), "fails closed");
    // A newer revision is taken.
    std::fs::remove_dir_all(&bundle).unwrap_or_else(|e| panic!("{e}"));
    write_dir(&bundle, &signed(files("2026.10.10", "")));
    assert_eq!(again.refresh().await.ok(), Some(true));
}
