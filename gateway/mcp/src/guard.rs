//! In front of rmcp: every request to `/mcp` carries a valid token of a configured issuer
//! (validated as the REST API does), or gets `401` with `WWW-Authenticate: Bearer
//! resource_metadata=...` as the MCP authorization specification requires; and an MCP session
//! belongs to the principal who opened it: another principal presenting its id is told it does
//! not exist.

use crate::McpSettings;
use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{header, StatusCode},
    middleware::Next,
    web, HttpMessage, HttpRequest, HttpResponse,
};
use airlock_gateway_auth::Authenticator;
use airlock_gateway_domain::{GatewayError, Principal};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

const SESSION_HEADER: &str = "mcp-session-id";
/// Bindings kept before the oldest are pruned (sessions idle longer than `BINDING_TTL`).
const MAX_BINDINGS: usize = 10_000;
const BINDING_TTL: Duration = Duration::from_secs(24 * 3600);

/// The gateway, for the rate limits every channel shares.
pub(crate) struct GatewayRef(pub std::sync::Arc<airlock_gateway_core::Gateway>);

/// What the guard shares between workers.
pub(crate) struct Shared {
    pub auth: Arc<Authenticator>,
    pub settings: McpSettings,
    /// MCP session id -> owner key, and when it was last used.
    bindings: Mutex<HashMap<String, (String, Instant)>>,
}

impl Shared {
    pub fn new(auth: Arc<Authenticator>, settings: &McpSettings) -> Self {
        Self {
            auth,
            settings: settings.clone(),
            bindings: Mutex::new(HashMap::new()),
        }
    }

    fn bindings(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.bindings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `owner` may use session `id` (a session nobody owns is rmcp's to refuse).
    fn admits(&self, id: &str, owner: &str) -> bool {
        match self.bindings().get_mut(id) {
            Some((o, used)) if o == owner => {
                *used = Instant::now();
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    fn bind(&self, id: &str, owner: &str) {
        let mut b = self.bindings();
        if b.len() >= MAX_BINDINGS {
            b.retain(|_, (_, used)| used.elapsed() < BINDING_TTL);
        }
        b.insert(id.to_owned(), (owner.to_owned(), Instant::now()));
    }

    fn unbind(&self, id: &str) {
        self.bindings().remove(id);
    }

    /// Where clients read this resource's metadata (RFC 9728, path form for `/mcp`).
    pub fn metadata_url(&self) -> String {
        crate::metadata::metadata_url(&self.settings.resource)
    }
}

pub(crate) async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(shared) = req.app_data::<web::Data<Shared>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no MCP state"));
    };
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|h| h.to_str().unwrap_or("\u{fffd}").to_owned());
    let principal = match shared.auth.authenticate(header.as_deref()).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(code = e.code.as_str(), "MCP authentication failed");
            let resp = unauthorized(&shared, header.is_some(), &e);
            return Ok(req.into_response(resp).map_into_right_body());
        }
    };
    let Some(gateway) = req.app_data::<web::Data<GatewayRef>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no gateway"));
    };
    if let Err(e) = gateway.0.admit(&principal) {
        let secs = e.details["retry_after_seconds"].as_u64().unwrap_or(1);
        let resp = HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, secs.to_string()))
            .json(serde_json::json!({"error": {"code": e.code.as_str(), "message": e.message}}));
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let owner = principal.owner_key();
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    if let Some(id) = &session {
        if !shared.admits(id, &owner) {
            tracing::warn!(subject = %principal.subject, "MCP session of another principal refused");
            let resp = HttpResponse::NotFound().json(serde_json::json!({
                "jsonrpc": "2.0", "id": null,
                "error": {"code": -32001, "message": "Session not found"},
            }));
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    let deleting = req.method() == actix_web::http::Method::DELETE;
    req.extensions_mut().insert(principal);
    let res = next.call(req).await?;
    match (&session, res.headers().get(SESSION_HEADER)) {
        (None, Some(created)) => {
            if let Ok(id) = created.to_str() {
                shared.bind(id, &owner);
            }
        }
        (Some(id), _) if deleting && res.status().is_success() => shared.unbind(id),
        _ => {}
    }
    Ok(res.map_into_left_body())
}

/// `401` as RFC 6750 and the MCP authorization specification say: where the metadata is, and
/// `invalid_token` when a token was sent but refused.
fn unauthorized(shared: &Shared, had_token: bool, e: &GatewayError) -> HttpResponse {
    let mut challenge = format!("Bearer resource_metadata=\"{}\"", shared.metadata_url());
    if had_token {
        let why = e.message.replace(['"', '\\'], "'");
        challenge.push_str(&format!(
            ", error=\"invalid_token\", error_description=\"{why}\""
        ));
    }
    HttpResponse::build(StatusCode::UNAUTHORIZED)
        .insert_header((header::WWW_AUTHENTICATE, challenge))
        .json(serde_json::json!({"error": {"code": e.code.as_str(), "message": e.message}}))
}

/// rmcp's `on_request` hook: the principal the guard authenticated goes with the MCP request.
pub(crate) fn carry_principal(req: &HttpRequest, ext: &mut rmcp::model::Extensions) {
    if let Some(p) = req.extensions().get::<Principal>() {
        ext.insert(p.clone());
    }
}
