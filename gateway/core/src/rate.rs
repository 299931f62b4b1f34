//! Request rates per principal and per tenant: token buckets (GCRA, the `governor` crate), one
//! key per principal and one per tenant, checked by every channel (the REST API's caller
//! extractor, the MCP guard) right after authentication. A request over either bucket is
//! `429 rate_limited` with the seconds until the next one fits.

use airlock_gateway_domain::{ErrorCode, GatewayError, Principal};
use governor::{clock::DefaultClock, state::keyed::DefaultKeyedStateStore, Quota, RateLimiter};
use std::num::NonZeroU32;

/// One bucket per key: `per_minute` on average, `burst` at once. Zero turns it off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// The gateway's buckets.
pub(crate) struct RateLimits {
    principal: Option<Keyed>,
    tenant: Option<Keyed>,
}

fn limiter(l: RateLimit) -> Option<Keyed> {
    let per_minute = NonZeroU32::new(l.per_minute)?;
    let burst = NonZeroU32::new(l.burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Some(RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

impl RateLimits {
    pub fn new(principal: RateLimit, tenant: RateLimit) -> Self {
        Self {
            principal: limiter(principal),
            tenant: limiter(tenant),
        }
    }

    /// Takes one token from the principal's bucket and one from its tenant's.
    pub fn admit(&self, p: &Principal) -> Result<(), GatewayError> {
        if let Some(l) = &self.principal {
            check(l, p.owner_key(), "this principal")?;
        }
        if let (Some(l), Some(t)) = (&self.tenant, &p.tenant) {
            check(l, format!("t:{t}"), "this tenant")?;
        }
        Ok(())
    }

    /// Forgets keys whose buckets are full again (a bounded memory for many principals).
    pub fn sweep(&self) {
        for l in [&self.principal, &self.tenant].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

fn check(l: &Keyed, key: String, whose: &str) -> Result<(), GatewayError> {
    use governor::clock::Clock;
    l.check_key(&key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        GatewayError::new(
            ErrorCode::RateLimited,
            format!("too many requests from {whose}; retry in {seconds} s"),
        )
        .with_details(serde_json::json!({"retry_after_seconds": seconds.max(1)}))
    })
}
