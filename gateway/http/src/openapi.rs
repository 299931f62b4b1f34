//! The OpenAPI document, generated from the handlers and types. `airlock openapi` prints it;
//! `docs/openapi.json` is that output, and a test fails when the committed copy is stale.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Airlock", description = "Governance gateway for LLM code interpreters. Every /v1 route needs `Authorization: Bearer <JWT>` (or a personal access key's secret in its place); errors are `{\"error\": {\"code\", \"message\", \"details\"}}`."),
    paths(
        crate::routes::sessions::create, crate::routes::sessions::list, crate::routes::sessions::get, crate::routes::sessions::delete,
        crate::routes::files::upload, crate::routes::files::list, crate::routes::files::download,
        crate::routes::executions::create, crate::routes::executions::list, crate::routes::executions::get,
        crate::routes::executions::events, crate::routes::executions::cancel,
        crate::routes::policy::evaluate,
        crate::routes::reviews::list, crate::routes::reviews::get, crate::routes::reviews::approve,
        crate::routes::reviews::reject, crate::routes::reviews::comment, crate::routes::reviews::withdraw,
        crate::routes::audit::events, crate::routes::audit::checkpoint, crate::routes::audit::status,
        crate::routes::replay::replay,
        crate::routes::usage::usage,
        crate::routes::access_keys::mint, crate::routes::access_keys::list, crate::routes::access_keys::revoke,
    ),
    components(schemas(crate::dto::ErrorBody, crate::dto::ErrorDetail)),
    modifiers(&Bearer),
    tags((name = "sessions"), (name = "files"), (name = "executions"), (name = "policy"), (name = "reviews"), (name = "audit"), (name = "usage"), (name = "access keys"))
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
