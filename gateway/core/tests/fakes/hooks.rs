//! Webhook receivers that record what they got, and can be down.

use airlock_gateway_core::Webhooks;
use airlock_gateway_domain::webhooks::{
    DeliveryError, WebhookDelivery, WebhookRoute, WebhookSender,
};
use async_trait::async_trait;
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex,
};

#[derive(Default)]
pub struct FakeHooks {
    pub received: Mutex<Vec<(String, serde_json::Value)>>,
    pub down: AtomicBool,
}

struct Sender(Arc<FakeHooks>);

impl FakeHooks {
    pub fn wired(hooks: &Arc<Self>) -> Webhooks {
        Webhooks {
            sender: Some(Arc::new(Sender(hooks.clone()))),
            routes: vec![
                WebhookRoute {
                    endpoint: "all".into(),
                    tenants: vec![],
                },
                WebhookRoute {
                    endpoint: "globex".into(),
                    tenants: vec!["globex".into()],
                },
            ],
        }
    }

    /// The event types an endpoint received, in order.
    pub fn types(&self, endpoint: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(e, _)| e == endpoint)
            .map(|(_, body)| body["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

#[async_trait]
impl WebhookSender for Sender {
    async fn send(&self, d: &WebhookDelivery, _now: i64) -> Result<(), DeliveryError> {
        if self.0.down.load(Ordering::SeqCst) {
            return Err(DeliveryError("503".into()));
        }
        let body = serde_json::from_str(&d.body).map_err(|e| DeliveryError(e.to_string()))?;
        self.0
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((d.endpoint.clone(), body));
        Ok(())
    }
}
