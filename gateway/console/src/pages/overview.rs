//! The overview: executions by status over time, denials by code, cases waiting and the time
//! reviewers take, over what the signed-in person may see (all, their tenant, or their own).

use crate::{
    chart,
    guard::{html as page_of, Page, Viewer},
    layout::{page, took, Nav},
    Shared, BASE,
};
use actix_web::web;
use airlock_gateway_domain::stats::StatsScope;
use maud::html;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
pub struct Window {
    days: Option<u32>,
}

fn bucket_label(ms: i64, daily: bool) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    if daily {
        format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    } else {
        format!(
            "{:02}-{:02} {:02}:00",
            u8::from(t.month()),
            t.day(),
            t.hour()
        )
    }
}

pub async fn show(shared: web::Data<Shared>, v: Viewer, w: web::Query<Window>) -> Page {
    let days = w
        .days
        .unwrap_or(1)
        .clamp(1, airlock_gateway_core::MAX_OVERVIEW_DAYS);
    let o = shared.gateway.overview(&v.principal, days).await?;
    let scope = match shared.gateway.stats_scope(&v.principal) {
        StatsScope::All => "every principal".to_owned(),
        StatsScope::Tenant(t) => format!("tenant {t}"),
        StatsScope::Owner(_) => "your own work".to_owned(),
    };
    let daily = days > 2;
    let mut buckets: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (b, status, n) in &o.executions {
        *buckets
            .entry(bucket_label(*b, daily))
            .or_default()
            .entry(status.clone())
            .or_default() += n;
        *totals.entry(status.clone()).or_default() += n;
    }
    let body = html! {
        form.filters method="get" action=(BASE) {
            label { "Window"
                select #days name="days" {
                    @for (d, label) in [(1, "Last 24 hours"), (7, "Last 7 days"), (30, "Last 30 days")] {
                        option value=(d) selected[d == days] { (label) }
                    }
                }
            }
            button type="submit" { "Show" }
        }
        p.muted { "Counting " (scope) "." }
        div.grid {
            div.card { h2 { "Pending cases" } p.big #pending-cases { (o.pending_cases) } a href={(BASE) "/reviews"} { "Review queue" } }
            div.card {
                h2 { "Time to decision" }
                @match (o.decision_ms_mean, o.decision_ms_max) {
                    (Some(mean), Some(max)) => {
                        p.big #decision-time { (took(mean)) }
                        p.muted { "mean of " (o.decided_cases) " decided; longest " (took(max)) }
                    },
                    _ => {
                        p.big #decision-time { "–" }
                        p.muted { "no case decided in this window" }
                    },
                }
            }
            div.card { h2 { "Executions" } p.big #executions-total { (totals.values().sum::<u64>()) }
                p.muted { @for (s, n) in &totals { (s) " " (n) " · " } } }
        }
        h2 { "Executions by status" }
        @if buckets.is_empty() { p { "No executions in this window." } } @else { (chart::stacked("Executions by status over time", &buckets)) }
        h2 { "Denials by code" }
        @if o.denials.is_empty() { p #no-denials { "No denials in this window." } } @else {
            (chart::bars("Denied executions by violation code", &o.denials))
            table #denials {
                thead { tr { th scope="col" { "Code" } th scope="col" { "Denied" } } }
                tbody { @for (c, n) in &o.denials { tr { td { code { (c) } } td { (n) } } } }
            }
        }
    };
    Ok(page_of(page(&v, Nav::Overview, "Overview", body)))
}
