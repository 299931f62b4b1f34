//! Reads a JWT's header and issuer before verification, to choose the issuer and key. Nothing
//! read here is trusted beyond that choice.

use airlock_gateway_domain::{ErrorCode, GatewayError};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use jsonwebtoken::Algorithm;

pub struct Unverified {
    pub alg: Algorithm,
    pub kid: Option<String>,
    pub iss: String,
}

/// Asymmetric algorithms only: `none` and HMAC are never accepted.
fn asymmetric(alg: &str) -> Option<Algorithm> {
    Some(match alg {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

pub fn parse_algorithm(alg: &str) -> Option<Algorithm> {
    asymmetric(alg)
}

pub fn inspect(token: &str) -> Result<Unverified, GatewayError> {
    let malformed = |m: &str| GatewayError::new(ErrorCode::MalformedToken, m.to_owned());
    if token.len() > 16 * 1024 {
        return Err(malformed("the token is too large"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return Err(malformed("a JWT has three dot-separated parts"));
    }
    let decode = |p: &str| -> Result<serde_json::Value, GatewayError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| malformed("a JWT part is not base64url"))?;
        serde_json::from_slice(&bytes).map_err(|_| malformed("a JWT part is not JSON"))
    };
    let header = decode(parts[0])?;
    let alg = header
        .get("alg")
        .and_then(|a| a.as_str())
        .ok_or_else(|| malformed("the JWT header has no alg"))?;
    let alg = asymmetric(alg).ok_or_else(|| {
        GatewayError::new(ErrorCode::UnsupportedAlgorithm, format!("alg {alg:?} is not accepted; use an asymmetric algorithm (RS256, ES256, EdDSA, ...)"))
    })?;
    if parts[2].is_empty() {
        return Err(GatewayError::new(
            ErrorCode::InvalidSignature,
            "the token is unsigned",
        ));
    }
    let kid = header
        .get("kid")
        .and_then(|k| k.as_str())
        .map(str::to_owned);
    let claims = decode(parts[1])?;
    let iss = claims
        .get("iss")
        .and_then(|i| i.as_str())
        .ok_or_else(|| GatewayError::new(ErrorCode::InvalidClaims, "the token has no iss claim"))?;
    Ok(Unverified {
        alg,
        kid,
        iss: iss.to_owned(),
    })
}
