//! The audit trail for compliance reviewers: events by subject, session, type and time, and a
//! signed checkpoint of the head to keep outside the log. Auditor groups only; every read is
//! itself audited.

use crate::{
    error::{code, ApiError},
    extract::Caller,
    AppState,
};
use actix_web::{get, web, HttpRequest, HttpResponse};
use airlock_gateway_domain::{audit::Checkpoint, ports::AuditQuery, ErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsParams {
    /// The principal's subject (`sub` claim).
    subject: Option<String>,
    session_id: Option<String>,
    /// Event type, e.g. `execution.requested`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// RFC 3339 time, inclusive.
    since: Option<String>,
    /// RFC 3339 time, exclusive.
    until: Option<String>,
    /// The `next` cursor of the previous page.
    after: Option<String>,
    /// Events per page: 1-10000, default 100.
    limit: Option<u32>,
    /// `json` (default) or `jsonl` (JSON lines, the cursor in the `Airlock-Next-Cursor` header).
    format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct EventsResponse {
    /// CloudEvents, as sealed in the chain.
    events: Vec<serde_json::Value>,
    /// Cursor for the next page (`after`), absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// Audit events, oldest first. Only principals in an auditor group; the read is recorded as an
/// `audit.queried` event.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", params(EventsParams),
    responses((status = 200, body = EventsResponse, description = "JSON, or JSON lines with format=jsonl"),
              (status = 403, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[get("/audit/events")]
pub async fn events(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    params: web::Query<EventsParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let jsonl = match p.format.as_deref() {
        None => req
            .headers()
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("application/x-ndjson") || a.contains("application/jsonl")),
        Some("json") => false,
        Some("jsonl") => true,
        Some(other) => {
            return Err(code(
                ErrorCode::InvalidRequest,
                format!("format {other:?} is not json or jsonl"),
            ))
        }
    };
    let query = AuditQuery {
        actor: p.subject,
        session_id: p.session_id,
        event_type: p.event_type,
        since_ms: super::millis(p.since.as_deref(), "since")?,
        until_ms: super::millis(p.until.as_deref(), "until")?,
        after: p.after,
        limit: p.limit.unwrap_or(100),
        tenant: None,
    };
    let page = state.gateway.audit_events(&caller.0, query).await?;
    if jsonl {
        let mut body = Vec::with_capacity(page.events.len() * 512);
        for e in &page.events {
            serde_json::to_writer(&mut body, e)
                .map_err(|e| code(ErrorCode::Internal, e.to_string()))?;
            body.push(b'\n');
        }
        let mut resp = HttpResponse::Ok();
        resp.content_type("application/x-ndjson");
        if let Some(next) = &page.next {
            resp.insert_header(("Airlock-Next-Cursor", next.as_str()));
        }
        return Ok(resp.body(body));
    }
    let events = page
        .events
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| code(ErrorCode::Internal, e.to_string()))?;
    Ok(HttpResponse::Ok().json(EventsResponse {
        events,
        next: page.next,
    }))
}

/// A signed statement of this gateway's chain head (sealed first with an `audit.checkpoint`
/// event). Keep it outside the log; `airlock audit verify --checkpoint FILE --key JWKS` later
/// proves the log still reaches that head unchanged.
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, body = Checkpoint), (status = 403, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[get("/audit/checkpoint")]
pub async fn checkpoint(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let cp = state.gateway.audit_checkpoint(&caller.0).await?;
    Ok(HttpResponse::Ok().json(cp))
}

/// The readiness detail `/readyz` leaves out: error text, policy source, Vault and relay errors,
/// the chain id. Auditor groups only (it names internal endpoints).
#[utoipa::path(get, path = "/v1/status", tag = "audit",
    responses((status = 200, body = Object), (status = 403, body = crate::dto::ErrorBody)), security(("bearer" = [])))]
#[get("/status")]
pub async fn status(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.gateway.status_detail(&caller.0).await?))
}
