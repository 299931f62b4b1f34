//! `[review]` wired: the signed-webhook sender and the routes of each endpoint.

use airlock_gateway_core::Webhooks;
use airlock_gateway_domain::webhooks::WebhookRoute;
use airlock_gateway_webhooks::{Endpoint, HttpWebhookSender};
use std::{collections::HashMap, sync::Arc, time::Duration};

/// How long one delivery may take before it counts as failed (and is retried later).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

pub fn webhooks(cfg: &airlock_gateway_config::Config) -> anyhow::Result<Webhooks> {
    if cfg.review.webhooks.is_empty() {
        return Ok(Webhooks::default());
    }
    let mut endpoints = HashMap::new();
    let mut routes = vec![];
    for w in &cfg.review.webhooks {
        endpoints.insert(w.name.clone(), Endpoint::new(w.url.clone(), &w.secret()?));
        routes.push(WebhookRoute {
            endpoint: w.name.clone(),
            tenants: w.tenants.clone(),
        });
    }
    let sender = HttpWebhookSender::new(endpoints, DELIVERY_TIMEOUT).map_err(anyhow::Error::msg)?;
    Ok(Webhooks {
        sender: Some(Arc::new(sender)),
        routes,
    })
}
