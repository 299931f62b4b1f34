//! Personal access keys: a static credential a signed-in user mints for a tool that cannot
//! hold an OIDC session (a notebook server's gateway client, an agent framework's Jupyter
//! executor). A key acts with its owner's identity and groups as they were when it was
//! minted; only the SHA-256 of its secret is stored; it expires, and revoking it takes effect
//! on the next request (every use looks the key up).

use crate::Principal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What every key's secret starts with, so a gateway (and a secret scanner) tells it from a JWT.
pub const SECRET_PREFIX: &str = "alk_";

/// A key as stored: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessKey {
    /// `ak_` and a UUIDv7: safe to log, names the key in audit events.
    pub id: String,
    pub name: String,
    /// The owner as signed in when the key was minted: the principal every use acts as.
    pub principal: Principal,
    /// Hex SHA-256 of the secret.
    pub secret_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl AccessKey {
    pub fn owner_key(&self) -> String {
        self.principal.owner_key()
    }

    /// Why the key cannot be used at `now`, if it cannot.
    pub fn unusable(&self, now: OffsetDateTime) -> Option<&'static str> {
        if self.revoked_at.is_some() {
            Some("the access key was revoked")
        } else if now >= self.expires_at {
            Some("the access key has expired")
        } else {
            None
        }
    }
}

/// Hex SHA-256 of a presented secret (the stored form).
pub fn secret_digest(secret: &str) -> String {
    crate::digest::sha256_hex(secret.as_bytes())
}

/// Whether a presented credential is an access key's secret rather than a JWT.
pub fn is_key_secret(credential: &str) -> bool {
    credential.starts_with(SECRET_PREFIX)
}
