//! Load across four tenants on the real binary, bounded in time and loopback only: 200
//! concurrent clients (50 per tenant, over 8 sessions each) run mixed cells (Python, bash, a
//! cell policy denies, warehouse SQL) for `AIRLOCK_LOAD_SECONDS` (default 20; the documented
//! long run is 180), backing off as told (409 session_busy, 429 with Retry-After). Then: no 5xx
//! but the documented 503s, the audit chain verifies, every execution a client was answered
//! for has its events (none twice), and each tenant got within 20% of its fair share. The same
//! with the state store's PostgreSQL restarted mid-run, and with Vault stopped mid-run.

use crate::{
    harness::{self, Gateway},
    vault::Bao,
};
use serde_json::{json, Value};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Mutex,
    },
    time::Duration,
};

const TENANTS: [(&str, &str); 4] = [
    ("acme", "alice-tool"),
    ("globex", "carol-tool"),
    ("initech", "dan-tool"),
    ("umbrella", "erin-tool"),
];
const CLIENTS: usize = 200;
const SESSIONS_PER_TENANT: usize = 8;

fn seconds() -> u64 {
    std::env::var("AIRLOCK_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

/// The cell a client sends on its `n`th request.
fn cell(client: usize, n: usize, sql: bool) -> Value {
    match (client + n) % if sql { 5 } else { 4 } {
        0 => json!({"language": "python", "code": "1+1"}),
        1 => {
            json!({"language": "python", "code": "import time\ntime.sleep(0.2)\nprint(sum(range(10**5)))"})
        }
        2 => json!({"language": "bash", "code": "echo $((6*7))"}),
        // Policy denies egress to a host no rule allows: answered, nothing runs.
        3 => json!({"language": "python", "code": "1", "egress": ["example.com:443"]}),
        _ => {
            json!({"language": "sql", "connector": "warehouse", "code": "SELECT count(*) AS n FROM sales.orders"})
        }
    }
}

#[derive(Default)]
struct Tally {
    /// Executions answered per tenant (finished, or denied).
    done: BTreeMap<&'static str, u64>,
    /// Execution ids answered to clients, with their status.
    executions: BTreeMap<String, String>,
    /// 503 codes seen.
    unavailable: BTreeMap<String, u64>,
    /// Anything a client must never see (a 5xx other than 503, a 503 of an undocumented code).
    bad: Vec<String>,
}

struct Load<'a> {
    gw: &'a Gateway,
    sql: bool,
    /// 503 codes the disruption may cause.
    allowed_503: &'a [&'a str],
}

