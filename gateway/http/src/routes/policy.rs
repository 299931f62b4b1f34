use crate::{
    dto::{EvaluateRequest, EvaluateResponse},
    error::ApiError,
    extract::Caller,
    AppState,
};
use actix_web::{post, web, HttpResponse};
use airlock_gateway_core::DryRun;

/// Dry run: the decision this caller would get. Nothing is executed or changed.
#[utoipa::path(post, path = "/v1/policy/evaluate", tag = "policy", request_body = EvaluateRequest,
    responses((status = 200, body = EvaluateResponse), (status = 400, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[post("/policy/evaluate")]
pub async fn evaluate(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<EvaluateRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let req = DryRun {
        action: b.action,
        session_id: b.session_id,
        language: b.language,
        code: b.code,
        timeout_seconds: b.timeout_seconds,
        packages: b.packages,
        egress: b.egress,
        path: b.path,
        classification: b.classification,
        connector: b.connector,
    };
    let decision = state.gateway.dry_run(&caller.0, req).await?;
    Ok(HttpResponse::Ok().json(EvaluateResponse { decision }))
}
