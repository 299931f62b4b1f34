//! Who is looking: the console session cookie, its access token verified again on every
//! request (as the API would verify it), the rate limits the API applies; the CSRF check of
//! every form that changes something; the security headers of every answer; and errors as
//! pages.

use crate::{layout, sessions, Shared, BASE};
use actix_web::{
    dev::Payload,
    http::{header, StatusCode},
    middleware::DefaultHeaders,
    web, FromRequest, HttpRequest, HttpResponse, ResponseError,
};
use airlock_gateway_domain::{Channel, ErrorCode, GatewayError, Principal};
use std::{future::Future, pin::Pin};

/// The cookie behind TLS (the `__Host-` prefix: Secure, path /, no Domain, so no other host
/// or path can set or shadow it), and on plain HTTP (a workstation).
pub const COOKIE_SECURE: &str = "__Host-airlock-console";
pub const COOKIE_PLAIN: &str = "airlock-console";

/// No inline script or style anywhere; images only from here or data: URIs (plots).
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("Content-Security-Policy", CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "same-origin"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"))
        .add((header::CACHE_CONTROL, "no-store"))
}

/// A console answer that is not a page: go and sign in, or an error shown as a page.
#[derive(Debug)]
pub enum ConsoleError {
    SignIn { next: String },
    Failed(GatewayError),
}

impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SignIn { .. } => f.write_str("sign-in required"),
            Self::Failed(e) => write!(f, "{}: {}", e.code.as_str(), e.message),
        }
    }
}

impl From<GatewayError> for ConsoleError {
    fn from(e: GatewayError) -> Self {
        Self::Failed(e)
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Failed(e) => StatusCode::from_u16(e.code.http_status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn { next } => {
                let to = format!(
                    "{BASE}/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, to))
                    .finish()
            }
            Self::Failed(e) => {
                let mut b = airlock_gateway_http::response_head(e);
                b.content_type("text/html; charset=utf-8")
                    .body(layout::error_page(e).into_string())
            }
        }
    }
}

pub type Page = Result<HttpResponse, ConsoleError>;

pub fn html(markup: maud::Markup) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(markup.into_string())
}

pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

/// The signed-in person.
pub struct Viewer {
    pub principal: Principal,
    pub csrf: String,
    pub sid: String,
}

/// The session cookie's name: `__Host-` behind TLS.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        COOKIE_SECURE
    } else {
        COOKIE_PLAIN
    }
}

/// The console session id of the request, from whichever cookie it carries.
pub fn session_cookie(req: &HttpRequest) -> Option<String> {
    [COOKIE_SECURE, COOKIE_PLAIN]
        .iter()
        .find_map(|n| req.cookie(n))
        .map(|c| c.value().to_owned())
}

/// Whether the browser reached us over TLS (directly, or as the configured public URL says).
pub fn is_secure(shared: &Shared, req: &HttpRequest) -> bool {
    match &shared.settings.public_url {
        Some(u) => u.starts_with("https://"),
        None => req.connection_info().scheme() == "https",
    }
}

/// `scheme://host` browsers use for the console.
pub fn origin(shared: &Shared, req: &HttpRequest) -> String {
    match &shared.settings.public_url {
        Some(u) => u.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

fn shared_of(req: &HttpRequest) -> Result<web::Data<Shared>, ConsoleError> {
    req.app_data::<web::Data<Shared>>()
        .cloned()
        .ok_or_else(|| ConsoleError::Failed(GatewayError::internal("no console state")))
}

async fn viewer(req: HttpRequest) -> Result<Viewer, ConsoleError> {
    let shared = shared_of(&req)?;
    let next = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| req.method() == actix_web::http::Method::GET && p.starts_with(BASE))
        .unwrap_or_else(|| BASE.to_owned());
    let sign_in = || ConsoleError::SignIn { next: next.clone() };
    let sid = session_cookie(&req).ok_or_else(sign_in)?;
    let signed = shared.sessions.get(&sid).ok_or_else(sign_in)?;
    let mut principal = match shared.auth.verify(&signed.token).await {
        Ok((p, _)) => p,
        Err(e) => {
            tracing::info!(code = e.code.as_str(), "console session's token refused");
            shared.sessions.close(&sid);
            return Err(sign_in());
        }
    };
    principal.via = Some(Channel::new("console"));
    shared.gateway.admit(&principal)?;
    Ok(Viewer {
        principal,
        csrf: signed.csrf,
        sid,
    })
}

impl FromRequest for Viewer {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(viewer(req.clone()))
    }
}

impl Viewer {
    /// A form that changes something must carry this session's CSRF token, and a browser that
    /// says where the form came from (`Origin`) must name the console's own origin.
    pub fn check(
        &self,
        shared: &Shared,
        req: &HttpRequest,
        token: &str,
    ) -> Result<(), ConsoleError> {
        let refused = |why: &str| {
            ConsoleError::Failed(GatewayError::new(ErrorCode::CsrfRejected, why.to_owned()))
        };
        if !sessions::same(token, &self.csrf) {
            return Err(refused(
                "the form's CSRF token is missing or wrong; reload the page",
            ));
        }
        if let Some(o) = req.headers().get(header::ORIGIN) {
            if o.to_str().ok() != Some(origin(shared, req).as_str()) {
                return Err(refused("the form was sent from another origin"));
            }
        }
        Ok(())
    }
}

pub fn form_error(e: actix_web::error::UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    ConsoleError::Failed(GatewayError::new(
        ErrorCode::InvalidRequest,
        format!("the form: {e}"),
    ))
    .into()
}

pub fn query_error(e: actix_web::error::QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ConsoleError::Failed(GatewayError::new(
        ErrorCode::InvalidRequest,
        format!("the query: {e}"),
    ))
    .into()
}
