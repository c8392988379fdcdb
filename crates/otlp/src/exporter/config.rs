//! The user-facing config of the OTLP exporter (`exporters.otlp` or `exporters.otlp/NAME`).

use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::Endpoint;
use tracegate_pipeline::{ByteSize, ConfigError, Duration, parse_section};

/// `exporters.otlp`: where to send spans over OTLP/gRPC, and how hard to try.
///
/// ```yaml
/// exporters:
///   otlp/tempo:
///     endpoint: http://tempo:4317
///     compression: gzip
///     headers: { x-scope-orgid: tenant }
///     timeout: 10s
///     sending_queue: { storage: disk, max_bytes: 1GiB, num_consumers: 4 }
///     retry: { initial_interval: 1s, max_interval: 30s, max_elapsed_time: 5m }
///     sampled_only: true
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpExporterConfig {
    /// The OTLP/gRPC endpoint, `http://host:port` (or just `host:port`). Required. TLS
    /// (`https://`) is not supported by this build.
    pub endpoint: String,
    /// Compression of each request: `gzip`, `zstd` or `none`. Default `gzip`.
    pub compression: Compression,
    /// Extra gRPC metadata sent with every request, such as `x-scope-orgid` for a
    /// multi-tenant Tempo. Keys are lowercased. Default none.
    pub headers: BTreeMap<String, String>,
    /// Deadline of one export attempt, including connecting. Default `10s`.
    pub timeout: Duration,
    /// The queue of batches held while the endpoint is slow or down.
    pub sending_queue: SendingQueueConfig,
    /// Retrying failed attempts.
    pub retry: RetryConfig,
    /// Send only the traces the tail sampler kept: traces it decided not to keep are left
    /// out (and released from the write-ahead log at once), and counted in
    /// `tracegate_exporter_unsampled_spans_total`. Traces no sampler saw are always sent.
    /// Default `false`: everything is sent, whatever the sampler decided.
    pub sampled_only: bool,
}

impl Default for OtlpExporterConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            compression: Compression::Gzip,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            sending_queue: SendingQueueConfig::default(),
            retry: RetryConfig::default(),
            sampled_only: false,
        }
    }
}

/// Request compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// gzip, which every OTLP receiver accepts.
    Gzip,
    /// zstd: smaller and cheaper, if the receiver accepts it.
    Zstd,
    /// Uncompressed.
    None,
}

/// `sending_queue`: where batches wait while the endpoint is slow or down.
///
/// ```yaml
/// sending_queue: { storage: disk, max_bytes: 1GiB, num_consumers: 4 }
/// ```
///
/// With `storage: disk` (the default) and the write-ahead log on, the queue lives in files
/// in the exporter's state directory under the log (`sending_queue/` in it). A batch counts as
/// durable once it is written there (and synced, with `wal.sync: host`), so the log may drop
/// it; an outage of the endpoint of any length, a restart or a crash loses nothing that fits
/// in `max_bytes`, and delivery resumes in order, where it stopped, when the endpoint comes
/// back (at least once: what was in flight at a crash is sent again). Batches stay queued,
/// retried without a time limit, until they are delivered; when `max_bytes` would be passed,
/// the oldest are dropped and counted (`error_type="queue_full"`).
///
/// With `storage: memory`, or with the write-ahead log off (then `disk` falls back to
/// memory, since there is no directory to keep it in), at most `queue_size` batches wait in
/// memory, each given up after `retry.max_elapsed_time`. With the log on, spans in memory
/// stay in the log until delivered (or given up), so a restart sends them again.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendingQueueConfig {
    /// Batches held in the memory queue. When full, new batches are dropped and counted
    /// (`error_type="queue_full"`). The disk queue is bounded by `max_bytes` instead.
    /// Default `1000`.
    pub queue_size: usize,
    /// Requests sent concurrently. With more than one, batches may arrive slightly out of
    /// order. Default `4`.
    pub num_consumers: usize,
    /// `disk` or `memory`. Default `disk` (memory when the write-ahead log is off).
    pub storage: QueueStorage,
    /// The bound on the disk queue's files, from `1MiB`: past it, the oldest batches are
    /// dropped and counted. Default `1GiB`.
    pub max_bytes: ByteSize,
}

impl SendingQueueConfig {
    /// The smallest `max_bytes`.
    pub const MIN_BYTES: ByteSize = ByteSize::mib(1);
    /// The largest `max_bytes`: 1 TiB.
    pub const MAX_BYTES: ByteSize = ByteSize::mib(1024 * 1024);
}

impl Default for SendingQueueConfig {
    fn default() -> Self {
        Self {
            queue_size: 1000,
            num_consumers: 4,
            storage: QueueStorage::Disk,
            max_bytes: ByteSize::mib(1024),
        }
    }
}

/// Where the sending queue lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStorage {
    /// Files in the exporter's state directory under the write-ahead log (memory when the
    /// log is off).
    Disk,
    /// Memory only: lost on a crash (unless the write-ahead log still holds it).
    Memory,
}

