use crate::{
    dto::PageQuery,
    error::{code, ApiError},
    extract::Caller,
    review_dto::{ApproveBody, CaseList, CaseQuery, CaseView, CommentBody, ReasonBody},
    AppState,
};
use actix_web::{get, post, web, HttpResponse};
use airlock_gateway_core::{CaseAction, CaseFilter};
use airlock_gateway_domain::{
    review::{CaseId, CaseStatus},
    ErrorCode,
};

fn case_id(raw: &str) -> Result<CaseId, ApiError> {
    CaseId::parse(raw).ok_or_else(|| code(ErrorCode::CaseNotFound, "no such review case"))
}

/// A body that may be left out: empty is the default, anything else must be valid JSON.
fn optional<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| code(ErrorCode::InvalidJson, e.to_string()))
}

/// The caller's review queue (cases they may decide, never their own), or with `mine=true`
/// their own cases; newest first.
#[utoipa::path(get, path = "/v1/reviews", tag = "reviews", params(CaseQuery),
    responses((status = 200, body = CaseList), (status = 400, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[get("/reviews")]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<CaseQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(CaseStatus::parse(s).ok_or_else(|| {
            code(
                ErrorCode::InvalidRequest,
                format!("status {s:?} is not a case status"),
            )
        })?),
    };
    let before = super::cursor(q.cursor.as_deref(), CaseId::parse)?;
    let limit = PageQuery {
        cursor: None,
        limit: q.limit,
    }
    .limit()?;
    let filter = CaseFilter {
        status,
        mine: q.mine.unwrap_or(false),
        tenant: q.tenant.clone(),
        requester: q.requester.clone(),
        since_ms: super::millis(q.since.as_deref(), "since")?,
        until_ms: super::millis(q.until.as_deref(), "until")?,
        before,
        limit: limit + 1,
    };
    let mut cases = state.gateway.review_cases(&caller.0, &filter).await?;
    let next_cursor = (cases.len() > limit as usize).then(|| {
        cases.truncate(limit as usize);
        cases.last().map(|c| c.id.to_string())
    });
    Ok(HttpResponse::Ok().json(CaseList {
        cases: cases.into_iter().map(CaseView::from).collect(),
        next_cursor: next_cursor.flatten(),
    }))
}

/// A case: the requester's own, or one the caller may review (others are 404).
#[utoipa::path(get, path = "/v1/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, body = CaseView), (status = 404, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[get("/reviews/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(&id)?;
    let case = state.gateway.review_case(&caller.0, &id).await?;
    Ok(HttpResponse::Ok().json(CaseView::from(case)))
}

async fn act(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: CaseAction,
) -> Result<HttpResponse, ApiError> {
    let id = case_id(id)?;
    let case = state.gateway.act_on_case(&caller.0, &id, action).await?;
    Ok(HttpResponse::Ok().json(CaseView::from(case)))
}

/// Approve (body optional: `{"comment": "..."}`). The last approval decides the request again
/// with the policy in force and starts the held execution, once; approving twice is a no-op.
#[utoipa::path(post, path = "/v1/reviews/{id}/approve", tag = "reviews",
    params(("id" = String, Path)), request_body(content = ApproveBody, description = "optional"),
    responses((status = 200, body = CaseView), (status = 403, body = crate::dto::ErrorBody),
        (status = 404, body = crate::dto::ErrorBody), (status = 409, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/reviews/{id}/approve")]
pub async fn approve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ApproveBody = optional(&body)?;
    act(
        &state,
        &caller,
        &id,
        CaseAction::Approve { comment: b.comment },
    )
    .await
}

/// Reject, with a reason (required). The held execution ends `denied`; nothing runs.
#[utoipa::path(post, path = "/v1/reviews/{id}/reject", tag = "reviews",
    params(("id" = String, Path)), request_body = ReasonBody,
    responses((status = 200, body = CaseView), (status = 400, body = crate::dto::ErrorBody),
        (status = 403, body = crate::dto::ErrorBody), (status = 404, body = crate::dto::ErrorBody),
        (status = 409, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/reviews/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ReasonBody = optional(&body)?;
    act(
        &state,
        &caller,
        &id,
        CaseAction::Reject { reason: b.reason },
    )
    .await
}

/// Comment on a case (its requester or a reviewer who may see it).
#[utoipa::path(post, path = "/v1/reviews/{id}/comments", tag = "reviews",
    params(("id" = String, Path)), request_body = CommentBody,
    responses((status = 200, body = CaseView), (status = 400, body = crate::dto::ErrorBody),
        (status = 404, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/reviews/{id}/comments")]
pub async fn comment(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<CommentBody>,
) -> Result<HttpResponse, ApiError> {
    let text = body.into_inner().text;
    act(&state, &caller, &id, CaseAction::Comment { text }).await
}

/// Withdraw one's own pending case (body optional: `{"reason": "..."}`); the held execution
/// ends `cancelled`. Withdrawing twice is a no-op.
#[utoipa::path(post, path = "/v1/reviews/{id}/withdraw", tag = "reviews",
    params(("id" = String, Path)), request_body(content = ReasonBody, description = "optional"),
    responses((status = 200, body = CaseView), (status = 403, body = crate::dto::ErrorBody),
        (status = 404, body = crate::dto::ErrorBody), (status = 409, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
#[post("/reviews/{id}/withdraw")]
pub async fn withdraw(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let b: ReasonBody = optional(&body)?;
    act(
        &state,
        &caller,
        &id,
        CaseAction::Withdraw { reason: b.reason },
    )
    .await
}
