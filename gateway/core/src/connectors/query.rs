//! Step 5 for SQL through a connector: a login of the role policy chose, with a lease that ends
//! with the execution; the one analysed statement; the lease revoked at once; the credential
//! scrubbed from everything that leaves; each step recorded.

use super::{
    governed,
    lease::Lease,
    result::{self, RegisteredSecret},
};
use crate::{service::Gateway, sessions::LiveSession};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    connectors::{ConnectorError, ConnectorGrant, QueryLimits, SecretsError, SqlFacts},
    ports::JobOutcome,
    ErrorCode, Execution, GatewayError, Principal,
};
use std::time::Duration;

/// What the pipeline gets back: the outcome to inspect and record, the events of the
/// credential's life, and the labels the session now holds.
pub(crate) struct ConnectorRun {
    pub outcome: JobOutcome,
    pub events: Vec<NewEvent>,
    pub labels: Vec<String>,
}

/// Where a statement's rows go.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Delivery {
    /// A cell: up to `row_limit` rows shown, the whole result as CSV in the workspace.
    Workspace { row_limit: usize },
    /// `sql.airlock` from running code: every row to that code, no workspace file.
    RunningCode,
}

/// How one connector run goes.
pub(crate) struct RunOpts<'a> {
    pub timeout: Duration,
    pub delivery: Delivery,
    /// What analysis found in the SQL (recorded with the statement).
    pub facts: Option<&'a SqlFacts>,
}

/// Why a run ran nothing: the error, and the events of what happened before it stopped.
pub(crate) type NotRun = (GatewayError, Vec<NewEvent>);

/// The audit payload of one step of a run.
struct Step<'a> {
    p: &'a Principal,
    exec: &'a Execution,
    grant: &'a ConnectorGrant,
}

impl Step<'_> {
    fn event(&self, ty: &'static str, extra: serde_json::Value) -> NewEvent {
        let mut v = serde_json::json!({
            "principal": payload::principal(self.p),
            "session_id": self.exec.session_id,
            "execution_id": self.exec.id,
            "connector": self.grant.name,
            "role": self.grant.role,
        });
        if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        NewEvent::new(ty, Some(self.exec.session_id.to_string()), v)
    }

    fn revoked(&self, lease: &str, revoked: &Result<(), SecretsError>) -> NewEvent {
        self.event(
            types::CREDENTIAL_REVOKED,
            serde_json::json!({
                "lease": lease,
                "ok": revoked.is_ok(),
                "error": revoked.as_ref().err().map(|e| e.to_string()),
            }),
        )
    }
}

