//! One MCP session: its Airlock session (opened on first use, ended with the MCP session),
//! the caller of each request (the principal the guard authenticated, with the MCP client and
//! session named for the audit trail), and the dispatch of `tools/call`.

use crate::{files, run, tools};
use airlock_gateway_core::Gateway;
use airlock_gateway_domain::{Channel, GatewayError, Principal, SessionId, SessionStatus};
use rmcp::{
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
        PaginatedRequestParams, ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    ErrorData as McpError, RoleServer, ServerHandler,
};
use rmcp_actix_web::transport::on_request_extensions;
use std::sync::{Arc, Mutex};

/// The Airlock session of one MCP session; ended when the MCP session goes (deleted, expired
/// or its transport closed), whoever holds the last reference.
struct Slot {
    gateway: Arc<Gateway>,
    current: Mutex<Option<(SessionId, Principal)>>,
}

impl Slot {
    fn take(&self) -> Option<(SessionId, Principal)> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some((id, owner)) = self.take() else {
            return;
        };
        let gateway = self.gateway.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = gateway.delete_session(&owner, &id).await {
                    tracing::info!(session = %id, error = %e, "ending an MCP session's sandbox session");
                }
            });
        }
    }
}

#[derive(Clone)]
pub struct AirlockMcp {
    gateway: Arc<Gateway>,
    slot: Arc<Slot>,
}

impl AirlockMcp {
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            slot: Arc::new(Slot {
                gateway: gateway.clone(),
                current: Mutex::new(None),
            }),
            gateway,
        }
    }

    /// The Airlock session to use: the current one while it is active, else a new one.
    pub(crate) async fn session(&self, p: &Principal) -> Result<SessionId, GatewayError> {
        let current = self
            .slot
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some((id, owner)) = current {
            if owner.owner_key() == p.owner_key() {
                if let Ok(s) = self.gateway.get_session(p, &id).await {
                    if s.status == SessionStatus::Active {
                        return Ok(id);
                    }
                }
            }
        }
        let s = self.gateway.create_session(p).await?;
        *self.slot.current.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((s.id.clone(), p.clone()));
        Ok(s.id)
    }

    /// Ends the current Airlock session, if any; returns its id.
    pub(crate) async fn end(&self, p: &Principal) -> Result<Option<SessionId>, GatewayError> {
        let Some((id, _)) = self.slot.take() else {
            return Ok(None);
        };
        match self.gateway.delete_session(p, &id).await {
            Ok(_) => Ok(Some(id)),
            Err(e) if e.code == airlock_gateway_domain::ErrorCode::SessionNotFound => Ok(Some(id)),
            Err(e) => Err(e),
        }
    }

    pub(crate) fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }
}

/// The caller of a request: the guard's principal, with the channel it came through.
fn caller(ctx: &RequestContext<RoleServer>) -> Result<Principal, McpError> {
    let mut p = on_request_extensions(&ctx.extensions)
        .and_then(|e| e.get::<Principal>())
        .cloned()
        .ok_or_else(|| McpError::internal_error("the request was not authenticated", None))?;
    let client = ctx.peer.peer_info().map(|i| {
        let c = &i.client_info;
        format!("{}/{}", c.name, c.version)
    });
    let session = ctx
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.headers.get("mcp-session-id"))
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    p.via = Some(Channel {
        protocol: "mcp".into(),
        client,
        session,
        key: None,
    });
    Ok(p)
}

impl ServerHandler for AirlockMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("airlock", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Airlock runs your code in a governed sandbox. Use execute_code to run Python; \
                 when policy denies it, read the violations and hints and rewrite. Held work \
                 returns a review case: follow it with review_status.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let p = caller(&ctx)?;
        let args = serde_json::Value::Object(request.arguments.unwrap_or_default());
        let result: CallToolResult = match request.name.as_ref() {
            "execute_code" => run::execute_code(self, &p, parse(args)?, &ctx).await,
            "query_warehouse" => run::query_warehouse(self, &p, parse(args)?, &ctx).await,
            "upload_file" => files::upload(self, &p, parse(args)?).await,
            "list_files" => {
                parse::<tools::NoArguments>(args)?;
                files::list(self, &p).await
            }
            "read_file" => files::read(self, &p, parse(args)?).await,
            "review_status" => files::review_status(self, &p, parse(args)?).await,
            "new_session" => {
                parse::<tools::NoArguments>(args)?;
                files::new_session(self, &p).await
            }
            "end_session" => {
                parse::<tools::NoArguments>(args)?;
                files::end_session(self, &p).await
            }
            other => {
                return Err(McpError::invalid_params(
                    format!("no tool named {other:?}"),
                    None,
                ))
            }
        };
        Ok(result.into())
    }
}

/// A tool's arguments, or JSON-RPC `invalid params` naming what is wrong.
fn parse<T: serde::de::DeserializeOwned>(args: serde_json::Value) -> Result<T, McpError> {
    serde_json::from_value(args)
        .map_err(|e| McpError::invalid_params(format!("invalid arguments: {e}"), None))
}
