use crate::{
    dto::{PageQuery, SessionList, SessionQuery, SessionView},
    error::{code, ApiError},
    extract::Caller,
    AppState,
};
use actix_web::{delete, get, post, web, HttpResponse};
use airlock_gateway_domain::{session::SessionStatus, ErrorCode, SessionId};

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

/// The caller's sessions, newest first (`cursor` from `next_cursor`).
#[utoipa::path(get, path = "/v1/sessions", tag = "sessions",
    params(SessionQuery),
    responses((status = 200, body = SessionList), (status = 400, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[get("/sessions")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(SessionStatus::parse(s).ok_or_else(|| {
            code(
                ErrorCode::InvalidRequest,
                format!("status {s:?} is not one of active, deleted, expired, lost"),
            )
        })?),
    };
    let before = super::cursor(q.cursor.as_deref(), SessionId::parse)?;
    let limit = PageQuery {
        cursor: None,
        limit: q.limit,
    }
    .limit()?;
    let p = state
        .gateway
        .list_sessions(&caller.0, status, before.as_ref(), limit)
        .await?;
    Ok(HttpResponse::Ok().json(SessionList {
        sessions: p.items.into_iter().map(SessionView::from).collect(),
        next_cursor: p.next,
    }))
}
