//! Bearer JWT authentication against configured OIDC issuers.
//!
//! Order of checks: shape and header (alg allowlist: asymmetric algorithms only, never `none`,
//! never HMAC, so a public key can never be used as an HMAC secret), unverified `iss` to pick the
//! issuer, the key by `kid` from the issuer's JWKS (discovery, cache, one refetch on an unknown kid
//! at most every `min_refetch`), then signature, `exp`/`nbf` (with leeway), `iss`, `aud` by
//! `jsonwebtoken`, then the claim mapping to a `Principal`.

mod claims;
mod code_flow;
mod dev_issuer;
mod header;
mod jwks;

pub use claims::ClaimMapping;
pub use code_flow::{CodeFlow, CodeFlowSettings, Started};
pub use dev_issuer::{DevIssuer, DEV_ISSUER};
pub use header::{inspect as inspect_token, parse_algorithm, Unverified};
pub use jwks::{IssuerSettings, KeySource};

use airlock_gateway_domain::{ErrorCode, GatewayError, Principal};
use jsonwebtoken::{errors::ErrorKind, Validation};
use std::sync::Arc;

pub struct Authenticator {
    issuers: Vec<Arc<jwks::Issuer>>,
}

fn fail(code: ErrorCode, msg: impl Into<String>) -> GatewayError {
    GatewayError::new(code, msg)
}

impl Authenticator {
    pub fn new(settings: Vec<IssuerSettings>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            issuers: settings
                .into_iter()
                .map(|s| Arc::new(jwks::Issuer::new(s, http.clone())))
                .collect(),
        })
    }

    pub fn issuer_names(&self) -> Vec<String> {
        self.issuers
            .iter()
            .map(|i| i.settings.issuer.clone())
            .collect()
    }

    /// Fetches every issuer's keys now (for readiness); errors are per issuer.
    pub async fn warm_up(&self) -> Vec<(String, Result<(), GatewayError>)> {
        let mut out = vec![];
        for i in &self.issuers {
            out.push((i.settings.issuer.clone(), i.refresh(true).await.map(|_| ())));
        }
        out
    }

    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
    ) -> Result<Principal, GatewayError> {
        let value = authorization.ok_or_else(|| {
            fail(
                ErrorCode::MissingToken,
                "an Authorization: Bearer <token> header is required",
            )
        })?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                fail(
                    ErrorCode::MissingToken,
                    "the Authorization header is not a Bearer token",
                )
            })?;
        self.verify(token).await.map(|(p, _)| p)
    }

    /// Verifies a bare JWT (its `Authorization` scheme already taken off): the principal, and
    /// the Unix time after which the token is refused (its `exp` plus the issuer's leeway), for
    /// connections that outlive one request.
    pub async fn verify(&self, token: &str) -> Result<(Principal, Option<i64>), GatewayError> {
        let unverified = header::inspect(token)?;
        let issuer = self
            .issuers
            .iter()
            .find(|i| i.settings.issuer == unverified.iss)
            .ok_or_else(|| {
                fail(
                    ErrorCode::InvalidIssuer,
                    format!("issuer {:?} is not trusted", unverified.iss),
                )
            })?;
        if !issuer.settings.algorithms.contains(&unverified.alg) {
            return Err(fail(
                ErrorCode::UnsupportedAlgorithm,
                format!("alg {:?} is not allowed for this issuer", unverified.alg),
            ));
        }
        let key = issuer
            .key_for(unverified.kid.as_deref(), unverified.alg)
            .await?;
        let mut validation = Validation::new(unverified.alg);
        validation.set_issuer(&[&issuer.settings.issuer]);
        validation.set_audience(&issuer.settings.audiences);
        validation.leeway = issuer.settings.leeway_seconds;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => {
                    fail(ErrorCode::TokenExpired, "the token has expired")
                }
                ErrorKind::ImmatureSignature => fail(
                    ErrorCode::TokenNotYetValid,
                    "the token is not valid yet (nbf)",
                ),
                ErrorKind::InvalidAudience => fail(
                    ErrorCode::InvalidAudience,
                    format!(
                        "the token's audience is not one of {:?}",
                        issuer.settings.audiences
                    ),
                ),
                ErrorKind::InvalidIssuer => fail(
                    ErrorCode::InvalidIssuer,
                    "the token's issuer does not match",
                ),
                ErrorKind::InvalidSignature => fail(
                    ErrorCode::InvalidSignature,
                    "the token's signature does not verify",
                ),
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => fail(
                    ErrorCode::UnsupportedAlgorithm,
                    "the token's algorithm does not match its key",
                ),
                ErrorKind::MissingRequiredClaim(c) => fail(
                    ErrorCode::InvalidClaims,
                    format!("the token lacks the {c} claim"),
                ),
                _ => fail(
                    ErrorCode::MalformedToken,
                    format!("the token could not be verified: {e}"),
                ),
            },
        )?;
        let until = data.claims["exp"].as_i64().map(|exp| {
            exp.saturating_add(i64::try_from(issuer.settings.leeway_seconds).unwrap_or(0))
        });
        let p = issuer
            .settings
            .claims
            .principal(&issuer.settings.issuer, &data.claims)?;
        Ok((p, until))
    }
}

#[cfg(test)]
mod tests;
