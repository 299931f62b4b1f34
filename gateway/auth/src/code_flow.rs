//! The OpenID Connect authorization-code flow with PKCE (RFC 7636), for people signing in to
//! the console. The `oauth2` crate builds the authorization URL and exchanges the code; this
//! module adds discovery (the issuer's endpoints) and the rules Airlock keeps for every fetch
//! from an issuer: HTTPS unless on loopback, no redirects, the document naming its issuer.
//! The access token it returns is checked by [`crate::Authenticator::verify`] like any other.

use airlock_gateway_domain::{ErrorCode, GatewayError};
use oauth2::{
    basic::BasicClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use std::borrow::Cow;

#[derive(Clone, Debug)]
pub struct CodeFlowSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Vec<String>,
    /// RFC 8707 resource indicator sent with the authorization request.
    pub resource: Option<String>,
}

/// The issuer's endpoints, from its discovery document.
#[derive(Clone, Debug)]
struct Endpoints {
    authorization: String,
    token: String,
    end_session: Option<String>,
}

/// A sign-in under way: send the browser to `url`; keep `state` and `verifier` until the
/// callback (never in the browser's reach but for `state`).
pub struct Started {
    pub url: String,
    pub state: String,
    pub verifier: String,
}

pub struct CodeFlow {
    settings: CodeFlowSettings,
    http: reqwest::Client,
    endpoints: tokio::sync::OnceCell<Endpoints>,
}

fn unavailable(msg: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorCode::IssuerUnavailable, msg)
}

fn refused(msg: impl Into<String>) -> GatewayError {
    GatewayError::new(ErrorCode::SignInFailed, msg)
}

fn checked_url(doc: &serde_json::Value, key: &str, from: &str) -> Result<String, GatewayError> {
    let url = doc
        .get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| unavailable(format!("{from} has no {key}")))?;
    airlock_gateway_domain::urls::https_or_loopback(url)
        .map_err(|e| unavailable(format!("{from}: {key} refused: {e}")))?;
    Ok(url.to_owned())
}

impl CodeFlow {
    pub fn new(settings: CodeFlowSettings) -> Result<Self, reqwest::Error> {
        // No redirects: a token endpoint that redirects could send the code and the verifier
        // elsewhere (the oauth2 crate's own advice).
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            settings,
            http,
            endpoints: tokio::sync::OnceCell::new(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn endpoints(&self) -> Result<&Endpoints, GatewayError> {
        self.endpoints.get_or_try_init(|| self.discover()).await
    }

    async fn discover(&self) -> Result<Endpoints, GatewayError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| unavailable(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("{url}: HTTP {}", resp.status())));
        }
        let doc: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| unavailable(format!("{url}: {e}")))?;
        if doc.get("issuer").and_then(|i| i.as_str()) != Some(self.settings.issuer.as_str()) {
            return Err(unavailable(format!("{url} names a different issuer")));
        }
        let end_session = checked_url(&doc, "end_session_endpoint", &url).ok();
        Ok(Endpoints {
            authorization: checked_url(&doc, "authorization_endpoint", &url)?,
            token: checked_url(&doc, "token_endpoint", &url)?,
            end_session,
        })
    }

    fn redirect(redirect_uri: &str) -> Result<RedirectUrl, GatewayError> {
        RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| GatewayError::internal(format!("redirect URI {redirect_uri}: {e}")))
    }

    /// The authorization request: a fresh `state` and PKCE verifier (S256).
    pub async fn start(&self, redirect_uri: &str) -> Result<Started, GatewayError> {
        let ep = self.endpoints().await?;
        let auth = AuthUrl::new(ep.authorization.clone())
            .map_err(|e| unavailable(format!("authorization_endpoint: {e}")))?;
        let client =
            BasicClient::new(ClientId::new(self.settings.client_id.clone())).set_auth_uri(auth);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .set_redirect_uri(Cow::Owned(Self::redirect(redirect_uri)?));
        for s in &self.settings.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        if let Some(r) = &self.settings.resource {
            req = req.add_extra_param("resource", r.clone());
        }
        let (url, state) = req.url();
        Ok(Started {
            url: url.to_string(),
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
        })
    }

    /// Exchanges the callback's code for the access token.
    pub async fn finish(
        &self,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<String, GatewayError> {
        let ep = self.endpoints().await?;
        let token = TokenUrl::new(ep.token.clone())
            .map_err(|e| unavailable(format!("token_endpoint: {e}")))?;
        let mut client =
            BasicClient::new(ClientId::new(self.settings.client_id.clone())).set_token_uri(token);
        if let Some(secret) = &self.settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        let mut req = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_owned()))
            .set_redirect_uri(Cow::Owned(Self::redirect(redirect_uri)?));
        if let Some(r) = &self.settings.resource {
            req = req.add_extra_param("resource", r.clone());
        }
        let answer = req.request_async(&self.http).await.map_err(|e| {
            refused(format!(
                "the issuer did not exchange the sign-in code: {}",
                describe(&e)
            ))
        })?;
        Ok(answer.access_token().secret().clone())
    }

    /// The issuer's RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0), if it
    /// has one.
    pub async fn end_session_url(&self, post_logout_redirect: &str) -> Option<String> {
        let ep = self.endpoints().await.ok()?;
        let mut url = url::Url::parse(ep.end_session.as_deref()?).ok()?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("post_logout_redirect_uri", post_logout_redirect);
        Some(url.to_string())
    }
}

fn describe<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    e: &oauth2::RequestTokenError<RE, T>,
) -> String {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => r.to_string(),
        other => other.to_string(),
    }
}
