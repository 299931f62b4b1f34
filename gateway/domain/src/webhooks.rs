//! Signed webhooks of review cases: each event for each endpoint waits in an outbox, written in
//! the commit of the change it tells about, until the endpoint acknowledges it. Delivery is in
//! order per endpoint; a receiver that is down gets what it missed when it is back, and never
//! slows a request. No I/O here.

use async_trait::async_trait;

/// One event on its way to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The event's id (UUIDv7: the order of the outbox), sent as `webhook-id`.
    pub id: String,
    /// The configured endpoint's name.
    pub endpoint: String,
    /// The CloudEvents JSON sent as the body.
    pub body: String,
    pub attempts: u32,
    /// Not before this (Unix ms): the backoff after a failed attempt.
    pub next_attempt_ms: i64,
}

/// Where a delivery attempt failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// Sends one delivery, signed, to its endpoint.
#[async_trait]
pub trait WebhookSender: Send + Sync {
    /// Sends `d`; `now_unix` is the signature's timestamp. Ok only on a 2xx answer.
    async fn send(&self, d: &WebhookDelivery, now_unix: i64) -> Result<(), DeliveryError>;
}

/// The backoff after `attempts` failed attempts: 1 s doubling, at most 5 minutes.
pub fn backoff_ms(attempts: u32) -> i64 {
    let secs = 1_i64 << attempts.saturating_sub(1).min(9);
    secs.min(300) * 1000
}

/// Which cases an endpoint hears about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebhookRoute {
    pub endpoint: String,
    /// Only cases of requesters in these tenants (empty: every case).
    pub tenants: Vec<String>,
}

impl WebhookRoute {
    pub fn wants(&self, tenant: Option<&str>) -> bool {
        self.tenants.is_empty() || tenant.is_some_and(|t| self.tenants.iter().any(|x| x == t))
    }
}

/// The webhook outbox: deliveries waiting for their endpoint.
#[async_trait]
pub trait WebhookOutbox: Send + Sync {
    /// The oldest undelivered deliveries of `endpoint`, in order, at most `limit`.
    async fn webhooks_pending(
        &self,
        endpoint: &str,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, crate::ports::StoreError>;
    async fn webhook_delivered(&self, id: &str, at_ms: i64)
        -> Result<(), crate::ports::StoreError>;
    /// Records a failed attempt: the next is not before `next_attempt_ms`.
    async fn webhook_failed(
        &self,
        id: &str,
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<(), crate::ports::StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_minutes() {
        assert_eq!(backoff_ms(1), 1000);
        assert_eq!(backoff_ms(2), 2000);
        assert_eq!(backoff_ms(5), 16_000);
        assert_eq!(backoff_ms(40), 300_000);
    }

    #[test]
    fn routes_filter_by_tenant() {
        let all = WebhookRoute {
            endpoint: "a".into(),
            tenants: vec![],
        };
        let acme = WebhookRoute {
            endpoint: "b".into(),
            tenants: vec!["acme".into()],
        };
        assert!(all.wants(None) && all.wants(Some("globex")));
        assert!(acme.wants(Some("acme")));
        assert!(!acme.wants(Some("globex")) && !acme.wants(None));
    }
}
