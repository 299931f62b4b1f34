//! Who calls: the `Authorization` header (`Bearer` or Jupyter's `token` scheme, an OIDC token
//! or a personal access key) through the same function as the REST API; a `?token=` in the URL
//! only where `[jupyter] allow_query_token` says so. The URL's token is never logged: nothing
//! here logs a request's query, and the gateway has no access log that would.

use crate::{error::JupyterError, Shared};
use actix_web::HttpRequest;
use airlock_gateway_domain::{ErrorCode, Principal};

/// The `token` parameter of a query string, if there is one.
fn query_token(query: &str) -> Option<String> {
    actix_web::web::Query::<std::collections::HashMap<String, String>>::from_query(query)
        .ok()
        .and_then(|q| q.get("token").cloned())
        .filter(|t| !t.is_empty())
}

pub(crate) async fn caller(s: &Shared, req: &HttpRequest) -> Result<Principal, JupyterError> {
    caller_until(s, req).await.map(|(p, _)| p)
}

/// The caller, and when their OIDC token expires (Unix seconds; None for a key).
pub(crate) async fn caller_until(
    s: &Shared,
    req: &HttpRequest,
) -> Result<(Principal, Option<i64>), JupyterError> {
    let header = match req.headers().get("authorization").map(|h| h.to_str()) {
        Some(Ok(h)) => Some(h.to_owned()),
        Some(Err(_)) => {
            return Err(JupyterError::new(
                ErrorCode::MalformedToken,
                "the Authorization header is not ASCII",
            ))
        }
        None => match query_token(req.query_string()) {
            Some(t) if s.settings.allow_query_token => Some(format!("token {t}")),
            Some(_) => {
                return Err(JupyterError::new(
                    ErrorCode::MissingToken,
                    "a token in the URL is not accepted by this gateway; send it in the Authorization header",
                ))
            }
            None => None,
        },
    };
    airlock_gateway_http::authenticate_until(&s.gateway, &s.auth, header.as_deref(), "jupyter")
        .await
        .map_err(|e| {
            tracing::info!(code = e.code.as_str(), "jupyter authentication failed");
            JupyterError(e)
        })
}

#[cfg(test)]
mod tests {
    use super::query_token;

    #[test]
    fn the_token_parameter_is_read_from_the_query_only() {
        assert_eq!(query_token("token=abc&x=1").as_deref(), Some("abc"));
        assert_eq!(query_token("x=1"), None);
        assert_eq!(query_token("token="), None);
        assert_eq!(query_token("token=a%20b").as_deref(), Some("a b"));
    }
}
