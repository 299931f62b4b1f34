//! Signing in and out. OpenID Connect: `/login` sends the browser to the issuer with a fresh
//! `state` (also set in a short-lived cookie, so a callback can only finish the sign-in this
//! browser began) and a PKCE challenge; `/callback` exchanges the code, checks the access token
//! as the API would, and opens the console session. The development issuer: a local form that
//! mints its token (loopback gateways only, as the issuer itself).

use crate::{
    guard::{self, cookie_name, is_secure, origin, ConsoleError, Page, Viewer},
    layout, sessions, Shared, SignIn, BASE,
};
use actix_web::{
    cookie::{time::Duration as CookieAge, Cookie, SameSite},
    web, HttpRequest, HttpResponse,
};
use airlock_gateway_domain::{ErrorCode, GatewayError};
use maud::html;
use serde::Deserialize;

const LOGIN_COOKIE: &str = "airlock-console-login";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login))
        .route("/login/dev", web::post().to(dev_login))
        .route("/callback", web::get().to(callback))
        .route("/logout", web::post().to(logout))
        .route("/signed-out", web::get().to(signed_out));
}

fn failed(msg: impl Into<String>) -> ConsoleError {
    ConsoleError::Failed(GatewayError::new(ErrorCode::SignInFailed, msg))
}

/// Only a path inside the console: never another site (an open redirect).
fn local(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with(BASE) && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => BASE.to_owned(),
    }
}

fn cookie<'a>(name: &'a str, value: String, secure: bool, age: CookieAge) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        // Lax, not Strict: the issuer's redirect back is a cross-site navigation, and the first
        // page after it must carry the session. Forms are guarded by their CSRF token.
        .same_site(SameSite::Lax)
        .secure(secure)
        .max_age(age)
        .finish()
}

fn new_session_cookie(shared: &Shared, req: &HttpRequest, sid: String) -> Cookie<'static> {
    let secure = is_secure(shared, req);
    let name = cookie_name(secure);
    let age =
        CookieAge::seconds(i64::try_from(shared.settings.session_ttl.as_secs()).unwrap_or(3600));
    cookie(name, sid, secure, age)
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

