//! `airlock serve`: wires the adapters to the gateway and runs the HTTP server.

use crate::{commands::load_config, telemetry};
use actix_web::{web, App, HttpServer};
use airlock_gateway_audit::{FileSync, JsonlFileSink};
use airlock_gateway_auth::{Authenticator, DevIssuer, IssuerSettings, KeySource};
use airlock_gateway_config::{Config, FileSyncMode};
use airlock_gateway_core::{Gateway, GatewayDeps, GatewaySettings};
use airlock_gateway_domain::audit::{types, NewEvent};
use airlock_gateway_sandbox_local::{CgroupMode, LocalBackend, LocalBackendConfig};
use airlock_policy::{
    signing::{VerificationKey, Verifier},
    BundleSource, PolicyHolder,
};
use anyhow::Context;
use std::{path::Path, process::ExitCode, sync::Arc, time::Duration};

pub fn run(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut cfg = load_config(config)?;
    let telemetry = telemetry::init(&cfg.telemetry)?;
    // Everything the gateway creates (database, audit file, keys) is private to it.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    std::fs::create_dir_all(&cfg.state.dir)
        .with_context(|| format!("creating {}", cfg.state.dir.display()))?;
    cfg.state.dir = std::fs::canonicalize(&cfg.state.dir)?;
    set_private(&cfg.state.dir);
    let workers = cfg.server.workers;
    let result = actix_web::rt::System::new().block_on(async move { serve(cfg, workers).await });
    telemetry.shutdown();
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Traversable by sandbox uids (their bind sources live below), listable only by the gateway.
fn set_private(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o711));
}

fn policy_holder(cfg: &Config) -> anyhow::Result<Arc<PolicyHolder>> {
    let p = &cfg.policy;
    let source = match (&p.bundle_dir, &p.bundle_file, &p.bundle_url) {
        (Some(d), _, _) => BundleSource::Dir(d.clone()),
        (_, Some(f), _) => BundleSource::Archive(f.clone()),
        (_, _, Some(u)) => BundleSource::Url(u.clone()),
        _ => BundleSource::Embedded,
    };
    let mut keys = vec![];
    for k in &p.signing_keys {
        let material = match (&k.key, &k.key_file) {
            (Some(inline), _) => inline.clone(),
            (_, Some(f)) => std::fs::read_to_string(f)
                .with_context(|| format!("reading policy signing key {}", f.display()))?,
            _ => anyhow::bail!("policy signing key {} has no key", k.key_id),
        };
        keys.push(VerificationKey::new(&k.key_id, &k.algorithm, &material)?);
    }
    let verifier = Verifier {
        required: p.require_signature,
        keys,
    };
    let holder = PolicyHolder::new(
        source,
        verifier,
        Duration::from_millis(p.eval_time_limit_ms),
    );
    // Anti-rollback survives restarts: the newest revision activated is kept beside the state.
    holder.persist_revision_floor(cfg.state.dir.join("policy-revision"));
    Ok(holder)
}

fn issuers(cfg: &Config) -> anyhow::Result<Vec<IssuerSettings>> {
    let mut out = vec![];
    for i in &cfg.auth.issuers {
        out.push(IssuerSettings {
            issuer: i.issuer.clone(),
            audiences: i.audiences.clone(),
            algorithms: i
                .algorithms
                .iter()
                .filter_map(|a| airlock_gateway_auth::parse_algorithm(a))
                .collect(),
            leeway_seconds: i.leeway_seconds,
            claims: i.claims.clone(),
            keys: i
                .jwks_uri
                .clone()
                .map_or(KeySource::Discovery, KeySource::JwksUri),
            cache_ttl: Duration::from_secs(i.jwks_cache_seconds),
            min_refetch: Duration::from_secs(i.min_refetch_seconds),
        });
    }
    if cfg.auth.dev_issuer.enabled {
        let dev = DevIssuer::load_or_create(&cfg.state.dir)?;
        tracing::warn!("the development issuer is enabled: tokens from `airlock token mint` are trusted (loopback only)");
        out.push(dev.settings(&cfg.auth.dev_issuer.audience));
    }
    Ok(out)
}

