//! Usage figures per principal over a range of days: an auditor's of every tenant (or one), a
//! tenant auditor's of their tenant, anyone else's of themselves.

use crate::{error::ApiError, extract::Caller, AppState};
use actix_web::{get, web, HttpResponse};
use airlock_gateway_core::{parse_day, UsageFilter, UsageReport};
use airlock_gateway_domain::usage::Usage;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// First day (UTC, `YYYY-MM-DD`, inclusive); default 29 days before `to`.
    from: Option<String>,
    /// Last day (inclusive); default today. At most 366 days in all.
    to: Option<String>,
    /// Only this tenant's principals (auditors; a tenant auditor may name only their own).
    tenant: Option<String>,
}

/// What was used: executions that ran, CPU the sandboxes' cgroups counted while they ran,
/// memory reserved (the sandbox's limit times the execution's wall time), bytes through the
/// egress proxy, rows read from warehouses, review cases opened.
#[derive(Serialize, ToSchema)]
pub struct UsageFigures {
    executions: u64,
    cpu_seconds: f64,
    memory_mib_seconds: f64,
    egress_bytes: u64,
    warehouse_rows: u64,
    review_cases: u64,
}

impl From<&Usage> for UsageFigures {
    fn from(u: &Usage) -> Self {
        Self {
            executions: u.executions,
            cpu_seconds: u.cpu_ms as f64 / 1000.0,
            memory_mib_seconds: u.memory_mib_ms as f64 / 1000.0,
            egress_bytes: u.egress_bytes,
            warehouse_rows: u.warehouse_rows,
            review_cases: u.review_cases,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PrincipalUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    issuer: String,
    subject: String,
    usage: UsageFigures,
}

#[derive(Serialize, ToSchema)]
pub struct UsageResponse {
    from: String,
    to: String,
    /// `all` (an auditor), `tenant` (a tenant auditor) or `self`.
    scope: String,
    principals: Vec<PrincipalUsage>,
    total: UsageFigures,
}

impl From<UsageReport> for UsageResponse {
    fn from(r: UsageReport) -> Self {
        let principals = r
            .rows
            .iter()
            .map(|row| {
                let (issuer, subject) = row
                    .principal
                    .split_once('\u{1f}')
                    .unwrap_or(("", row.principal.as_str()));
                PrincipalUsage {
                    tenant: row.tenant.clone(),
                    issuer: issuer.to_owned(),
                    subject: subject.to_owned(),
                    usage: (&row.usage).into(),
                }
            })
            .collect();
        Self {
            from: r.from.to_string(),
            to: r.to.to_string(),
            scope: r.scope.to_owned(),
            principals,
            total: (&r.total).into(),
        }
    }
}

/// Usage per principal over a range of UTC days, with the total.
#[utoipa::path(get, path = "/v1/usage", tag = "usage", params(UsageParams),
    responses((status = 200, body = UsageResponse),
              (status = 400, body = crate::dto::ErrorBody, description = "a bad date or range"),
              (status = 403, body = crate::dto::ErrorBody, description = "a tenant auditor asked for another tenant")),
    security(("bearer" = [])))]
#[get("/usage")]
pub async fn usage(
    state: web::Data<AppState>,
    caller: Caller,
    params: web::Query<UsageParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let day = |s: Option<String>| s.as_deref().map(parse_day).transpose();
    let filter = UsageFilter {
        from: day(p.from)?,
        to: day(p.to)?,
        tenant: p.tenant,
    };
    let report = state.gateway.usage(&caller.0, filter).await?;
    Ok(HttpResponse::Ok().json(UsageResponse::from(report)))
}
