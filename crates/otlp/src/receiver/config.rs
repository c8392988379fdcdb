//! The user-facing config of the OTLP receiver (`receivers.otlp`).

use super::budget::worst_case_request;
use serde::{Deserialize, Deserializer};
use serde_yaml_ng::Value;
use tracegate_pipeline::{ByteSize, ConfigError, Duration, parse_section};
use tracegate_tls::TlsServerConfig;

/// `receivers.otlp`: where to listen and how much a request may carry.
///
/// ```yaml
/// receivers:
///   otlp:
///     protocols:
///       grpc:
///         endpoint: 0.0.0.0:4317
///         # tls:                       # serve TLS (and mTLS with client_ca_file)
///         #   cert_file: server.crt
///         #   key_file: server.key
///         #   client_ca_file: ca.crt
///         #   min_version: "1.2"
///         #   reload_interval: 1m
///       http: { endpoint: 0.0.0.0:4318 }
///     max_request_bytes: 8MiB
///     max_decompressed_bytes: 64MiB
///     max_in_flight_bytes: 256MiB
///     max_connections: 1024
///     max_concurrent_requests: 128
///     request_timeout: 30s
///     header_read_timeout: 10s
///     keepalive_interval: 30s
///     keepalive_timeout: 20s
/// ```
///
/// The byte budget is shared by the receiver's gRPC and HTTP listeners; the connection and
/// request limits apply to each listener on its own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpReceiverConfig {
    /// The protocols to serve. Omitted (or null): both, on their default ports. Given: only
    /// the ones listed; `grpc:` with no value means gRPC with its defaults.
    #[serde(deserialize_with = "protocols_or_default")]
    pub protocols: Protocols,
    /// Largest request body as it arrives on the wire (after any HTTP `Content-Encoding`, before
    /// decompression), or the largest gRPC message (compressed size if compressed). Bigger
    /// requests get HTTP 413 / gRPC `RESOURCE_EXHAUSTED`. Default `8MiB`.
    pub max_request_bytes: ByteSize,
    /// Largest request after decompression. Decompression stops at this size, so a small
    /// compressed "bomb" cannot exhaust memory. Must be at least `max_request_bytes`.
    /// Default `64MiB`.
    pub max_decompressed_bytes: ByteSize,
    /// Memory the requests being read, decompressed and decoded may hold together, over both
    /// listeners (like the Collector's `memory_limiter`, but counted per request). A request
    /// holds its wire bytes as they arrive, then its decompressed size, then twice its
    /// protobuf size for the decoded spans, until it is answered. A request arriving while the
    /// budget is full, or one that would take it over, is refused with gRPC `UNAVAILABLE` /
    /// HTTP 503 and `Retry-After`, which OTLP clients retry. Must be at least
    /// `max_request_bytes + 3 × max_decompressed_bytes` plus a zstd decoder's window (at most
    /// 8 MiB), so the largest request can get through on its own. Default `256MiB`.
    pub max_in_flight_bytes: ByteSize,
    /// Connections each listener serves at once. Further connections wait, unaccepted, in the
    /// listen backlog until one closes. Default `1024`.
    pub max_connections: usize,
    /// Requests each listener handles at once; further ones get HTTP 503 with `Retry-After` /
    /// gRPC `UNAVAILABLE`, which clients retry. Each connection also advertises it as HTTP/2
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`, so one client's extra calls queue on its side.
    /// Default `128`.
    pub max_concurrent_requests: usize,
    /// Time a request body has to arrive in full, from its headers. A slower upload is
    /// answered HTTP 408 / gRPC `DEADLINE_EXCEEDED` (both retried by OTLP clients) and its
    /// bytes freed. Default `30s`.
    pub request_timeout: Duration,
    /// HTTP/1: time a client has to send a request's headers, including the wait for the
    /// next request on an idle keep-alive connection. After it, the connection is closed.
    /// Default `10s`.
    pub header_read_timeout: Duration,
    /// HTTP/2 (gRPC, and h2c on the HTTP port): a connection with no traffic for this long is
    /// sent a PING. Together with `keepalive_timeout` this finds peers that vanished without
    /// closing (a crashed host, a dropped NAT entry), so they stop holding one of the
    /// `max_connections`. Default `30s`.
    pub keepalive_interval: Duration,
    /// HTTP/2: a PING not answered within this is a dead peer; the connection is closed.
    /// Default `20s`.
    pub keepalive_timeout: Duration,
}

impl Default for OtlpReceiverConfig {
    fn default() -> Self {
        Self {
            protocols: Protocols::default(),
            max_request_bytes: ByteSize::mib(8),
            max_decompressed_bytes: ByteSize::mib(64),
            max_in_flight_bytes: ByteSize::mib(256),
            max_connections: 1024,
            max_concurrent_requests: 128,
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// `protocols`: which listeners run.
///
/// Unlike the other sections, a field left out here is *off*, not defaulted: listing only
/// `grpc` serves only gRPC. So the fields carry their own defaults (`None`) instead of the
/// struct's `Default`, which turns both on for when `protocols` itself is omitted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    /// OTLP/gRPC (`opentelemetry.proto.collector.trace.v1.TraceService/Export`).
    #[serde(default, deserialize_with = "present")]
    pub grpc: Option<GrpcConfig>,
    /// OTLP/HTTP (`POST /v1/traces`, protobuf or JSON).
    #[serde(default, deserialize_with = "present")]
    pub http: Option<HttpConfig>,
}

impl Default for Protocols {
    fn default() -> Self {
        Self {
            grpc: Some(GrpcConfig::default()),
            http: Some(HttpConfig::default()),
        }
    }
}

/// `protocols.grpc`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// `host:port` to listen on. Default `0.0.0.0:4317`.
    pub endpoint: String,
    /// Serve TLS (mTLS with `client_ca_file`) instead of plaintext; see [`TlsServerConfig`].
    /// Default: none, plaintext.
    pub tls: Option<TlsServerConfig>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            endpoint: "0.0.0.0:4317".to_owned(),
            tls: None,
        }
    }
}

/// `protocols.http`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// `host:port` to listen on. Default `0.0.0.0:4318`.
    pub endpoint: String,
    /// Serve TLS (mTLS with `client_ca_file`) instead of plaintext; see [`TlsServerConfig`].
    /// Default: none, plaintext.
    pub tls: Option<TlsServerConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            endpoint: "0.0.0.0:4318".to_owned(),
            tls: None,
        }
    }
}

/// A present key becomes `Some`, with defaults when its value is null (`grpc:`).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

/// `protocols:` with a null value means the defaults, as when it is omitted.
fn protocols_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<Protocols, D::Error> {
    Ok(Option::<Protocols>::deserialize(d)?.unwrap_or_default())
}

impl OtlpReceiverConfig {
    /// Parses and validates the section at `path` (`receivers.otlp`). Errors carry the key path.
    pub fn from_section(path: &str, value: Value) -> Result<Self, ConfigError> {
        let config: Self = parse_section(path, value)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks what serde cannot: at least one protocol, endpoints of the form `host:port`,
    /// and limits that make sense together.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.protocols.grpc.is_none() && self.protocols.http.is_none() {
            return Err(ConfigError::new(
                format!("{path}.protocols"),
                "no protocol enabled: list `grpc`, `http` or both (omit `protocols` for both)",
            ));
        }
        if let Some(grpc) = &self.protocols.grpc {
            check_endpoint(&format!("{path}.protocols.grpc.endpoint"), &grpc.endpoint)?;
            if let Some(tls) = &grpc.tls {
                ConfigError::first_of(tls.validate(&format!("{path}.protocols.grpc.tls")))?;
            }
        }
        if let Some(http) = &self.protocols.http {
            check_endpoint(&format!("{path}.protocols.http.endpoint"), &http.endpoint)?;
            if let Some(tls) = &http.tls {
                ConfigError::first_of(tls.validate(&format!("{path}.protocols.http.tls")))?;
            }
        }
        if self.max_request_bytes.get() == 0 {
            return Err(ConfigError::new(
                format!("{path}.max_request_bytes"),
                "must be more than 0",
            ));
        }
        if self.max_decompressed_bytes < self.max_request_bytes {
            return Err(ConfigError::new(
                format!("{path}.max_decompressed_bytes"),
                format!(
                    "{} is less than max_request_bytes ({}); it must be at least as large",
                    self.max_decompressed_bytes, self.max_request_bytes
                ),
            ));
        }
        let worst = worst_case_request(
            self.max_request_bytes.get(),
            self.max_decompressed_bytes.get(),
        );
        if self.max_in_flight_bytes.get() < worst {
            return Err(ConfigError::new(
                format!("{path}.max_in_flight_bytes"),
                format!(
                    "{} cannot hold one request of the largest size, {} (max_request_bytes + \
                     3 × max_decompressed_bytes + the zstd window, at most 8 MiB); raise it or \
                     lower those limits",
                    self.max_in_flight_bytes,
                    ByteSize(worst)
                ),
            ));
        }
        for (key, value) in [
            ("max_connections", self.max_connections),
            ("max_concurrent_requests", self.max_concurrent_requests),
        ] {
            if value == 0 {
                return Err(ConfigError::new(
                    format!("{path}.{key}"),
                    "must be more than 0",
                ));
            }
        }
        if self.max_concurrent_requests > u32::MAX as usize {
            return Err(ConfigError::new(
                format!("{path}.max_concurrent_requests"),
                format!("must be at most {}", u32::MAX),
            ));
        }
        for (key, value) in [
            ("request_timeout", self.request_timeout),
            ("header_read_timeout", self.header_read_timeout),
            ("keepalive_interval", self.keepalive_interval),
            ("keepalive_timeout", self.keepalive_timeout),
        ] {
            if value.get().is_zero() {
                return Err(ConfigError::new(
                    format!("{path}.{key}"),
                    "must be more than 0, such as 30s",
                ));
            }
        }
        Ok(())
    }
}

/// `host:port`, where the host may be a name, an IPv4 address or a bracketed IPv6 address.
fn check_endpoint(path: &str, endpoint: &str) -> Result<(), ConfigError> {
    let valid = endpoint
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            path,
            format!("invalid endpoint {endpoint:?}: write it as host:port, such as 0.0.0.0:4317"),
        ))
    }
}
