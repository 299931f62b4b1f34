use crate::{dto::SessionView, error::ApiError, extract::Caller, AppState};
use actix_web::{delete, get, post, web, HttpResponse};

/// Create a session: a fresh sandbox with a Python kernel.
#[utoipa::path(post, path = "/v1/sessions", tag = "sessions",
    responses((status = 201, body = SessionView), (status = 401, body = crate::dto::ErrorBody), (status = 403, body = crate::dto::ErrorBody), (status = 429, body = crate::dto::ErrorBody), (status = 503, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/sessions")]
pub async fn create(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let s = state.gateway.create_session(&caller.0).await?;
    Ok(HttpResponse::Created().json(SessionView::from(s)))
}

/// A session of the caller (another caller's session is 404).
#[utoipa::path(get, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path)), responses((status = 200, body = SessionView), (status = 404, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[get("/sessions/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = super::session_id(&id)?;
    Ok(HttpResponse::Ok().json(SessionView::from(
        state.gateway.get_session(&caller.0, &id).await?,
    )))
}

/// Delete a session: the sandbox is destroyed and the workspace wiped.
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path)), responses((status = 200, body = SessionView), (status = 404, body = crate::dto::ErrorBody), (status = 409, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[delete("/sessions/{id}")]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = super::session_id(&id)?;
    Ok(HttpResponse::Ok().json(SessionView::from(
        state.gateway.delete_session(&caller.0, &id).await?,
    )))
}
