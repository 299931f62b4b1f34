//! The credential broker on Vault or OpenBao (vaultrs). Authenticates with a token
//! (development), AppRole, JWT (the gateway's workload identity) or Kubernetes auth; issues
//! dynamic database credentials from the `database` secrets engine, shortens each lease to the
//! execution's deadline, and revokes it explicitly when the execution ends. Vault's default
//! lease (32 days) is never relied on.

mod leases;

use airlock_gateway_domain::connectors::{CredentialBroker, DbCredential, SecretsError};
use airlock_gateway_domain::Cause;
use async_trait::async_trait;
use rustify::endpoint::Endpoint;
use std::time::Duration;
use tokio::sync::RwLock;
use vaultrs::client::{Client, VaultClient, VaultClientSettingsBuilder};

/// How the gateway logs in to Vault.
#[derive(Clone, Debug)]
pub enum VaultAuth {
    Token(String),
    AppRole {
        mount: String,
        role_id: String,
        secret_id: String,
    },
    Jwt {
        mount: String,
        role: String,
        jwt_path: std::path::PathBuf,
    },
    Kubernetes {
        mount: String,
        role: String,
        jwt_path: std::path::PathBuf,
    },
}

#[derive(Clone, Debug)]
pub struct VaultSettings {
    pub address: String,
    pub auth: VaultAuth,
    pub timeout: Duration,
    /// Attempts for a call that failed to reach Vault (1 = no retry).
    pub attempts: u32,
}

pub struct VaultBroker {
    settings: VaultSettings,
    client: RwLock<Option<std::sync::Arc<VaultClient>>>,
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> SecretsError {
    SecretsError::Unavailable(Cause::new(e))
}

/// Sorts a vaultrs/rustify error into "could not reach" and "refused".
pub(crate) fn classify(e: vaultrs::error::ClientError) -> SecretsError {
    use vaultrs::error::ClientError as E;
    match e {
        E::APIError { code, errors } => {
            SecretsError::Refused(Cause::msg(format!("HTTP {code}: {}", errors.join("; "))))
        }
        E::RestClientError { source } => match source {
            rustify::errors::ClientError::ServerResponseError { code, content } => {
                SecretsError::Refused(Cause::msg(format!(
                    "HTTP {code}: {}",
                    content.unwrap_or_default()
                )))
            }
            other => unavailable(other),
        },
        other => unavailable(other),
    }
}

impl VaultBroker {
    pub fn new(settings: VaultSettings) -> Self {
        Self {
            settings,
            client: RwLock::new(None),
        }
    }

    fn base_client(&self, token: &str) -> Result<VaultClient, SecretsError> {
        let s = VaultClientSettingsBuilder::default()
            .address(&self.settings.address)
            .token(token)
            .timeout(Some(self.settings.timeout))
            .build()
            .map_err(|e| SecretsError::Refused(Cause::context("Vault settings", e)))?;
        VaultClient::new(s).map_err(classify)
    }

