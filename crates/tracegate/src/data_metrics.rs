//! The data metrics' place in `tracegate run`: the `metrics:` section, checked with the rest
//! of the config, and what serves the `span_metrics` and `alerts` processors' results:
//! - the Prometheus scrape endpoint (`metrics.prometheus`, `:8889` in the default config),
//!   which also lists the alerts (`/api/v1/alerts`, `/api/v1/rules`);
//! - the OTLP metrics exporter (`metrics.otlp`);
//! - each `alerts` processor's evaluation and notification loop, which runs whether or not
//!   anything is served.
//!
//! The processors leave their handles in the [`MetricsRegistry`] while the config resolves;
//! [`DataMetrics::start`] reads it once.

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracegate_metrics::MetricsRegistry;
use tracegate_metrics::config::MetricsConfig;
use tracegate_metrics::otlp::OtlpMetricsExporter;
use tracegate_pipeline::config::{ConfigError, RawConfig, parse_section};

/// Reads and checks the `metrics:` section of `raw` (absent: nothing served).
pub fn setup(raw: &RawConfig) -> Result<MetricsConfig, Vec<ConfigError>> {
    if raw.metrics.is_null() {
        return Ok(MetricsConfig::default());
    }
    let config: MetricsConfig =
        parse_section("metrics", raw.metrics.clone()).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    if let Some(p) = &config.prometheus
        && let Err(message) = p.validate()
    {
        errors.push(ConfigError::new("metrics.prometheus", message));
    }
    if let Some(tls) = config.prometheus.as_ref().and_then(|p| p.tls.as_ref()) {
        errors.extend(tls.validate("metrics.prometheus.tls"));
    }
    if let Some(o) = &config.otlp
        && let Err(e) = o.validate("metrics.otlp")
    {
        errors.push(e);
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// The running endpoints and loops.
#[derive(Debug)]
pub struct DataMetrics {
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

impl DataMetrics {
    /// Binds the scrape endpoint (so a taken port fails before the pipelines start), then
    /// starts the server, the OTLP exporter and every alert engine's loop.
    pub async fn start(config: MetricsConfig, registry: &MetricsRegistry) -> anyhow::Result<Self> {
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(prometheus) = config.prometheus {
            let listener = TcpListener::bind(&prometheus.endpoint)
                .await
                .with_context(|| {
                    format!(
                        "cannot listen on {} for the metrics endpoint: set \
                     metrics.prometheus.endpoint (or TRACEGATE_PROMETHEUS_ADDRESS in the \
                     default config) to a free address",
                        prometheus.endpoint
                    )
                })?;
            tracing::info!(
                endpoint = %prometheus.endpoint,
                sources = registry.sources().len(),
                alert_engines = registry.alerts().len(),
                "data metrics endpoint (Prometheus /metrics, /api/v1/alerts) listening"
            );
            let tls = crate::tls::acceptor(
                "metrics.prometheus",
                prometheus.tls.as_ref(),
                false,
                &listener,
                &stop,
            )?;
            let app = tracegate_metrics::server::router(
                registry.clone(),
                prometheus.max_concurrent_scrapes,
            );
            tasks.push(tokio::spawn(tracegate_tls::serve_router(
                listener,
                app,
                tls,
                crate::tls::MAX_CONNECTIONS,
                stop.clone(),
            )));
        }
        if let Some(otlp) = config.otlp {
            let endpoint = otlp.endpoint.clone();
            let exporter = OtlpMetricsExporter::new(otlp, registry.clone())
                .map_err(|e| anyhow::anyhow!("metrics.otlp: {e}"))?;
            tracing::info!(%endpoint, "OTLP metrics exporter pushing");
            tasks.push(tokio::spawn(exporter.run(stop.clone())));
        }
        for (id, alerts) in registry.alerts() {
            tracing::debug!(%id, "alert engine evaluating");
            tasks.push(tokio::spawn(alerts.run(stop.clone())));
        }
        Ok(Self { tasks, stop })
    }

    /// Stops: a last OTLP push (bounded by its own timeout) and the endpoint's requests in
    /// flight finish first, all within one 15 s deadline.
    pub async fn stop(self) {
        self.stop.cancel();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        for task in self.tasks {
            let _ = tokio::time::timeout_at(deadline, task).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        let text = format!("receivers: {{}}\nservice: {{ pipelines: {{}} }}\n{yaml}");
        let raw = RawConfig::parse_with_env(&text, &|_| None).unwrap();
        match setup(&raw) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn the_section_is_optional_and_parsed() {
        assert!(errors("").is_empty());
        assert!(errors("metrics: { prometheus: { endpoint: 127.0.0.1:8889 } }").is_empty());
        let raw = RawConfig::parse_with_env(
            "service: { pipelines: {} }\nmetrics: { otlp: { endpoint: http://c:4317, temporality: delta } }",
            &|_| None,
        )
        .unwrap();
        let config = setup(&raw).unwrap();
        assert!(config.prometheus.is_none());
        assert_eq!(
            config.otlp.map(|o| o.temporality),
            Some(tracegate_metrics::otlp::Temporality::Delta)
        );
    }

    #[test]
    fn errors_name_their_key_path() {
        let e = errors("metrics: { prometheus: { endpointt: 1 } }");
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("metrics.prometheus"), "{e:?}");
        assert!(e[0].contains("endpointt"), "{e:?}");
        let e = errors("metrics: { prometheus: { endpoint: nowhere } }");
        assert!(
            e[0].starts_with("metrics.prometheus") && e[0].contains("host:port"),
            "{e:?}"
        );
        let e = errors("metrics: { otlp: { endpoint: '' } }");
        assert!(e[0].starts_with("metrics.otlp.endpoint"), "{e:?}");
    }
}
