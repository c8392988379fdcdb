//! The OTLP exporter: sends spans to an OTLP/gRPC endpoint (Grafana Tempo or any OTLP
//! backend) from a bounded queue, with retries.
//!
//! The queue lives on disk by default (`sending_queue.storage: disk`), in the exporter's
//! state directory under the write-ahead log: a batch is durable once it is there, an outage
//! of the endpoint loses nothing that fits in `sending_queue.max_bytes` (beyond it the oldest
//! batches are dropped and counted), and after a restart or a crash delivery resumes, in
//! order, where it stopped. With the log off, or `storage: memory`, it is a queue of
//! `queue_size` batches in memory. See [`SendingQueueConfig`] for what survives what.
//!
//! - `config.rs`: [`OtlpExporterConfig`];
//! - `exporter.rs`: [`OtlpExporter`]: the stages, the two queues, start and shutdown;
//! - `sender.rs`: the sender tasks and the retry loop;
//! - `connect.rs`: the TLS connector (`tls:` or an `https://` endpoint);
//! - `disk_queue/`: the queue on disk (segment files, the cursor, recovery, the bound);
//! - `service.rs`: one export attempt and the classification of its result.

mod config;
mod connect;
mod disk_queue;
// The Vector layout names the run loop `exporter.rs`, inside `exporter/`.
#[allow(clippy::module_inception)]
mod exporter;
mod sender;
pub(crate) mod service;
#[cfg(test)]
mod tests;

pub use config::{
    Compression, OtlpExporterConfig, QueueStorage, RetryConfig, SendingQueueConfig, grpc_endpoint,
    grpc_metadata,
};
pub use connect::{CONNECT_FAILURES_TOTAL, describe};
pub use exporter::OtlpExporter;
pub use service::is_retryable;

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
        if resolved.tls.as_ref().is_some_and(|tls| tls.is_insecure()) {
            tracing::warn!(
                exporter = %id,
                "tls.insecure_skip_verify is on: the endpoint's certificate is not verified, \
                 so anyone on the network path can read and change the spans sent; use it for \
                 tests only"
            );
        }
        Ok(Self::new(id.to_string(), resolved))
    }
}
