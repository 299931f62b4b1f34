//! Warehouse connectors: what analysis finds in SQL, what policy grants, and the ports of the
//! credential broker (Vault) and the database connectors. No I/O here.

use crate::Cause;
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, time::Duration};

pub mod governance;
pub use governance::{
    ColumnMask, FilterValue, PlainStatement, RowCondition, StatementPlan, TableName, TableRules,
};

/// One SQL statement as analysis sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SqlStatementFacts {
    /// `select`, `insert`, `update`, `delete`, `create`, `drop`, `alter`, `grant`, `copy`,
    /// `set`, `other` ...
    pub kind: String,
    /// Whether the statement changes data, schema or privileges.
    pub writes: bool,
    /// Tables read, `schema.table`, lower case, default schema resolved, CTE names excluded.
    pub reads: Vec<String>,
    /// Tables written (targets of INSERT/UPDATE/DELETE/DDL).
    pub writes_to: Vec<String>,
    /// Functions the statement calls (lower case), each on the dialect's allowlist.
    #[serde(default)]
    pub functions: Vec<String>,
}

/// A form of SQL the analyser does not accept: only statements, relations, expressions,
/// functions and literals it fully understands pass, everything else is refused with its own
/// stable code (policy turns each into a violation; the gateway refuses it whatever policy says).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SqlRefusal {
    /// `sql_statement_not_allowed`, `sql_function_not_allowed`, `sql_expression_not_supported`,
    /// `sql_relation_not_supported`, `sql_clause_not_supported`, `sql_literal_not_supported`,
    /// `sql_type_not_allowed`, `sql_identifier_not_supported`, `sql_executable_comment`,
    /// `sql_variable_not_allowed`, `sql_too_complex`.
    pub code: String,
    pub message: String,
    pub hint: String,
}

/// What analysis found in the SQL of a connector execution.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SqlFacts {
    pub dialect: String,
    pub statements: Vec<SqlStatementFacts>,
    /// Set when the SQL does not parse in the connector's dialect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Forms the analyser refused (empty when it accepted everything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<SqlRefusal>,
    /// The statement a connector runs: the analysed syntax tree printed back with every table
    /// fully qualified and no comments, so the database executes exactly what was analysed.
    /// Set only for one statement the analyser accepted whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
}

/// SQL dialects of the connector kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    Postgres,
    Mysql,
}

impl SqlDialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mysql => "mysql",
        }
    }
}

/// What policy grants one connector execution (the decision's obligation).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, utoipa::ToSchema,
)]
pub struct ConnectorGrant {
    pub name: String,
    /// The Vault role credentials are issued from.
    pub role: String,
    /// Rows returned in the response (the CSV artifact holds the whole result up to the
    /// gateway's cap).
    pub row_limit: u64,
    /// A read-only transaction (no write was granted).
    pub read_only: bool,
    /// Tables (`schema.table`) read through column masks and row filters: every reference of
    /// one becomes a derived table of its masked columns and permitted rows; writes to one are
    /// refused.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub governed: BTreeMap<String, TableRules>,
}

/// A short-lived database login from the credential broker.
#[derive(Clone)]
pub struct DbCredential {
    pub username: String,
    pub password: String,
    pub lease_id: String,
    pub ttl: Duration,
}

impl std::fmt::Debug for DbCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbCredential")
            .field("username", &self.username)
            .field("password", &"[REDACTED]")
            .field("lease_id", &"[REDACTED]")
            .field("ttl", &self.ttl)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("the secrets service is unreachable: {0}")]
    Unavailable(#[source] Cause),
    #[error("the secrets service refused: {0}")]
    Refused(#[source] Cause),
}

#[async_trait]
pub trait CredentialBroker: Send + Sync {
    /// Issues a login from `role` on the database secrets engine at `mount`, whose lease ends
    /// no later than `ttl` from now.
    async fn issue(
        &self,
        mount: &str,
        role: &str,
        ttl: Duration,
    ) -> Result<DbCredential, SecretsError>;
    /// Revokes the lease now (the database login is dropped).
    async fn revoke(&self, lease_id: &str) -> Result<(), SecretsError>;
    /// Whether the secrets service answers and is unsealed (for readiness).
    async fn health(&self) -> Result<(), SecretsError> {
        Ok(())
    }
}

/// How one query runs.
#[derive(Clone, Debug)]
pub struct QueryLimits {
    /// Rows fetched at most (the artifact's cap).
    pub max_rows: u64,
    pub timeout: Duration,
    pub read_only: bool,
}

/// A query's result: every fetched row (up to `max_rows`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SqlResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// More rows existed than `max_rows`.
    pub truncated: bool,
    /// The statement the database ran (the plan's, after any rewrite).
    #[serde(default, skip)]
    pub statement: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    #[error("the database is unreachable: {0}")]
    Unavailable(#[source] Cause),
    /// The database refused the login or the statement (permission, syntax, timeout).
    #[error("{0}")]
    Query(String),
    /// The statement could not be rewritten for the governed tables it reads; nothing ran.
    #[error("{}", .0.message)]
    Refused(SqlRefusal),
}

#[async_trait]
pub trait SqlConnector: Send + Sync {
    fn dialect(&self) -> SqlDialect;
    /// The schema unqualified names resolve to.
    fn default_schema(&self) -> &str;
    /// Runs the plan's statement (completed with the governed tables' columns, read in the
    /// same transaction with the same login).
    async fn query(
        &self,
        credential: &DbCredential,
        plan: &dyn StatementPlan,
        limits: &QueryLimits,
    ) -> Result<SqlResult, ConnectorError>;
}