async fn serve(cfg: Config, workers: usize) -> anyhow::Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();

    let store = Arc::new(
        airlock_gateway_store::SqlStore::connect(&cfg.database_url(), true)
            .await
            .context("opening the state database")?,
    );
    let policy = policy_holder(&cfg)?;
    if let Err(e) = policy.refresh().await {
        // Fail closed: the gateway runs, /readyz says why, and every request is denied.
        tracing::error!(error = %e, "no valid policy bundle; every request is denied until one loads");
    }
    let poller = cfg
        .policy
        .bundle_url
        .as_ref()
        .map(|_| policy.spawn_poller(Duration::from_secs(cfg.policy.poll_seconds)));

    let sink = Arc::new(
        JsonlFileSink::open_with(
            &cfg.audit_file(),
            match cfg.audit.file_sync {
                FileSyncMode::Background => FileSync::Background,
                FileSyncMode::Always => FileSync::EveryAppend,
            },
        )
        .with_context(|| format!("opening {}", cfg.audit_file().display()))?,
    );
    let (audit, relay) = crate::audit_wiring::open(&cfg, store.clone(), vec![sink]).await?;

    let sql_hook = airlock_gateway_egress::SqlHook::default();
    let egress_config = airlock_gateway_egress::ProxyConfig {
        overrides: cfg.egress.resolve_map(),
        wheelhouse: cfg.packages.wheelhouse.clone(),
        mirror: cfg.packages.mirror.clone(),
        http: airlock_gateway_egress::http_client(),
        sql: sql_hook.clone(),
        session_id: None,
    };
    let local = &cfg.sandbox.local;
    let agent_path = match &local.agent_path {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("airlock-agent"),
    };
    let warm_pools = airlock_gateway_config::pool_plans(&cfg.limits, local.pool_size, &local.pools)
        .into_iter()
        .map(|p| airlock_gateway_sandbox_local::PoolClass {
            name: p.name,
            size: p.size,
            limits: p.limits,
        })
        .collect();
    let local_backend =
        || -> anyhow::Result<Arc<dyn airlock_gateway_domain::ports::SandboxBackend>> {
            Ok(Arc::new(LocalBackend::new(
                LocalBackendConfig {
                    state_dir: cfg.state.dir.clone(),
                    agent_path,
                    runtime_dir: local.runtime_dir.clone(),
                    bwrap_path: local.bwrap_path.clone(),
                    setpriv_path: local.setpriv_path.clone(),
                    uid_base: local.uid_base,
                    uid_count: local.uid_count,
                    cgroups: match local.cgroups {
                        airlock_gateway_config::CgroupsMode::BestEffort => CgroupMode::BestEffort,
                        airlock_gateway_config::CgroupsMode::Required => CgroupMode::Required,
                    },
                    instance_id: cfg.server.instance_id.clone(),
                    extra_ro_binds: local.extra_ro_binds.clone(),
                    start_timeout: Duration::from_secs(local.start_timeout_seconds),
                    egress_resolver: egress_config.clone(),
                },
                warm_pools,
            )?))
        };
    let backend = match cfg.sandbox.backend {
        airlock_gateway_config::SandboxBackendKind::Local => local_backend()?,
        airlock_gateway_config::SandboxBackendKind::Kubernetes => {
            crate::kubernetes_wiring::backend(&cfg, egress_config.clone()).await?
        }
    };

    let auth = Arc::new(Authenticator::new(issuers(&cfg)?)?);
    let gateway = Gateway::new(
        GatewaySettings {
            instance_id: cfg.server.instance_id.clone(),
            limits: cfg.limits.clone(),
            session_ttl: Duration::from_secs(cfg.sessions.ttl_seconds),
            idle_timeout: Duration::from_secs(cfg.sessions.idle_timeout_seconds),
            session_caps: airlock_gateway_core::Caps {
                total: cfg.sessions.max_total,
                per_principal: cfg.sessions.max_per_principal,
                per_tenant: cfg.sessions.max_per_tenant,
            },
            running_caps: airlock_gateway_core::Caps {
                total: cfg.executions.max_running_total,
                per_principal: cfg.executions.max_running_per_principal,
                per_tenant: cfg.executions.max_running_per_tenant,
            },
            auditor_groups: cfg.audit.auditor_groups.clone(),
            tenant_auditor_groups: cfg.audit.tenant_auditor_groups.clone(),
            stream_retention: Duration::from_secs(cfg.sessions.stream_retention_seconds),
            rate_per_principal: airlock_gateway_core::RateLimit {
                per_minute: cfg.rate_limits.per_principal_per_minute,
                burst: cfg.rate_limits.per_principal_burst,
            },
            rate_per_tenant: airlock_gateway_core::RateLimit {
                per_minute: cfg.rate_limits.per_tenant_per_minute,
                burst: cfg.rate_limits.per_tenant_burst,
            },
            access_keys: airlock_gateway_core::AccessKeySettings {
                enabled: cfg.access_keys.enabled,
                max_lifetime: Duration::from_secs(u64::from(cfg.access_keys.max_days) * 86_400),
                max_per_principal: cfg.access_keys.max_per_principal,
            },
        },
        GatewayDeps {
            store: store.clone(),
            policy: policy.clone(),
            analyzer: Arc::new(airlock_gateway_analysis::Analyzer),
            backend,
            audit: audit.clone(),
            relay: relay.as_ref().map(|r| r.relay.clone()),
            connectors: crate::connector_wiring::connectors(&cfg)?,
            clock: Arc::new(airlock_gateway_domain::SystemClock),
            ids: Arc::new(airlock_gateway_domain::SystemIds),
            outputs: output_inspection(&cfg)?,
            webhooks: crate::review_wiring::webhooks(&cfg)?,
            bundles: Some(Arc::new(crate::replay_cmd::Compiler)),
        },
    );
    let _ = sql_hook.0.set(gateway.sandbox_sql());
    let lost = gateway
        .recover()
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if lost > 0 {
        tracing::warn!(
            sessions = lost,
            "sessions of the previous process were marked lost"
        );
    }
    audit
        .record(vec![], vec![NewEvent::new(types::GATEWAY_STARTED, None, serde_json::json!({"instance_id": cfg.server.instance_id, "version": env!("CARGO_PKG_VERSION"), "policy": policy.status(), "sessions_marked_lost": lost}))])
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let sweeper = gateway.spawn_sweeper(Duration::from_secs(cfg.sessions.sweep_interval_seconds));
    // The delivery task only where receivers are configured.
    let webhooks =
        (!cfg.review.webhooks.is_empty()).then(|| gateway.spawn_webhooks(Duration::from_secs(1)));

    let state = web::Data::new(airlock_gateway_http::AppState {
        gateway: gateway.clone(),
        auth,
        metrics,
        max_json_bytes: cfg.server.max_json_bytes,
    });
    let addr = cfg.server.addr()?;
    let mcp = mcp_endpoint(&cfg, &gateway, &state.auth);
    let jupyter = jupyter_endpoint(&cfg, &gateway, &state.auth);
    let console = console_endpoint(&cfg, &gateway, &state.auth)?;
    let server = HttpServer::new(move || {
        let app = App::new();
        let app = match &console {
            Some(c) => app.configure(|cfg| c.configure(cfg)),
            None => app,
        };
        let app = match &mcp {
            Some(m) => app.configure(|c| m.configure(c)),
            None => app,
        };
        let app = match &jupyter {
            Some(j) => app.configure(|c| j.configure(c)),
            None => app,
        };
        app.configure(airlock_gateway_http::configure(state.clone()))
    })
    .workers(workers)
    // Responses that stream (SSE: the events API, MCP's answers) are written in several small
    // writes; with Nagle's algorithm each waits for the client's delayed ACK (40 ms on Linux).
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY");
            }
        }
    })
    .shutdown_timeout(cfg.server.shutdown_grace_seconds)
    // The gateway takes the signals itself: the sweeper must stop before the HTTP workers do
    // (their runtimes hold tasks of the sandboxes they started; a sweep in between would
    // record those sessions as died instead of ended by the shutdown).
    .disable_signals()
    .bind(addr)
    .with_context(|| format!("binding {addr}"))?;
    eprintln!("airlock: listening on http://{addr}");
    tracing::info!(%addr, instance = %cfg.server.instance_id, "gateway serving");
    let server = server.run();
    let on_signal = stop_on_signal(server.handle(), sweeper.abort_handle());
    server.await?;
    on_signal.abort();
    tracing::info!("shutting down: destroying sandboxes");
    sweeper.abort();
    if let Some(w) = webhooks {
        w.abort();
    }
    if let Some(p) = poller {
        p.abort();
    }
    gateway.shutdown().await;
    if let Some(r) = relay {
        r.drain(Duration::from_secs(cfg.server.shutdown_grace_seconds))
            .await;
    }
    store.close().await;
    Ok(())
}

