//! Airlock as a Model Context Protocol server: `/mcp` on the Streamable HTTP transport of the
//! official Rust SDK (`rmcp`, mounted on actix-web by `rmcp-actix-web`), behind the same OIDC
//! tokens, policy, review and audit as the REST API. The tools call the same core with the
//! caller's identity, so MCP can do exactly what the API would let that caller do.
//!
//! ```text
//! request ─ guard.rs     bearer token (401 + resource metadata), MCP session bound to its owner
//!         ─ rmcp         JSON-RPC, sessions, SSE
//!         ─ server.rs    initialize, tools/list, tools/call → tools.rs (schemas)
//!                        run.rs (execute_code, query_warehouse: progress, cancel)
//!                        files.rs, reply.rs (results as MCP content)
//! /.well-known/oauth-protected-resource ─ metadata.rs (RFC 9728)
//! ```

mod files;
mod guard;
mod metadata;
mod reply;
mod run;
mod server;
mod tools;

use actix_web::web;
use airlock_gateway_auth::Authenticator;
use airlock_gateway_core::Gateway;
use rmcp_actix_web::transport::{LocalSessionManager, StreamableHttpService};
use std::sync::Arc;

pub use metadata::ResourceMetadata;

/// Where the MCP server is and who issues its tokens.
#[derive(Clone, Debug)]
pub struct McpSettings {
    /// This resource's URL as clients reach it (`https://airlock.example.com/mcp`).
    pub resource: String,
    /// Issuers whose tokens are accepted (the authorization servers of the metadata).
    pub authorization_servers: Vec<String>,
    /// `Host` values accepted (DNS rebinding protection); loopback only when empty.
    pub allowed_hosts: Vec<String>,
}

/// The MCP endpoint of one gateway: build once, mount in every worker's `App`.
#[derive(Clone)]
pub struct Mcp {
    http: StreamableHttpService<server::AirlockMcp, LocalSessionManager>,
    shared: Arc<guard::Shared>,
    gateway: Arc<guard::GatewayRef>,
}

impl Mcp {
    pub fn new(gateway: Arc<Gateway>, auth: Arc<Authenticator>, settings: McpSettings) -> Self {
        let shared = Arc::new(guard::Shared::new(auth, &settings));
        let factory_gateway = gateway.clone();
        let gateway_ref = Arc::new(guard::GatewayRef(gateway));
        let mut hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "[::1]".to_owned(),
        ];
        hosts.extend(settings.allowed_hosts.iter().cloned());
        let http = StreamableHttpService::builder()
            .service_factory(Arc::new(move || {
                Ok(server::AirlockMcp::new(factory_gateway.clone()))
            }))
            .session_manager(Arc::new(LocalSessionManager::default()))
            .stateful_mode(true)
            .sse_keep_alive(std::time::Duration::from_secs(15))
            .allowed_hosts(hosts)
            .on_request_fn(guard::carry_principal)
            .build();
        Self {
            http,
            shared,
            gateway: gateway_ref,
        }
    }

    /// Registers `/mcp` and the protected-resource metadata.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let shared = web::Data::from(self.shared.clone());
        cfg.app_data(shared.clone())
            .app_data(web::Data::from(self.gateway.clone()))
            .service(metadata::routes())
            .service(
                self.http
                    .clone()
                    .scope_with_path("/mcp")
                    .wrap(actix_web::middleware::from_fn(guard::authenticate)),
            );
    }
}
