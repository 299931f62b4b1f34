//! Step 5 for SQL through a connector: the sandbox never sees a credential. The gateway asks
//! the broker (Vault) for a login of the role policy chose, with a lease that ends with the
//! execution, runs the one analysed statement, revokes the lease at once, scrubs the
//! credential from everything that leaves, writes the whole result to the session workspace as
//! CSV for the kernel, and records each step.

use crate::{events, redact::Redactor, service::Gateway};
use airlock_gateway_domain::ports::SandboxSqlAnswer;
use airlock_gateway_domain::{
    audit::NewEvent,
    connectors::{
        ConnectorError, ConnectorGrant, CredentialBroker, QueryLimits, SecretsError, SqlConnector,
        SqlResult,
    },
    execution::{ExecutionError, Output},
    files::{FileInfo, WorkspacePath},
    ports::{JobEnd, JobOutcome},
    ErrorCode, Execution, GatewayError, Principal,
};
use std::{collections::HashMap, sync::Arc, time::Duration};

/// One configured connector.
pub struct ConnectorEntry {
    pub connector: Arc<dyn SqlConnector>,
    pub vault_mount: String,
    pub labels: Vec<String>,
    pub max_rows: u64,
}

/// The connectors of this gateway and the broker that gives them credentials.
#[derive(Default)]
pub struct Connectors {
    pub broker: Option<Arc<dyn CredentialBroker>>,
    pub by_name: HashMap<String, ConnectorEntry>,
    /// Added to the execution's timeout for the lease.
    pub lease_grace: Duration,
    /// Key for the keyed hash of lease ids in audit events.
    pub lease_hash_key: Vec<u8>,
    /// Leases of queries running now (the sweep leaves them alone).
    pub in_use: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// What the pipeline gets back: the outcome to inspect and record, the events of the
/// credential's life, and the labels the session now holds.
pub(crate) struct ConnectorRun {
    pub outcome: JobOutcome,
    pub events: Vec<NewEvent>,
    pub labels: Vec<String>,
}

/// How one connector run goes.
pub(crate) struct RunOpts<'a> {
    pub timeout: Duration,
    /// From code in the sandbox: every row in the answer, no workspace file.
    pub nested: bool,
    /// What analysis found in the SQL (recorded with the statement).
    pub facts: Option<&'a airlock_gateway_domain::connectors::SqlFacts>,
}

pub(crate) const CREDENTIAL_ISSUED: &str = "credential.issued";
pub(crate) const CREDENTIAL_REVOKED: &str = "credential.revoked";
pub(crate) const SQL_STATEMENT: &str = "sql.statement";

