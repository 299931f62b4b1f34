//! The policy playground: a request as a caller would send it, and the decision policy would
//! give this signed-in person, with violations and hints. A dry run: nothing runs or changes.

use super::{given, pretty};
use crate::{
    guard::{html as page_of, Page, Viewer},
    layout::{page, Nav},
    Shared, BASE,
};
use actix_web::{web, HttpRequest};
use airlock_gateway_core::DryRun;
use airlock_gateway_domain::Decision;
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/playground", web::get().to(show))
        .route("/playground", web::post().to(decide));
}

#[derive(Deserialize, Default)]
pub struct Form {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    language: Option<String>,
    code: Option<String>,
    packages: Option<String>,
    egress: Option<String>,
    connector: Option<String>,
    session: Option<String>,
}

fn list(v: &Option<String>) -> Vec<String> {
    given(v)
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

async fn show(v: Viewer) -> Page {
    let f = Form {
        action: "execution.run".into(),
        language: Some("python".into()),
        code: Some("import pandas as pd\nprint(pd.__version__)".into()),
        ..Form::default()
    };
    Ok(page_of(page(
        &v,
        Nav::Playground,
        "Policy playground",
        form(&v, &f, None),
    )))
}

async fn decide(
    shared: web::Data<Shared>,
    req: HttpRequest,
    v: Viewer,
    f: web::Form<Form>,
) -> Page {
    v.check(&shared, &req, &f.csrf)?;
    let dry = DryRun {
        action: f.action.clone(),
        session_id: given(&f.session),
        language: given(&f.language),
        code: f.code.as_ref().map(|c| c.replace("\r\n", "\n")),
        packages: list(&f.packages),
        egress: list(&f.egress),
        connector: given(&f.connector),
        ..DryRun::default()
    };
    let decision = shared.gateway.dry_run(&v.principal, dry).await?;
    Ok(page_of(page(
        &v,
        Nav::Playground,
        "Policy playground",
        form(&v, &f, Some(&decision)),
    )))
}

fn form(v: &Viewer, f: &Form, decision: Option<&Decision>) -> Markup {
    let val = |x: &Option<String>| x.clone().unwrap_or_default();
    html! {
        p.muted { "A dry run: the decision policy would give you for this request. Nothing runs." }
        form.stack method="post" action={(BASE) "/playground"} {
            input type="hidden" name="csrf" value=(v.csrf);
            label { "Action"
                select #p-action name="action" {
                    @for a in ["execution.run", "session.create", "file.upload", "file.download"] {
                        option value=(a) selected[a == f.action] { (a) }
                    }
                }
            }
            label { "Language"
                select #p-language name="language" {
                    @for l in ["python", "sql", "bash", "javascript"] {
                        option value=(l) selected[Some(l) == f.language.as_deref()] { (l) }
                    }
                }
            }
            label { "Code" textarea #p-code name="code" { (val(&f.code)) } }
            label { "Packages (comma-separated)" input #p-packages name="packages" value=(val(&f.packages)); }
            label { "Egress hosts (comma-separated)" input #p-egress name="egress" value=(val(&f.egress)); }
            label { "Connector" input #p-connector name="connector" value=(val(&f.connector)); }
            label { "Session id (optional: its data labels count)" input #p-session name="session" value=(val(&f.session)); }
            button.primary #evaluate type="submit" { "Evaluate" }
        }
        @if let Some(d) = decision {
            h2 { "Decision" }
            p #decision role="status" {
                strong class=(if d.is_allowed() { "ok" } else { "bad" }) { (d.result.as_str()) }
                " under policy revision " code { (d.policy_revision) }
            }
            @if !d.violations.is_empty() {
                ul #violations {
                    @for viol in &d.violations {
                        li { code { (viol.code) } ": " (viol.message) @if let Some(h) = &viol.hint { br; span.muted { "Hint: " (h) } } }
                    }
                }
            }
            details { summary { "The whole decision" } pre { (pretty(d)) } }
        }
    }
}
