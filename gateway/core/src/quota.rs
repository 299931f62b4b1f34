//! Caps on things that are held for a while (live sessions, running executions): counted in
//! total, per principal and per tenant, and taken in one step under one lock, so concurrent
//! requests cannot both take the last place. What is taken is a [`Permit`], given back when it
//! is dropped.

use airlock_gateway_domain::{ErrorCode, GatewayError};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

/// The most of one thing at once: in total, per principal, per tenant (zero: no cap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    pub total: u32,
    pub per_principal: u32,
    pub per_tenant: u32,
}

/// Which cap is reached, and how many are held under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Over {
    Total(u32),
    Principal { held: u32, cap: u32 },
    Tenant { held: u32, cap: u32 },
}

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    by_principal: HashMap<String, u32>,
    by_tenant: HashMap<String, u32>,
}

fn down(map: &mut HashMap<String, u32>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// The holder of one kind of thing's counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct Quota {
    counts: Arc<Mutex<Counts>>,
}

/// One place under a [`Quota`]; given back on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    counts: Arc<Mutex<Counts>>,
    principal: String,
    tenant: Option<String>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = lock(&self.counts);
        c.total = c.total.saturating_sub(1);
        down(&mut c.by_principal, &self.principal);
        if let Some(t) = &self.tenant {
            down(&mut c.by_tenant, t);
        }
    }
}

fn lock(m: &Mutex<Counts>) -> MutexGuard<'_, Counts> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Quota {
    /// A place for `principal` (of `tenant`) if no cap is reached.
    pub fn acquire(
        &self,
        principal: &str,
        tenant: Option<&str>,
        caps: Caps,
    ) -> Result<Permit, Over> {
        let mut c = lock(&self.counts);
        if caps.total > 0 && c.total >= caps.total {
            return Err(Over::Total(c.total));
        }
        let mine = c.by_principal.get(principal).copied().unwrap_or(0);
        if caps.per_principal > 0 && mine >= caps.per_principal {
            return Err(Over::Principal {
                held: mine,
                cap: caps.per_principal,
            });
        }
        if let Some(t) = tenant {
            let theirs = c.by_tenant.get(t).copied().unwrap_or(0);
            if caps.per_tenant > 0 && theirs >= caps.per_tenant {
                return Err(Over::Tenant {
                    held: theirs,
                    cap: caps.per_tenant,
                });
            }
        }
        Ok(Self::take(&mut c, &self.counts, principal, tenant))
    }

    /// A place whatever the caps (for what is live already: a recovered session, an approved
    /// execution); counted, so it leaves less room for new ones.
    pub fn force(&self, principal: &str, tenant: Option<&str>) -> Permit {
        let mut c = lock(&self.counts);
        Self::take(&mut c, &self.counts, principal, tenant)
    }

    fn take(
        c: &mut Counts,
        counts: &Arc<Mutex<Counts>>,
        principal: &str,
        tenant: Option<&str>,
    ) -> Permit {
        c.total += 1;
        *c.by_principal.entry(principal.to_owned()).or_default() += 1;
        if let Some(t) = tenant {
            *c.by_tenant.entry(t.to_owned()).or_default() += 1;
        }
        Permit {
            counts: counts.clone(),
            principal: principal.to_owned(),
            tenant: tenant.map(str::to_owned),
        }
    }

    /// How many are held: in total, by `principal`, by `tenant`.
    pub fn held(&self, principal: &str, tenant: Option<&str>) -> (u32, u32, u32) {
        let c = lock(&self.counts);
        (
            c.total,
            c.by_principal.get(principal).copied().unwrap_or(0),
            tenant
                .and_then(|t| c.by_tenant.get(t).copied())
                .unwrap_or(0),
        )
    }
}

/// Policy's caps for one request (a principal's profile, its tenant's limits), checked once the
/// request's own place is taken: more held than a cap means over it. Two racing for the last
/// place may both be refused, never both admitted.
pub(crate) fn within_policy(
    held: (u32, u32, u32),
    principal_cap: Option<u32>,
    tenant_cap: Option<u32>,
    has_tenant: bool,
) -> Result<(), Over> {
    let (_, mine, theirs) = held;
    if let Some(cap) = principal_cap.filter(|c| mine > *c) {
        return Err(Over::Principal {
            held: mine - 1,
            cap,
        });
    }
    if let Some(cap) = tenant_cap.filter(|c| has_tenant && theirs > *c) {
        return Err(Over::Tenant {
            held: theirs - 1,
            cap,
        });
    }
    Ok(())
}

/// What a cap holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Capped {
    Sessions,
    RunningExecutions,
}