fn keyed_hash(key: &[u8], lease: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(lease.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn csv_bytes(r: &SqlResult) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(&r.columns);
    for row in &r.rows {
        let _ = w.write_record(row.iter().map(|v| match v {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
    }
    w.into_inner().unwrap_or_default()
}

/// Scrubs the result with the redactor (which knows the credential's password while the run
/// lasts: a query can read it back, for example from a comment the role was created with).
fn scrub_result(red: &Redactor, r: &mut SqlResult) {
    for c in &mut r.columns {
        red.redact_str(c);
    }
    for row in &mut r.rows {
        for v in row.iter_mut() {
            red.redact_value(v);
        }
    }
}

/// Keeps a secret registered with the redactor until dropped, on every path out of a run.
struct RegisteredSecret<'a>(&'a Redactor, String);

impl<'a> RegisteredSecret<'a> {
    fn new(red: &'a Redactor, secret: &str) -> Self {
        red.add_secret(secret);
        Self(red, secret.to_owned())
    }
}

impl Drop for RegisteredSecret<'_> {
    fn drop(&mut self) {
        self.0.forget_secret(&self.1);
    }
}

impl Gateway {
    pub(crate) fn connector_dialect(
        &self,
        name: &str,
    ) -> (airlock_gateway_domain::connectors::SqlDialect, String) {
        match self.deps.connectors.by_name.get(name) {
            Some(c) => (
                c.connector.dialect(),
                c.connector.default_schema().to_owned(),
            ),
            None => (
                airlock_gateway_domain::connectors::SqlDialect::Postgres,
                "public".into(),
            ),
        }
    }

    /// The data labels of a connector (empty for one this gateway does not have).
    pub(crate) fn connector_labels(&self, name: &str) -> Vec<String> {
        self.deps
            .connectors
            .by_name
            .get(name)
            .map(|c| c.labels.clone())
            .unwrap_or_default()
    }

    /// Runs the statement; an Err means nothing ran (no credential, or no database), and the
    /// events already hold what happened.
    pub(crate) async fn run_connector(
        &self,
        p: &Principal,
        exec: &Execution,
        live: &crate::service::LiveSession,
        grant: &ConnectorGrant,
        opts: RunOpts<'_>,
    ) -> Result<ConnectorRun, (GatewayError, Vec<NewEvent>)> {
        let started = std::time::Instant::now();
        let sid = exec.session_id.to_string();
        let base = |extra: serde_json::Value| {
            let mut v = serde_json::json!({
                "principal": events::principal(p),
                "session_id": exec.session_id,
                "execution_id": exec.id,
                "connector": grant.name,
                "role": grant.role,
            });
            if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            v
        };
        let ev = |ty: &'static str, data| NewEvent::new(ty, Some(sid.clone()), data);
        let unavailable = |code, msg: String, events| (GatewayError::new(code, msg), events);
        let (Some(entry), Some(broker)) = (
            self.deps.connectors.by_name.get(&grant.name),
            self.deps.connectors.broker.as_ref(),
        ) else {
            return Err(unavailable(
                ErrorCode::ConnectorUnavailable,
                format!(
                    "connector {:?} is not configured on this gateway",
                    grant.name
                ),
                vec![],
            ));
        };
        let timeout = opts.timeout;
        let ttl = timeout + self.deps.connectors.lease_grace;
        let cred = match broker.issue(&entry.vault_mount, &grant.role, ttl).await {
            Ok(c) => c,
            Err(e) => {
                let (SecretsError::Unavailable(m) | SecretsError::Refused(m)) = &e;
                tracing::error!(error = %m, connector = %grant.name, "no credential issued");
                return Err(unavailable(
                    ErrorCode::SecretsUnavailable,
                    format!("no database credential could be issued: {e}"),
                    vec![ev(
                        CREDENTIAL_ISSUED,
                        base(serde_json::json!({"ok": false, "error": e.to_string()})),
                    )],
                ));
            }
        };
        let red = self.deps.audit.redactor();
        let _registered = RegisteredSecret::new(red, &cred.password);
        let lease_hash = keyed_hash(&self.deps.connectors.lease_hash_key, &cred.lease_id);
        // Kept until revoked, so a crash mid-query leaves a lease the next sweep revokes.
        let now_ms = ms(airlock_gateway_domain::now());
        let record = airlock_gateway_domain::ports::LeaseRecord {
            lease_hash: lease_hash.clone(),
            lease_id: cred.lease_id.clone(),
            instance_id: self.settings.instance_id.clone(),
            connector: grant.name.clone(),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms
                .saturating_add(i64::try_from(cred.ttl.as_millis()).unwrap_or(i64::MAX)),
        };
        self.lease_in_use(&lease_hash, true);
        if let Err(e) = self.deps.store.lease_opened(&record).await {
            tracing::error!(error = %e, "recording the lease failed; revoking it");
            let _ = broker.revoke(&cred.lease_id).await;
            self.lease_in_use(&lease_hash, false);
            return Err(unavailable(
                ErrorCode::Internal,
                "the credential's lease could not be recorded; it was revoked".into(),
                vec![],
            ));
        }
        // The issue is on the record before the credential is used.
        let issued = ev(
            CREDENTIAL_ISSUED,
            base(
                serde_json::json!({"ok": true, "lease": lease_hash, "db_user": cred.username, "ttl_seconds": cred.ttl.as_secs()}),
            ),
        );
        if let Err(e) = self.deps.audit.record(vec![], vec![issued]).await {
            let _ = broker.revoke(&cred.lease_id).await;
            let _ = self
                .deps
                .store
                .lease_closed(&lease_hash, ms(airlock_gateway_domain::now()))
                .await;
            self.lease_in_use(&lease_hash, false);
            return Err((e, vec![]));
        }
        let mut evs = vec![];
        let limits = QueryLimits {
            max_rows: entry.max_rows,
            timeout,
            read_only: grant.read_only,
        };
        // The canonical statement (the analysed tree printed back, tables qualified), never the
        // text as sent; enforce_sql_analysis refused the execution if there is none.
        let canonical = opts
            .facts
            .and_then(|f| f.canonical.as_deref())
            .unwrap_or_default();
        let result = entry.connector.query(&cred, canonical, &limits).await;
        // Revoked at once, whatever happened; a failure is retried by the broker and recorded,
        // never dropped (the lease still ends with the execution's deadline).
        let revoked = broker.revoke(&cred.lease_id).await;
        if revoked.is_ok() {
            let _ = self
                .deps
                .store
                .lease_closed(&lease_hash, ms(airlock_gateway_domain::now()))
                .await;
        }
        self.lease_in_use(&lease_hash, false);
        let facts = serde_json::to_value(opts.facts).unwrap_or_default();
        let mut out_err = None;
        let (outcome_end, sql_result) = match result {
            Ok(mut r) => {
                scrub_result(red, &mut r);
                (JobEnd::Completed, Some(r))
            }
            Err(ConnectorError::Unavailable(m)) => {
                evs.push(ev(SQL_STATEMENT, base(serde_json::json!({"db_user": cred.username, "statement": facts, "ok": false, "error": "database unreachable"}))));
                evs.push(revoked_event(&ev, &base, &lease_hash, &revoked));
                let mut m = m;
                red.redact_str(&mut m);
                return Err(unavailable(
                    ErrorCode::ConnectorUnavailable,
                    format!(
                        "the database of connector {:?} is unreachable: {m}",
                        grant.name
                    ),
                    evs,
                ));
            }
            Err(ConnectorError::Query(m)) => {
                let mut m = m;
                red.redact_str(&mut m);
                out_err = Some(m);
                (JobEnd::Failed, None)
            }
        };
        evs.push(ev(
            SQL_STATEMENT,
            base(serde_json::json!({
                "db_user": cred.username,
                "statement": facts,
                "ok": sql_result.is_some(),
                "rows": sql_result.as_ref().map(|r| r.rows.len()),
                "truncated": sql_result.as_ref().map(|r| r.truncated),
                "error": out_err,
            })),
        ));
        evs.push(revoked_event(&ev, &base, &lease_hash, &revoked));

        let mut outcome = JobOutcome {
            end: outcome_end,
            stdout: String::new(),
            stderr: String::new(),
            output_truncated: false,
            error: None,
            outputs: vec![],
            artifacts: vec![],
            kernel_restarted: false,
            duration: started.elapsed(),
            imports: vec![],
        };
        let mut labels = vec![];
        match sql_result {
            Some(r) => {
                let path = format!("sql/{}.csv", exec.id);
                let csv = csv_bytes(&r);
                let mut file: Option<FileInfo> = None;
                if opts.nested {
                    // The kernel is busy running the code that asked; the rows go to it.
                } else if let Ok(wp) = WorkspacePath::parse(&path) {
                    match live.sandbox.write_file(&wp, csv).await {
                        Ok(mut f) => {
                            f.classification = entry.labels.first().cloned();
                            file = Some(f);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "writing the SQL result artifact failed")
                        }
                    }
                }
                let show = if opts.nested {
                    r.rows.len()
                } else {
                    grant.row_limit as usize
                };
                let shown: Vec<&Vec<serde_json::Value>> = r.rows.iter().take(show).collect();
                let mut data = std::collections::BTreeMap::new();
                data.insert(
                    "application/json".to_owned(),
                    serde_json::json!({
                        "columns": r.columns,
                        "rows": shown,
                        "row_count": r.rows.len(),
                        "rows_shown": shown.len(),
                        "truncated": r.truncated || shown.len() < r.rows.len(),
                        "artifact": file.as_ref().map(|f| f.path.clone()),
                    }),
                );
                outcome.outputs.push(Output {
                    kind: "sql_result".into(),
                    data,
                });
                outcome.stdout = format!(
                    "{} row(s){}\n",
                    r.rows.len(),
                    file.as_ref()
                        .map(|f| format!("; the full result is in {}", f.path))
                        .unwrap_or_default()
                );
                outcome.artifacts.extend(file);
                labels = entry.labels.clone();
            }
            None => {
                outcome.error = Some(ExecutionError {
                    name: "DatabaseError".into(),
                    value: out_err.unwrap_or_default(),
                    traceback: vec![],
                    code: Some(airlock_gateway_domain::ExecutionErrorCode::SqlError),
                });
            }
        }
        Ok(ConnectorRun {
            outcome,
            events: evs,
            labels,
        })
    }
}

/// Only SQL the analyser accepted whole runs through a connector, whatever the policy bundle
/// decided: a bundle that ignores the analyser's refusals (or a parse error, or a batch) gets
/// its allow turned into a denial carrying the analyser's codes.
pub(crate) fn enforce_sql_analysis(
    mut decision: airlock_gateway_domain::Decision,
    sql: Option<&airlock_gateway_domain::connectors::SqlFacts>,
) -> airlock_gateway_domain::Decision {
    use airlock_gateway_domain::decision::{DecisionResult, Violation};
    let Some(sql) = sql else {
        return decision;
    };
    if sql.canonical.is_some() || decision.result == DecisionResult::Deny {
        return decision;
    }
    decision.result = DecisionResult::Deny;
    decision.obligations.connector = None;
    let mut added: Vec<Violation> = sql
        .refusals
        .iter()
        .map(|r| Violation {
            code: r.code.clone(),
            message: r.message.clone(),
            hint: Some(r.hint.clone()),
        })
        .collect();
    if added.is_empty() {
        added.push(Violation {
            code: "sql_not_analysed".into(),
            message: sql.error.clone().map_or_else(
                || "the SQL is not exactly one statement the analyser accepts".into(),
                |e| format!("the SQL does not parse: {e}"),
            ),
            hint: Some("send one plain SQL statement in the connector's dialect".into()),
        });
    }
    for v in added {
        if !decision.violations.iter().any(|x| x.code == v.code) {
            decision.violations.push(v);
        }
    }
    decision
}

fn revoked_event(
    ev: &impl Fn(&'static str, serde_json::Value) -> NewEvent,
    base: &impl Fn(serde_json::Value) -> serde_json::Value,
    lease_hash: &str,
    revoked: &Result<(), SecretsError>,
) -> NewEvent {
    ev(
        CREDENTIAL_REVOKED,
        base(serde_json::json!({
            "lease": lease_hash,
            "ok": revoked.is_ok(),
            "error": revoked.as_ref().err().map(|e| e.to_string()),
        })),
    )
}

/// The [`SandboxSql`](airlock_gateway_domain::ports::SandboxSql) port: `sql.airlock` requests
/// from a sandbox run as nested connector executions of the session's principal.
pub(crate) struct SandboxSqlPort(pub std::sync::Weak<Gateway>);

#[async_trait::async_trait]
impl airlock_gateway_domain::ports::SandboxSql for SandboxSqlPort {
    async fn query(&self, session_id: &str, connector: &str, sql: &str) -> SandboxSqlAnswer {
        let refused = |code, msg: &str| SandboxSqlAnswer::Refused(GatewayError::new(code, msg));
        let Some(gw) = self.0.upgrade() else {
            return refused(ErrorCode::ShuttingDown, "the gateway is stopping");
        };
        let Some(sid) = airlock_gateway_domain::SessionId::parse(session_id) else {
            return refused(ErrorCode::SessionNotFound, "no such session");
        };
        let live = gw.live.read().await.get(&sid).cloned();
        let Some(live) = live else {
            return refused(ErrorCode::SessionNotFound, "no such session");
        };
        let principal = live.session.lock().await.owner.clone();
        let req = airlock_gateway_domain::ExecutionRequest {
            language: airlock_gateway_domain::Language::Sql,
            code: sql.to_owned(),
            timeout_seconds: None,
            packages: vec![],
            egress: vec![],
            connector: Some(connector.to_owned()),
        };
        match gw.execute_nested(&principal, &sid, req).await {
            Ok(e) => SandboxSqlAnswer::Ran(Box::new(e)),
            Err(e) => SandboxSqlAnswer::Refused(e),
        }
    }
}

fn ms(t: time::OffsetDateTime) -> i64 {
    airlock_gateway_domain::unix_ms(t)
}

impl Gateway {
    fn lease_in_use(&self, hash: &str, used: bool) {
        if let Ok(mut s) = self.deps.connectors.in_use.lock() {
            if used {
                s.insert(hash.to_owned());
            } else {
                s.remove(hash);
            }
        }
    }

    /// Revokes leases no query uses: at start every open lease of this instance (its previous
    /// process died with them); later this instance's leases whose revocation failed, and any
    /// instance's lease past its end. Each revocation is recorded. Returns how many.
    pub async fn sweep_leases(&self, at_start: bool) -> usize {
        let Some(broker) = self.deps.connectors.broker.as_ref() else {
            return 0;
        };
        let Ok(open) = self.deps.store.leases_open().await else {
            return 0;
        };
        let now = ms(airlock_gateway_domain::now());
        let in_use = self
            .deps
            .connectors
            .in_use
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let mut n = 0;
        for l in open {
            let mine = l.instance_id == self.settings.instance_id;
            let due =
                (mine && (at_start || !in_use.contains(&l.lease_hash))) || l.expires_at_ms < now;
            if !due {
                continue;
            }
            let revoked = broker.revoke(&l.lease_id).await;
            if revoked.is_ok() {
                let _ = self.deps.store.lease_closed(&l.lease_hash, now).await;
                n += 1;
            }
            let ev = NewEvent::new(
                CREDENTIAL_REVOKED,
                None,
                serde_json::json!({
                    "lease": l.lease_hash, "connector": l.connector, "instance_id": l.instance_id,
                    "reason": if at_start { "left by a previous process" } else { "sweep" },
                    "ok": revoked.is_ok(), "error": revoked.as_ref().err().map(|e| e.to_string()),
                }),
            );
            if let Err(e) = self.deps.audit.record(vec![], vec![ev]).await {
                tracing::error!(error = %e.message, "recording a swept lease failed");
            }
        }
        if n > 0 {
            tracing::warn!(leases = n, "revoked credential leases no query uses");
        }
        n
    }
}
