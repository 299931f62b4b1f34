//! Signed webhooks of a case's life: each event for each endpoint that wants the case's tenant
//! goes into the outbox in the commit that records it; a task delivers them in order.

use crate::service::Gateway;
use airlock_gateway_domain::{
    audit::NewEvent, ports::Change, review::ReviewCase, unix_ms, webhooks::backoff_ms,
    webhooks::WebhookDelivery,
};
use std::{sync::Arc, time::Duration};

/// Deliveries read per endpoint per pass.
const BATCH: u32 = 50;

impl Gateway {
    /// The outbox rows for `events` about `case`, one per event and interested endpoint.
    pub(crate) fn webhook_changes(&self, case: &ReviewCase, events: &[NewEvent]) -> Vec<Change> {
        let routes = &self.deps.webhooks.routes;
        let now = self.now();
        let time = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut out = vec![];
        for e in events
            .iter()
            .filter(|e| e.event_type.starts_with("review."))
        {
            for r in routes.iter().filter(|r| r.wants(case.tenant())) {
                let id = self.deps.ids.event_id();
                let body = serde_json::json!({
                    "specversion": "1.0",
                    "id": id,
                    "source": format!("airlock://{}", self.settings.instance_id),
                    "type": e.event_type,
                    "subject": case.id,
                    "time": time,
                    "datacontenttype": "application/json",
                    "data": e.data,
                });
                out.push(Change::PutWebhook(WebhookDelivery {
                    id,
                    endpoint: r.endpoint.clone(),
                    body: body.to_string(),
                    attempts: 0,
                    next_attempt_ms: unix_ms(now),
                }));
            }
        }
        out
    }

    /// One pass over every endpoint's outbox: in order, stopping at an endpoint's first
    /// delivery that fails or is not yet due. Returns how many were delivered.
    pub async fn deliver_webhooks(&self) -> usize {
        let Some(sender) = self.deps.webhooks.sender.clone() else {
            return 0;
        };
        let mut delivered = 0;
        for route in &self.deps.webhooks.routes {
            let pending = match self
                .deps
                .store
                .webhooks_pending(&route.endpoint, BATCH)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook outbox unreadable; retried next pass");
                    return delivered;
                }
            };
            for d in pending {
                let now = self.now();
                if d.next_attempt_ms > unix_ms(now) {
                    break;
                }
                let sent = sender.send(&d, now.unix_timestamp()).await;
                let store = &self.deps.store;
                let recorded = match &sent {
                    Ok(()) => store.webhook_delivered(&d.id, unix_ms(self.now())).await,
                    Err(e) => {
                        let next = unix_ms(self.now()) + backoff_ms(d.attempts + 1);
                        tracing::info!(endpoint = %d.endpoint, error = %e, "webhook not delivered; retrying later");
                        store.webhook_failed(&d.id, next, &e.to_string()).await
                    }
                };
                if let Err(e) = recorded {
                    tracing::warn!(error = %e, "webhook outbox not updated; the delivery repeats");
                }
                if sent.is_err() {
                    break;
                }
                metrics::counter!(crate::metric::WEBHOOKS_DELIVERED).increment(1);
                delivered += 1;
            }
        }
        delivered
    }

    /// Delivers webhooks every `interval`, and at once after a case changes.
    pub fn spawn_webhooks(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let gw = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                let Some(g) = gw.upgrade() else { return };
                g.deliver_webhooks().await;
                let wake = g.webhook_wake.clone();
                drop(g);
                let _ = tokio::time::timeout(interval, wake.notified()).await;
            }
        })
    }
}
