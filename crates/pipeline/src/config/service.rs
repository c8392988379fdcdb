//! The `service` section: pipelines and the gateway's own settings, with the limits serde
//! cannot check.

use super::wal::WalConfig;
use super::{ByteSize, ConfigError, Duration};
use crate::queue;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The `service` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Pipelines by id. Only the `traces` type (`traces` or `traces/NAME`) exists.
    pub pipelines: BTreeMap<String, PipelineConfig>,
    /// Internal logs and metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Batches each queue holds at most: each pipeline's input, each assembly shard's input,
    /// the trace stage's input and each exporter's input. Default 64.
    #[serde(default = "default_queue_size")]
    pub queue_size: usize,
    /// Estimated bytes each of those queues holds at most, whatever the number of batches
    /// (spans are weighed by their decoded size). A batch larger than this still passes, alone.
    /// The worst case of queued memory is about this times the number of queues. Default 64MiB.
    #[serde(default = "default_queue_max_bytes")]
    pub queue_max_bytes: ByteSize,
    /// How long a receiver waits for room in a full pipeline before refusing with a
    /// retryable status. Default 200ms.
    #[serde(default = "default_refuse_after")]
    pub refuse_after: Duration,
    /// The one shutdown deadline, started by SIGINT/SIGTERM: stopping the receivers, draining
    /// the pipelines and flushing the exporters must all fit in it. What is still queued or
    /// buffered when it passes is counted in `tracegate_shutdown_unflushed_spans_total` and
    /// dropped, and the gateway exits with an error. Default 30s.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: Duration,
    /// How long an exporter's queue may have no room before the exporter counts as stalled:
    /// `/healthz` reports it degraded. With the WAL on (the default) nothing acknowledged is
    /// dropped for it: the pipeline keeps waiting and the receivers refuse new data with
    /// retryable statuses, so give exporters that must not hold the others back a disk queue
    /// (the OTLP exporter's `sending_queue`). With the WAL off, payloads for a stalled exporter
    /// are dropped and counted (`tracegate_exporter_failed_spans_total{error_type="stalled"}`)
    /// until its queue has room again, and the other exporters go on at full speed.
    /// Default 10s.
    #[serde(default = "default_exporter_stall_timeout")]
    pub exporter_stall_timeout: Duration,
    /// The write-ahead log: on by default, in `./data/wal`.
    #[serde(default)]
    pub wal: WalConfig,
    /// Multi-tenancy, as Tempo's `multitenancy_enabled`. On: every OTLP request must name its
    /// tenant in the `X-Scope-OrgID` header (gRPC metadata `x-scope-orgid`), or it is refused
    /// with `UNAUTHENTICATED` / HTTP 401; the hot store keeps each tenant's traces apart, and
    /// the query API answers a request only with the data of the tenant its own
    /// `X-Scope-OrgID` names. Off (the default): the header is ignored and everything belongs
    /// to the tenant `single-tenant`.
    #[serde(default)]
    pub multitenancy_enabled: bool,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            pipelines: BTreeMap::new(),
            telemetry: TelemetryConfig::default(),
            queue_size: default_queue_size(),
            queue_max_bytes: default_queue_max_bytes(),
            refuse_after: default_refuse_after(),
            shutdown_timeout: default_shutdown_timeout(),
            exporter_stall_timeout: default_exporter_stall_timeout(),
            wal: WalConfig::default(),
            multitenancy_enabled: false,
        }
    }
}

fn default_queue_size() -> usize {
    64
}
fn default_queue_max_bytes() -> ByteSize {
    ByteSize::mib(64)
}
fn default_refuse_after() -> Duration {
    Duration::from_millis(200)
}
fn default_shutdown_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_exporter_stall_timeout() -> Duration {
    Duration::from_secs(10)
}

/// The longest duration a `service` timeout may have: longer ones are surely mistakes, and
/// adding them to a clock could overflow.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl ServiceConfig {
    /// Checks the values serde cannot: every limit within what the runtime accepts (tokio
    /// panics on larger queues), each error with its key path and the allowed range.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.queue_size == 0 || self.queue_size > queue::MAX_ITEMS {
            errors.push(ConfigError::new(
                "service.queue_size",
                format!(
                    "must be between 1 and {}, got {}; 64 suits most gateways",
                    queue::MAX_ITEMS,
                    self.queue_size
                ),
            ));
        }
        let max_bytes = ByteSize(queue::MAX_BYTES as u64);
        if self.queue_max_bytes.get() == 0 || self.queue_max_bytes > max_bytes {
            errors.push(ConfigError::new(
                "service.queue_max_bytes",
                format!(
                    "must be between 1B and {max_bytes}, got {}; 64MiB suits most gateways",
                    self.queue_max_bytes
                ),
            ));
        }
        let timeouts = [
            ("refuse_after", self.refuse_after, false),
            ("shutdown_timeout", self.shutdown_timeout, true),
            ("exporter_stall_timeout", self.exporter_stall_timeout, true),
        ];
        for (key, value, nonzero) in timeouts {
            if value > MAX_TIMEOUT || (nonzero && value.get().is_zero()) {
                let low = if nonzero { "more than 0s" } else { "0s" };
                errors.push(ConfigError::new(
                    format!("service.{key}"),
                    format!("must be between {low} and {MAX_TIMEOUT}, got {value}"),
                ));
            }
        }
        if self.wal.enabled
            && let Err(e) = self.wal.validate("service.wal")
        {
            errors.push(e);
        }
        errors
    }
}

/// One pipeline: receivers → processors in order → exporters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Receiver ids feeding the pipeline.
    pub receivers: Vec<String>,
    /// Processor ids, run in this order.
    #[serde(default)]
    pub processors: Vec<String>,
    /// Exporter ids the pipeline fans out to.
    pub exporters: Vec<String>,
}

/// `service.telemetry`: the gateway's own logs and metrics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Listen address of `/metrics` (Prometheus), `/healthz` and `/readyz`. Default
    /// `0.0.0.0:8888`.
    pub metrics_address: SocketAddr,
    /// Log filter, in `RUST_LOG` syntax. Default `info`.
    pub log_level: String,
    /// `json`, `text`, or `auto`: JSON when stderr is not a terminal. Default `auto`.
    pub log_format: LogFormat,
    /// Serve these endpoints over HTTPS: a `tls:` section in the shape of
    /// `tracegate_tls::TlsServerConfig`, kept unparsed here (this crate does not depend on
    /// TLS) and parsed and checked by the binary. Default: none, plaintext.
    pub tls: Option<serde_yaml_ng::Value>,
    /// With `multitenancy_enabled`, the receivers' accepted/refused counters carry a
    /// `tenant` label; at most this many tenants get a value of their own (the first seen),
    /// every later one is counted as `tenant="__other__"`, so a flood of tenant ids cannot
    /// grow the metrics without bound. Default 100.
    pub max_tenant_labels: usize,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            metrics_address: SocketAddr::from(([0, 0, 0, 0], 8888)),
            log_level: "info".to_owned(),
            log_format: LogFormat::Auto,
            tls: None,
            max_tenant_labels: crate::telemetry::DEFAULT_MAX_TENANT_LABELS,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// JSON unless stderr is a terminal.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}
