//! The top-level `metrics:` section: where the data metrics of the `span_metrics` and `alerts`
//! processors are served.
//!
//! ```yaml
//! metrics:
//!   prometheus:
//!     endpoint: 0.0.0.0:8889      # /metrics, /api/v1/alerts, /api/v1/rules
//!   otlp:                         # optional: push to any OTLP/gRPC metrics backend
//!     endpoint: http://otel-collector:4317
//!     temporality: cumulative     # or delta
//!     interval: 30s
//! ```
//!
//! The gateway's own telemetry (`service.telemetry.metrics_address`, `:8888` by default) is a
//! separate endpoint, as in the OTel Collector: scraping one never mixes in the other.

use serde::Deserialize;

/// The `metrics:` section. Without it (or with both parts absent) nothing is served, though
/// the processors still compute and the alerts still fire.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// The Prometheus scrape endpoint.
    #[serde(default)]
    pub prometheus: Option<PrometheusConfig>,
    /// The OTLP metrics exporter.
    #[serde(default)]
    pub otlp: Option<crate::otlp::OtlpMetricsConfig>,
}

/// `metrics.prometheus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusConfig {
    /// `host:port` to listen on.
    pub endpoint: String,
    /// Scrapes served at once; more get 429 (Prometheus retries at its next interval).
    #[serde(default = "default_max_concurrent_scrapes")]
    pub max_concurrent_scrapes: usize,
    /// Serve HTTPS (mTLS with `client_ca_file`) instead of plaintext HTTP; see
    /// [`tracegate_tls::TlsServerConfig`]. Default: none.
    #[serde(default)]
    pub tls: Option<tracegate_tls::TlsServerConfig>,
}

fn default_max_concurrent_scrapes() -> usize {
    4
}

impl PrometheusConfig {
    /// Checks what serde cannot: the endpoint is `host:port`.
    pub fn validate(&self) -> Result<(), String> {
        let ok = self
            .endpoint
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !ok {
            return Err(format!(
                "endpoint {:?} is not host:port (for example 0.0.0.0:8889)",
                self.endpoint
            ));
        }
        if self.max_concurrent_scrapes == 0 {
            return Err("max_concurrent_scrapes must be at least 1".to_owned());
        }
        Ok(())
    }
}
