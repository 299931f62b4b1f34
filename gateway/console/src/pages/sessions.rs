//! My sessions: the list, one session's executions and files, a form to run code, and an
//! execution as it runs (its page follows the live event stream; a finished one shows its
//! result). Only the signed-in person's own, as the API.

use super::parse_id;
use crate::{
    guard::{html as page_of, see_other, Page, Viewer},
    layout::{page, took, when, Nav},
    Shared, BASE,
};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use airlock_gateway_domain::{
    execution::{Execution, ExecutionRequest, Language},
    files::WorkspacePath,
    ErrorCode, ExecutionId, GatewayError, SessionId,
};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(list))
        .route("/sessions", web::post().to(create))
        .route("/sessions/{id}", web::get().to(session))
        .route("/sessions/{id}/run", web::post().to(run))
        .route("/sessions/{id}/files/{path:.*}", web::get().to(download))
        .route("/executions/{id}", web::get().to(execution))
        .route("/executions/{id}/events", web::get().to(events));
}

fn session_id(raw: &str) -> Result<SessionId, crate::guard::ConsoleError> {
    parse_id(raw, SessionId::parse, ErrorCode::SessionNotFound)
}

fn execution_id(raw: &str) -> Result<ExecutionId, crate::guard::ConsoleError> {
    parse_id(raw, ExecutionId::parse, ErrorCode::ExecutionNotFound)
}

