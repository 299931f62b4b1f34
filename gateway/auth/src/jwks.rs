//! Issuer discovery and the JWKS cache.

use crate::claims::ClaimMapping;
use airlock_gateway_domain::{ErrorCode, GatewayError};
use jsonwebtoken::{
    jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse},
    Algorithm, DecodingKey,
};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum KeySource {
    /// `{issuer}/.well-known/openid-configuration` names the `jwks_uri`.
    Discovery,
    JwksUri(String),
    /// Keys known in process (the development issuer).
    Static(JwkSet),
}

#[derive(Clone, Debug)]
pub struct IssuerSettings {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub algorithms: Vec<Algorithm>,
    pub leeway_seconds: u64,
    pub claims: ClaimMapping,
    pub keys: KeySource,
    /// Keys are refetched after this long.
    pub cache_ttl: Duration,
    /// An unknown `kid` triggers at most one refetch per this interval.
    pub min_refetch: Duration,
}

#[derive(Default)]
struct Cache {
    keys: Option<JwkSet>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

pub struct Issuer {
    pub settings: IssuerSettings,
    http: reqwest::Client,
    cache: tokio::sync::Mutex<Cache>,
}

fn unavailable(msg: String) -> GatewayError {
    GatewayError::new(ErrorCode::IssuerUnavailable, msg)
}

impl Issuer {
    pub fn new(settings: IssuerSettings, http: reqwest::Client) -> Self {
        Self {
            settings,
            http,
            cache: tokio::sync::Mutex::new(Cache::default()),
        }
    }

    async fn fetch(&self) -> Result<JwkSet, GatewayError> {
        let jwks_uri = match &self.settings.keys {
            KeySource::Static(set) => return Ok(set.clone()),
            KeySource::JwksUri(u) => u.clone(),
            KeySource::Discovery => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    self.settings.issuer.trim_end_matches('/')
                );
                let doc: serde_json::Value = self.get_json(&url).await?;
                if doc.get("issuer").and_then(|i| i.as_str()) != Some(self.settings.issuer.as_str())
                {
                    return Err(unavailable(format!("{url} names a different issuer")));
                }
                let uri = doc
                    .get("jwks_uri")
                    .and_then(|u| u.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| unavailable(format!("{url} has no jwks_uri")))?;
                // The discovery document may not send us to fetch keys over plain HTTP from
                // anywhere but loopback (a downgrade would let the network swap the keys).
                airlock_gateway_domain::urls::https_or_loopback(&uri)
                    .map_err(|e| unavailable(format!("{url}: jwks_uri refused: {e}")))?;
                uri
            }
        };
        let set: JwkSet = self.get_json(&jwks_uri).await?;
        tracing::info!(issuer = %self.settings.issuer, keys = set.keys.len(), "fetched JWKS");
        Ok(set)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, GatewayError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(format!("{url}: {e}")))?;
        // A redirect may not downgrade the fetch either.
        airlock_gateway_domain::urls::https_or_loopback(resp.url().as_str())
            .map_err(|e| unavailable(format!("{url} redirected: {e}")))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("{url}: HTTP {}", resp.status())));
        }
        resp.json()
            .await
            .map_err(|e| unavailable(format!("{url}: {e}")))
    }

    /// Returns the cached keys, fetching when absent, stale, or when `force` (rate limited).
    pub async fn refresh(&self, force: bool) -> Result<JwkSet, GatewayError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache
            .fetched_at
            .is_some_and(|t| t.elapsed() < self.settings.cache_ttl);
        let may_refetch = cache
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.settings.min_refetch);
        if let Some(keys) = &cache.keys {
            if (fresh && !force) || !may_refetch {
                return Ok(keys.clone());
            }
        }
        if !may_refetch {
            return Err(unavailable(format!(
                "{}: keys unavailable, retrying later",
                self.settings.issuer
            )));
        }
        cache.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                cache.keys = Some(keys.clone());
                cache.fetched_at = Some(Instant::now());
                Ok(keys)
            }
            // Keep serving the last good keys when a refresh fails.
            Err(e) => cache.keys.clone().ok_or(e),
        }
    }

    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, GatewayError> {
        let keys = self.refresh(false).await?;
        if let Some(k) = pick(&keys, kid, alg) {
            return decoding_key(k);
        }
        // Maybe the issuer rotated: refetch once (rate limited), then give up.
        let keys = self.refresh(true).await?;
        match pick(&keys, kid, alg) {
            Some(k) => decoding_key(k),
            None => Err(GatewayError::new(
                ErrorCode::UnknownKey,
                format!(
                    "no key {:?} for {alg:?} in the issuer's JWKS",
                    kid.unwrap_or("(no kid)")
                ),
            )),
        }
    }
}

fn compatible(k: &Jwk, alg: Algorithm) -> bool {
    let family_ok = match (&k.algorithm, alg) {
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        (AlgorithmParameters::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384) => true,
        (AlgorithmParameters::OctetKeyPair(_), Algorithm::EdDSA) => true,
        // Symmetric keys in a JWKS are never used.
        _ => false,
    };
    let use_ok = !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption));
    let alg_ok = k
        .common
        .key_algorithm
        .is_none_or(|ka| format!("{ka:?}") == format!("{alg:?}"));
    family_ok && use_ok && alg_ok
}

fn pick<'a>(set: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    match kid {
        Some(kid) => set
            .keys
            .iter()
            .find(|k| k.common.key_id.as_deref() == Some(kid) && compatible(k, alg)),
        None => {
            let mut it = set.keys.iter().filter(|k| compatible(k, alg));
            let first = it.next();
            if it.next().is_some() {
                None
            } else {
                first
            }
        }
    }
}

fn decoding_key(k: &Jwk) -> Result<DecodingKey, GatewayError> {
    DecodingKey::from_jwk(k).map_err(|e| {
        GatewayError::new(
            ErrorCode::IssuerUnavailable,
            format!("unusable key in JWKS: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves `body` as JSON to every request on a loopback port.
    async fn serve_json(body: impl Fn(u16) -> String + Send + 'static) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let mut b = [0u8; 2048];
                let _ = s.read(&mut b).await;
                let text = body(port);
                let _ = s
                    .write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len()).as_bytes())
                    .await;
            }
        });
        port
    }

    #[tokio::test]
    async fn discovery_may_not_send_the_key_fetch_over_plain_http_elsewhere() {
        let port = serve_json(|port| {
            format!(
                r#"{{"issuer": "http://127.0.0.1:{port}", "jwks_uri": "http://keys.example/jwks"}}"#
            )
        })
        .await;
        let issuer = Issuer::new(
            IssuerSettings {
                issuer: format!("http://127.0.0.1:{port}"),
                audiences: vec!["a".into()],
                algorithms: vec![Algorithm::RS256],
                leeway_seconds: 0,
                claims: ClaimMapping::default(),
                keys: KeySource::Discovery,
                cache_ttl: Duration::from_secs(60),
                min_refetch: Duration::from_secs(1),
            },
            reqwest::Client::new(),
        );
        let err = issuer
            .refresh(true)
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.code, ErrorCode::IssuerUnavailable);
        assert!(err.message.contains("jwks_uri refused"), "{}", err.message);
    }
}
