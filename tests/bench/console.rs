//! The console's pages over 10,000 review cases, 1,000,000 audit events and 100,000
//! executions on PostgreSQL, signed in as a reviewer and auditor of one tenant, each page
//! timed through HTTP beside the API's session list on the same gateway as the baseline
//! (`AIRLOCK_BENCH_ONLY=console`; AIRLOCK_TEST_POSTGRES_URL names the server).

use crate::{
    reviews::{case, psql},
    row,
    serve::Served,
    stats, Stats,
};
use airlock_gateway_domain::{
    audit::{AuditEvent, ChainHead, NewEvent},
    ports::{Change, StateCommit},
    Clock, IdGenerator, SystemClock, SystemIds,
};
use std::time::Instant;

const CASES: usize = 10_000;
const EVENTS: usize = 1_000_000;
const EXECUTIONS: usize = 100_000;
const SAMPLES: usize = 200;
const TYPES: [&str; 5] = [
    "execution.requested",
    "execution.finished",
    "policy.decided",
    "session.created",
    "file.uploaded",
];
const TENANTS: [&str; 4] = ["acme", "globex", "initech", "umbrella"];

/// Seals `EVENTS` events of 500 analysts over the last 30 days into their own chain.
async fn seed_events(store: &airlock_gateway_store::SqlStore) {
    let now_ms = airlock_gateway_domain::unix_ms(SystemClock.now());
    let span_ms = 30 * 86_400_000_i64;
    let mut head = ChainHead::genesis();
    let mut batch = Vec::with_capacity(5000);
    for i in 0..EVENTS {
        let at = now_ms - span_ms + (i as i64 * span_ms / EVENTS as i64);
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let data = serde_json::json!({
            "principal": {"subject": format!("analyst-{}", i % 500), "tenant": TENANTS[i % 4]},
            "session_id": format!("ses_seed{}", i % 20_000),
        });
        let e = AuditEvent::seal(
            NewEvent::new(TYPES[i % TYPES.len()], None, data),
            &head,
            "bench-seed",
            "bench",
            SystemIds.event_id(),
            time,
        );
        head = e.head();
        batch.push(e);
        if batch.len() == 5000 {
            store
                .commit(vec![], &batch)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store
            .commit(vec![], &batch)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Executions (their columns; the overview never reads bodies) over the last 30 days.
fn seed_executions(url: &str) {
    let now_ms = airlock_gateway_domain::unix_ms(SystemClock.now());
    psql(url, &format!(
        "INSERT INTO sessions (id, owner_key, principal, status, created_at, expires_at, last_active_at, limits, labels, instance_id)
         SELECT 'ses_seed' || g, 'https://bench/analyst-' || (g % 500), '{{}}', 'deleted', {now_ms}, {now_ms}, {now_ms}, '{{}}', '[]', 'seed'
         FROM generate_series(0, 1999) g"));
    psql(url, &format!(
        "INSERT INTO executions (id, session_id, owner_key, status, body, created_at, tenant, end_code, created_hour)
         SELECT 'exe_seed' || g, 'ses_seed' || (g % 2000), 'https://bench/analyst-' || (g % 500),
           (ARRAY['succeeded','succeeded','succeeded','failed','denied'])[g % 5 + 1], '{{}}',
           {now_ms} - g::bigint * 25920, (ARRAY['acme','globex','initech','umbrella'])[g % 4 + 1],
           CASE WHEN g % 5 = 4 THEN (ARRAY['package_not_allowed','egress_not_allowed','code_too_large'])[g % 3 + 1] END,
           ({now_ms} - g::bigint * 25920) / 3600000
         FROM generate_series(0, {}) g", EXECUTIONS - 1));
    psql(url, "UPDATE review_cases SET decided_at = created_at + (random() * 3600000)::bigint WHERE status <> 'pending'");
}

/// A console session of the development sign-in form: the session cookie.
async fn sign_in(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .get(format!("{base}/console/login"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let nonce = cookie(&r, "airlock-console-login");
    let form = [
        ("nonce", nonce.as_str()),
        ("next", "/console"),
        ("subject", "rita"),
        ("groups", "reviewers,airlock-auditors"),
        ("tenant", "acme"),
    ];
    let r = http
        .post(format!("{base}/console/login/dev"))
        .header("cookie", format!("airlock-console-login={nonce}"))
        .form(&form)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.status(), 303, "sign-in");
    format!("airlock-console={}", cookie(&r, "airlock-console"))
}

fn cookie(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

async fn timed(
    http: &reqwest::Client,
    req: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    check: &str,
) -> Stats {
    let mut v = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        let r = req(http).send().await.unwrap_or_else(|e| panic!("{e}"));
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        v.push(t.elapsed());
        assert!(
            status.is_success() && body.contains(check),
            "{status}: {check:?} not in {body:.400}"
        );
    }
    stats(v)
}

pub async fn console_rows() {
    let admin = std::env::var("AIRLOCK_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("airlock_bench_{}", SystemIds.uuid().simple());
    psql(&admin, &format!("CREATE DATABASE {name}"));
    let url = format!(
        "{}/{name}",
        admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b)
    );
    let token = [
        "--sub",
        "rita",
        "--groups",
        "reviewers,airlock-auditors",
        "--tenant",
        "acme",
    ];
    let g = Served::start_with(
        "bench-console",
        &[("AIRLOCK_STATE__DATABASE_URL", &url)],
        &token,
    )
    .await;
    let store = airlock_gateway_store::SqlStore::connect(&url, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let t = Instant::now();
    for chunk in (0..CASES).collect::<Vec<_>>().chunks(1000) {
        let changes = chunk
            .iter()
            .map(|i| Change::PutCase(Box::new(case(*i))))
            .collect();
        store
            .commit(changes, &[])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    seed_events(&store).await;
    seed_executions(&url);
    psql(&url, "VACUUM ANALYZE");
    println!(
        "{CASES} cases, {EVENTS} audit events, {EXECUTIONS} executions seeded in {:.0} s\n",
        t.elapsed().as_secs_f64()
    );

    // rita's own session and execution, for the pages that show them.
    let sid = g.session().await;
    let exec = g
        .post_json(
            &format!("{}/v1/sessions/{sid}/executions", g.base),
            serde_json::json!({"language": "python", "code": "print(6 * 7)"}),
        )
        .await;
    let exec = exec["id"].as_str().unwrap_or_default().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let jar = sign_in(&http, &g.base).await;
    let base = g.base.clone();
    let case_id = {
        let page = http
            .get(format!("{base}/console/reviews"))
            .header("cookie", &jar)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default();
        let at = page
            .find("/console/reviews/rev_")
            .unwrap_or_else(|| panic!("no case in the queue"));
        page[at + "/console/reviews/".len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    };
    let csrf = {
        let page = http
            .get(format!("{base}/console/playground"))
            .header("cookie", &jar)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .text()
            .await
            .unwrap_or_default();
        let at = page
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf"));
        page[at + 19..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
    };
    let recent = SystemClock.now() - time::Duration::hours(2);
    let since = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        recent.year(),
        u8::from(recent.month()),
        recent.day(),
        recent.hour(),
        recent.minute()
    );

    println!("| measurement | samples | p50 | p99 |\n|---|---|---|---|");
    let auth = g.auth.clone();
    let base_api = timed(
        &http,
        |h| {
            h.get(format!("{base}/v1/sessions?limit=20"))
                .header("authorization", &auth)
        },
        "sessions",
    )
    .await;
    row(
        "baseline: `GET /v1/sessions?limit=20` (API, same gateway)",
        &base_api,
        false,
    );
    let get = |path: String, check: &'static str| {
        let jar = jar.clone();
        let base = base.clone();
        let http = http.clone();
        async move {
            timed(
                &http,
                move |h| h.get(format!("{base}{path}")).header("cookie", &jar),
                check,
            )
            .await
        }
    };
    let pages: Vec<(&str, String, &'static str)> = vec![
        (
            "overview, last 24 h (an auditor: all 100,000 executions' last day)",
            "/console".into(),
            "pending-cases",
        ),
        (
            "overview, last 30 days",
            "/console?days=30".into(),
            "pending-cases",
        ),
        (
            "review queue (pending, tenant acme)",
            "/console/reviews".into(),
            "queue",
        ),
        (
            "review case",
            format!("/console/reviews/{case_id}"),
            "case-facts",
        ),
        (
            "audit, first page, chain verified",
            "/console/audit".into(),
            "chain",
        ),
        (
            "audit, type + subject",
            "/console/audit?type=execution.requested&subject=analyst-4".into(),
            "events",
        ),
        (
            "audit, last 2 hours",
            format!("/console/audit?since={since}"),
            "chain",
        ),
        ("my sessions", "/console/sessions".into(), "sessions"),
        (
            "a session",
            format!("/console/sessions/{sid}"),
            "executions",
        ),
        ("an execution", format!("/console/executions/{exec}"), "42"),
        (
            "policy playground (form)",
            "/console/playground".into(),
            "evaluate",
        ),
    ];
    let mut worst: f64 = 0.0;
    for (label, path, check) in pages {
        let s = get(path, check).await;
        worst = worst.max(s.p99);
        row(label, &s, false);
    }
    let (jar2, base2, csrf2) = (jar.clone(), base.clone(), csrf.clone());
    let post = timed(
        &http,
        move |h| {
            h.post(format!("{base2}/console/playground"))
                .header("cookie", &jar2)
                .form(&[
                    ("csrf", csrf2.as_str()),
                    ("action", "execution.run"),
                    ("language", "python"),
                    ("code", "import pandas\nprint(1)"),
                ])
        },
        "decision",
    )
    .await;
    worst = worst.max(post.p99);
    row("policy playground (a decision)", &post, false);
    println!(
        "\nworst page p99: {worst:.2} ms (target <= 50 ms); worst / baseline p99: {:.1}",
        worst / base_api.p99
    );
    store.close().await;
    drop(g);
    psql(&admin, &format!("DROP DATABASE {name} WITH (FORCE)"));
}
