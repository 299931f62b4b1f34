//! `[console]`: the web console for reviewers, auditors and users at `/console`, and how people
//! sign in to it (OpenID Connect authorization code with PKCE at one of `[[auth.issuers]]`, or
//! the development issuer's local sign-in page on a workstation).

use crate::{invalid, ConfigError};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Console {
    /// Serve the console at `/console`.
    pub enabled: bool,
    /// The issuer people sign in at: exactly the `issuer` of one `[[auth.issuers]]` entry.
    /// Left out: the only configured issuer, or with none, the development issuer.
    pub issuer: Option<String>,
    /// The console's OAuth client at that issuer (required for an OIDC issuer).
    pub client_id: Option<String>,
    /// For a confidential client (sent with HTTP Basic); a public client leaves it out and
    /// relies on PKCE alone. Prefer `AIRLOCK_CONSOLE__CLIENT_SECRET` to writing it here.
    pub client_secret: Option<String>,
    /// Scopes asked for at sign-in.
    pub scopes: Vec<String>,
    /// The resource indicator (RFC 8707) sent at sign-in, so the access token's audience is
    /// Airlock's (`urn:airlock` at the test provider); left out, the issuer's default.
    pub resource: Option<String>,
    /// The console's address as browsers reach it, e.g. `https://airlock.example.com`: the
    /// redirect URI is `{public_url}/console/callback`. Left out, the address the request came
    /// to (right on a workstation; behind a proxy, set it).
    pub public_url: Option<String>,
    /// The longest a console sign-in lasts (minutes); it ends earlier with its access token.
    pub session_minutes: u32,
    /// Signed-in console sessions kept at once (in memory, per replica).
    pub max_sessions: usize,
}

impl Default for Console {
    fn default() -> Self {
        Self {
            enabled: true,
            issuer: None,
            client_id: None,
            client_secret: None,
            scopes: vec!["openid".into()],
            resource: None,
            public_url: None,
            session_minutes: 480,
            max_sessions: 10_000,
        }
    }
}

impl Console {
    pub fn validate(&self, issuers: &[String]) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(url) = &self.public_url {
            let ok = (url.starts_with("https://") || url.starts_with("http://"))
                && !url.ends_with('/')
                && !url.contains(['?', '#', ' ']);
            if !ok {
                return Err(invalid(
                    "console.public_url",
                    "an http(s) origin without a trailing slash, e.g. https://airlock.example.com",
                ));
            }
        }
        if let Some(issuer) = &self.issuer {
            if !issuers.contains(issuer) {
                return Err(invalid(
                    "console.issuer",
                    format!("{issuer:?} is not the issuer of any [[auth.issuers]] entry"),
                ));
            }
        }
        if self.issuer.is_some() && self.client_id.is_none() {
            return Err(invalid(
                "console.client_id",
                "the console's OAuth client id at console.issuer is required",
            ));
        }
        if self.client_id.as_deref() == Some("") {
            return Err(invalid("console.client_id", "empty"));
        }
        if self.session_minutes == 0 || self.session_minutes > 7 * 24 * 60 {
            return Err(invalid("console.session_minutes", "1 to 10080 (a week)"));
        }
        if self.max_sessions == 0 {
            return Err(invalid("console.max_sessions", "at least 1"));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err(invalid("console.scopes", "must include openid"));
        }
        Ok(())
    }

    /// Where people sign in: an OIDC issuer with the console's client, the development issuer,
    /// or nowhere (the console then says what to configure).
    pub fn sign_in(&self, issuers: &[String], dev_issuer: bool) -> SignIn {
        let issuer = self.issuer.clone().or_else(|| match issuers {
            [only] => Some(only.clone()),
            _ => None,
        });
        match (issuer, &self.client_id) {
            (Some(issuer), Some(client_id)) => SignIn::Oidc {
                issuer,
                client_id: client_id.clone(),
            },
            (None, _) if dev_issuer && issuers.is_empty() => SignIn::DevIssuer,
            _ => SignIn::Unconfigured,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignIn {
    Oidc { issuer: String, client_id: String },
    DevIssuer,
    Unconfigured,
}
