//! The console's overview: what `p` may see, counted. A gateway auditor sees every execution
//! and case, a tenant auditor their tenant's, everyone else their own (as the API shows them).

use crate::{service::store_err, Gateway};
use airlock_gateway_audit::AuditScope;
use airlock_gateway_domain::{
    stats::{Overview, OverviewQuery, StatsScope},
    GatewayError, Principal,
};

/// The longest window the overview counts over.
pub const MAX_OVERVIEW_DAYS: u32 = 31;

impl Gateway {
    /// Whose activity `p`'s overview counts.
    pub fn stats_scope(&self, p: &Principal) -> StatsScope {
        match self.audit_reader.scope(p) {
            Ok(AuditScope::All) => StatsScope::All,
            Ok(AuditScope::Tenant(t)) => StatsScope::Tenant(t),
            Err(_) => StatsScope::Owner(p.owner_key()),
        }
    }

    /// Executions by status per hour (per day beyond two days), denials by code, pending cases
    /// and time to decision over the last `days` days.
    pub async fn overview(&self, p: &Principal, days: u32) -> Result<Overview, GatewayError> {
        let days = days.clamp(1, MAX_OVERVIEW_DAYS);
        let hour = 3_600_000_i64;
        let bucket_ms = if days <= 2 { hour } else { 24 * hour };
        let now_ms = airlock_gateway_domain::unix_ms(self.now());
        let since_ms = (now_ms - i64::from(days) * 24 * hour) / bucket_ms * bucket_ms;
        let q = OverviewQuery {
            scope: self.stats_scope(p),
            since_ms,
            bucket_ms,
        };
        self.deps.store.overview(&q).await.map_err(store_err)
    }
}
