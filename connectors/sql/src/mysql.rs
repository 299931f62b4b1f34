use crate::common::{connect_within, map_err, push_row, statement};
use airlock_gateway_domain::connectors::{
    ConnectorError, DbCredential, QueryLimits, SqlConnector, SqlDialect, SqlResult, StatementPlan,
};
use airlock_gateway_domain::Cause;
use async_trait::async_trait;
use futures::TryStreamExt;
use sqlx::{
    mysql::{MySqlConnectOptions, MySqlSslMode},
    Column, ConnectOptions, Connection, Executor, Row,
};
use std::time::Duration;

/// MySQL or MariaDB. Schemas are databases: `default_schema` is the connector's database.
#[derive(Clone, Debug)]
pub struct MySqlSettings {
    pub host: String,
    pub port: u16,
    pub database: String,
    /// `disabled`, `preferred`, `required`, `verify_ca`, `verify_identity`.
    pub ssl_mode: String,
    pub connect_timeout: Duration,
}

pub struct MySqlConnector {
    settings: MySqlSettings,
}

impl MySqlConnector {
    pub fn new(settings: MySqlSettings) -> Self {
        Self { settings }
    }
}

/// The SQL mode every connector session runs under (valid on MySQL 8 and MariaDB 10.3+).
const FIXED_SQL_MODE: &str =
    "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[async_trait]
impl SqlConnector for MySqlConnector {
    fn dialect(&self) -> SqlDialect {
        SqlDialect::Mysql
    }

    fn default_schema(&self) -> &str {
        &self.settings.database
    }

    async fn query(
        &self,
        credential: &DbCredential,
        plan: &dyn StatementPlan,
        limits: &QueryLimits,
    ) -> Result<SqlResult, ConnectorError> {
        let s = &self.settings;
        // Never a silent fallback: a mode sqlx does not know would weaken TLS unnoticed.
        let ssl: MySqlSslMode = s.ssl_mode.parse().map_err(|_| {
            ConnectorError::Unavailable(Cause::msg(format!("unknown ssl_mode {:?}", s.ssl_mode)))
        })?;
        let opts = MySqlConnectOptions::new()
            .host(&s.host)
            .port(s.port)
            .database(&s.database)
            .username(&credential.username)
            .password(&credential.password)
            .ssl_mode(ssl)
            .disable_statement_logging();
        let mut conn = connect_within(s.connect_timeout, opts.connect()).await?;
        let result = run(&mut conn, plan, limits).await;
        let _ = conn.close().await;
        result
    }
}

/// The columns of each governed table, in the table's order, as this login may see them.
async fn governed_columns(
    tx: &mut sqlx::MySqlConnection,
    plan: &dyn StatementPlan,
) -> Result<Vec<Vec<String>>, ConnectorError> {
    let mut all = vec![];
    for t in plan.governed_tables() {
        // Bytes: MariaDB describes information_schema's names as VARBINARY to sqlx.
        let cols: Vec<Vec<u8>> = sqlx::query_scalar(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        )
        .bind(&t.schema)
        .bind(&t.table)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        all.push(
            cols.into_iter()
                .map(|c| String::from_utf8_lossy(&c).into_owned())
                .collect(),
        );
    }
    Ok(all)
}

async fn run(
    conn: &mut sqlx::MySqlConnection,
    plan: &dyn StatementPlan,
    limits: &QueryLimits,
) -> Result<SqlResult, ConnectorError> {
    // The statement timeout: MariaDB's max_statement_time (seconds), else MySQL's
    // max_execution_time (milliseconds, SELECT only).
    let secs = limits.timeout.as_secs_f64().max(0.001);
    if conn
        .execute(format!("SET SESSION max_statement_time = {secs}").as_str())
        .await
        .is_err()
    {
        let ms = limits.timeout.as_millis().max(1);
        conn.execute(format!("SET SESSION max_execution_time = {ms}").as_str())
            .await
            .map_err(map_err)?;
    }
    // A fixed SQL mode, whatever the server's default: no ANSI_QUOTES (a double-quoted word
    // stays a string), no PIPES_AS_CONCAT, no ORACLE mode (MariaDB), so the statement is read
    // the way the analyser read it. The default database is the connector's, from the login.
    conn.execute(format!("SET SESSION sql_mode = '{FIXED_SQL_MODE}'").as_str())
        .await
        .map_err(map_err)?;
    if limits.read_only {
        conn.execute("SET TRANSACTION READ ONLY")
            .await
            .map_err(map_err)?;
    }
    let mut tx = conn.begin().await.map_err(map_err)?;
    let governed = governed_columns(&mut tx, plan).await?;
    let sql = plan.statement(&governed).map_err(ConnectorError::Refused)?;
    let stmt = statement(&sql);
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
        let done = tx.execute(stmt).await.map_err(map_err)?;
        out.columns = vec!["rows_affected".into()];
        out.rows = vec![vec![serde_json::Value::from(done.rows_affected())]];
    } else {
        // Every value as JSON by the server's own conversion, in column order.
        let list: Vec<String> = columns
            .iter()
            .map(|c| format!("airlock_row.{}", quote_ident(c)))
            .collect();
        let wrapped = format!(
            "SELECT JSON_ARRAY({}) FROM (\n{stmt}\n) AS airlock_row",
            list.join(", ")
        );
        let mut rows = sqlx::query(&wrapped).fetch(&mut *tx);
        while let Some(row) = rows.try_next().await.map_err(map_err)? {
            // Bytes: JSON_ARRAY over a binary string (a masked column's CONCAT, say) is
            // VARBINARY to the client, and still JSON text.
            let text: Vec<u8> = row.try_get(0).map_err(map_err)?;
            let values: Vec<serde_json::Value> =
                serde_json::from_slice(&text).map_err(|e| ConnectorError::Query(e.to_string()))?;
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