    async fn login(&self) -> Result<VaultClient, SecretsError> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .map_err(|e| SecretsError::Refused(Cause::context(p.display(), e)))
        };
        match &self.settings.auth {
            VaultAuth::Token(t) => self.base_client(t),
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id,
            } => {
                let mut c = self.base_client("")?;
                let auth = vaultrs::auth::approle::login(&c, mount, role_id, secret_id)
                    .await
                    .map_err(classify)?;
                c.set_token(&auth.client_token);
                Ok(c)
            }
            VaultAuth::Jwt {
                mount,
                role,
                jwt_path,
            } => {
                let mut c = self.base_client("")?;
                let jwt = read(jwt_path)?;
                let auth = vaultrs::auth::oidc::login(&c, mount, &jwt, Some(role.clone()))
                    .await
                    .map_err(classify)?;
                c.set_token(&auth.client_token);
                Ok(c)
            }
            VaultAuth::Kubernetes {
                mount,
                role,
                jwt_path,
            } => {
                let mut c = self.base_client("")?;
                let jwt = read(jwt_path)?;
                let auth = vaultrs::auth::kubernetes::login(&c, mount, role, &jwt)
                    .await
                    .map_err(classify)?;
                c.set_token(&auth.client_token);
                Ok(c)
            }
        }
    }

    /// Runs `f` with a logged-in client; logs in again once after a refusal (an expired
    /// token), and retries calls that did not reach Vault with backoff.
    async fn with_client<T, F, Fut>(&self, what: &str, f: F) -> Result<T, SecretsError>
    where
        F: Fn(std::sync::Arc<VaultClient>) -> Fut,
        Fut: std::future::Future<Output = Result<T, SecretsError>>,
    {
        let mut delay = Duration::from_millis(100);
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Bound first: a read guard alive in the match would deadlock the write below.
            let current = self.client.read().await.clone();
            let client = match current {
                Some(c) => c,
                None => {
                    let c = self.login().await;
                    match c {
                        Ok(c) => {
                            let c = std::sync::Arc::new(c);
                            *self.client.write().await = Some(c.clone());
                            c
                        }
                        Err(SecretsError::Unavailable(e)) if attempt < self.settings.attempts => {
                            tracing::warn!(error = %e, what, "Vault unreachable; retrying");
                            tokio::time::sleep(delay).await;
                            delay *= 2;
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            };
            match f(client).await {
                Ok(v) => return Ok(v),
                Err(SecretsError::Unavailable(e)) if attempt < self.settings.attempts => {
                    tracing::warn!(error = %e, what, "Vault unreachable; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(SecretsError::Refused(e))
                    if !relogged
                        && !matches!(self.settings.auth, VaultAuth::Token(_))
                        && e.message().contains("HTTP 403") =>
                {
                    relogged = true;
                    *self.client.write().await = None;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One request for a credential of `role` (see `issue` for the retries around it).
    async fn issue_once(
        &self,
        mount: &str,
        role: &str,
    ) -> Result<(String, String, String, u32), SecretsError> {
        self.with_client("issue", |c| async move {
            let req = vaultrs::api::database::requests::GenerateCredentialsRequest::builder()
                .mount(mount)
                .name(role)
                .build()
                .map_err(|e| SecretsError::Refused(Cause::new(e)))?;
            let res = req
                .with_middleware(c.middle())
                .exec(c.http())
                .await
                .map_err(|e| {
                    classify(vaultrs::error::ClientError::RestClientError { source: e })
                })?;
            let wrapped: vaultrs::api::EndpointResult<
                vaultrs::api::database::responses::GenerateCredentialsResponse,
            > = res.wrap().map_err(|e| {
                classify(vaultrs::error::ClientError::RestClientError { source: e })
            })?;
            let data = wrapped
                .data
                .ok_or_else(|| SecretsError::Refused(Cause::msg("no credentials in the answer")))?;
            Ok((
                data.username,
                data.password,
                wrapped.lease_id,
                wrapped.lease_duration,
            ))
        })
        .await
    }

    /// Renews the gateway's own token (call periodically; a failure forces a new login).
    pub async fn renew_token(&self) -> Result<(), SecretsError> {
        let Some(c) = self.client.read().await.clone() else {
            return Ok(());
        };
        if let Err(e) = c.renew(None).await.map_err(classify) {
            *self.client.write().await = None;
            return Err(e);
        }
        Ok(())
    }
}

#[async_trait]
impl CredentialBroker for VaultBroker {
    async fn issue(
        &self,
        mount: &str,
        role: &str,
        ttl: Duration,
    ) -> Result<DbCredential, SecretsError> {
        // A creation statement that lost a deadlock or a serialization race in the database
        // (concurrent CREATE/DROP ROLE contend on PostgreSQL's catalog) was rolled back and
        // left no lease: it is tried again, a few times.
        let mut delay = Duration::from_millis(50);
        let mut tries = 0;
        let issued = loop {
            tries += 1;
            let r = self.issue_once(mount, role).await;
            match r {
                Err(SecretsError::Refused(e))
                    if tries < self.settings.attempts.max(3)
                        && is_transient_db_error(e.message()) =>
                {
                    tracing::warn!(error = %e, "issuing a credential hit a transient database error; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                other => break other?,
            }
        };
        let (username, password, lease_id, lease_secs) = issued;
        let mut cred = DbCredential {
            username,
            password,
            lease_id,
            ttl: Duration::from_secs(u64::from(lease_secs)),
        };
        // Never rely on the role's default lease: shorten it to the deadline now.
        if cred.ttl > ttl {
            let lease = cred.lease_id.clone();
            let shortened = self
                .with_client("shorten lease", |c| {
                    let lease = lease.clone();
                    async move { leases::renew(&c, &lease, ttl).await }
                })
                .await;
            match shortened {
                Ok(t) if t <= ttl => cred.ttl = t,
                other => {
                    // A lease that cannot be bounded is not handed out.
                    let _ = self.revoke(&cred.lease_id).await;
                    return Err(match other {
                        Err(e) => e,
                        Ok(t) => SecretsError::Refused(Cause::msg(format!(
                            "the lease could not be shortened to {} s (Vault kept {} s)",
                            ttl.as_secs(),
                            t.as_secs()
                        ))),
                    });
                }
            }
        }
        Ok(cred)
    }

    async fn health(&self) -> Result<(), SecretsError> {
        // `sys/health` needs no token: reachability and seal state only.
        let c = self.base_client("")?;
        leases::health(&c).await
    }

    async fn revoke(&self, lease_id: &str) -> Result<(), SecretsError> {
        // A refused revocation is retried too: the database's revocation statements can fail
        // transiently (concurrent revocations deadlock on the catalog in PostgreSQL). What
        // still fails is left to the lease sweep and the lease's own end.
        let mut delay = Duration::from_millis(100);
        let mut last = None;
        for _ in 0..self.settings.attempts.max(4) {
            let done = self
                .with_client(
                    "revoke",
                    |c| async move { leases::revoke(&c, lease_id).await },
                )
                .await;
            match done {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, "revoking a lease failed; retrying");
                    last = Some(e);
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        Err(last.unwrap_or_else(|| SecretsError::Refused(Cause::msg("revocation failed"))))
    }
}

/// A database error Vault passes on that a new attempt can get past (PostgreSQL's deadlock
/// and serialization failures).
fn is_transient_db_error(message: &str) -> bool {
    [
        "deadlock detected",
        "40P01",
        "40001",
        "could not serialize access",
        // Concurrent GRANTs on one object race on its catalog row (PostgreSQL reports it as
        // internal error XX000); the losing statement was rolled back.
        "tuple concurrently updated",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::is_transient_db_error;

    #[test]
    fn races_in_the_database_are_retried_other_refusals_are_not() {
        for m in [
            "HTTP 500: failed to execute query: ERROR: deadlock detected (SQLSTATE 40P01)",
            "HTTP 500: failed to execute query: ERROR: tuple concurrently updated (SQLSTATE XX000)",
            "HTTP 500: ERROR: could not serialize access due to concurrent update",
        ] {
            assert!(is_transient_db_error(m), "{m}");
        }
        for m in [
            "HTTP 403: permission denied",
            "HTTP 400: unknown role analyst",
        ] {
            assert!(!is_transient_db_error(m), "{m}");
        }
    }
}
