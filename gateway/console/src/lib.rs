//! The web console at `/console` for reviewers, auditors and users: server-rendered HTML (maud)
//! over the same core calls as the REST API, made with the signed-in person's identity, so it
//! shows and allows exactly what the API would. Sign-in is OpenID Connect (authorization code
//! with PKCE) at the configured issuer, or the development issuer's local page on a workstation.
//! Every asset is embedded; the Content-Security-Policy allows no inline script or style.

mod assets;
mod chart;
mod guard;
mod layout;
mod pages;
mod sessions;
mod signin;

use actix_web::web;
use airlock_gateway_auth::{Authenticator, CodeFlow, DevIssuer};
use airlock_gateway_core::Gateway;
use std::{sync::Arc, time::Duration};

/// How people sign in to the console.
pub enum SignIn {
    /// OpenID Connect at an issuer the gateway trusts.
    Oidc(Box<CodeFlow>),
    /// The development issuer's local sign-in page (loopback only, for the quick start).
    Dev {
        issuer: Arc<DevIssuer>,
        audience: String,
    },
    /// Nothing configured: the console says what to set.
    Unconfigured,
}

pub struct ConsoleSettings {
    /// `https://airlock.example.com`; `None`: the address the request came to.
    pub public_url: Option<String>,
    pub session_ttl: Duration,
    pub max_sessions: usize,
}

/// The console, mounted at `/console`.
pub struct Console {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub gateway: Arc<Gateway>,
    pub auth: Arc<Authenticator>,
    pub sign_in: SignIn,
    pub settings: ConsoleSettings,
    pub sessions: sessions::SessionTable,
}

pub const BASE: &str = "/console";

impl Console {
    pub fn new(
        gateway: Arc<Gateway>,
        auth: Arc<Authenticator>,
        sign_in: SignIn,
        settings: ConsoleSettings,
    ) -> Self {
        let sessions = sessions::SessionTable::new(settings.max_sessions);
        Self {
            shared: Arc::new(Shared {
                gateway,
                auth,
                sign_in,
                settings,
                sessions,
            }),
        }
    }

    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let shared = web::Data::from(self.shared.clone());
        let form = web::FormConfig::default()
            .limit(256 * 1024)
            .error_handler(guard::form_error);
        let query = web::QueryConfig::default().error_handler(guard::query_error);
        cfg.service(
            web::scope(BASE)
                .app_data(shared)
                .app_data(form)
                .app_data(query)
                .wrap(guard::security_headers())
                .configure(signin::routes)
                .configure(assets::routes)
                .configure(pages::routes)
                .default_service(web::to(pages::not_found)),
        );
    }
}
