//! The audit explorer: events by subject, session, type and time, each one's detail, whether
//! the chain holds across the events shown, and the signed checkpoint to keep elsewhere.
//! Auditors only (the core refuses anyone else); every page read is itself audited.

use super::{given, pretty};
use crate::{
    guard::{html as page_of, ConsoleError, Page, Viewer},
    layout::{page, Nav},
    Shared, BASE,
};
use actix_web::{http::header, web, HttpResponse};
use airlock_gateway_audit::RangeCheck;
use airlock_gateway_domain::{ports::AuditQuery, ErrorCode, GatewayError};
use maud::{html, Markup};
use serde::Deserialize;

const PAGE: u32 = 50;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/audit", web::get().to(explorer))
        .route("/audit/checkpoint", web::get().to(checkpoint));
}

#[derive(Deserialize, Default)]
pub struct Filters {
    subject: Option<String>,
    session: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
}

/// A time from the form: RFC 3339, or a `datetime-local` value (read as UTC).
fn millis(raw: &Option<String>, name: &str) -> Result<Option<i64>, ConsoleError> {
    let Some(s) = given(raw) else { return Ok(None) };
    let rfc = time::format_description::well_known::Rfc3339;
    let local = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::OffsetDateTime::parse(&s, &rfc)
        .or_else(|_| time::PrimitiveDateTime::parse(&s, &local).map(|t| t.assume_utc()))
        .map(|t| Some(airlock_gateway_domain::unix_ms(t)))
        .map_err(|_| {
            GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("{name} {s:?} is not a time"),
            )
            .into()
        })
}

async fn explorer(shared: web::Data<Shared>, v: Viewer, f: web::Query<Filters>) -> Page {
    let q = AuditQuery {
        actor: given(&f.subject),
        session_id: given(&f.session),
        event_type: given(&f.event_type),
        since_ms: millis(&f.since, "since")?,
        until_ms: millis(&f.until, "until")?,
        after: given(&f.after),
        limit: PAGE,
        tenant: None,
    };
    let page_ = shared.gateway.audit_events(&v.principal, q).await?;
    let check = shared
        .gateway
        .audit_verify_range(&v.principal, &page_.events)
        .await?;
    let next = page_.next.as_ref().map(|after| {
        let mut u = url::form_urlencoded::Serializer::new(String::new());
        for (k, val) in [
            ("subject", &f.subject),
            ("session", &f.session),
            ("type", &f.event_type),
            ("since", &f.since),
            ("until", &f.until),
        ] {
            if let Some(x) = given(val) {
                u.append_pair(k, &x);
            }
        }
        u.append_pair("after", after);
        format!("{BASE}/audit?{}", u.finish())
    });
    let body = html! {
        (filters(&f))
        (verification(&check))
        p { a #checkpoint href={(BASE) "/audit/checkpoint"} download="airlock-checkpoint.json" { "Download a signed checkpoint of the chain head" } }
        @if page_.events.is_empty() {
            p #no-events { "No events match." }
        } @else {
            table #events {
                caption.muted { (page_.events.len()) " event(s), oldest first" }
                thead { tr { th scope="col" { "Time" } th scope="col" { "Type" } th scope="col" { "Subject" } th scope="col" { "Event" } } }
                tbody {
                    @for e in &page_.events {
                        tr {
                            td { (e.time) }
                            td { code { (e.event_type) } }
                            td { (e.subject.as_deref().unwrap_or("")) }
                            td {
                                details {
                                    summary { "seq " (e.seq) " · " (e.id) }
                                    pre { (pretty(e)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(n) = next { p.pager { a #next-page href=(n) { "Next page" } } }
    };
    Ok(page_of(page(&v, Nav::Audit, "Audit trail", body)))
}

fn filters(f: &Filters) -> Markup {
    let val = |v: &Option<String>| given(v).unwrap_or_default();
    html! {
        form.filters #audit-filters method="get" action={(BASE) "/audit"} {
            label { "Subject" input #f-subject name="subject" value=(val(&f.subject)); }
            label { "Session" input #f-session name="session" value=(val(&f.session)); }
            label { "Type" input #f-type name="type" placeholder="execution.requested" value=(val(&f.event_type)); }
            label { "Since (UTC)" input #f-since name="since" type="datetime-local" value=(val(&f.since)); }
            label { "Until (UTC)" input #f-until name="until" type="datetime-local" value=(val(&f.until)); }
            button #filter type="submit" { "Filter" }
        }
    }
}

fn verification(check: &RangeCheck) -> Markup {
    html! {
        p #chain role="status" {
            @match check {
                RangeCheck::Verified { events, chains } => span.ok #chain-verified {
                    "Chain verified: every link across the " (events) " event(s) from the first to the last shown holds (" (chains) " chain(s))."
                },
                RangeCheck::Broken(why) => span.bad #chain-broken { "Chain broken: " (why) },
                RangeCheck::TooWide { events } => span.warn { "Not verified here: " (events) " events lie in this range; run airlock audit verify." },
                RangeCheck::Empty => span.muted { "Nothing to verify." },
            }
        }
    }
}

async fn checkpoint(shared: web::Data<Shared>, v: Viewer) -> Page {
    let cp = shared.gateway.audit_checkpoint(&v.principal).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"airlock-checkpoint.json\"",
        ))
        .body(pretty(&cp)))
}
