//! The kernel gateway's REST API: what Jupyter Server's gateway client calls before it opens a
//! kernel's websocket. Every route authenticates; a kernel of another principal does not exist.

use crate::{
    auth::caller,
    error::JupyterError,
    kernels::{self, allowed_specs, language_of, model, spec_model, SPECS},
    Shared,
};
use actix_web::{web, HttpRequest, HttpResponse};
use airlock_gateway_domain::{ErrorCode, Principal, Session, SessionStatus};
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api", web::get().to(version))
        .route("/api/kernelspecs", web::get().to(kernelspecs))
        .route("/api/kernelspecs/{name}", web::get().to(kernelspec))
        .route("/kernelspecs/{name}/{file:.*}", web::get().to(no_resource))
        .route("/api/kernels", web::get().to(list))
        .route("/api/kernels", web::post().to(start))
        .route("/api/kernels/{id}", web::get().to(get))
        .route("/api/kernels/{id}", web::delete().to(shutdown))
        .route("/api/kernels/{id}/interrupt", web::post().to(interrupt))
        .route("/api/kernels/{id}/restart", web::post().to(restart));
}

type Reply = Result<HttpResponse, JupyterError>;

async fn version(s: web::Data<Shared>, req: HttpRequest) -> Reply {
    caller(&s, &req).await?;
    Ok(
        HttpResponse::Ok()
            .json(json!({"version": env!("CARGO_PKG_VERSION"), "gateway": "airlock"})),
    )
}

async fn kernelspecs(s: web::Data<Shared>, req: HttpRequest) -> Reply {
    let p = caller(&s, &req).await?;
    let allowed = allowed_specs(&s.gateway, &p)?;
    let specs: Map<String, Value> = SPECS
        .iter()
        .filter(|(n, ..)| allowed.contains(n))
        .map(|(n, l, d)| ((*n).to_owned(), spec_model(n, *l, d)))
        .collect();
    let default = allowed.first().copied().unwrap_or(kernels::DEFAULT_SPEC);
    Ok(HttpResponse::Ok().json(json!({"default": default, "kernelspecs": specs})))
}

async fn kernelspec(s: web::Data<Shared>, req: HttpRequest, name: web::Path<String>) -> Reply {
    let p = caller(&s, &req).await?;
    let allowed = allowed_specs(&s.gateway, &p)?;
    SPECS
        .iter()
        .find(|(n, ..)| *n == name.as_str() && allowed.contains(n))
        .map(|(n, l, d)| HttpResponse::Ok().json(spec_model(n, *l, d)))
        .ok_or_else(|| no_spec(&name))
}

/// Kernelspecs carry no logos or other resources.
async fn no_resource(s: web::Data<Shared>, req: HttpRequest) -> Reply {
    caller(&s, &req).await?;
    Err(JupyterError::new(
        ErrorCode::KernelspecNotFound,
        "kernelspecs have no resources here",
    ))
}

fn no_spec(name: &str) -> JupyterError {
    JupyterError::new(
        ErrorCode::KernelspecNotFound,
        format!("no kernelspec named {name:?}"),
    )
}

fn no_kernel(id: &str) -> JupyterError {
    JupyterError::new(ErrorCode::SessionNotFound, format!("no kernel {id}"))
}

/// The caller's active session `raw`, or 404 (ended sessions are not kernels).
pub(crate) async fn kernel(s: &Shared, p: &Principal, raw: &str) -> Result<Session, JupyterError> {
    let id = kernels::session_of(raw).ok_or_else(|| no_kernel(raw))?;
    let session = s
        .gateway
        .get_session(p, &id)
        .await
        .map_err(|e| match e.code {
            ErrorCode::SessionNotFound => no_kernel(raw),
            _ => JupyterError(e),
        })?;
    if session.status != SessionStatus::Active {
        return Err(no_kernel(raw));
    }
    Ok(session)
}

async fn kernel_model(s: &Shared, p: &Principal, session: &Session) -> Result<Value, JupyterError> {
    let busy = s.gateway.running_in(p, &session.id).await?.is_some();
    Ok(model(&s.kernels, session, busy))
}

async fn list(s: web::Data<Shared>, req: HttpRequest) -> Reply {
    let p = caller(&s, &req).await?;
    let page = s
        .gateway
        .list_sessions(&p, Some(SessionStatus::Active), None, 1000)
        .await?;
    let mut out = vec![];
    for session in &page.items {
        out.push(kernel_model(&s, &p, session).await?);
    }
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, Default)]
struct StartKernel {
    name: Option<String>,
    // `env` and `path` of Jupyter Server's request are accepted and ignored: nothing from the
    // client reaches the sandbox's environment.
}

async fn start(s: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> Reply {
    let p = caller(&s, &req).await?;
    let body: StartKernel = if body.iter().all(u8::is_ascii_whitespace) {
        StartKernel::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            JupyterError::new(
                ErrorCode::InvalidRequest,
                format!("the body is not a kernel request: {e}"),
            )
        })?
    };
    let name = body
        .name
        .unwrap_or_else(|| kernels::DEFAULT_SPEC.to_owned());
    language_of(&name).ok_or_else(|| no_spec(&name))?;
    if !allowed_specs(&s.gateway, &p)?.contains(&name.as_str()) {
        return Err(JupyterError::new(
            ErrorCode::PolicyDenied,
            format!("policy does not let you run {name} kernels"),
        ));
    }
    let session = s.gateway.create_session(&p).await?;
    s.kernels.set_spec(&session.id, &name);
    let m = model(&s.kernels, &session, false);
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!(
                "{}/api/kernels/{}",
                s.settings.base_path,
                kernels::kernel_id(&session.id)
            ),
        ))
        .json(m))
}

async fn get(s: web::Data<Shared>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let p = caller(&s, &req).await?;
    let session = kernel(&s, &p, &id).await?;
    Ok(HttpResponse::Ok().json(kernel_model(&s, &p, &session).await?))
}

async fn shutdown(s: web::Data<Shared>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let p = caller(&s, &req).await?;
    let session = kernel(&s, &p, &id).await?;
    s.gateway.interrupt_session(&p, &session.id).await?;
    s.gateway.delete_session(&p, &session.id).await?;
    s.kernels.forget(&session.id);
    Ok(HttpResponse::NoContent().finish())
}

async fn interrupt(s: web::Data<Shared>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let p = caller(&s, &req).await?;
    let session = kernel(&s, &p, &id).await?;
    s.gateway.interrupt_session(&p, &session.id).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn restart(s: web::Data<Shared>, req: HttpRequest, id: web::Path<String>) -> Reply {
    let p = caller(&s, &req).await?;
    let session = kernel(&s, &p, &id).await?;
    let session = s.gateway.restart_kernel(&p, &session.id).await?;
    s.kernels.reset_count(&session.id);
    Ok(HttpResponse::Ok().json(model(&s.kernels, &session, false)))
}
