//! OTLP metrics export (stub: being written).

use crate::MetricsRegistry;

/// `metrics.otlp` (stub).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct OtlpMetricsConfig {
    /// Where to push.
    pub endpoint: String,
}

impl OtlpMetricsConfig {
    /// Checks the config.
    pub fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The exporter (stub).
#[derive(Debug)]
pub struct OtlpMetricsExporter {}

impl OtlpMetricsExporter {
    /// Builds it.
    pub fn new(_config: OtlpMetricsConfig, _registry: MetricsRegistry) -> Result<Self, String> {
        Ok(Self {})
    }

    /// Pushes until `shutdown`.
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        shutdown.cancelled().await;
    }
}
