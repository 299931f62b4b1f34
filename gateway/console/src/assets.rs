//! The console's stylesheet and script, compiled into the binary: nothing is fetched from a
//! CDN, and a page works with no internet access. Their URLs carry the gateway's version, so a
//! new release is a new URL and browsers may cache each for a day.

use actix_web::{http::header, web, HttpResponse};

const CSS: &str = include_str!("../assets/console.css");
const JS: &str = include_str!("../assets/console.js");

pub fn url(name: &str) -> String {
    format!(
        "{}/assets/{name}?v={}",
        crate::BASE,
        env!("CARGO_PKG_VERSION")
    )
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/assets/{name}", web::get().to(asset));
}

async fn asset(name: web::Path<String>) -> HttpResponse {
    let (body, kind) = match name.as_str() {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    HttpResponse::Ok()
        .content_type(kind)
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(body)
}
