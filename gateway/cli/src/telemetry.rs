//! Logging setup (only the binary installs subscribers; libraries emit tracing events).

use airlock_gateway_config::Telemetry;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

pub fn init(cfg: &Telemetry) {
    let filter =
        EnvFilter::try_from_env("AIRLOCK_LOG").unwrap_or_else(|_| EnvFilter::new(&cfg.log_filter));
    let registry = tracing_subscriber::registry().with(filter);
    if cfg.log_format == "json" {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init();
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init();
    }
    if let Some(ep) = &cfg.otlp_endpoint {
        tracing::warn!(endpoint = %ep, "OTLP export is configured but not built into this version; spans are logged only");
    }
}