impl Load<'_> {
    fn sessions(&self) -> Vec<Vec<String>> {
        TENANTS
            .iter()
            .map(|(_, persona)| {
                let api = self.gw.api(&harness::token(persona));
                (0..SESSIONS_PER_TENANT).map(|_| api.session()).collect()
            })
            .collect()
    }

    fn client(&self, i: usize, sessions: &[Vec<String>], stop: &AtomicBool, tally: &Mutex<Tally>) {
        let t = i % TENANTS.len();
        let (tenant, persona) = TENANTS[t];
        let api = self.gw.api(&harness::token(persona));
        let session = &sessions[t][(i / TENANTS.len()) % SESSIONS_PER_TENANT];
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let r = api.run_with(session, cell(i, n, self.sql));
            let code = r.body["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut tl = tally.lock().unwrap_or_else(|e| e.into_inner());
            match r.status {
                // 403 is a denial, answered with the execution (recorded, nothing ran).
                200 | 403 if r.body["id"].is_string() => {
                    *tl.done.entry(tenant).or_default() += 1;
                    let id = r.body["id"].as_str().unwrap_or_default().to_owned();
                    let status = r.body["status"].as_str().unwrap_or_default().to_owned();
                    tl.executions.insert(id, status);
                }
                409 | 429 => {}
                503 if self.allowed_503.contains(&code.as_str()) => {
                    *tl.unavailable.entry(code).or_default() += 1;
                }
                s if s >= 500 => tl.bad.push(format!("{s}: {}", r.body)),
                s => tl.bad.push(format!("unexpected {s}: {}", r.body)),
            }
            drop(tl);
            // As a client should: wait as told (Retry-After is 1 s for these), else a moment.
            let pause = match r.status {
                429 | 503 => 1000,
                409 => 150,
                _ => 20,
            };
            std::thread::sleep(Duration::from_millis(pause + (i as u64 * 7) % 50));
        }
    }

    /// Runs the clients for the configured time, `disrupt` in a thread of its own from a
    /// third of the way in; returns the tally.
    fn run(&self, disrupt: impl FnOnce() + Send) -> Tally {
        let sessions = self.sessions();
        let stop = AtomicBool::new(false);
        let tally = Mutex::new(Tally::default());
        let total = Duration::from_secs(seconds());
        std::thread::scope(|s| {
            for i in 0..CLIENTS {
                let (sessions, stop, tally) = (&sessions, &stop, &tally);
                s.spawn(move || self.client(i, sessions, stop, tally));
            }
            s.spawn(|| {
                std::thread::sleep(total / 3);
                disrupt();
            });
            std::thread::sleep(total);
            stop.store(true, Ordering::Relaxed);
        });
        tally.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

/// What must hold after a run: no bad answers, fair shares, a verified chain with every
/// answered execution's events and no event twice.
fn check(gw: &mut Gateway, tally: &Tally) {
    eprintln!(
        "load: answered per tenant {:?}, executions {}, 503s {:?}",
        tally.done,
        tally.executions.len(),
        tally.unavailable
    );
    assert!(
        tally.bad.is_empty(),
        "{:#?}",
        &tally.bad[..tally.bad.len().min(10)]
    );
    let counts: Vec<u64> = TENANTS
        .iter()
        .map(|(t, _)| tally.done.get(t).copied().unwrap_or(0))
        .collect();
    let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
    assert!(
        mean >= 5.0,
        "too little ran to judge fairness: {:?}",
        tally.done
    );
    for (t, n) in TENANTS.iter().zip(&counts) {
        let off = (*n as f64 - mean).abs() / mean;
        assert!(
            off <= 0.2,
            "{} got {n} of a mean {mean:.1}: {:?}",
            t.0,
            tally.done
        );
    }
    let file = gw.audit_file();
    gw.stop();
    let (code, out) = harness::verify(&file);
    assert_eq!(code, 0, "the chain does not verify: {out}");
    let events = harness::audit_events(&file);
    let ids: BTreeSet<&str> = events.iter().filter_map(|e| e["id"].as_str()).collect();
    assert_eq!(ids.len(), events.len(), "an event was recorded twice");
    let mut seen: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for e in &events {
        if let (Some(x), Some(ty)) = (e["data"]["execution_id"].as_str(), e["type"].as_str()) {
            seen.entry(x).or_default().insert(ty);
        }
    }
    for (id, status) in &tally.executions {
        let types = seen.get(id.as_str()).cloned().unwrap_or_default();
        assert!(
            types.contains("execution.requested"),
            "{id} ({status}): {types:?}"
        );
        if status != "denied" {
            assert!(
                types.contains("execution.completed"),
                "{id} ({status}): {types:?}"
            );
        }
    }
}

/// Caps that make fairness the gateway's, not luck's: two running executions per tenant.
const CAPS: &str = "\n[executions]\nmax_running_per_tenant = 2\n";

#[test]
fn two_hundred_clients_across_four_tenants_get_fair_shares_and_lose_nothing() {
    let mut gw = Gateway::start_with(&format!("max_per_principal = 10\n{CAPS}"));
    let tally = Load {
        gw: &gw,
        sql: false,
        allowed_503: &[],
    }
    .run(|| {});
    check(&mut gw, &tally);
}

#[test]
fn vault_stopped_mid_run_answers_sql_503_and_nothing_else_breaks() {
    let mut bao = Bao::start();
    let mut gw = crate::connectors::start(&bao, CAPS, &[]);
    let bao_ref = &mut bao;
    let tally = Load {
        gw: &gw,
        sql: true,
        allowed_503: &["secrets_unavailable"],
    }
    .run(move || bao_ref.stop());
    assert!(
        tally.unavailable.contains_key("secrets_unavailable"),
        "SQL after Vault stopped: {:?}",
        tally.unavailable
    );
    check(&mut gw, &tally);
}

/// A PostgreSQL cluster of this test's own (initdb as the postgres user, a free port), so
/// restarting it disturbs no other test.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
}

fn pg_bin(name: &str) -> PathBuf {
    let base = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|rd| rd.flatten().map(|e| e.path()).max())
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15"));
    base.join("bin").join(name)
}

fn as_postgres(program: PathBuf, args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(&program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PrivatePg {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("airlock-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("{e}"));
        Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        let data = dir.path().join("data");
        let data_s = data.display().to_string();
        as_postgres(
            pg_bin("initdb"),
            &["-D", &data_s, "-A", "trust", "-U", "postgres"],
        );
        let pg = Self {
            port: harness::free_port(),
            dir,
        };
        pg.ctl("start");
        pg
    }

    fn ctl(&self, what: &str) {
        let data = self.dir.path().join("data").display().to_string();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        as_postgres(
            pg_bin("pg_ctl"),
            &[
                "-D", &data, "-o", &opts, "-l", &log, "-w", "-m", "fast", what,
            ],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        self.ctl("stop");
    }
}

#[test]
fn the_state_stores_postgresql_restarted_mid_run_costs_503s_only() {
    let pg = PrivatePg::start();
    let url = pg.url();
    let mut gw = Gateway::start_opts(
        &format!("max_per_principal = 10\n{CAPS}"),
        &[("AIRLOCK_STATE__DATABASE_URL", url.as_str())],
    );
    let tally = Load {
        gw: &gw,
        sql: false,
        allowed_503: &["audit_unavailable", "shutting_down"],
    }
    .run(|| pg.ctl("restart"));
    check(&mut gw, &tally);
}
