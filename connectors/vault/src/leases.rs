//! The endpoints vaultrs 0.7 lacks or reads too strictly (`sys/leases/renew`,
//! `sys/leases/revoke`, and `sys/health`, whose vaultrs response type expects fields OpenBao
//! does not send), defined with rustify the way vaultrs defines its own.

use crate::classify;
use airlock_gateway_domain::connectors::SecretsError;
use airlock_gateway_domain::Cause;
use rustify::endpoint::Endpoint;
use rustify_derive::Endpoint;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vaultrs::client::{Client, VaultClient};

#[derive(Debug, Endpoint, Serialize)]
#[endpoint(path = "sys/leases/renew", method = "PUT", response = "RenewResponse")]
struct RenewLease {
    lease_id: String,
    /// Seconds from now; Vault sets the lease to end then (capped by the role's max TTL).
    increment: u64,
}

#[derive(Debug, Deserialize)]
struct RenewResponse {
    lease_duration: u64,
}

#[derive(Debug, Endpoint, Serialize)]
#[endpoint(path = "sys/leases/revoke", method = "PUT")]
struct RevokeLease {
    lease_id: String,
}

fn rest(e: rustify::errors::ClientError) -> SecretsError {
    classify(vaultrs::error::ClientError::RestClientError { source: e })
}

/// Sets the lease to end `ttl` from now; returns what Vault granted.
pub async fn renew(
    c: &VaultClient,
    lease_id: &str,
    ttl: Duration,
) -> Result<Duration, SecretsError> {
    let res = RenewLease {
        lease_id: lease_id.to_owned(),
        increment: ttl.as_secs().max(1),
    }
    .with_middleware(c.middle())
    .exec(c.http())
    .await
    .map_err(rest)?;
    let r: RenewResponse = res.parse().map_err(rest)?;
    Ok(Duration::from_secs(r.lease_duration))
}

pub async fn revoke(c: &VaultClient, lease_id: &str) -> Result<(), SecretsError> {
    RevokeLease {
        lease_id: lease_id.to_owned(),
    }
    .with_middleware(c.middle())
    .exec(c.http())
    .await
    .map_err(rest)?;
    Ok(())
}

#[derive(Debug, Endpoint, Serialize)]
#[endpoint(path = "sys/health", method = "GET", response = "HealthResponse")]
struct Health {}

#[derive(Debug, Deserialize)]
struct HealthResponse {
    #[serde(default)]
    sealed: bool,
}

/// Reachable and unsealed.
pub async fn health(c: &VaultClient) -> Result<(), SecretsError> {
    let res = Health {}
        .with_middleware(c.middle())
        .exec(c.http())
        .await
        .map_err(rest)?;
    let h: HealthResponse = res.parse().map_err(rest)?;
    if h.sealed {
        return Err(SecretsError::Refused(Cause::msg("Vault is sealed")));
    }
    Ok(())
}