/// On SIGTERM or SIGINT: the sweeper stops, then the HTTP server stops gracefully.
fn stop_on_signal(
    server: actix_web::dev::ServerHandle,
    sweeper: tokio::task::AbortHandle,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "no SIGTERM handler; stop with SIGINT");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = term => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("signal received: stopping the sweeper, then the HTTP server");
        sweeper.abort();
        server.stop(true).await;
    })
}

/// The built-in detectors and the operator's named ones (`[outputs] detectors`).
fn output_inspection(cfg: &Config) -> anyhow::Result<airlock_gateway_core::OutputInspection> {
    let named: Vec<airlock_gateway_core::NamedDetector> = cfg
        .outputs
        .detectors
        .iter()
        .map(|d| airlock_gateway_core::NamedDetector {
            name: d.name.clone(),
            pattern: d.pattern.clone(),
        })
        .collect();
    Ok(airlock_gateway_core::OutputInspection::new(&named)?)
}

/// `/mcp`, unless `[mcp] enabled = false`: the tokens of the configured issuers (and the
/// development issuer's) are its authorization servers.
fn mcp_endpoint(
    cfg: &Config,
    gateway: &Arc<Gateway>,
    auth: &Arc<Authenticator>,
) -> Option<airlock_gateway_mcp::Mcp> {
    cfg.mcp.enabled.then(|| {
        airlock_gateway_mcp::Mcp::new(
            gateway.clone(),
            auth.clone(),
            airlock_gateway_mcp::McpSettings {
                resource: cfg.mcp.resource_for(&cfg.server.listen),
                authorization_servers: auth.issuer_names(),
                allowed_hosts: cfg.mcp.hosts_for(&cfg.server.listen),
            },
        )
    })
}