impl Gateway {
    /// Runs the statement; an Err means nothing ran (no credential, or no database), and the
    /// events already hold what happened.
    pub(crate) async fn run_connector(
        &self,
        p: &Principal,
        exec: &Execution,
        live: &LiveSession,
        grant: &ConnectorGrant,
        opts: RunOpts<'_>,
    ) -> Result<ConnectorRun, NotRun> {
        let started = std::time::Instant::now();
        let step = Step { p, exec, grant };
        let (Some(entry), Some(broker)) = (
            self.deps.connectors.by_name.get(&grant.name),
            self.deps.connectors.broker.as_ref(),
        ) else {
            let msg = format!(
                "connector {:?} is not configured on this gateway",
                grant.name
            );
            return Err((
                GatewayError::new(ErrorCode::ConnectorUnavailable, msg),
                vec![],
            ));
        };
        let plan = match self.statement_plan(entry, grant, opts.facts) {
            Ok(p) => p,
            Err(r) => {
                let ev = step.event(
                    types::SQL_STATEMENT,
                    serde_json::json!({"ok": false, "refused": r.code, "error": r.message,
                        "statement": opts.facts}),
                );
                return Ok(ConnectorRun {
                    outcome: governed::refused(&r, started.elapsed()),
                    events: vec![ev],
                    labels: vec![],
                });
            }
        };
        let ttl = opts.timeout + self.deps.connectors.lease_grace;
        let cred = match broker.issue(&entry.vault_mount, &grant.role, ttl).await {
            Ok(c) => c,
            Err(e) => {
                let (SecretsError::Unavailable(m) | SecretsError::Refused(m)) = &e;
                tracing::error!(error = %m, connector = %grant.name, "no credential issued");
                let msg = format!("no database credential could be issued: {e}");
                let ev = step.event(
                    types::CREDENTIAL_ISSUED,
                    serde_json::json!({"ok": false, "error": e.to_string()}),
                );
                return Err((
                    GatewayError::new(ErrorCode::SecretsUnavailable, msg),
                    vec![ev],
                ));
            }
        };
        let red = self.deps.audit.redactor();
        let _registered = RegisteredSecret::new(red, &cred.password);
        let lease = Lease::open(self, broker, &cred, &grant.name, exec.session_id.as_str())
            .await
            .map_err(|e| (e, vec![]))?;
        let lease_hash = lease.hash.clone();
        // The issue is on the record before the credential is used.
        let issued = step.event(
            types::CREDENTIAL_ISSUED,
            serde_json::json!({"ok": true, "lease": lease_hash, "db_user": cred.username, "ttl_seconds": cred.ttl.as_secs()}),
        );
        if let Err(e) = self.deps.audit.record(vec![], vec![issued]).await {
            let _ = lease.revoke().await;
            return Err((e, vec![]));
        }
        let limits = QueryLimits {
            max_rows: entry.max_rows,
            timeout: opts.timeout,
            read_only: grant.read_only,
        };
        // The canonical statement (the analysed tree printed back, tables qualified), never the
        // text as sent, rewritten over the governed tables it reads.
        let result = entry.connector.query(&cred, plan.as_ref(), &limits).await;
        // Revoked at once, whatever happened; a failure is retried by the broker and recorded,
        // never dropped (the lease still ends with the execution's deadline).
        let revoked = lease.revoke().await;
        let facts = serde_json::to_value(opts.facts).unwrap_or_default();
        let governed = governed::summary(plan.as_ref(), &grant.governed);
        let statement = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"db_user": cred.username, "statement": facts});
            if let (Some(o), Some(g)) = (v.as_object_mut(), &governed) {
                o.insert("governed".into(), g.clone());
            }
            if let (Some(o), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
                o.extend(e);
            }
            step.event(types::SQL_STATEMENT, v)
        };
        let (outcome, labels, recorded) = match result {
            Ok(mut r) => {
                result::scrub(red, &mut r);
                let mut o =
                    result::rows(live, &exec.id, entry, &r, opts.delivery, started.elapsed()).await;
                result::note_governed(&mut o, governed.as_ref());
                let ran = (!r.statement.is_empty() && governed.is_some()).then_some(&r.statement);
                let ev = statement(serde_json::json!({
                    "ok": true, "rows": r.rows.len(), "truncated": r.truncated, "error": null,
                    "rewritten": ran,
                }));
                (o, entry.labels.clone(), ev)
            }
            Err(ConnectorError::Refused(r)) => {
                let ev = statement(serde_json::json!({
                    "ok": false, "rows": null, "truncated": null, "refused": r.code, "error": r.message,
                }));
                (governed::refused(&r, started.elapsed()), vec![], ev)
            }
            Err(ConnectorError::Query(mut m)) => {
                red.redact_str(&mut m);
                let ev = statement(serde_json::json!({
                    "ok": false, "rows": null, "truncated": null, "error": m,
                }));
                (result::failed(m, started.elapsed()), vec![], ev)
            }
            Err(ConnectorError::Unavailable(cause)) => {
                tracing::warn!(error = %cause, connector = %grant.name, "database unreachable");
                let mut m = cause.to_string();
                red.redact_str(&mut m);
                let evs = vec![
                    statement(serde_json::json!({"ok": false, "error": "database unreachable"})),
                    step.revoked(&lease_hash, &revoked),
                ];
                let msg = format!(
                    "the database of connector {:?} is unreachable: {m}",
                    grant.name
                );
                return Err((GatewayError::new(ErrorCode::ConnectorUnavailable, msg), evs));
            }
        };
        Ok(ConnectorRun {
            outcome,
            events: vec![recorded, step.revoked(&lease_hash, &revoked)],
            labels,
        })
    }
}
