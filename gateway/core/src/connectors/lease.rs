//! The lease of one issued warehouse login, as a guard: on record before the login is used, and
//! revoked on every path out of a run. The normal path revokes it explicitly and records the
//! revocation with the statement; a run abandoned half-way (its future dropped: the client went
//! away, the gateway stops) revokes it in the background and records that. A lease whose
//! revocation fails stays on record as open, and the sweep revokes it later.

use crate::service::Gateway;
use airlock_gateway_audit::AuditRecorder;
use airlock_gateway_domain::{
    audit::{types, NewEvent},
    connectors::{CredentialBroker, DbCredential, SecretsError},
    ports::{LeaseRecord, Store},
    unix_ms, Clock, ErrorCode, GatewayError,
};
use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

/// What a lease needs to end itself, also after the run that opened it is gone.
#[derive(Clone)]
struct Ends {
    broker: Arc<dyn CredentialBroker>,
    store: Arc<dyn Store>,
    audit: Arc<AuditRecorder>,
    clock: Arc<dyn Clock>,
    in_use: Arc<Mutex<HashSet<String>>>,
}

impl Ends {
    fn mark_in_use(&self, hash: &str, used: bool) {
        if let Ok(mut s) = self.in_use.lock() {
            if used {
                s.insert(hash.to_owned());
            } else {
                s.remove(hash);
            }
        }
    }

    /// Revokes at the broker and, once revoked, closes the record.
    async fn revoke(&self, lease_id: &str, hash: &str) -> Result<(), SecretsError> {
        let revoked = self.broker.revoke(lease_id).await;
        if revoked.is_ok() {
            let at = unix_ms(self.clock.now());
            if let Err(e) = self.store.lease_closed(hash, at).await {
                tracing::warn!(error = %e, "a revoked lease stays open on record; the sweep closes it");
            }
        }
        self.mark_in_use(hash, false);
        revoked
    }
}

pub(super) struct Lease {
    /// The keyed hash of the lease id: what audit events name.
    pub hash: String,
    lease_id: String,
    /// The `credential.revoked` event of an abandoned lease is about this session.
    session_id: String,
    ends: Ends,
    /// Not yet revoked.
    open: bool,
}

impl Lease {
    /// Puts the lease on record (so a crash mid-query leaves it for the next sweep) and marks it
    /// in use. If it cannot be recorded, the login is revoked at once and nothing runs.
    pub async fn open(
        gw: &Gateway,
        broker: &Arc<dyn CredentialBroker>,
        cred: &DbCredential,
        connector: &str,
        session_id: &str,
    ) -> Result<Self, GatewayError> {
        let c = &gw.deps.connectors;
        let ends = Ends {
            broker: broker.clone(),
            store: gw.deps.store.clone(),
            audit: gw.deps.audit.clone(),
            clock: gw.deps.clock.clone(),
            in_use: c.in_use.clone(),
        };
        let hash = keyed_hash(&c.lease_hash_key, &cred.lease_id);
        let now_ms = unix_ms(gw.now());
        let record = LeaseRecord {
            lease_hash: hash.clone(),
            lease_id: cred.lease_id.clone(),
            instance_id: gw.settings.instance_id.clone(),
            connector: connector.to_owned(),
            issued_at_ms: now_ms,
            expires_at_ms: now_ms
                .saturating_add(i64::try_from(cred.ttl.as_millis()).unwrap_or(i64::MAX)),
        };
        ends.mark_in_use(&hash, true);
        if let Err(e) = ends.store.lease_opened(&record).await {
            tracing::error!(error = %e, "recording the lease failed; revoking it");
            let _ = ends.broker.revoke(&cred.lease_id).await;
            ends.mark_in_use(&hash, false);
            return Err(GatewayError::new(
                ErrorCode::Internal,
                "the credential's lease could not be recorded; it was revoked",
            ));
        }
        Ok(Self {
            hash,
            lease_id: cred.lease_id.clone(),
            session_id: session_id.to_owned(),
            ends,
            open: true,
        })
    }

    /// Revokes the login now; the caller records the outcome.
    pub async fn revoke(mut self) -> Result<(), SecretsError> {
        self.open = false;
        self.ends.revoke(&self.lease_id, &self.hash).await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        let (ends, lease_id, hash) = (self.ends.clone(), self.lease_id.clone(), self.hash.clone());
        let session_id = self.session_id.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            // No runtime left (the process is ending): the lease is on record as open and the
            // next start's sweep revokes it.
            ends.mark_in_use(&hash, false);
            return;
        };
        rt.spawn(async move {
            let revoked = ends.revoke(&lease_id, &hash).await;
            let ev = NewEvent::new(
                types::CREDENTIAL_REVOKED,
                Some(session_id),
                serde_json::json!({
                    "lease": hash, "reason": "the run was abandoned",
                    "ok": revoked.is_ok(), "error": revoked.as_ref().err().map(|e| e.to_string()),
                }),
            );
            if let Err(e) = ends.audit.record(vec![], vec![ev]).await {
                tracing::error!(error = %e.message, "recording an abandoned lease's revocation failed");
            }
        });
    }
}

/// The keyed hash of a lease id: events can be correlated without naming the lease.
pub(super) fn keyed_hash(key: &[u8], lease: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(lease.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
