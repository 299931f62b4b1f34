//! The console's overview: aggregates over the `executions` and `review_cases` columns (never
//! their JSON bodies), each query on an index of its scope and time. Executions count from
//! whole hours (`created_hour`): a bucket holds the hours that start in it.

use crate::{codec::db, sql_store::SqlStore};
use airlock_gateway_domain::{
    ports::StoreError,
    stats::{Overview, OverviewQuery, StatsScope, StatsStore},
};
use async_trait::async_trait;
use sqlx::Row;
use std::collections::BTreeMap;

const HOUR_MS: i64 = 3_600_000;

/// The scope's condition, binding parameter `$n`, on `executions` (`cases` false) or on
/// `review_cases`; and the value it binds.
fn scope_sql(scope: &StatsScope, cases: bool, n: u8) -> (String, Option<String>) {
    let (column, value) = match scope {
        StatsScope::All => return (String::new(), None),
        StatsScope::Tenant(t) => ("tenant", t),
        StatsScope::Owner(o) if cases => ("requester_key", o),
        StatsScope::Owner(o) => ("owner_key", o),
    };
    (format!(" AND {column} = ${n}"), Some(value.clone()))
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[async_trait]
impl StatsStore for SqlStore {
    async fn overview(&self, q: &OverviewQuery) -> Result<Overview, StoreError> {
        let bucket = q.bucket_ms.max(1);
        let since_hour = q.since_ms.div_euclid(HOUR_MS);
        let pool = &self.pool;

        // By hour in SQL (an index-only scan), into the query's buckets here.
        let (scope, value) = scope_sql(&q.scope, false, 2);
        let sql = format!(
            "SELECT created_hour AS h, status, COUNT(*) AS n FROM executions
             WHERE created_hour >= $1{scope} GROUP BY created_hour, status"
        );
        let mut query = sqlx::query(&sql).bind(since_hour);
        if let Some(v) = &value {
            query = query.bind(v.clone());
        }
        let mut buckets: BTreeMap<(i64, String), u64> = BTreeMap::new();
        for r in query.fetch_all(pool).await.map_err(db)? {
            let h: i64 = r.try_get("h").map_err(db)?;
            let status: String = r.try_get("status").map_err(db)?;
            let b = (h * HOUR_MS).div_euclid(bucket) * bucket;
            *buckets.entry((b, status)).or_default() += count(r.try_get("n").map_err(db)?);
        }
        let executions = buckets.into_iter().map(|((b, s), n)| (b, s, n)).collect();

        let (scope, value) = scope_sql(&q.scope, false, 2);
        let sql = format!(
            "SELECT end_code, COUNT(*) AS n FROM executions WHERE created_hour >= $1
             AND status = 'denied' AND end_code IS NOT NULL{scope}
             GROUP BY end_code ORDER BY n DESC, end_code LIMIT 10"
        );
        let mut query = sqlx::query(&sql).bind(since_hour);
        if let Some(v) = &value {
            query = query.bind(v.clone());
        }
        let mut denials = vec![];
        for r in query.fetch_all(pool).await.map_err(db)? {
            let code: String = r.try_get("end_code").map_err(db)?;
            denials.push((code, count(r.try_get("n").map_err(db)?)));
        }

        let (scope, value) = scope_sql(&q.scope, true, 1);
        let sql = format!("SELECT COUNT(*) AS n FROM review_cases WHERE status = 'pending'{scope}");
        let mut query = sqlx::query(&sql);
        if let Some(v) = &value {
            query = query.bind(v.clone());
        }
        let pending: i64 = query
            .fetch_one(pool)
            .await
            .map_err(db)?
            .try_get("n")
            .map_err(db)?;

        let (scope, value) = scope_sql(&q.scope, true, 2);
        let sql = format!(
            "SELECT COUNT(*) AS n, CAST(AVG(decided_at - created_at) AS BIGINT) AS mean,
             MAX(decided_at - created_at) AS longest FROM review_cases
             WHERE decided_at >= $1{scope}"
        );
        let mut query = sqlx::query(&sql).bind(q.since_ms);
        if let Some(v) = &value {
            query = query.bind(v.clone());
        }
        let r = query.fetch_one(pool).await.map_err(db)?;
        Ok(Overview {
            executions,
            denials,
            pending_cases: count(pending),
            decided_cases: count(r.try_get("n").map_err(db)?),
            decision_ms_mean: r.try_get("mean").map_err(db)?,
            decision_ms_max: r.try_get("longest").map_err(db)?,
        })
    }
}