/// The web console at `/console`, unless `[console] enabled = false`; people sign in at the
/// configured issuer, or with the development issuer's local page.
fn console_endpoint(
    cfg: &Config,
    gateway: &Arc<Gateway>,
    auth: &Arc<Authenticator>,
) -> anyhow::Result<Option<Arc<airlock_gateway_console::Console>>> {
    use airlock_gateway_console::{Console, ConsoleSettings, SignIn};
    if !cfg.console.enabled {
        return Ok(None);
    }
    let c = &cfg.console;
    let sign_in = match c.sign_in(&cfg.auth.issuer_names(), cfg.auth.dev_issuer.enabled) {
        airlock_gateway_config::SignIn::Oidc { issuer, client_id } => SignIn::Oidc(
            airlock_gateway_auth::CodeFlow::new(airlock_gateway_auth::CodeFlowSettings {
                issuer,
                client_id,
                client_secret: c.client_secret.clone(),
                scopes: c.scopes.clone(),
                resource: c.resource.clone(),
            })
            .map(Box::new)?,
        ),
        airlock_gateway_config::SignIn::DevIssuer => SignIn::Dev {
            issuer: Arc::new(DevIssuer::load_or_create(&cfg.state.dir)?),
            audience: cfg.auth.dev_issuer.audience.clone(),
        },
        airlock_gateway_config::SignIn::Unconfigured => SignIn::Unconfigured,
    };
    Ok(Some(Arc::new(Console::new(
        gateway.clone(),
        auth.clone(),
        sign_in,
        ConsoleSettings {
            public_url: c.public_url.clone(),
            session_ttl: Duration::from_secs(u64::from(c.session_minutes) * 60),
            max_sessions: c.max_sessions,
        },
    ))))
}

/// The Jupyter kernel gateway API under `[jupyter] base_path`, unless `enabled = false`.
fn jupyter_endpoint(
    cfg: &Config,
    gateway: &Arc<Gateway>,
    auth: &Arc<Authenticator>,
) -> Option<airlock_gateway_jupyter::Jupyter> {
    cfg.jupyter.enabled.then(|| {
        airlock_gateway_jupyter::Jupyter::new(
            gateway.clone(),
            auth.clone(),
            airlock_gateway_jupyter::JupyterSettings {
                base_path: cfg.jupyter.base_path.clone(),
                allow_query_token: cfg.jupyter.allow_query_token,
                max_message_bytes: cfg.jupyter.max_message_bytes,
            },
        )
    })
}
