use crate::{
    dto::{ExecutionCreate, ExecutionView},
    error::{code, ApiError},
    extract::Caller,
    AppState,
};
use actix_web::{get, post, web, HttpResponse};
use airlock_gateway_domain::{ErrorCode, ExecutionId, ExecutionRequest, ExecutionStatus, Language};

/// Run code in the session's sandbox. 200 when it ran (whatever its outcome), 403 with the
/// same body when policy denied it, 202 when it is held for review.
#[utoipa::path(post, path = "/v1/sessions/{id}/executions", tag = "executions",
    params(("id" = String, Path)), request_body = ExecutionCreate,
    responses((status = 200, body = ExecutionView), (status = 202, body = ExecutionView), (status = 403, body = ExecutionView),
        (status = 400, body = crate::dto::ErrorBody), (status = 404, body = crate::dto::ErrorBody), (status = 409, body = crate::dto::ErrorBody), (status = 413, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/sessions/{id}/executions")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<ExecutionCreate>,
) -> Result<HttpResponse, ApiError> {
    let id = super::session_id(&id)?;
    let body = body.into_inner();
    let language = Language::parse(&body.language).ok_or_else(|| {
        code(
            ErrorCode::UnsupportedLanguage,
            format!("language {:?} is not supported", body.language),
        )
    })?;
    if body.timeout_seconds == Some(0) {
        return Err(code(
            ErrorCode::InvalidRequest,
            "timeout_seconds must be at least 1",
        ));
    }
    if body.code.contains('\0') {
        return Err(code(
            ErrorCode::InvalidRequest,
            "code may not contain NUL characters",
        ));
    }
    let req = ExecutionRequest {
        language,
        code: body.code,
        timeout_seconds: body.timeout_seconds,
        packages: body.packages,
        egress: body.egress,
        connector: body.connector,
    };
    let reply = state.gateway.execute(&caller.0, &id, req).await?;
    let status = reply.execution.status;
    let view = ExecutionView::from(reply.execution);
    Ok(match status {
        ExecutionStatus::Denied => HttpResponse::Forbidden().json(view),
        ExecutionStatus::PendingReview => HttpResponse::Accepted().json(view),
        _ => HttpResponse::Ok().json(view),
    })
}

#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions",
    params(("id" = String, Path)), responses((status = 200, body = ExecutionView), (status = 404, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[get("/executions/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = ExecutionId::parse(&id)
        .ok_or_else(|| code(ErrorCode::ExecutionNotFound, format!("no execution {id}")))?;
    Ok(HttpResponse::Ok().json(ExecutionView::from(
        state.gateway.get_execution(&caller.0, &id).await?,
    )))
}
