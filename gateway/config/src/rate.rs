//! `[rate_limits]`: requests per principal and per tenant (token buckets; `429 rate_limited`
//! with `Retry-After` past them). Zero turns a bucket off.

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Average requests a minute of one principal, and how many may come at once.
    pub per_principal_per_minute: u32,
    pub per_principal_burst: u32,
    /// The same for all principals of one tenant together.
    pub per_tenant_per_minute: u32,
    pub per_tenant_burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_principal_per_minute: 1_200,
            per_principal_burst: 120,
            per_tenant_per_minute: 12_000,
            per_tenant_burst: 1_200,
        }
    }
}

impl RateLimits {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (key, per_minute, burst) in [
            (
                "rate_limits.per_principal_burst",
                self.per_principal_per_minute,
                self.per_principal_burst,
            ),
            (
                "rate_limits.per_tenant_burst",
                self.per_tenant_per_minute,
                self.per_tenant_burst,
            ),
        ] {
            if per_minute > 0 && burst == 0 {
                return Err(invalid(key, "at least 1 when the rate is on"));
            }
        }
        Ok(())
    }
}
