//! The gateway's own logs and metrics.

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tracegate_pipeline::config::{LogFormat, TelemetryConfig};
use tracing_subscriber::EnvFilter;

/// Structured logs on stderr: JSON unless stderr is a terminal (or as configured).
/// `RUST_LOG` overrides the configured level.
pub fn init_logs(config: &TelemetryConfig) -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .with_context(|| {
            format!(
                "service.telemetry.log_level: invalid filter {:?}",
                config.log_level
            )
        })?;
    let json = match config.log_format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

/// Installs the Prometheus recorder and serves `/metrics` and `/healthz` on `address`.
/// Cancel the returned token to stop serving.
pub async fn serve_metrics(address: SocketAddr) -> anyhow::Result<CancellationToken> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    tracegate_pipeline::telemetry::describe();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {address} for /metrics; free the port or set \
             service.telemetry.metrics_address"
            )
        })?;
    let stop = CancellationToken::new();
    let app = Router::new()
        .route("/metrics", get(move || render(handle.clone())))
        .route("/healthz", get(|| async { "ok" }));
    let until = stop.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { until.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "metrics server failed");
        }
    });
    tracing::info!(%address, "serving /metrics and /healthz");
    Ok(stop)
}

async fn render(handle: PrometheusHandle) -> String {
    handle.render()
}
