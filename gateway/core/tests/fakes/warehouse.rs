//! A credential broker that counts what it issued and revoked, and a warehouse whose answer
//! the test chooses (rows that read the login's password back, or a query that never ends).

use super::store::lock;
use airlock_gateway_domain::{
    connectors::{
        ConnectorError, CredentialBroker, DbCredential, QueryLimits, SecretsError, SqlConnector,
        SqlDialect, SqlResult, StatementPlan,
    },
    Cause,
};
use async_trait::async_trait;
use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
    time::Duration,
};
use tokio::sync::Notify;

#[derive(Default)]
pub struct FakeBroker {
    issued: AtomicUsize,
    pub revoked: Mutex<Vec<String>>,
    /// Wakes a test waiting for an issue or a revocation.
    pub changed: Notify,
}

impl FakeBroker {
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }

    pub fn revoked(&self) -> Vec<String> {
        lock(&self.revoked).clone()
    }

    /// Waits (bounded) until `f` holds of the broker.
    pub async fn until(&self, f: impl Fn(&Self) -> bool) {
        let waited = tokio::time::timeout(Duration::from_secs(10), async {
            while !f(self) {
                let _ =
                    tokio::time::timeout(Duration::from_millis(20), self.changed.notified()).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "the broker never reached the state the test waits for"
        );
    }
}

#[async_trait]
impl CredentialBroker for FakeBroker {
    async fn issue(
        &self,
        _mount: &str,
        role: &str,
        ttl: Duration,
    ) -> Result<DbCredential, SecretsError> {
        if role == "unavailable" {
            return Err(SecretsError::Unavailable(Cause::msg(
                "the fake Vault is down",
            )));
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        self.changed.notify_waiters();
        Ok(DbCredential {
            username: format!("v-user-{n}"),
            password: format!("pw-secret-{n}-0123456789"),
            lease_id: format!("database/creds/{role}/lease-{n}"),
            ttl,
        })
    }

    async fn revoke(&self, lease_id: &str) -> Result<(), SecretsError> {
        lock(&self.revoked).push(lease_id.to_owned());
        self.changed.notify_waiters();
        Ok(())
    }
}

/// What the fake warehouse does with a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// One row holding the login's own password (a query can read it back).
    LeakThePassword,
    /// Never answers (the test drops the run).
    Hang,
    /// Refuses the statement.
    Refuse,
    /// Has no governed table the plan asks about (no columns): the plan refuses.
    NoTables,
}

/// The columns the fake warehouse reports for every governed table.
pub const GOVERNED_COLUMNS: [&str; 2] = ["id", "email"];

pub struct FakeWarehouse(pub Mutex<Answer>);

#[async_trait]
impl SqlConnector for FakeWarehouse {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Postgres
    }

    fn default_schema(&self) -> &str {
        "public"
    }

    async fn query(
        &self,
        credential: &DbCredential,
        plan: &dyn StatementPlan,
        _limits: &QueryLimits,
    ) -> Result<SqlResult, ConnectorError> {
        let answer = *lock(&self.0);
        let columns: Vec<Vec<String>> = plan
            .governed_tables()
            .iter()
            .map(|_| match answer {
                Answer::NoTables => vec![],
                _ => GOVERNED_COLUMNS.iter().map(|c| (*c).to_owned()).collect(),
            })
            .collect();
        let statement = plan.statement(&columns).map_err(ConnectorError::Refused)?;
        match answer {
            Answer::LeakThePassword | Answer::NoTables => Ok(SqlResult {
                columns: vec!["who".into(), "secret".into()],
                rows: vec![vec![
                    credential.username.clone().into(),
                    credential.password.clone().into(),
                ]],
                truncated: false,
                statement,
            }),
            Answer::Hang => {
                std::future::pending::<()>().await;
                Err(ConnectorError::Query("unreachable".into()))
            }
            Answer::Refuse => Err(ConnectorError::Query(format!(
                "permission denied for user {}",
                credential.username
            ))),
        }
    }
}
