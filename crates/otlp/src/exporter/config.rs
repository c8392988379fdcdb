//! The user-facing config of the OTLP exporter (`exporters.otlp` or `exporters.otlp/NAME`).

use serde::Deserialize;
use serde_yaml_ng::Value;
use std::collections::BTreeMap;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::Endpoint;
use tracegate_pipeline::{ByteSize, ConfigError, Duration, parse_section};
use tracegate_tls::{TlsClient, TlsClientConfig};

/// `exporters.otlp`: where to send spans over OTLP/gRPC, and how hard to try.
///
/// ```yaml
/// exporters:
///   otlp/tempo:
///     endpoint: https://tempo:4317   # https:// or a tls: key: TLS
///     tls: { ca_file: /etc/tracegate/tls/tempo-ca.crt }
///     compression: gzip
///     headers: { x-scope-orgid: tenant, authorization: "Bearer ${env:TEMPO_TOKEN}" }
///     timeout: 10s
///     sending_queue: { storage: disk, max_bytes: 1GiB, num_consumers: 4 }
///     retry: { initial_interval: 1s, max_interval: 30s, max_elapsed_time: 5m }
///     sampled_only: true
/// ```
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpExporterConfig {
    /// The OTLP/gRPC endpoint, `http://host:port`, `https://host:port` (TLS) or just
    /// `host:port` (plaintext, or TLS with a `tls:` key). Required.
    pub endpoint: String,
    /// TLS to the endpoint: `ca_file`, `cert_file` + `key_file` (mTLS),
    /// `server_name_override`, `insecure_skip_verify`, `min_version` (see
    /// [`TlsClientConfig`]). Present, or an `https://` endpoint: TLS (with the system's CA
    /// certificates when there is no `ca_file`). Default: none.
    pub tls: Option<TlsClientConfig>,
    /// Compression of each request: `gzip`, `zstd` or `none`. Default `gzip`.
    pub compression: Compression,
    /// Extra gRPC metadata sent with every request, such as `x-scope-orgid` for a
    /// multi-tenant Tempo or `authorization: "Bearer ${env:TOKEN}"`. Keys are lowercased;
    /// values are never printed (Debug and logs show `<redacted>`). Default none.
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
            tls: None,
            compression: Compression::Gzip,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            sending_queue: SendingQueueConfig::default(),
            retry: RetryConfig::default(),
            sampled_only: false,
        }
    }
}

/// Header values can be credentials (`authorization`): Debug shows their names only.
impl std::fmt::Debug for OtlpExporterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: BTreeMap<&str, &str> = self
            .headers
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("OtlpExporterConfig")
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls)
            .field("compression", &self.compression)
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("sending_queue", &self.sending_queue)
            .field("retry", &self.retry)
            .field("sampled_only", &self.sampled_only)
            .finish()
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
    /// TLS to the endpoint, when `https://` or `tls:`.
    pub(crate) tls: Option<TlsClient>,
}

impl OtlpExporterConfig {
    /// Parses the section at `path` (`exporters.otlp/tempo`). Errors carry the key path.
    pub fn from_section(path: &str, value: Value) -> Result<Self, ConfigError> {
        let config: Self = parse_section(path, value)?;
        config.resolve(path)?;
        Ok(config)
    }

    /// Checks the endpoint, headers and sizes, and builds the endpoint and metadata; with
    /// TLS, reads the certificate files (the only I/O).
    pub(crate) fn resolve(&self, path: &str) -> Result<Resolved, ConfigError> {
        // With `tls:`, `host:port` and `http://host:port` mean TLS to that server too.
        let text = self.endpoint.trim();
        let text = match (&self.tls, text.split_once("://")) {
            (Some(_), None) => format!("https://{text}"),
            (Some(_), Some(("http", rest))) => format!("https://{rest}"),
            _ => text.to_owned(),
        };
        let (endpoint, https) = endpoint_uri(
            &text,
            self.timeout.get(),
            &format!("{path}.endpoint"),
            "http://tempo:4317",
            true,
        )?;
        let tls = match (&self.tls, https) {
            (Some(tls), _) => Some(tls.load(&format!("{path}.tls"), tracegate_tls::ALPN_GRPC)?),
            (None, true) => Some(
                TlsClientConfig::default()
                    .load(&format!("{path}.tls"), tracegate_tls::ALPN_GRPC)?,
            ),
            (None, false) => None,
        };
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
            tls,
        })
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
    endpoint_uri(text, timeout, path, example, false).map(|(endpoint, _)| endpoint)
}

/// As [`grpc_endpoint`], taking `https://` too when `allow_https`; says whether it was.
fn endpoint_uri(
    text: &str,
    timeout: std::time::Duration,
    path: &str,
    example: &str,
    allow_https: bool,
) -> Result<(Endpoint, bool), ConfigError> {
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
    let https = uri.starts_with("https://");
    if let Some(scheme) = uri.split("://").next()
        && scheme != "http"
        && !(allow_https && https)
    {
        let hint = if allow_https {
            "use http:// or https://"
        } else {
            "use http:// (TLS is not supported here; terminate TLS in a proxy)"
        };
        return Err(ConfigError::new(
            path,
            format!("unsupported scheme {scheme:?} in {text:?}: {hint}"),
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
    Ok((
        endpoint
            .timeout(timeout)
            .connect_timeout(timeout)
            .tcp_nodelay(true),
        https,
    ))
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
        let mut value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| {
            // Not the parser's message: the value may be a credential.
            ConfigError::new(
                &at,
                "invalid header value: only visible ASCII and spaces are allowed",
            )
        })?;
        // Debug of the map shows `Sensitive` instead of the value.
        value.set_sensitive(true);
        out.insert(name, value);
    }
    Ok(out)
}
