//! The console's pages, each a thin view over one core call made as the signed-in person.

mod audit;
mod overview;
mod playground;
mod reviews;
mod sessions;

use crate::{guard::ConsoleError, layout};
use actix_web::{web, HttpResponse};
use airlock_gateway_analysis::highlight::{highlight, Class};
use airlock_gateway_domain::{execution::Language, ErrorCode, GatewayError};
use maud::{html, Markup};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(overview::show))
        .route("/", web::get().to(overview::show))
        .configure(reviews::routes)
        .configure(audit::routes)
        .configure(sessions::routes)
        .configure(playground::routes);
}

pub async fn not_found() -> HttpResponse {
    let e = GatewayError::new(ErrorCode::RouteNotFound, "no such console page");
    HttpResponse::NotFound()
        .content_type("text/html; charset=utf-8")
        .body(layout::error_page(&e).into_string())
}

/// An id from the path, or the page's own not-found error.
pub fn parse_id<T>(
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
    code: ErrorCode,
) -> Result<T, ConsoleError> {
    parse(raw).ok_or_else(|| ConsoleError::Failed(GatewayError::new(code, "no such item")))
}

/// Code as reviewers read it: highlighted by the lexers analysis parses it with.
pub fn code_block(language: Language, code: &str) -> Markup {
    html! {
        pre.code data-language=(language.as_str()) {
            code {
                @for (class, text) in highlight(language, code) {
                    @if class == Class::Plain { (text) } @else { span class=(class.css()) { (text) } }
                }
            }
        }
    }
}

/// A value as readable JSON.
pub fn pretty(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// An empty filter field is no filter.
pub fn given(v: &Option<String>) -> Option<String> {
    v.as_ref()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}
