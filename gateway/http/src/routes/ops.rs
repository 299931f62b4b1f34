//! Unauthenticated operational endpoints: health, readiness, metrics, the OpenAPI document.

use crate::{error::code, AppState};
use actix_web::{get, web, HttpResponse, ResponseError};
use airlock_gateway_domain::ErrorCode;
use utoipa::OpenApi;

#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let r = state.gateway.readiness().await;
    if r.ready {
        HttpResponse::Ok().json(r)
    } else {
        HttpResponse::ServiceUnavailable().json(r)
    }
}

#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    ::metrics::gauge!(airlock_gateway_core::metric::SANDBOXES_LIVE)
        .set(state.gateway.live_count().await as f64);
    match &state.metrics {
        Some(h) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(h.render()),
        None => HttpResponse::NotFound().finish(),
    }
}

#[get("/openapi.json")]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok().json(crate::ApiDoc::openapi())
}

pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    if req.match_pattern().is_some() {
        return code(
            ErrorCode::MethodNotAllowed,
            format!("{} is not allowed here", req.method()),
        )
        .error_response();
    }
    code(
        ErrorCode::RouteNotFound,
        format!("no route {} {}", req.method(), req.path()),
    )
    .error_response()
}
