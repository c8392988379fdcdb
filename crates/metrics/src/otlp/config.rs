//! The user-facing config of the OTLP metrics exporter, and what it resolves to (the gRPC
//! endpoint, the metadata, the resource).
//!
//! ```yaml
//! otlp:
//!   endpoint: http://otel-collector:4317
//!   temporality: cumulative      # or delta
//!   interval: 30s
//!   timeout: 10s
//!   compression: gzip            # or none
//!   headers: { x-scope-orgid: tenant }
//!   resource_attributes: { deployment.environment: prod }
//! ```

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::Deserialize;
use std::collections::BTreeMap;
use tonic::metadata::MetadataMap;
use tonic::transport::Endpoint;
use tracegate_pipeline::{ConfigError, Duration, parse_section};

/// The `service.name` of the exported resource unless `resource_attributes` sets one.
pub const DEFAULT_SERVICE_NAME: &str = "tracegate";

/// Where and how to push the data metrics over OTLP/gRPC.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpMetricsConfig {
    /// The OTLP/gRPC endpoint, `http://host:port` (or `host:port`). Required. TLS
    /// (`https://`) is not supported by this build; terminate it in a proxy.
    pub endpoint: String,
    /// `cumulative` (values since each series started, what Prometheus-style backends
    /// want) or `delta` (the change since the previous push, for backends such as
    /// Datadog). Default `cumulative`.
    pub temporality: Temporality,
    /// How often to push. Default `30s`.
    pub interval: Duration,
    /// Deadline of one push attempt, including connecting; also bounds the final push at
    /// shutdown. Default `10s`.
    pub timeout: Duration,
    /// Extra gRPC metadata sent with every push (keys are lowercased). Default none.
    pub headers: BTreeMap<String, String>,
    /// `gzip` or `none`. Default `gzip`.
    pub compression: Compression,
    /// Attributes of the exported resource. `service.name` defaults to `tracegate`.
    pub resource_attributes: BTreeMap<String, String>,
}

impl Default for OtlpMetricsConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            temporality: Temporality::Cumulative,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            headers: BTreeMap::new(),
            compression: Compression::Gzip,
            resource_attributes: BTreeMap::new(),
        }
    }
}

/// The aggregation temporality of exported sums and histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    /// Values since the series started.
    #[default]
    Cumulative,
    /// The change since the previous push.
    Delta,
}

/// Request compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// gzip, which every OTLP receiver accepts.
    #[default]
    Gzip,
    /// Uncompressed.
    None,
}

/// A checked config: the endpoint and metadata ready for tonic.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) endpoint: Endpoint,
    pub(crate) headers: MetadataMap,
}

impl OtlpMetricsConfig {
    /// Parses and checks the section at `path` (`metrics.otlp`). Errors carry the key path.
    pub fn from_section(path: &str, value: serde_yaml_ng::Value) -> Result<Self, ConfigError> {
        let config: Self = parse_section(path, value)?;
        config.resolve(path)?;
        Ok(config)
    }

    /// Checks what serde cannot (the endpoint, headers and durations) for the section at
    /// `path`. No I/O.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        self.resolve(path).map(|_| ())
    }

    /// Checks the endpoint, headers and durations and builds what tonic needs. No I/O.
    pub(crate) fn resolve(&self, path: &str) -> Result<Resolved, ConfigError> {
        let endpoint = self.endpoint(path)?;
        let headers =
            tracegate_otlp::exporter::grpc_metadata(&self.headers, &format!("{path}.headers"))?;
        if self.interval.get().is_zero() {
            return Err(ConfigError::new(
                format!("{path}.interval"),
                "must be more than 0s",
            ));
        }
        if self.timeout.get().is_zero() {
            return Err(ConfigError::new(
                format!("{path}.timeout"),
                "must be more than 0s",
            ));
        }
        Ok(Resolved { endpoint, headers })
    }

    fn endpoint(&self, path: &str) -> Result<Endpoint, ConfigError> {
        tracegate_otlp::exporter::grpc_endpoint(
            &self.endpoint,
            self.timeout.get(),
            &format!("{path}.endpoint"),
            "http://otel-collector:4317",
        )
    }

    /// The resource of every push: `service.name` = `tracegate` unless configured, then
    /// `resource_attributes` in key order.
    pub fn resource(&self) -> Resource {
        let mut attributes = Vec::with_capacity(self.resource_attributes.len() + 1);
        if !self.resource_attributes.contains_key("service.name") {
            attributes.push(string_attribute("service.name", DEFAULT_SERVICE_NAME));
        }
        attributes.extend(
            self.resource_attributes
                .iter()
                .map(|(k, v)| string_attribute(k, v)),
        );
        Resource {
            attributes,
            ..Default::default()
        }
    }
}

/// A string attribute.
pub(crate) fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..Default::default()
    }
}
