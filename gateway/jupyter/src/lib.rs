//! Airlock as a Jupyter kernel gateway: the REST API and kernel websocket that Jupyter
//! Server's gateway client (`--gateway-url`), Jupyter Kernel Gateway's clients and chat tools'
//! Jupyter executors speak, mounted under `[jupyter] base_path`. A kernel is an Airlock session
//! of the caller; every `execute_request` is an execution through the same pipeline as
//! `POST /v1/sessions/{id}/executions` (policy, review, connectors, limits, audit), its output
//! streamed to iopub as it is printed.
//!
//! ```text
//! request ─ auth.rs      Authorization: Bearer|token <OIDC token | access key> (?token= if allowed)
//!         ─ rest.rs      /api, /api/kernelspecs, /api/kernels (+ interrupt, restart)
//!         ─ channels.rs  /api/kernels/{id}/channels: the websocket (actix-ws), one task per
//!                        connection reading frames, shell requests in order, control at once
//!         ─ shell.rs     kernel_info, execute (execute.rs), and what is refused
//!         ─ wire.rs      messaging protocol v5 frames
//! ```
//!
//! actix-ws (from the actix-extras project) is the websocket: it runs on the actix-web server
//! the rest of the gateway uses, without actors, with limits on frame and message size.

mod auth;
mod channels;
mod error;
mod execute;
mod kernels;
mod rest;
mod shell;
mod wire;

use actix_web::web;
use airlock_gateway_auth::Authenticator;
use airlock_gateway_core::Gateway;
use std::sync::Arc;

/// Where the API is mounted and what it accepts.
#[derive(Clone, Debug)]
pub struct JupyterSettings {
    pub base_path: String,
    pub allow_query_token: bool,
    pub max_message_bytes: usize,
}

/// The kernel gateway API of one gateway: build once, mount in every worker's `App`.
#[derive(Clone)]
pub struct Jupyter {
    shared: Arc<Shared>,
}

/// What every handler and connection shares.
pub(crate) struct Shared {
    pub gateway: Arc<Gateway>,
    pub auth: Arc<Authenticator>,
    pub settings: JupyterSettings,
    pub kernels: kernels::KernelTable,
}

impl Jupyter {
    pub fn new(gateway: Arc<Gateway>, auth: Arc<Authenticator>, settings: JupyterSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                gateway,
                auth,
                settings,
                kernels: kernels::KernelTable::default(),
            }),
        }
    }

    /// Registers the API under the base path.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let shared = web::Data::from(self.shared.clone());
        cfg.service(
            web::scope(&self.shared.settings.base_path)
                .app_data(shared)
                .configure(rest::routes)
                .route(
                    "/api/kernels/{id}/channels",
                    web::get().to(channels::connect),
                ),
        );
    }
}
