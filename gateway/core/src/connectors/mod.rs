//! Warehouse SQL through a connector: the sandbox never sees a credential. The gateway asks the
//! broker (Vault) for a login of the role policy chose ([`lease`]: a guard that revokes on
//! every path out, drop included), runs the one analysed statement ([`query`]), scrubs the
//! credential from the rows and turns them into outputs and a CSV ([`result`]), revokes what
//! a crash left behind ([`sweep`]), and answers `sql.airlock` from code in a sandbox through a
//! typed port ([`sandbox_sql`]).

mod governed;
mod lease;
mod query;
mod result;
mod sandbox_sql;
mod sweep;

pub(crate) use query::{Delivery, RunOpts};
pub(crate) use sandbox_sql::SandboxSqlPort;

use crate::service::Gateway;
use airlock_gateway_domain::{
    connectors::{CredentialBroker, SqlConnector, SqlDialect, SqlFacts},
    decision::{DecisionResult, Violation},
    Decision,
};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

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
    pub in_use: Arc<Mutex<HashSet<String>>>,
}

impl Gateway {
    pub(crate) fn connector_dialect(&self, name: &str) -> (SqlDialect, String) {
        match self.deps.connectors.by_name.get(name) {
            Some(c) => (
                c.connector.dialect(),
                c.connector.default_schema().to_owned(),
            ),
            None => (SqlDialect::Postgres, "public".into()),
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
}

/// Only SQL the analyser accepted whole runs through a connector, whatever the policy bundle
/// decided: a bundle that ignores the analyser's refusals (or a parse error, or a batch) gets
/// its allow turned into a denial carrying the analyser's codes.
pub(crate) fn enforce_sql_analysis(mut decision: Decision, sql: Option<&SqlFacts>) -> Decision {
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
