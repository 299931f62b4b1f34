//! Personal access keys: minted by a signed-in user for a tool that holds one static
//! credential, acting as that user (identity and groups as they were at minting), stored as
//! the SHA-256 of the secret only, expiring, revocable with effect on the next request (every
//! use reads the key), and every use audited (`access_key.used`, and the key's id in the
//! `via` of every event the call records). A key never mints, lists or revokes keys.

use crate::service::{err, store_err, Gateway};
use airlock_gateway_audit::payload;
use airlock_gateway_domain::{
    access_keys::{secret_digest, AccessKey, SECRET_PREFIX},
    audit::{types, NewEvent},
    ports::Change,
    Channel, ErrorCode, GatewayError, Principal,
};
use std::time::Duration;

/// What the operator allows of keys.
#[derive(Clone, Copy, Debug)]
pub struct AccessKeySettings {
    pub enabled: bool,
    /// The longest life a key may be given (and the default).
    pub max_lifetime: Duration,
    /// Unrevoked, unexpired keys one principal may hold.
    pub max_per_principal: u32,
}

impl Default for AccessKeySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            max_lifetime: Duration::from_secs(90 * 86_400),
            max_per_principal: 20,
        }
    }
}

/// A key just minted, with the one copy of its secret there will ever be.
pub struct MintedKey {
    pub key: AccessKey,
    pub secret: String,
}

const MAX_NAME: usize = 100;
const DISABLED: &str = "personal access keys are disabled on this gateway";

impl Gateway {
    /// Mints a key for `p` (signed in with an OIDC token) named `name`, living `lifetime` (the
    /// maximum when None).
    pub async fn mint_access_key(
        &self,
        p: &Principal,
        name: &str,
        lifetime: Option<Duration>,
    ) -> Result<MintedKey, GatewayError> {
        self.keys_enabled()?;
        refuse_key_holder(p)?;
        let name = valid_name(name)?;
        let max = self.settings.access_keys.max_lifetime;
        let lifetime = lifetime.unwrap_or(max);
        if lifetime > max || lifetime.is_zero() {
            return Err(err(
                ErrorCode::InvalidRequest,
                format!(
                    "a key lives from 1 second to {} days",
                    max.as_secs() / 86_400
                ),
            ));
        }
        let now = self.now();
        let live = self
            .access_keys(p)
            .await?
            .iter()
            .filter(|k| k.unusable(now).is_none())
            .count();
        if live >= self.settings.access_keys.max_per_principal as usize {
            return Err(err(
                ErrorCode::TooManyAccessKeys,
                format!("{live} keys are in use; revoke one first"),
            ));
        }
        let secret = format!("{SECRET_PREFIX}{}", self.deps.ids.secret());
        let key = AccessKey {
            id: format!("ak_{}", self.deps.ids.uuid().simple()),
            name,
            principal: Principal {
                via: None,
                ..p.clone()
            },
            secret_sha256: secret_digest(&secret),
            created_at: now,
            expires_at: now + lifetime,
            revoked_at: None,
        };
        let ev = key_event(types::ACCESS_KEY_CREATED, &key, p);
        self.deps
            .audit
            .record(vec![Change::PutAccessKey(Box::new(key.clone()))], vec![ev])
            .await?;
        Ok(MintedKey { key, secret })
    }

    /// The caller's keys, newest first (revoked and expired included, marked so).
    pub async fn access_keys(&self, p: &Principal) -> Result<Vec<AccessKey>, GatewayError> {
        self.keys_enabled()?;
        refuse_key_holder(p)?;
        self.deps
            .store
            .access_keys_of_owner(&p.owner_key())
            .await
            .map_err(store_err)
    }

