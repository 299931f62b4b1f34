//! Revokes leases no query uses: what a crashed process left, revocations that failed, and
//! leases past their end.

use crate::service::Gateway;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    unix_ms,
};

impl Gateway {
    /// At start every open lease of this instance (its previous process died with them); later
    /// this instance's leases whose revocation failed, and any instance's lease past its end.
    /// Each revocation is recorded. Returns how many.
    pub async fn sweep_leases(&self, at_start: bool) -> usize {
        let Some(broker) = self.deps.connectors.broker.as_ref() else {
            return 0;
        };
        let Ok(open) = self.deps.store.leases_open().await else {
            return 0;
        };
        let now = unix_ms(self.now());
        let in_use = self
            .deps
            .connectors
            .in_use
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let mut n = 0;
        for l in open {
            let mine = l.instance_id == self.settings.instance_id;
            let due =
                (mine && (at_start || !in_use.contains(&l.lease_hash))) || l.expires_at_ms < now;
            if !due {
                continue;
            }
            let revoked = broker.revoke(&l.lease_id).await;
            if revoked.is_ok() {
                let _ = self.deps.store.lease_closed(&l.lease_hash, now).await;
                n += 1;
            }
            let ev = NewEvent::new(
                types::CREDENTIAL_REVOKED,
                None,
                serde_json::json!({
                    "lease": l.lease_hash, "connector": l.connector, "instance_id": l.instance_id,
                    "reason": if at_start { "left by a previous process" } else { "sweep" },
                    "ok": revoked.is_ok(), "error": revoked.as_ref().err().map(|e| e.to_string()),
                }),
            );
            if let Err(e) = self.deps.audit.record(vec![], vec![ev]).await {
                tracing::error!(error = %e.message, "recording a swept lease failed");
            }
        }
        if n > 0 {
            tracing::warn!(leases = n, "revoked credential leases no query uses");
        }
        n
    }
}
