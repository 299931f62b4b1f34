//! Logging and trace export. Only the binary installs subscribers and the OpenTelemetry SDK;
//! the libraries emit `tracing` spans and events.

use airlock_gateway_config::Telemetry;
use anyhow::Context;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// Flushes and stops trace export; call after the runtime has stopped.
pub struct TelemetryGuard(Option<SdkTracerProvider>);

impl TelemetryGuard {
    pub fn shutdown(self) {
        if let Some(p) = self.0 {
            if let Err(e) = p.shutdown() {
                eprintln!("airlock: flushing traces: {e}");
            }
        }
    }
}

pub fn init(cfg: &Telemetry) -> anyhow::Result<TelemetryGuard> {
    let filter =
        EnvFilter::try_from_env("AIRLOCK_LOG").unwrap_or_else(|_| EnvFilter::new(&cfg.log_filter));
    // OTLP/HTTP (protobuf) export of every span when an endpoint is configured.
    let provider = match &cfg.otlp_endpoint {
        Some(ep) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("{}/v1/traces", ep.trim_end_matches('/')))
                .build()
                .context("building the OTLP exporter")?;
            let resource = opentelemetry_sdk::Resource::builder()
                .with_service_name("airlock")
                .build();
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(resource)
                    .build(),
            )
        }
        None => None,
    };
    let otel = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("airlock")));
    // AIRLOCK_LOG_SPANS=1 also logs each span's duration when it closes (per pipeline step).
    let spans = if std::env::var_os("AIRLOCK_LOG_SPANS").is_some() {
        fmt::format::FmtSpan::CLOSE
    } else {
        fmt::format::FmtSpan::NONE
    };
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    if cfg.log_format == airlock_gateway_config::LogFormat::Json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_span_events(spans)
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        registry
            .with(
                fmt::layer()
                    .with_span_events(spans)
                    .with_writer(std::io::stderr),
            )
            .init();
    }
    if let Some(ep) = &cfg.otlp_endpoint {
        tracing::info!(endpoint = %ep, "exporting traces over OTLP/HTTP");
    }
    Ok(TelemetryGuard(provider))
}
