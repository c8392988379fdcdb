//! [`ApiConfig`], the `query:` section of the config file.

use serde::{Deserialize, Serialize};
use tracegate_pipeline::config::{ByteSize, Duration};

/// How the Tempo-compatible API serves. Every field has a default, so an empty section (or
/// none) is valid.
///
/// ```yaml
/// query:
///   endpoint: 0.0.0.0:3200
///   hot_store: hot_store
///   archive: archive
///   max_trace_bytes: 50MiB
///   max_search_range: 168h
///   # tls: { cert_file: server.crt, key_file: server.key, client_ca_file: ca.crt }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on. Default `0.0.0.0:3200`, Tempo's HTTP port.
    pub endpoint: String,
    /// The `hot_store` exporter whose traces the API serves (its id under `exporters`).
    /// Default `hot_store`.
    pub hot_store: String,
    /// The `archive` exporter whose archive answers trace-by-id lookups the hot store cannot
    /// (its id under `exporters`); `null` turns the cold fallback off. Default `archive`,
    /// when such an exporter exists. The archive is not partitioned by tenant yet, so with
    /// multi-tenancy on the fallback is off.
    pub archive: Option<String>,
    /// Require `X-Scope-OrgID` on every request (401 without) and read only that tenant's
    /// data. Not read from this section: it is `service.multitenancy_enabled`, one switch for
    /// writes and reads.
    #[serde(skip)]
    pub multitenancy_enabled: bool,
    /// Largest trace returned by trace-by-id, as encoded protobuf. Over it, v1 answers 422 and
    /// v2 returns the earliest spans that fit, marked `PARTIAL`. Default `50MiB`.
    pub max_trace_bytes: ByteSize,
    /// Traces per search when the request has no `limit`. Default 20.
    pub default_limit: u32,
    /// Largest `limit` honoured; larger ones are lowered to it. Default 262144 (Tempo's).
    pub max_limit: u32,
    /// Spans per spanset when the request has no `spss`. Default 3.
    pub default_spss: u32,
    /// Largest `spss`; larger ones are refused with 400. 0 = no limit. Default 100.
    pub max_spss: u32,
    /// Longest `end - start` of a search; longer ones are refused with 400. Default `168h`.
    pub max_search_range: Duration,
    /// The window searched (and scanned for tags) when the request gives no `start`/`end`:
    /// the last this much. Default `1h`.
    pub default_search_window: Duration,
    /// Most traces (or fragments) one tags or tag-values request scans. Default 5000.
    pub tags_max_traces: u64,
    /// Most distinct tag names per scope, or tag values, one request collects. Default 10000.
    pub tags_max_values: usize,
    /// Most bytes of distinct tag names or values one request holds (Tempo's
    /// `max_bytes_per_tag_values_query`). Default `1MiB`.
    pub tags_max_bytes: ByteSize,
    /// Most spans a search holds while waiting for a trace's other fragments (a trace split
    /// over storage blocks is evaluated whole when its fragments meet). Default 100000.
    pub search_max_pending_spans: usize,
    /// Requests served at once; more are answered 429 with `Retry-After` (Grafana shows the
    /// error, scripts retry). Searches and tag scans read storage on the blocking pool, so
    /// this bounds the threads and memory queries take. Default 32.
    pub max_concurrent_requests: usize,
    /// Serve HTTPS (mTLS with `client_ca_file`) instead of plaintext HTTP; see
    /// [`tracegate_tls::TlsServerConfig`]. Default: none.
    pub tls: Option<tracegate_tls::TlsServerConfig>,
    /// The version `/api/status/buildinfo` reports. A Tempo-like semver lets old Grafana
    /// versions enable features gated on it. Default `2.9.0`.
    pub build_version: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            endpoint: "0.0.0.0:3200".into(),
            hot_store: "hot_store".into(),
            archive: Some("archive".into()),
            multitenancy_enabled: false,
            max_trace_bytes: ByteSize::mib(50),
            default_limit: 20,
            max_limit: 262_144,
            default_spss: 3,
            max_spss: 100,
            max_search_range: Duration::from_secs(168 * 3600),
            default_search_window: Duration::from_secs(3600),
            tags_max_traces: 5000,
            tags_max_values: 10_000,
            tags_max_bytes: ByteSize::mib(1),
            search_max_pending_spans: 100_000,
            max_concurrent_requests: 32,
            tls: None,
            build_version: "2.9.0".into(),
        }
    }
}

impl ApiConfig {
    /// Checks the values that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_concurrent_requests == 0 || self.max_concurrent_requests > 4096 {
            return Err(format!(
                "query.max_concurrent_requests must be between 1 and 4096, got {}",
                self.max_concurrent_requests
            ));
        }
        if self.default_limit == 0 {
            return Err("query.default_limit must be at least 1".into());
        }
        if self.max_limit < self.default_limit {
            return Err(format!(
                "query.max_limit ({}) must be at least query.default_limit ({})",
                self.max_limit, self.default_limit
            ));
        }
        if self.default_spss == 0 {
            return Err("query.default_spss must be at least 1".into());
        }
        if self.max_spss != 0 && self.max_spss < self.default_spss {
            return Err(format!(
                "query.max_spss ({}) must be at least query.default_spss ({}), or 0 for no limit",
                self.max_spss, self.default_spss
            ));
        }
        if self.default_search_window.get().is_zero() {
            return Err("query.default_search_window must be longer than 0s".into());
        }
        if self.max_trace_bytes.get() == 0 {
            return Err("query.max_trace_bytes must be more than 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_section_is_the_defaults_and_unknown_keys_are_refused() {
        let config: ApiConfig = serde_yaml_ng::from_str("{}").unwrap();
        assert_eq!(config, ApiConfig::default());
        assert!(config.validate().is_ok());
        let config: ApiConfig = serde_yaml_ng::from_str(
            "endpoint: 127.0.0.1:3201\narchive: null\nmax_trace_bytes: 1MiB\nmax_search_range: 24h\n",
        )
        .unwrap();
        assert_eq!(config.endpoint, "127.0.0.1:3201");
        assert_eq!(config.archive, None);
        assert_eq!(config.hot_store, "hot_store");
        // One switch for writes and reads: service.multitenancy_enabled.
        assert!(serde_yaml_ng::from_str::<ApiConfig>("multitenancy_enabled: true").is_err());
        assert_eq!(config.max_trace_bytes.get(), 1024 * 1024);
        assert_eq!(config.max_search_range.get().as_secs(), 24 * 3600);
        let err = serde_yaml_ng::from_str::<ApiConfig>("max_trace_byte: 1MiB").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn validate_names_the_key() {
        let config = ApiConfig {
            max_limit: 5,
            default_limit: 20,
            ..Default::default()
        };
        assert!(config.validate().unwrap_err().contains("query.max_limit"));
    }
}
