//! Policy replay for auditors: a candidate bundle archive in, every recorded decision of the
//! range it would change out (the API form of `airlock policy replay`).

use crate::{error::ApiError, extract::Caller, AppState};
use actix_web::{web, HttpResponse};
use airlock_gateway_domain::replay::Report;
use serde::Deserialize;
use utoipa::IntoParams;

/// The largest candidate archive accepted.
pub const MAX_ARCHIVE: usize = 8 << 20;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayParams {
    /// RFC 3339 time, inclusive; default: seven days before `until`.
    since: Option<String>,
    /// RFC 3339 time, exclusive; default: now.
    until: Option<String>,
}

/// Decide the recorded decisions of a time range again with a candidate bundle (the body: a
/// `.tar.gz` as `airlock policy build` makes it, never activated) and list every decision that
/// would change. Auditor groups only; the replay is itself audited.
#[utoipa::path(post, path = "/v1/audit/replay", tag = "audit", params(ReplayParams),
    request_body(content = Vec<u8>, content_type = "application/gzip"),
    responses((status = 200, body = Report), (status = 400, body = crate::dto::ErrorBody),
        (status = 403, body = crate::dto::ErrorBody), (status = 413, body = crate::dto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn replay(
    state: web::Data<AppState>,
    caller: Caller,
    q: web::Query<ReplayParams>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let now = airlock_gateway_domain::unix_ms(state.gateway.now_for_api());
    let until = super::millis(q.until.as_deref(), "until")?.unwrap_or(now);
    let since = super::millis(q.since.as_deref(), "since")?.unwrap_or(until - 7 * 86_400_000);
    let report = state
        .gateway
        .replay_policy(&caller.0, &body, since, until)
        .await?;
    Ok(HttpResponse::Ok().json(report))
}
