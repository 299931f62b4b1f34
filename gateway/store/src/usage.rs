//! Usage figures: one row per UTC day, tenant (empty for none) and principal, added to in
//! the commit of what they meter; read back summed over a range of days.

use crate::{
    batch::{Arg, Statement},
    codec::db,
    sql_store::SqlStore,
};
use airlock_gateway_domain::{
    ports::{StoreError, UsageStore},
    usage::{Usage, UsageEntry, UsageQuery, UsageTotal},
};
use async_trait::async_trait;
use sqlx::Row;

const COLUMNS: [&str; 6] = [
    "executions",
    "cpu_ms",
    "memory_mib_ms",
    "egress_bytes",
    "warehouse_rows",
    "review_cases",
];

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Adds `e` to its day's row (created by the first addition).
pub(crate) fn statement(e: &UsageEntry) -> Statement {
    let sums: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!("{c} = usage_daily.{c} + excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO usage_daily (day, tenant, principal, {}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (day, tenant, principal) DO UPDATE SET {}",
        COLUMNS.join(", "),
        sums.join(", ")
    );
    let u = &e.usage;
    Statement {
        sql: sql.into(),
        args: vec![
            Arg::Text(e.day.clone()),
            Arg::Text(e.tenant.clone().unwrap_or_default()),
            Arg::Text(e.principal.clone()),
            Arg::Int(signed(u.executions)),
            Arg::Int(signed(u.cpu_ms)),
            Arg::Int(signed(u.memory_mib_ms)),
            Arg::Int(signed(u.egress_bytes)),
            Arg::Int(signed(u.warehouse_rows)),
            Arg::Int(signed(u.review_cases)),
        ],
    }
}

#[async_trait]
impl UsageStore for SqlStore {
    async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageTotal>, StoreError> {
        let sums: Vec<String> = COLUMNS
            .iter()
            .map(|c| format!("CAST(SUM({c}) AS BIGINT) AS {c}"))
            .collect();
        let mut filters = vec!["day >= $1".to_owned(), "day <= $2".to_owned()];
        let mut binds = vec![q.from.clone(), q.to.clone()];
        if let Some(t) = &q.tenant {
            binds.push(t.clone());
            filters.push(format!("tenant = ${}", binds.len()));
        }
        if let Some(p) = &q.principal {
            binds.push(p.clone());
            filters.push(format!("principal = ${}", binds.len()));
        }
        let sql = format!(
            "SELECT tenant, principal, {} FROM usage_daily WHERE {} GROUP BY tenant, principal ORDER BY tenant, principal",
            sums.join(", "),
            filters.join(" AND ")
        );
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = query.bind(b);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(db)?;
        rows.iter()
            .map(|r| {
                let n = |c: &str| r.try_get::<i64, _>(c).map(unsigned).map_err(db);
                let tenant: String = r.try_get("tenant").map_err(db)?;
                Ok(UsageTotal {
                    tenant: Some(tenant).filter(|t| !t.is_empty()),
                    principal: r.try_get("principal").map_err(db)?,
                    usage: Usage {
                        executions: n("executions")?,
                        cpu_ms: n("cpu_ms")?,
                        memory_mib_ms: n("memory_mib_ms")?,
                        egress_bytes: n("egress_bytes")?,
                        warehouse_rows: n("warehouse_rows")?,
                        review_cases: n("review_cases")?,
                    },
                })
            })
            .collect()
    }
}
