use crate::{
    dto::{ExecutionCreate, ExecutionList, ExecutionView, PageQuery},
    error::{code, ApiError},
    extract::Caller,
    sse, AppState,
};
use actix_web::{get, http::header, post, web, HttpRequest, HttpResponse};
use airlock_gateway_domain::{
    ErrorCode, Execution, ExecutionId, ExecutionRequest, ExecutionStatus, Language,
};

/// Whether the client prefers not to wait (RFC 7240 `Prefer: respond-async`).
fn prefers_async(req: &HttpRequest) -> bool {
    req.headers().get_all("prefer").any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("respond-async"))
        })
    })
}

fn execution_id(raw: &str) -> Result<ExecutionId, ApiError> {
    ExecutionId::parse(raw)
        .ok_or_else(|| code(ErrorCode::ExecutionNotFound, format!("no execution {raw}")))
}

/// The answer for an execution: 200, 403 when policy denied it, 202 when it is held for
/// review or still running.
fn answer(e: Execution) -> HttpResponse {
    let location = format!("/v1/executions/{}", e.id);
    let status = e.status;
    let view = ExecutionView::from(e);
    match status {
        ExecutionStatus::Denied => HttpResponse::Forbidden().json(view),
        ExecutionStatus::PendingReview => HttpResponse::Accepted().json(view),
        ExecutionStatus::Queued | ExecutionStatus::Running => HttpResponse::Accepted()
            .insert_header((header::LOCATION, location))
            .json(view),
        _ => HttpResponse::Ok().json(view),
    }
}

/// Run code in the session's sandbox. By default the request waits: 200 when it ran (whatever
/// its outcome), 403 with the same body when policy denied it, 202 when it is held for review.
/// With `Prefer: respond-async`: 202 at once (status `queued`) with `Location:
/// /v1/executions/{id}`. With `Accept: text/event-stream`: the execution's events as it runs
/// (see `GET /v1/executions/{id}/events`); a denied or held execution answers as without it.
#[utoipa::path(post, path = "/v1/sessions/{id}/executions", tag = "executions",
    params(("id" = String, Path),
        ("Prefer" = Option<String>, Header, description = "`respond-async`: answer 202 at once"),
        ("Accept" = Option<String>, Header, description = "`text/event-stream`: stream the execution")),
    request_body = ExecutionCreate,
    responses((status = 200, body = ExecutionView, description = "Ran (or, with Accept: text/event-stream, its events)"),
        (status = 202, body = ExecutionView, description = "Held for review, or accepted (Prefer: respond-async)"),
        (status = 403, body = ExecutionView),
        (status = 400, body = crate::dto::ErrorBody), (status = 404, body = crate::dto::ErrorBody), (status = 409, body = crate::dto::ErrorBody), (status = 413, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/sessions/{id}/executions")]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    http: HttpRequest,
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
    let submitted = state.gateway.submit(&caller.0, &id, req).await?;
    match &submitted.job {
        Some(job) if sse::wants_stream(&http) => {
            let follow = airlock_gateway_core::Follow::Live(job.clone());
            Ok(sse::response(state.gateway.clone(), caller.0, follow, 0))
        }
        Some(_) if prefers_async(&http) => Ok(answer(submitted.execution)),
        // Waiting: if the client goes away, the execution still runs to its end and is
        // recorded (the job does not depend on this request).
        _ => Ok(answer(submitted.finished().await?)),
    }
}

/// Follow an execution: Server-Sent Events `status`, `stdout`, `stderr`, `display`,
/// `artifact`, `error` and a final `result` (the execution as `GET /v1/executions/{id}` shows
/// it), each with an id; `Last-Event-ID` resumes after it. A finished execution's events
/// replay and the stream closes; past their retention only the `result` comes (id `result`).
#[utoipa::path(get, path = "/v1/executions/{id}/events", tag = "executions",
    params(("id" = String, Path), ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses((status = 200, content_type = "text/event-stream", body = String, description = "The event stream"),
        (status = 404, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[get("/executions/{id}/events")]
pub async fn events(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    http: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = execution_id(&id)?;
    let follow = state.gateway.follow(&caller.0, &id).await?;
    let after = sse::last_event_id(&http);
    Ok(sse::response(
        state.gateway.clone(),
        caller.0,
        follow,
        after,
    ))
}

/// Cancel an execution: a running one is interrupted (status `cancelled`, 200 once it stopped,
/// 202 if it is still stopping); a held one is cancelled; a finished one is returned as it is.
#[utoipa::path(post, path = "/v1/executions/{id}/cancel", tag = "executions",
    params(("id" = String, Path)),
    responses((status = 200, body = ExecutionView), (status = 202, body = ExecutionView),
        (status = 404, body = crate::dto::ErrorBody), (status = 409, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/executions/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = execution_id(&id)?;
    let (e, ended) = state.gateway.cancel_execution(&caller.0, &id).await?;
    let view = ExecutionView::from(e);
    Ok(if ended {
        HttpResponse::Ok().json(view)
    } else {
        HttpResponse::Accepted().json(view)
    })
}

/// A session's executions, newest first (`cursor` from `next_cursor`).
#[utoipa::path(get, path = "/v1/sessions/{id}/executions", tag = "executions",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = ExecutionList), (status = 400, body = crate::dto::ErrorBody), (status = 404, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[get("/sessions/{id}/executions")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = super::session_id(&id)?;
    let before = super::cursor(page.cursor.as_deref(), ExecutionId::parse)?;
    let p = state
        .gateway
        .list_executions(&caller.0, &id, before.as_ref(), page.limit()?)
        .await?;
    Ok(HttpResponse::Ok().json(ExecutionList {
        executions: p.items.into_iter().map(ExecutionView::from).collect(),
        next_cursor: p.next,
    }))
}

#[utoipa::path(get, path = "/v1/executions/{id}", tag = "executions",
    params(("id" = String, Path)), responses((status = 200, body = ExecutionView), (status = 404, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[get("/executions/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = execution_id(&id)?;
    Ok(HttpResponse::Ok().json(ExecutionView::from(
        state.gateway.get_execution(&caller.0, &id).await?,
    )))
}
