//! Readiness: what anyone may see (states and counts, `/readyz`) and the detail auditors get
//! (`GET /v1/status`).

use crate::service::Gateway;
use airlock_gateway_domain::{GatewayError, Principal};
use std::time::Duration;

#[derive(Debug, serde::Serialize)]
pub struct Readiness {
    pub ready: bool,
    /// What anyone may see: states and counts.
    pub checks: serde_json::Value,
    /// Error text, sources and identities: auditors only.
    #[serde(skip)]
    pub detail: serde_json::Value,
}

/// The relay's counts without its error text or the names of the chains it holds.
fn relay_summary(relay: &serde_json::Value) -> serde_json::Value {
    if relay.is_null() {
        return relay.clone();
    }
    serde_json::json!({
        "backlog": relay.get("backlog"),
        "max_backlog": relay.get("max_backlog"),
        "lag_seconds": relay.get("lag_seconds"),
        "published_total": relay.get("published_total"),
        "failing": relay.get("last_error").is_some_and(|e| !e.is_null()),
    })
}

impl Gateway {
    pub async fn readiness(&self) -> Readiness {
        let store = self.deps.store.ping().await;
        let backend = self.deps.backend.ready().await;
        let audit_ok = self.deps.audit.admit().is_ok();
        // Connectors depend on Vault, Python does not: shown, not a reason to stop serving.
        let secrets = match &self.deps.connectors.broker {
            Some(b) => match tokio::time::timeout(Duration::from_secs(2), b.health()).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("no answer within 2 s".to_string()),
            }
            .into(),
            None => None,
        };
        let relay = match &self.deps.relay {
            Some(r) => r.status().await,
            None => serde_json::Value::Null,
        };
        let policy = self.deps.policy.status();
        let policy_ready = self.deps.policy.ready();
        let ready = store.is_ok()
            && backend.is_ok()
            && audit_ok
            && policy_ready
            && !self.shutting_down.load(std::sync::atomic::Ordering::SeqCst);
        let state = |ok: bool| if ok { "ok" } else { "failing" };
        let secrets_state = secrets
            .as_ref()
            .map(|r: &Result<(), String>| state(r.is_ok()));
        // Public (no token): states and counts only, never a URL, a credential or an error's
        // text. The detail is for auditors (`GET /v1/status`) and the logs.
        let checks = serde_json::json!({
            "store": state(store.is_ok()),
            "sandbox_backend": state(backend.is_ok()),
            "policy": {
                "state": if policy_ready { "active" } else { "unavailable" },
                "revision": policy.get("revision"),
                "signed": policy.get("signed"),
                "last_load_failed": policy.get("last_error").is_some_and(|e| !e.is_null()),
            },
            "sessions_live": self.sessions.len().await,
            "sandbox_pool": self.deps.backend.status().await,
            "secrets": secrets_state,
            "audit": {
                "admits_work": audit_ok,
                "relay": relay_summary(&relay),
            },
        });
        let detail = serde_json::json!({
            "store": store.err().map_or("ok".to_string(), |e| e.to_string()),
            "sandbox_backend": backend.err().map_or("ok".to_string(), |e| e.to_string()),
            "policy": policy,
            "secrets": secrets.map(|r| r.err().unwrap_or_else(|| "ok".into())),
            "audit": {
                "chain": self.deps.audit.chain_id(),
                "admits_work": audit_ok,
                "relay": relay,
            },
        });
        if !ready {
            tracing::warn!(%detail, "not ready");
        }
        Readiness {
            ready,
            checks,
            detail,
        }
    }

    /// The readiness detail (error text, sources, chain) for auditors.
    pub async fn status_detail(&self, p: &Principal) -> Result<serde_json::Value, GatewayError> {
        self.audit_reader.require_auditor(p)?;
        let r = self.readiness().await;
        Ok(serde_json::json!({"ready": r.ready, "checks": r.checks, "detail": r.detail}))
    }
}
