use crate::common::{connect_within, map_err, push_row, statement};
use airlock_gateway_domain::connectors::{
    ConnectorError, DbCredential, QueryLimits, SqlConnector, SqlDialect, SqlResult, StatementPlan,
};
use airlock_gateway_domain::Cause;
use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::{
    postgres::{PgConnectOptions, PgSslMode},
    Column, ConnectOptions, Connection, Executor, Row,
};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct PostgresSettings {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub default_schema: String,
    /// `disable`, `prefer`, `require`, `verify-ca`, `verify-full`.
    pub ssl_mode: String,
    pub connect_timeout: Duration,
}

pub struct PostgresConnector {
    settings: PostgresSettings,
}

impl PostgresConnector {
    pub fn new(settings: PostgresSettings) -> Self {
        Self { settings }
    }
}

#[async_trait]
impl SqlConnector for PostgresConnector {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Postgres
    }

    fn default_schema(&self) -> &str {
        &self.settings.default_schema
    }

    async fn query(
        &self,
        credential: &DbCredential,
        plan: &dyn StatementPlan,
        limits: &QueryLimits,
    ) -> Result<SqlResult, ConnectorError> {
        let s = &self.settings;
        // Never a silent fallback: a mode sqlx does not know would weaken TLS unnoticed.
        let ssl: PgSslMode = s.ssl_mode.parse().map_err(|_| {
            ConnectorError::Unavailable(Cause::msg(format!("unknown ssl_mode {:?}", s.ssl_mode)))
        })?;
        let opts = PgConnectOptions::new()
            .host(&s.host)
            .port(s.port)
            .database(&s.database)
            .username(&credential.username)
            .password(&credential.password)
            .ssl_mode(ssl)
            .application_name("airlock-connector")
            .disable_statement_logging();
        let mut conn = connect_within(s.connect_timeout, opts.connect()).await?;
        let result = run(&mut conn, plan, limits).await;
        let _ = conn.close().await;
        result
    }
}

/// The columns of each governed table, in the table's order, as this login may see them
/// (information_schema shows only columns the role has a privilege on).
async fn governed_columns(
    tx: &mut sqlx::PgConnection,
    plan: &dyn StatementPlan,
) -> Result<Vec<Vec<String>>, ConnectorError> {
    let mut all = vec![];
    for t in plan.governed_tables() {
        let cols: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(&t.schema)
        .bind(&t.table)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        all.push(cols);
    }
    Ok(all)
}

async fn run(
    conn: &mut sqlx::PgConnection,
    plan: &dyn StatementPlan,
    limits: &QueryLimits,
) -> Result<SqlResult, ConnectorError> {
    let mut tx = conn.begin().await.map_err(map_err)?;
    if limits.read_only {
        tx.execute("SET TRANSACTION READ ONLY")
            .await
            .map_err(map_err)?;
    }
    // Name resolution never depends on the role's or database's defaults: tables arrive fully
    // qualified from the analyser, and functions, operators and types resolve in pg_catalog
    // only (a function someone created in a schema on the path cannot stand in for an
    // allowlisted one), temporary objects last.
    tx.execute("SET LOCAL search_path = pg_catalog, pg_temp")
        .await
        .map_err(map_err)?;
    let ms = limits.timeout.as_millis().max(1);
    tx.execute(format!("SET LOCAL statement_timeout = {ms}").as_str())
        .await
        .map_err(map_err)?;
    let columns = governed_columns(&mut tx, plan).await?;
    let sql = plan.statement(&columns).map_err(ConnectorError::Refused)?;
    let stmt = statement(&sql);
    // The column names in order, from the server's description of the statement itself.
    let described = tx.describe(stmt).await.map_err(map_err)?;
    let columns: Vec<String> = described
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let mut out = SqlResult {
        columns: columns.clone(),
        statement: stmt.to_owned(),
        ..Default::default()
    };
    if columns.is_empty() {
        // A statement without a result set (a granted write).
        let done = tx.execute(stmt).await.map_err(map_err)?;
        out.columns = vec!["rows_affected".into()];
        out.rows = vec![vec![serde_json::Value::from(done.rows_affected())]];
    } else {
        // Every value as JSON, whatever its type, by the server's own conversion; the wrapper
        // reads nothing the statement does not.
        let wrapped =
            format!("SELECT row_to_json(airlock_row)::text FROM (\n{stmt}\n) AS airlock_row");
        let mut rows = sqlx::query(&wrapped).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.map_err(map_err)? {
            let text: String = row.try_get(0).map_err(map_err)?;
            let obj: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| ConnectorError::Query(e.to_string()))?;
            let values = columns
                .iter()
                .map(|c| obj.get(c).cloned().unwrap_or(serde_json::Value::Null))
                .collect();
            if !push_row(&mut out, limits.max_rows, values) {
                break;
            }
        }
    }
    if limits.read_only {
        tx.rollback().await.map_err(map_err)?;
    } else {
        tx.commit().await.map_err(map_err)?;
    }
    Ok(out)
}