async fn list(shared: web::Data<Shared>, v: Viewer) -> Page {
    let sessions = shared
        .gateway
        .list_sessions(&v.principal, None, None, 100)
        .await?;
    let body = html! {
        form method="post" action={(BASE) "/sessions"} {
            input type="hidden" name="csrf" value=(v.csrf);
            button.primary #new-session type="submit" { "New session" }
        }
        @if sessions.items.is_empty() {
            p { "No sessions yet." }
        } @else {
            table #sessions {
                caption.muted { "Newest first" }
                thead { tr { th scope="col" { "Session" } th scope="col" { "Status" } th scope="col" { "Labels" } th scope="col" { "Created" } th scope="col" { "Last active" } } }
                tbody {
                    @for s in &sessions.items {
                        tr {
                            td { a href={(BASE) "/sessions/" (s.id)} { (s.id) } }
                            td { (s.status.as_str()) }
                            td { (s.labels.join(", ")) }
                            td { (when(s.created_at)) }
                            td { (when(s.last_active_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(page_of(page(&v, Nav::Sessions, "My sessions", body)))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn create(
    shared: web::Data<Shared>,
    req: HttpRequest,
    v: Viewer,
    f: web::Form<CsrfForm>,
) -> Page {
    v.check(&shared, &req, &f.csrf)?;
    let s = shared.gateway.create_session(&v.principal).await?;
    Ok(see_other(&format!("{BASE}/sessions/{}", s.id)))
}

async fn session(shared: web::Data<Shared>, v: Viewer, id: web::Path<String>) -> Page {
    let id = session_id(&id)?;
    let s = shared.gateway.get_session(&v.principal, &id).await?;
    let execs = shared
        .gateway
        .list_executions(&v.principal, &id, None, 50)
        .await?;
    // A session that ended has no workspace to list.
    let files = shared
        .gateway
        .list_files(&v.principal, &id)
        .await
        .unwrap_or_default();
    let body = html! {
        dl.facts {
            dt { "Status" } dd { (s.status.as_str()) }
            dt { "Labels" } dd { (s.labels.join(", ")) }
            dt { "Expires" } dd { (when(s.expires_at)) }
        }
        h2 { "Run code" }
        form.stack method="post" action={(BASE) "/sessions/" (s.id) "/run"} {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Language"
                select #run-language name="language" {
                    @for l in ["python", "sql", "bash", "javascript"] { option value=(l) { (l) } }
                }
            }
            label { "Code" textarea #run-code name="code" required {} }
            label { "Connector (SQL)" input #run-connector name="connector"; }
            button.primary #run type="submit" { "Run" }
        }
        h2 { "Executions" }
        @if execs.items.is_empty() { p { "None yet." } } @else {
            table #executions {
                thead { tr { th scope="col" { "Execution" } th scope="col" { "Language" } th scope="col" { "Status" } th scope="col" { "Started" } th scope="col" { "Took" } } }
                tbody {
                    @for e in &execs.items {
                        tr {
                            td { a href={(BASE) "/executions/" (e.id)} { (e.id) } }
                            td { (e.language.as_str()) }
                            td { (e.status.as_str()) }
                            td { (when(e.created_at)) }
                            td { (took(i64::try_from(e.duration_ms).unwrap_or(i64::MAX))) }
                        }
                    }
                }
            }
        }
        h2 { "Files" }
        @if files.is_empty() { p { "None." } } @else {
            ul #files {
                @for f in &files {
                    li { a href={(BASE) "/sessions/" (s.id) "/files/" (f.path)} { (f.path) } " " span.muted { (f.size) " bytes" @if let Some(c) = &f.classification { ", " (c) } } }
                }
            }
        }
    };
    Ok(page_of(page(
        &v,
        Nav::Sessions,
        &format!("Session {}", s.id),
        body,
    )))
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    csrf: String,
    language: String,
    code: String,
    #[serde(default)]
    connector: String,
}

async fn run(
    shared: web::Data<Shared>,
    req: HttpRequest,
    v: Viewer,
    id: web::Path<String>,
    f: web::Form<RunForm>,
) -> Page {
    v.check(&shared, &req, &f.csrf)?;
    let id = session_id(&id)?;
    let language = Language::parse(&f.language).ok_or_else(|| {
        GatewayError::new(
            ErrorCode::UnsupportedLanguage,
            format!("{:?} is not a language", f.language),
        )
    })?;
    let request = ExecutionRequest {
        language,
        // Browsers send CRLF line ends from a textarea; the code runs as written.
        code: f.code.replace("\r\n", "\n"),
        timeout_seconds: None,
        packages: vec![],
        egress: vec![],
        connector: Some(f.connector.trim().to_owned()).filter(|c| !c.is_empty()),
    };
    let submitted = shared.gateway.submit(&v.principal, &id, request).await?;
    Ok(see_other(&format!(
        "{BASE}/executions/{}",
        submitted.execution.id
    )))
}

async fn download(shared: web::Data<Shared>, v: Viewer, path: web::Path<(String, String)>) -> Page {
    let (raw, file) = path.into_inner();
    let id = session_id(&raw)?;
    let file = WorkspacePath::parse(&file)
        .map_err(|e| GatewayError::new(ErrorCode::InvalidPath, e.to_string()))?;
    let (info, bytes) = shared
        .gateway
        .download_file(&v.principal, &id, &file)
        .await?;
    let name = info
        .path
        .rsplit('/')
        .next()
        .unwrap_or("file")
        .replace(['"', '\\'], "_");
    Ok(HttpResponse::Ok()
        .content_type(info.media_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(bytes))
}

async fn execution(shared: web::Data<Shared>, v: Viewer, id: web::Path<String>) -> Page {
    let id = execution_id(&id)?;
    let e = shared.gateway.get_execution(&v.principal, &id).await?;
    let title = format!("Execution {}", e.id);
    Ok(page_of(page(&v, Nav::Sessions, &title, execution_body(&e))))
}

fn execution_body(e: &Execution) -> Markup {
    let live = !e.status.is_finished();
    html! {
        dl.facts {
            dt { "Status" } dd { span #status aria-live="polite" { (e.status.as_str()) } }
            dt { "Session" } dd { a href={(BASE) "/sessions/" (e.session_id)} { (e.session_id) } }
            dt { "Language" } dd { (e.language.as_str()) }
            dt { "Code SHA-256" } dd { code { (e.code_sha256) } }
            @if let Some(c) = &e.case_id { dt { "Review case" } dd { a href={(BASE) "/reviews/" (c)} { (c) } } }
            dt { "Policy" } dd { (e.decision.result.as_str()) " (revision " code { (e.decision.policy_revision) } ")" }
        }
        @if !e.decision.violations.is_empty() {
            h2 { "Policy said" }
            ul { @for viol in &e.decision.violations { li { code { (viol.code) } ": " (viol.message) } } }
        }
        @if live {
            div #live data-stream={(BASE) "/executions/" (e.id) "/events"} {
                p.notice { "Following this execution live." }
            }
        }
        p #finished role="status" hidden[live] { "Finished: " (e.status.as_str()) "." }
        h2 { "Output" }
        pre #stdout hidden[e.stdout.is_empty() && !live] { (e.stdout) }
        pre #stderr.bad hidden[e.stderr.is_empty()] { (e.stderr) }
        div #displays {
            @for (i, o) in e.outputs.iter().enumerate() {
                @if let Some(png) = o.data.get("image/png").and_then(|p| p.as_str()) {
                    img src={"data:image/png;base64," (png)} alt={"Figure " (i + 1) " of this execution"};
                } @else if let Some(t) = o.data.get("text/plain").and_then(|p| p.as_str()) {
                    pre { (t) }
                }
            }
        }
        pre #error.bad hidden[e.error.is_none()] {
            @if let Some(err) = &e.error { (err.name) ": " (err.value) "\n" (err.traceback.join("\n")) }
        }
    }
}

async fn events(
    shared: web::Data<Shared>,
    req: HttpRequest,
    v: Viewer,
    id: web::Path<String>,
) -> Page {
    let id = execution_id(&id)?;
    let follow = shared.gateway.follow(&v.principal, &id).await?;
    let after = airlock_gateway_http::sse::last_event_id(&req);
    Ok(airlock_gateway_http::sse::response(
        shared.gateway.clone(),
        v.principal,
        follow,
        after,
    ))
}
