//! The OTLP exporter: sends spans to an OTLP/gRPC endpoint (Grafana Tempo or any OTLP
//! backend) from a bounded queue, with retries.
//!
//! - `config.rs`: [`OtlpExporterConfig`];
//! - `exporter.rs`: [`OtlpExporter`], its queue and sender tasks, and the retry loop;
//! - `service.rs`: one export attempt and the classification of its result.

mod config;
mod disk_queue;
// The Vector layout names the run loop `exporter.rs`, inside `exporter/`.
#[allow(clippy::module_inception)]
mod exporter;
pub(crate) mod service;
#[cfg(test)]
mod tests;

pub use config::{Compression, OtlpExporterConfig, RetryConfig, SendingQueueConfig};
pub use exporter::OtlpExporter;

use serde_yaml_ng::Value;
use tracegate_pipeline::{BuildContext, ComponentId, ConfigError, Exporter, ExporterFactory};

/// Builds [`OtlpExporter`]s for `exporters.otlp` and `exporters.otlp/NAME`.
#[derive(Debug, Clone, Copy, Default)]
pub struct OtlpExporterFactory;

impl ExporterFactory for OtlpExporterFactory {
    fn type_name(&self) -> &'static str {
        "otlp"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: Value,
        _ctx: &BuildContext,
    ) -> Result<Box<dyn Exporter>, ConfigError> {
        let path = format!("exporters.{id}");
        let config = OtlpExporterConfig::from_section(&path, config)?;
        Ok(Box::new(OtlpExporter::from_config(id, &config)?))
    }
}

impl OtlpExporter {
    /// An exporter with this config. Connects nothing until the first export; needs a Tokio
    /// runtime from then on.
    pub fn from_config(id: &ComponentId, config: &OtlpExporterConfig) -> Result<Self, ConfigError> {
        let resolved = config.resolve(&format!("exporters.{id}"))?;
        Ok(Self::new(id.to_string(), resolved))
    }
}
