//! The review queue and a case: what is held and why, and the reviewer's decision. The server
//! refuses what the reviewer may not do whatever the page shows (four eyes, groups, tenant).

use super::{code_block, given, parse_id, pretty};
use crate::{
    guard::{html as page_of, see_other, Page, Viewer},
    layout::{page, when, Nav},
    Shared, BASE,
};
use actix_web::{web, HttpRequest};
use airlock_gateway_core::{CaseAction, CaseFilter};
use airlock_gateway_domain::{
    review::{CaseId, CaseStatus, ReviewCase},
    ErrorCode, GatewayError,
};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reviews", web::get().to(queue))
        .route("/reviews/{id}", web::get().to(case))
        .route("/reviews/{id}/{action}", web::post().to(act));
}

#[derive(Deserialize)]
pub struct QueueQuery {
    status: Option<String>,
    mine: Option<String>,
}

const PAGE: u32 = 100;

async fn queue(shared: web::Data<Shared>, v: Viewer, q: web::Query<QueueQuery>) -> Page {
    let status = match given(&q.status).as_deref() {
        None => Some(CaseStatus::Pending),
        Some("all") => None,
        Some(s) => Some(CaseStatus::parse(s).ok_or_else(|| {
            GatewayError::new(
                ErrorCode::InvalidRequest,
                format!("{s:?} is not a case status"),
            )
        })?),
    };
    let mine = q.mine.as_deref() == Some("1");
    let filter = CaseFilter {
        status,
        mine,
        tenant: None,
        requester: None,
        since_ms: None,
        until_ms: None,
        before: None,
        limit: PAGE,
    };
    let cases = shared.gateway.review_cases(&v.principal, &filter).await?;
    let shown = status.map_or("all", CaseStatus::as_str);
    let body = html! {
        form.filters method="get" action={(BASE) "/reviews"} {
            label { "Status"
                select name="status" {
                    @for s in ["pending", "approved", "rejected", "withdrawn", "expired", "superseded", "all"] {
                        option value=(s) selected[s == shown] { (s) }
                    }
                }
            }
            label { "Whose"
                select name="mine" {
                    option value="0" selected[!mine] { "Cases I may review" }
                    option value="1" selected[mine] { "My own requests" }
                }
            }
            button type="submit" { "Show" }
        }
        @if cases.is_empty() {
            p #empty-queue { "No cases here." }
        } @else {
            table #queue {
                caption.muted { (cases.len()) " case(s), newest first" }
                thead { tr { th scope="col" { "Case" } th scope="col" { "Requester" } th scope="col" { "Held for" } th scope="col" { "Status" } th scope="col" { "Opened" } } }
                tbody {
                    @for c in &cases {
                        tr {
                            td { a.case-link href={(BASE) "/reviews/" (c.id)} { (c.id) } }
                            td { (c.requester.subject) @if let Some(t) = &c.requester.tenant { " " span.tag { (t) } } }
                            td { (reasons(c)) }
                            td { (c.status.as_str()) }
                            td { (when(c.created_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page_of(page(&v, Nav::Reviews, "Review queue", body)))
}

fn reasons(c: &ReviewCase) -> String {
    let codes: Vec<&str> = c
        .work
        .decision
        .violations
        .iter()
        .map(|v| v.code.as_str())
        .collect();
    if codes.is_empty() {
        c.kind.as_str().to_owned()
    } else {
        codes.join(", ")
    }
}

async fn case(shared: web::Data<Shared>, v: Viewer, id: web::Path<String>) -> Page {
    let id = parse_id(&id, CaseId::parse, ErrorCode::CaseNotFound)?;
    let c = shared.gateway.review_case(&v.principal, &id).await?;
    let title = format!("Case {}", c.id);
    Ok(page_of(page(&v, Nav::Reviews, &title, case_body(&v, &c))))
}

fn case_body(v: &Viewer, c: &ReviewCase) -> Markup {
    let w = &c.work;
    let r = &w.request;
    html! {
        dl.facts #case-facts {
            dt { "Status" } dd #case-status { (c.status.as_str()) }
            dt { "Requester" } dd { (c.requester.subject) @if let Some(e) = &c.requester.email { " (" (e) ")" } @if let Some(t) = &c.requester.tenant { " " span.tag { "tenant " (t) } } }
            dt { "Holds" } dd { (c.kind.as_str()) " of execution " code { (c.execution_id) } " in session " code { (c.session_id) } }
            dt { "Policy revision" } dd { code { (w.decision.policy_revision) } }
            dt { "Data labels" } dd { @if w.labels.is_empty() { span.muted { "none" } } @else { (w.labels.join(", ")) } }
            dt { "Packages" } dd { @if r.packages.is_empty() { span.muted { "none" } } @else { (r.packages.join(", ")) } }
            dt { "Egress" } dd { @if r.egress.is_empty() { span.muted { "none" } } @else { (r.egress.join(", ")) } }
            dt { "Connector" } dd { @if let Some(cn) = &r.connector { code { (cn) } } @else { span.muted { "none" } } }
            dt { "Approvals" } dd { (c.approvals.len()) " of " (c.rules.approvals_required) " from " (c.rules.approver_groups.join(", ")) }
            dt { "Opened" } dd { (when(c.created_at)) ", expires " (when(c.expires_at)) }
        }
        h2 { "Why it is held" }
        ul #reasons {
            @for viol in &w.decision.violations {
                li { code { (viol.code) } ": " (viol.message) @if let Some(h) = &viol.hint { br; span.muted { "Hint: " (h) } } }
            }
        }
        h2 { "Code (" (r.language.as_str()) ")" }
        (code_block(r.language, &r.code))
        @if let Some(sql) = &w.facts.sql {
            h2 { "Statement" }
            pre { (pretty(sql)) }
        }
        details {
            summary { "Analysis" }
            pre { (pretty(&w.facts)) }
        }
        @if let Some(out) = &c.held_output {
            h2 { "Held output" }
            pre { (out.stdout) }
            @if !out.findings.is_empty() { pre { (pretty(&out.findings)) } }
        }
        @if !c.approvals.is_empty() || !c.comments.is_empty() {
            h2 { "Approvals and comments" }
            ul #notes {
                @for n in &c.approvals { li { "Approved by " (n.subject) " at " (when(n.at)) @if !n.text.is_empty() { ": " (n.text) } } }
                @for n in &c.comments { li { (n.subject) " at " (when(n.at)) ": " (n.text) } }
            }
        }
        @if let Some(reason) = &c.reason { p { "Decided by " (c.decided_by.as_deref().unwrap_or("?")) ": " (reason) } }
        div.actions {
            @if c.may_decide(&v.principal).is_ok() {
                form method="post" action={(BASE) "/reviews/" (c.id) "/approve"} {
                    input type="hidden" name="csrf" value=(v.csrf);
                    label { "Comment (optional)" input #approve-comment name="text"; }
                    button.primary #approve type="submit" { "Approve" }
                }
                form method="post" action={(BASE) "/reviews/" (c.id) "/reject"} {
                    input type="hidden" name="csrf" value=(v.csrf);
                    label { "Reason" input #reject-reason name="text" required; }
                    button.danger #reject type="submit" { "Reject" }
                }
            } @else if c.status == CaseStatus::Pending && c.is_requester(&v.principal) {
                p.muted #own-case { "This is your own request: someone else decides it." }
            }
            form method="post" action={(BASE) "/reviews/" (c.id) "/comment"} {
                input type="hidden" name="csrf" value=(v.csrf);
                label { "Comment" input #comment-text name="text" required; }
                button #comment type="submit" { "Comment" }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

async fn act(
    shared: web::Data<Shared>,
    req: HttpRequest,
    v: Viewer,
    path: web::Path<(String, String)>,
    f: web::Form<ActForm>,
) -> Page {
    v.check(&shared, &req, &f.csrf)?;
    let (raw, action) = path.into_inner();
    let id = parse_id(&raw, CaseId::parse, ErrorCode::CaseNotFound)?;
    let text = f.text.trim().to_owned();
    let action = match action.as_str() {
        "approve" => CaseAction::Approve { comment: text },
        "reject" => CaseAction::Reject { reason: text },
        "comment" => CaseAction::Comment { text },
        _ => return Err(GatewayError::new(ErrorCode::RouteNotFound, "no such case action").into()),
    };
    shared
        .gateway
        .act_on_case(&v.principal, &id, action)
        .await?;
    Ok(see_other(&format!("{BASE}/reviews/{id}")))
}
