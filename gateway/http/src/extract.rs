//! `Caller`: the authenticated principal. A handler that names it cannot run unauthenticated.
//! [`authenticate`] is the one way in for every channel that speaks HTTP headers (the REST
//! API here, the Jupyter kernel gateway API): an OIDC token, or a personal access key.

use crate::{error::ApiError, AppState};
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};
use airlock_gateway_auth::Authenticator;
use airlock_gateway_core::Gateway;
use airlock_gateway_domain::{access_keys::is_key_secret, ErrorCode, GatewayError, Principal};
use std::{future::Future, pin::Pin};

pub struct Caller(pub Principal);

/// The credential of an `Authorization` value: `Bearer <credential>`, or Jupyter's
/// `token <credential>` (schemes are case-insensitive, RFC 9110 11.1).
fn credential(authorization: &str) -> Option<&str> {
    let (scheme, rest) = authorization.split_once(' ')?;
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    let rest = rest.trim();
    (known && !rest.is_empty()).then_some(rest)
}

/// The principal of an `Authorization` header value, arriving on `protocol` (`rest`,
/// `jupyter`), admitted by the rate limits. A key's secret is looked up (and its use
/// audited); anything else must be a JWT of a configured issuer.
pub async fn authenticate(
    gateway: &Gateway,
    auth: &Authenticator,
    authorization: Option<&str>,
    protocol: &str,
) -> Result<Principal, GatewayError> {
    authenticate_until(gateway, auth, authorization, protocol)
        .await
        .map(|(p, _)| p)
}

/// [`authenticate`], and when an OIDC token stops being valid (Unix seconds), for a connection
/// that outlives the request (the kernel websocket). A key has no such time: it is looked up
/// again while the connection lives (`Gateway::recheck_access_key`).
pub async fn authenticate_until(
    gateway: &Gateway,
    auth: &Authenticator,
    authorization: Option<&str>,
    protocol: &str,
) -> Result<(Principal, Option<i64>), GatewayError> {
    let value = authorization.ok_or_else(|| {
        GatewayError::new(
            ErrorCode::MissingToken,
            "an Authorization: Bearer <token> header is required",
        )
    })?;
    let token = credential(value).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::MissingToken,
            "the Authorization header is not `Bearer <token>` (or `token <token>`)",
        )
    })?;
    let (p, until) = if is_key_secret(token) {
        (gateway.authenticate_key(token, protocol).await?, None)
    } else {
        let (mut p, until) = auth.verify(token).await?;
        if protocol != "rest" {
            p.via = Some(airlock_gateway_domain::Channel::new(protocol));
        }
        (p, until)
    };
    gateway.admit(&p)?;
    Ok((p, until))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let header = req
            .headers()
            .get("authorization")
            .map(|h| h.to_str().map(str::to_owned));
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError(GatewayError::internal("no app state")))?;
            let header = match header {
                None => None,
                Some(Ok(h)) => Some(h),
                Some(Err(_)) => {
                    return Err(ApiError(GatewayError::new(
                        ErrorCode::MalformedToken,
                        "the Authorization header is not ASCII",
                    )))
                }
            };
            let p = authenticate(&state.gateway, &state.auth, header.as_deref(), "rest")
                .await
                .map_err(|e| {
                    tracing::info!(code = e.code.as_str(), "authentication failed");
                    ApiError(e)
                })?;
            Ok(Caller(p))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::credential;

    #[test]
    fn bearer_and_jupyter_token_schemes_carry_the_credential() {
        assert_eq!(credential("Bearer abc"), Some("abc"));
        assert_eq!(credential("bearer  abc "), Some("abc"));
        assert_eq!(credential("token alk_x"), Some("alk_x"));
        assert_eq!(credential("Token alk_x"), Some("alk_x"));
        assert_eq!(credential("Basic dXNlcjpwYXNz"), None);
        assert_eq!(credential("Bearer "), None);
        assert_eq!(credential("Bearer"), None);
    }
}