async fn login(shared: web::Data<Shared>, req: HttpRequest, q: web::Query<Next>) -> Page {
    let next = local(q.next.as_deref());
    let secure = is_secure(&shared, &req);
    match &shared.sign_in {
        SignIn::Oidc(flow) => {
            let redirect_uri = format!("{}{BASE}/callback", origin(&shared, &req));
            let started = flow.start(&redirect_uri).await?;
            shared
                .sessions
                .begin(started.state.clone(), started.verifier, redirect_uri, next);
            Ok(HttpResponse::SeeOther()
                .cookie(cookie(
                    LOGIN_COOKIE,
                    started.state,
                    secure,
                    CookieAge::minutes(10),
                ))
                .insert_header(("Location", started.url))
                .finish())
        }
        SignIn::Dev { .. } => {
            let nonce = sessions::random();
            let page = layout::bare(
                "Sign in (development issuer)",
                html! {
                    p.notice { "This gateway runs with the development issuer: anyone who can reach it on this machine signs in as whoever they name. For the quick start only; production uses your identity provider." }
                    form.stack method="post" action={(BASE) "/login/dev"} {
                        input type="hidden" name="nonce" value=(nonce);
                        input type="hidden" name="next" value=(next);
                        label { "Subject (user name)" input #subject name="subject" required autocomplete="username" value="alice"; }
                        label { "Groups (comma-separated)" input #groups name="groups" value="analysts"; }
                        label { "Tenant (optional)" input #tenant name="tenant"; }
                        button.primary type="submit" { "Sign in" }
                    }
                },
            );
            Ok(HttpResponse::Ok()
                .cookie(cookie(LOGIN_COOKIE, nonce, secure, CookieAge::minutes(10)))
                .content_type("text/html; charset=utf-8")
                .body(page.into_string()))
        }
        SignIn::Unconfigured => Ok(guard::html(layout::bare(
            "Console sign-in is not set up",
            html! {
                p { "Set " code { "[console] client_id" } " (and " code { "client_secret" } " for a confidential client) for the issuer people sign in at, and register " code { (origin(&shared, &req)) (BASE) "/callback" } " as its redirect URI. See docs/console.md." }
            },
        ))),
    }
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(shared: web::Data<Shared>, req: HttpRequest, q: web::Query<Callback>) -> Page {
    let SignIn::Oidc(flow) = &shared.sign_in else {
        return Err(failed("this console does not sign in with OpenID Connect"));
    };
    if let Some(e) = &q.error {
        return Err(failed(format!(
            "the issuer refused the sign-in: {e} {}",
            q.error_description.as_deref().unwrap_or("")
        )));
    }
    let (Some(code), Some(state)) = (&q.code, &q.state) else {
        return Err(failed("the callback carries no code and state"));
    };
    let bound = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    if !bound.is_some_and(|b| sessions::same(&b, state)) {
        return Err(failed(
            "this sign-in was not begun in this browser; sign in again",
        ));
    }
    let pending = shared
        .sessions
        .finish(state)
        .ok_or_else(|| failed("the sign-in expired or was already used; sign in again"))?;
    let token = flow
        .finish(code, &pending.verifier, &pending.redirect_uri)
        .await?;
    open_session(&shared, &req, token, &pending.next).await
}

/// Checks the token as the API would and opens the console session.
async fn open_session(shared: &Shared, req: &HttpRequest, token: String, next: &str) -> Page {
    let (p, _) = shared.auth.verify(&token).await?;
    tracing::info!(subject = %p.subject, "console sign-in");
    let (sid, _) = shared.sessions.open(token, shared.settings.session_ttl);
    let mut gone = Cookie::new(LOGIN_COOKIE, "");
    gone.set_path("/");
    gone.make_removal();
    Ok(HttpResponse::SeeOther()
        .cookie(new_session_cookie(shared, req, sid))
        .cookie(gone)
        .insert_header(("Location", next.to_owned()))
        .finish())
}

#[derive(Deserialize)]
pub struct DevForm {
    nonce: String,
    next: Option<String>,
    subject: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    tenant: String,
}

async fn dev_login(shared: web::Data<Shared>, req: HttpRequest, f: web::Form<DevForm>) -> Page {
    let SignIn::Dev { issuer, audience } = &shared.sign_in else {
        return Err(failed("the development sign-in is off"));
    };
    let bound = req.cookie(LOGIN_COOKIE).map(|c| c.value().to_owned());
    if !bound.is_some_and(|b| sessions::same(&b, &f.nonce)) {
        return Err(failed(
            "this sign-in form was not served to this browser; reload it",
        ));
    }
    let subject = f.subject.trim();
    if subject.is_empty() || subject.len() > 200 {
        return Err(failed("name a subject (at most 200 characters)"));
    }
    let groups: Vec<String> = f
        .groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    let tenant = Some(f.tenant.trim()).filter(|t| !t.is_empty());
    let token = issuer
        .mint(
            audience,
            subject,
            &groups,
            tenant,
            None,
            shared.settings.session_ttl,
        )
        .map_err(|e| failed(format!("minting the development token: {e}")))?;
    open_session(&shared, &req, token, &local(f.next.as_deref())).await
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    shared: web::Data<Shared>,
    req: HttpRequest,
    v: Viewer,
    f: web::Form<CsrfOnly>,
) -> Page {
    v.check(&shared, &req, &f.csrf)?;
    shared.sessions.close(&v.sid);
    let secure = is_secure(&shared, &req);
    let mut gone = Cookie::build(cookie_name(secure), "")
        .path("/")
        .secure(secure)
        .finish();
    gone.make_removal();
    let at_issuer = match &shared.sign_in {
        SignIn::Oidc(flow) => {
            flow.end_session_url(&format!("{}{BASE}/signed-out", origin(&shared, &req)))
                .await
        }
        _ => None,
    };
    let page = layout::bare(
        "Signed out",
        html! {
            p #signed-out { "You are signed out of the Airlock console." }
            @if let Some(u) = at_issuer {
                p { a href=(u) { "Also sign out at your identity provider" } }
            }
            p { a href={(BASE) "/login"} { "Sign in again" } }
        },
    );
    Ok(HttpResponse::Ok()
        .cookie(gone)
        .content_type("text/html; charset=utf-8")
        .body(page.into_string()))
}

async fn signed_out() -> HttpResponse {
    guard::html(layout::bare(
        "Signed out",
        html! { p { a href={(BASE) "/login"} { "Sign in again" } } },
    ))
}
