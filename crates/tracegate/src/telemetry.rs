//! The gateway's own logs and metrics.

use anyhow::Context as _;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::io::IsTerminal;
use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;
use tracegate_pipeline::config::{LogFormat, TelemetryConfig};
use tracegate_pipeline::health::{Health, Report, Status};
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

/// Installs the Prometheus recorder and serves `/metrics`, `/healthz` and `/readyz` on
/// `address`, the latter two from `health`. Cancel the returned token to stop serving.
pub async fn serve_metrics(
    address: SocketAddr,
    health: Health,
    tls: Option<&tracegate_tls::TlsServerConfig>,
) -> anyhow::Result<CancellationToken> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    tracegate_pipeline::telemetry::describe();
    tracegate_metrics::telemetry::describe();
    tracegate_scores::telemetry::describe();
    tracegate_tls::describe();
    tracegate_otlp::exporter::describe();
    tracegate_auth::describe();
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {address} for /metrics; free the port or set \
             service.telemetry.metrics_address"
            )
        })?;
    let stop = CancellationToken::new();
    let tls = crate::tls::acceptor("service.telemetry", tls, false, &listener, &stop)?;
    let healthz = health.clone();
    let app = Router::new()
        .route("/metrics", get(move || render(handle.clone())))
        .route(
            "/healthz",
            get(move || probe(healthz.clone(), Probe::Health)),
        )
        .route("/readyz", get(move || probe(health.clone(), Probe::Ready)));
    tokio::spawn(tracegate_tls::serve_router(
        listener,
        app,
        tls,
        crate::tls::MAX_CONNECTIONS,
        stop.clone(),
    ));
    tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    Ok(stop)
}

async fn render(handle: PrometheusHandle) -> String {
    handle.render()
}

/// Which probe is asked.
#[derive(Debug, Clone, Copy)]
enum Probe {
    /// `/healthz` (liveness): fails only when a component failed and a restart is needed.
    Health,
    /// `/readyz` (readiness): fails while starting, draining, or failed.
    Ready,
}

async fn probe(health: Health, probe: Probe) -> Response {
    let (status, body) = probe_response(&health.report(), probe);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The status and JSON body of a probe: `/healthz` is 200 when the gateway is `ok` or
/// `degraded` and 503 when a component failed; `/readyz` is 200 only when the gateway takes
/// traffic and nothing failed.
fn probe_response(report: &Report, probe: Probe) -> (StatusCode, String) {
    let failed = report.status == Status::Failed;
    let up = match probe {
        Probe::Health => !failed,
        Probe::Ready => report.ready && !failed,
    };
    let body = serde_json::to_string(report)
        .unwrap_or_else(|e| format!("{{\"error\":\"cannot render the health report: {e}\"}}"));
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_follow_health_and_readiness() {
        let health = Health::default();
        let code = |p| probe_response(&health.report(), p).0;
        // Starting: alive but not ready.
        assert_eq!(code(Probe::Health), StatusCode::OK);
        assert_eq!(code(Probe::Ready), StatusCode::SERVICE_UNAVAILABLE);
        health.set_ready(true);
        assert_eq!(code(Probe::Ready), StatusCode::OK);
        // Degraded: still alive and ready, and the body says why.
        health.degraded("exporter/archive", "stalled");
        assert_eq!(code(Probe::Health), StatusCode::OK);
        assert_eq!(code(Probe::Ready), StatusCode::OK);
        let (_, body) = probe_response(&health.report(), Probe::Health);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["status"], "degraded");
        assert_eq!(json["components"][0]["component"], "exporter/archive");
        // A failed component: neither.
        health.failed("pipeline/traces", "panicked: boom");
        assert_eq!(code(Probe::Health), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(code(Probe::Ready), StatusCode::SERVICE_UNAVAILABLE);
        let (_, body) = probe_response(&health.report(), Probe::Health);
        assert!(body.contains(r#""status":"failed""#), "{body}");
    }
}
