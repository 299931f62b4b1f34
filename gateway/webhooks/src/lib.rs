//! Delivery of signed webhooks: a CloudEvents JSON body (`application/cloudevents+json`)
//! POSTed with the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 over "{id}.{timestamp}.{body}">`, so receivers
//! can verify with any Standard Webhooks library. (The signature is a few lines over `hmac`;
//! the Rust `standardwebhooks` crate verifies but pulls a second HTTP stack.)

use airlock_gateway_domain::webhooks::{DeliveryError, WebhookDelivery, WebhookSender};
use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use std::{collections::HashMap, time::Duration};

/// One configured receiver.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    /// The HMAC key: the base64 part of a `whsec_...` secret, else the secret's bytes.
    pub key: Vec<u8>,
}

impl Endpoint {
    pub fn new(url: String, secret: &str) -> Self {
        let key = secret
            .strip_prefix("whsec_")
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .unwrap_or_else(|| secret.as_bytes().to_vec());
        Self { url, key }
    }
}

/// The `webhook-signature` value of a message.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // Hmac accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

pub struct HttpWebhookSender {
    endpoints: HashMap<String, Endpoint>,
    client: reqwest::Client,
}

impl HttpWebhookSender {
    pub fn new(endpoints: HashMap<String, Endpoint>, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { endpoints, client })
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, d: &WebhookDelivery, now_unix: i64) -> Result<(), DeliveryError> {
        let ep = self
            .endpoints
            .get(&d.endpoint)
            .ok_or_else(|| DeliveryError(format!("no endpoint {:?} configured", d.endpoint)))?;
        let answer = self
            .client
            .post(&ep.url)
            .header("content-type", "application/cloudevents+json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", now_unix.to_string())
            .header(
                "webhook-signature",
                signature(&ep.key, &d.id, now_unix, &d.body),
            )
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| DeliveryError(format!("sending: {e}")))?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(DeliveryError(format!("answered {}", answer.status())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Standard Webhooks specification's own example.
    #[test]
    fn signs_as_the_standard_webhooks_example() {
        let ep = Endpoint::new(String::new(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = signature(
            &ep.key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