/// `retry`: exponential backoff with jitter on retryable failures.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Whether to retry at all. Default `true`.
    pub enabled: bool,
    /// Wait before the first retry. Default `1s`.
    pub initial_interval: Duration,
    /// Longest wait between retries; the wait grows by 1.5× per attempt up to this. Default
    /// `30s`.
    pub max_interval: Duration,
    /// Give up on a batch after this long since its first attempt, then drop and count it.
    /// `0s` retries until shutdown. Applies to the memory queue only: a batch in the disk
    /// queue is retried until it is delivered, and `sending_queue.max_bytes` is what bounds
    /// an outage. Default `5m`.
    pub max_elapsed_time: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
        }
    }
}

/// A config checked and turned into what the exporter uses.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) config: OtlpExporterConfig,
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: MetadataMap,
}

impl OtlpExporterConfig {
    /// Parses the section at `path` (`exporters.otlp/tempo`). Errors carry the key path.
    pub fn from_section(path: &str, value: Value) -> Result<Self, ConfigError> {
        let config: Self = parse_section(path, value)?;
        config.resolve(path)?;
        Ok(config)
    }

    /// Checks the endpoint, headers and sizes, and builds the endpoint and metadata. Does no
    /// I/O.
    pub(crate) fn resolve(&self, path: &str) -> Result<Resolved, ConfigError> {
        let endpoint = self.endpoint(path)?;
        let headers = grpc_metadata(&self.headers, &format!("{path}.headers"))?;
        let max_queue = tracegate_pipeline::queue::MAX_ITEMS;
        if !(1..=max_queue).contains(&self.sending_queue.queue_size) {
            return Err(ConfigError::new(
                format!("{path}.sending_queue.queue_size"),
                format!(
                    "must be at least 1 and at most {max_queue}, got {}",
                    self.sending_queue.queue_size
                ),
            ));
        }
        if self.sending_queue.num_consumers == 0 {
            return Err(ConfigError::new(
                format!("{path}.sending_queue.num_consumers"),
                "must be at least 1",
            ));
        }
        let (min, max) = (SendingQueueConfig::MIN_BYTES, SendingQueueConfig::MAX_BYTES);
        if !(min..=max).contains(&self.sending_queue.max_bytes) {
            return Err(ConfigError::new(
                format!("{path}.sending_queue.max_bytes"),
                format!(
                    "must be at least {min} and at most {max}, got {}",
                    self.sending_queue.max_bytes
                ),
            ));
        }
        if self.timeout.get().is_zero() {
            return Err(ConfigError::new(
                format!("{path}.timeout"),
                "must be more than 0s",
            ));
        }
        if self.retry.initial_interval.get().is_zero() {
            return Err(ConfigError::new(
                format!("{path}.retry.initial_interval"),
                "must be more than 0s",
            ));
        }
        if self.retry.max_interval < self.retry.initial_interval {
            return Err(ConfigError::new(
                format!("{path}.retry.max_interval"),
                "must be at least retry.initial_interval",
            ));
        }
        Ok(Resolved {
            config: self.clone(),
            endpoint,
            headers,
        })
    }

    fn endpoint(&self, path: &str) -> Result<Endpoint, ConfigError> {
        grpc_endpoint(
            &self.endpoint,
            self.timeout.get(),
            &format!("{path}.endpoint"),
            "http://tempo:4317",
        )
    }
}

/// An OTLP/gRPC client endpoint from config text: `http://host:port` or `host:port` (plain
/// HTTP/2; `https://` is refused until TLS is built in), with `timeout` as the request and
/// connect timeout. Errors are reported at `path` (the endpoint key) and show `example`.
pub fn grpc_endpoint(
    text: &str,
    timeout: std::time::Duration,
    path: &str,
    example: &str,
) -> Result<Endpoint, ConfigError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ConfigError::new(
            path,
            format!("required: the OTLP/gRPC endpoint, such as {example}"),
        ));
    }
    let uri = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    if let Some(scheme) = uri.split("://").next()
        && scheme != "http"
    {
        return Err(ConfigError::new(
            path,
            format!(
                "unsupported scheme {scheme:?} in {text:?}: use http:// (TLS is not supported \
                 by this build; terminate TLS in a proxy)"
            ),
        ));
    }
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| ConfigError::new(path, format!("invalid endpoint {text:?}: {e}")))?;
    if endpoint.uri().host().is_none_or(str::is_empty) {
        return Err(ConfigError::new(
            path,
            format!("invalid endpoint {text:?}: no host"),
        ));
    }
    Ok(endpoint
        .timeout(timeout)
        .connect_timeout(timeout)
        .tcp_nodelay(true))
}

/// gRPC metadata from config `headers` (keys lowercased), each error reported at
/// `{path}.{key}`.
pub fn grpc_metadata(
    headers: &std::collections::BTreeMap<String, String>,
    path: &str,
) -> Result<MetadataMap, ConfigError> {
    let mut out = MetadataMap::new();
    for (key, value) in headers {
        let at = format!("{path}.{key}");
        let name = AsciiMetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
            .map_err(|e| ConfigError::new(&at, format!("invalid header name: {e}")))?;
        let value = AsciiMetadataValue::try_from(value.as_str())
            .map_err(|e| ConfigError::new(&at, format!("invalid header value: {e}")))?;
        out.insert(name, value);
    }
    Ok(out)
}