    /// Revokes one of the caller's keys (idempotent: a revoked key is returned as it is).
    pub async fn revoke_access_key(
        &self,
        p: &Principal,
        id: &str,
    ) -> Result<AccessKey, GatewayError> {
        let mut key = self
            .access_keys(p)
            .await?
            .into_iter()
            .find(|k| k.id == id)
            .ok_or_else(|| err(ErrorCode::AccessKeyNotFound, format!("no access key {id}")))?;
        if key.revoked_at.is_some() {
            return Ok(key);
        }
        key.revoked_at = Some(self.now());
        let ev = key_event(types::ACCESS_KEY_REVOKED, &key, p);
        self.deps
            .audit
            .record(vec![Change::PutAccessKey(Box::new(key.clone()))], vec![ev])
            .await?;
        Ok(key)
    }

    /// The principal a presented key secret acts as, on `protocol` (`rest`, `jupyter`); the use
    /// is audited before anything else happens.
    pub async fn authenticate_key(
        &self,
        secret: &str,
        protocol: &str,
    ) -> Result<Principal, GatewayError> {
        if !self.settings.access_keys.enabled {
            return Err(err(ErrorCode::InvalidAccessKey, DISABLED));
        }
        let key = self
            .deps
            .store
            .access_key_by_digest(&secret_digest(secret))
            .await
            .map_err(store_err)?
            .ok_or_else(|| err(ErrorCode::InvalidAccessKey, "unknown access key"))?;
        if let Some(why) = key.unusable(self.now()) {
            return Err(err(ErrorCode::InvalidAccessKey, why));
        }
        let mut p = key.principal.clone();
        p.via = Some(Channel {
            key: Some(key.id.clone()),
            ..Channel::new(protocol)
        });
        let ev = NewEvent::new(
            types::ACCESS_KEY_USED,
            None,
            serde_json::json!({"principal": payload::principal(&p), "key_id": key.id, "protocol": protocol}),
        );
        self.deps.audit.record(vec![], vec![ev]).await?;
        Ok(p)
    }

    /// For a connection that outlives one request (the kernel websocket): whether the key `p`
    /// was authenticated with is still usable (not revoked, not expired). Principals without a
    /// key pass.
    pub async fn recheck_access_key(&self, p: &Principal) -> Result<(), GatewayError> {
        let Some(id) = p.via.as_ref().and_then(|v| v.key.as_deref()) else {
            return Ok(());
        };
        if !self.settings.access_keys.enabled {
            return Err(err(ErrorCode::InvalidAccessKey, DISABLED));
        }
        let keys = self
            .deps
            .store
            .access_keys_of_owner(&p.owner_key())
            .await
            .map_err(store_err)?;
        let why = match keys.iter().find(|k| k.id == id) {
            None => Some("unknown access key"),
            Some(k) => k.unusable(self.now()),
        };
        match why {
            Some(why) => Err(err(ErrorCode::InvalidAccessKey, why)),
            None => Ok(()),
        }
    }

    fn keys_enabled(&self) -> Result<(), GatewayError> {
        if self.settings.access_keys.enabled {
            Ok(())
        } else {
            Err(err(ErrorCode::AccessKeyNotAllowed, DISABLED))
        }
    }
}

/// A key is a credential for tools, not for managing credentials: a leaked key cannot mint
/// itself a longer-lived successor or hide its traces by revoking others.
fn refuse_key_holder(p: &Principal) -> Result<(), GatewayError> {
    if p.via.as_ref().is_some_and(|v| v.key.is_some()) {
        return Err(err(
            ErrorCode::AccessKeyNotAllowed,
            "a personal access key cannot manage keys; sign in with an OIDC token",
        ));
    }
    Ok(())
}

fn valid_name(name: &str) -> Result<String, GatewayError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(err(
            ErrorCode::InvalidRequest,
            format!("a key's name is 1 to {MAX_NAME} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

fn key_event(t: &'static str, k: &AccessKey, by: &Principal) -> NewEvent {
    NewEvent::new(
        t,
        None,
        serde_json::json!({
            "principal": payload::principal(by),
            "key_id": k.id,
            "name": k.name,
            "expires_at": k.expires_at.unix_timestamp(),
        }),
    )
}
