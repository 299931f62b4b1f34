//! The HTTP API (actix-web): routes, the caller extractor, the one error mapping, and the
//! OpenAPI document generated from the handlers.

mod dto;
mod error;
mod extract;
mod openapi;
mod review_dto;
mod routes;
pub mod sse;

pub use error::{response_head, ApiError};
pub use extract::{authenticate, authenticate_until};
pub use openapi::ApiDoc;

use actix_web::web;
use airlock_gateway_auth::Authenticator;
use airlock_gateway_core::Gateway;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

/// Everything the handlers share.
pub struct AppState {
    pub gateway: Arc<Gateway>,
    pub auth: Arc<Authenticator>,
    pub metrics: Option<PrometheusHandle>,
    pub max_json_bytes: usize,
}

/// Registers every route; used by `airlock serve` and by the tests alike.
pub fn configure(state: web::Data<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let json = web::JsonConfig::default()
            .limit(state.max_json_bytes)
            .error_handler(error::json_error);
        let path = web::PathConfig::default().error_handler(error::path_error);
        let query = web::QueryConfig::default().error_handler(error::query_error);
        cfg.app_data(state)
            .app_data(json)
            .app_data(path)
            .app_data(query)
            .service(routes::ops::healthz)
            .service(routes::ops::readyz)
            .service(routes::ops::metrics)
            .service(routes::ops::openapi_json)
            .service(
                web::scope("/v1")
                    .service(routes::sessions::create)
                    .service(routes::sessions::list)
                    .service(routes::sessions::get)
                    .service(routes::sessions::delete)
                    .service(routes::files::upload)
                    .service(routes::files::list)
                    .service(routes::files::download)
                    .service(routes::executions::create)
                    .service(routes::executions::list)
                    .service(routes::executions::get)
                    .service(routes::executions::events)
                    .service(routes::executions::cancel)
                    .service(routes::policy::evaluate)
                    .service(routes::reviews::list)
                    .service(routes::reviews::get)
                    .service(routes::reviews::approve)
                    .service(routes::reviews::reject)
                    .service(routes::reviews::comment)
                    .service(routes::reviews::withdraw)
                    .service(routes::audit::events)
                    .service(routes::audit::checkpoint)
                    .service(routes::usage::usage)
                    .service(routes::access_keys::mint)
                    .service(routes::access_keys::list)
                    .service(routes::access_keys::revoke)
                    .service(routes::audit::status)
                    .service(
                        web::resource("/audit/replay")
                            .app_data(web::PayloadConfig::new(routes::replay::MAX_ARCHIVE))
                            .route(web::post().to(routes::replay::replay)),
                    ),
            )
            .default_service(web::to(routes::ops::not_found));
    }
}
