//! The overview's aggregates, counted over the executions and cases in memory.

use super::store::{lock, MemStore};
use airlock_gateway_domain::unix_ms as ms;
use airlock_gateway_domain::{
    ports::StoreError,
    review::CaseStatus,
    stats::{Overview, OverviewQuery, StatsScope, StatsStore},
};
use async_trait::async_trait;
use std::collections::BTreeMap;

#[async_trait]
impl StatsStore for MemStore {
    async fn overview(&self, q: &OverviewQuery) -> Result<Overview, StoreError> {
        let mut by_bucket: BTreeMap<(i64, String), u64> = BTreeMap::new();
        let mut denials: BTreeMap<String, u64> = BTreeMap::new();
        for e in lock(&self.executions).values() {
            let mine = match &q.scope {
                StatsScope::All => true,
                StatsScope::Tenant(t) => e.tenant.as_ref() == Some(t),
                StatsScope::Owner(o) => &e.owner_key == o,
            };
            if !mine || ms(e.created_at) < q.since_ms {
                continue;
            }
            let b = ms(e.created_at) / q.bucket_ms * q.bucket_ms;
            *by_bucket
                .entry((b, e.status.as_str().to_owned()))
                .or_default() += 1;
            if e.status.as_str() == "denied" {
                if let Some(c) = e.end_code() {
                    *denials.entry(c).or_default() += 1;
                }
            }
        }
        let mut out = Overview {
            executions: by_bucket.into_iter().map(|((b, s), n)| (b, s, n)).collect(),
            ..Overview::default()
        };
        let mut denials: Vec<(String, u64)> = denials.into_iter().collect();
        denials.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        denials.truncate(10);
        out.denials = denials;
        let mut waits = vec![];
        for c in lock(&self.cases).values() {
            let mine = match &q.scope {
                StatsScope::All => true,
                StatsScope::Tenant(t) => c.tenant() == Some(t.as_str()),
                StatsScope::Owner(o) => &c.requester.owner_key() == o,
            };
            if !mine {
                continue;
            }
            if c.status == CaseStatus::Pending {
                out.pending_cases += 1;
            } else if ms(c.updated_at) >= q.since_ms {
                waits.push(ms(c.updated_at) - ms(c.created_at));
            }
        }
        out.decided_cases = waits.len() as u64;
        if !waits.is_empty() {
            out.decision_ms_mean = Some(waits.iter().sum::<i64>() / waits.len() as i64);
            out.decision_ms_max = waits.iter().max().copied();
        }
        Ok(out)
    }
}