impl Capped {
    /// Its name in messages, and in the metric's `what` label.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Self::Sessions => ("sessions", "sessions"),
            Self::RunningExecutions => ("running executions", "running_executions"),
        }
    }
}

/// What a caller is told when a cap is reached: `too_many_sessions` or `too_many_executions`
/// (429), with the cap and, for executions, a second to wait (running executions end on their
/// own; sessions must be ended).
pub(crate) fn over_cap(over: &Over, what: Capped) -> GatewayError {
    let (noun, label) = what.names();
    let (msg, scope, held, cap) = match *over {
        Over::Total(held) => (
            format!("the gateway is at its limit of {noun}; try again later"),
            "gateway",
            held,
            held,
        ),
        Over::Principal { held, cap } => (
            format!("you have {held} {noun}, your limit; end one first"),
            "principal",
            held,
            cap,
        ),
        Over::Tenant { held, cap } => (
            format!("your tenant has {held} {noun}, its limit; try again later"),
            "tenant",
            held,
            cap,
        ),
    };
    metrics::counter!(crate::metric::CAPPED, "what" => label, "scope" => scope).increment(1);
    let mut details = serde_json::json!({"scope": scope, "held": held, "limit": cap});
    let code = match what {
        Capped::Sessions => ErrorCode::TooManySessions,
        Capped::RunningExecutions => {
            details["retry_after_seconds"] = 1.into();
            ErrorCode::TooManyExecutions
        }
    };
    GatewayError::new(code, msg).with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: Caps = Caps {
        total: 3,
        per_principal: 2,
        per_tenant: 2,
    };

    #[test]
    fn each_cap_is_checked_and_a_dropped_permit_gives_its_place_back() {
        let q = Quota::default();
        let a1 = q.acquire("alice", Some("acme"), CAPS).expect("first");
        let _a2 = q.acquire("alice", None, CAPS).expect("second");
        assert_eq!(
            q.acquire("alice", None, CAPS).err(),
            Some(Over::Principal { held: 2, cap: 2 })
        );
        let _b1 = q.acquire("bob", Some("acme"), CAPS).expect("bob");
        assert_eq!(q.acquire("carol", None, CAPS).err(), Some(Over::Total(3)));
        drop(a1);
        assert_eq!(q.held("alice", Some("acme")), (2, 1, 1));
        let _c = q
            .acquire("carol", Some("acme"), CAPS)
            .expect("alice's place is free again");
        assert_eq!(q.held("carol", Some("acme")), (3, 1, 2));
    }

    #[test]
    fn a_tenant_cap_holds_across_its_principals() {
        let q = Quota::default();
        let _x = q.acquire("x", Some("t"), CAPS).expect("x");
        let _y = q.acquire("y", Some("t"), CAPS).expect("y");
        assert_eq!(
            q.acquire("z", Some("t"), CAPS).err(),
            Some(Over::Tenant { held: 2, cap: 2 })
        );
        assert!(q.acquire("z", Some("other"), CAPS).is_ok());
    }

    #[test]
    fn zero_is_no_cap_and_forced_places_count() {
        let q = Quota::default();
        let _f: Vec<Permit> = (0..5).map(|_| q.force("a", Some("t"))).collect();
        assert_eq!(q.held("a", Some("t")), (5, 5, 5));
        assert!(q.acquire("a", Some("t"), Caps::default()).is_ok());
        assert_eq!(q.acquire("b", None, CAPS).err(), Some(Over::Total(5)));
    }

    #[test]
    fn policy_caps_count_the_requests_own_place() {
        // Held counts include this request's place.
        assert_eq!(within_policy((5, 2, 3), Some(2), Some(3), true), Ok(()));
        assert_eq!(
            within_policy((5, 3, 3), Some(2), None, true),
            Err(Over::Principal { held: 2, cap: 2 })
        );
        assert_eq!(
            within_policy((5, 1, 4), None, Some(3), true),
            Err(Over::Tenant { held: 3, cap: 3 })
        );
        // No tenant: a tenant cap does not apply.
        assert_eq!(within_policy((5, 1, 0), None, Some(0), false), Ok(()));
    }

    #[test]
    fn concurrent_acquires_never_pass_a_cap() {
        let q = Quota::default();
        let held: Vec<Permit> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..16)
                .map(|i| {
                    let q = q.clone();
                    s.spawn(move || {
                        let tenant = if i % 2 == 0 { "even" } else { "odd" };
                        (0..50)
                            .filter_map(|_| q.acquire(&format!("p{i}"), Some(tenant), CAPS).ok())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        assert_eq!(held.len(), 3);
        let (total, _, even) = q.held("none", Some("even"));
        assert_eq!(total, 3);
        assert!(even <= 2);
    }
}
