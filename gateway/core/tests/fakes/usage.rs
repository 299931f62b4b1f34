//! Usage figures in memory, summed over days as the SQL store sums them.

use super::store::{lock, MemStore};
use airlock_gateway_domain::{
    ports::{StoreError, UsageStore},
    usage::{Usage, UsageQuery, UsageTotal},
};
use async_trait::async_trait;
use std::collections::BTreeMap;

#[async_trait]
impl UsageStore for MemStore {
    async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageTotal>, StoreError> {
        let mut sums: BTreeMap<(String, String), Usage> = BTreeMap::new();
        for ((day, tenant, principal), u) in lock(&self.usage).iter() {
            let in_range = *day >= q.from && *day <= q.to;
            let tenant_ok = q.tenant.as_ref().is_none_or(|t| t == tenant);
            let principal_ok = q.principal.as_ref().is_none_or(|p| p == principal);
            if in_range && tenant_ok && principal_ok {
                sums.entry((tenant.clone(), principal.clone()))
                    .or_default()
                    .add(u);
            }
        }
        Ok(sums
            .into_iter()
            .map(|((tenant, principal), usage)| UsageTotal {
                tenant: Some(tenant).filter(|t| !t.is_empty()),
                principal,
                usage,
            })
            .collect())
    }
}
