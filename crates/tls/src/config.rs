//! The user-facing TLS config of a listener ([`TlsServerConfig`], the `tls:` key), in the
//! OpenTelemetry Collector's shape, and its validation.

use crate::load::load;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use tracegate_pipeline::{ConfigError, Duration};

/// `tls:` on a listener: serve TLS with this certificate, and with `client_ca_file`, require
/// and verify client certificates (mTLS).
///
/// ```yaml
/// tls:
///   cert_file: /etc/tracegate/tls/server.crt   # PEM, the leaf first, then intermediates
///   key_file: /etc/tracegate/tls/server.key    # PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC)
///   client_ca_file: /etc/tracegate/tls/ca.crt  # optional: mTLS
///   min_version: "1.2"                          # or "1.3"
///   reload_interval: 1m                         # 0s: never reload
///   handshake_timeout: 10s
/// ```
///
/// The files are read and checked when the config is validated, so a bad path or a key that
/// does not match its certificate stops the start with an error naming the key. While the
/// gateway runs they are re-read every `reload_interval`; new content that loads is used for
/// the next handshakes (established connections keep theirs), content that does not load is
/// ignored with an error log, keeping the certificate in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    /// The server certificate chain, PEM: the leaf first, then any intermediates.
    pub cert_file: PathBuf,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1). Never printed.
    pub key_file: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to. Set: every client must
    /// present a valid certificate (mTLS); its subject's common name is then known to the
    /// listener. Unset: no client certificates are asked for.
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// The lowest TLS version accepted, `"1.2"` or `"1.3"`. Default `"1.2"`.
    #[serde(default)]
    pub min_version: TlsVersion,
    /// How often the files are checked for new content (certificate rotation). `0s` turns
    /// the check off. Default `1m`.
    #[serde(default = "default_reload_interval")]
    pub reload_interval: Duration,
    /// Time a client has, from the TCP connect, to finish the TLS handshake; after it the
    /// connection is closed and counted. Default `10s`.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: Duration,
}

fn default_reload_interval() -> Duration {
    Duration::from_secs(60)
}

fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}

impl TlsServerConfig {
    /// A config for these files with the defaults for the rest.
    pub fn new(cert_file: impl Into<PathBuf>, key_file: impl Into<PathBuf>) -> Self {
        Self {
            cert_file: cert_file.into(),
            key_file: key_file.into(),
            client_ca_file: None,
            min_version: TlsVersion::default(),
            reload_interval: default_reload_interval(),
            handshake_timeout: default_handshake_timeout(),
        }
    }

    /// Checks the section at `path` (such as `receivers.otlp.protocols.grpc.tls`): the files
    /// exist and parse, the key matches the certificate, the CA file holds certificates, and
    /// the timeout is not zero. Each error names the key (`path.cert_file`) and what is wrong;
    /// none quotes key material.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.handshake_timeout.get().is_zero() {
            errors.push(ConfigError::new(
                format!("{path}.handshake_timeout"),
                "must be more than 0, such as 10s",
            ));
        }
        if let Err(e) = load(self, &[]) {
            errors.push(ConfigError::new(format!("{path}.{}", e.key), e.message()));
        }
        errors
    }
}

/// A TLS protocol version, as written in config: `"1.2"` or `"1.3"` (a YAML number such as
/// `1.2` is taken too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum TlsVersion {
    /// TLS 1.2 (and 1.3).
    #[default]
    V1_2,
    /// TLS 1.3 only.
    V1_3,
}

impl TlsVersion {
    /// As written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text.trim() {
            "1.2" => Some(Self::V1_2),
            "1.3" => Some(Self::V1_3),
            _ => None,
        }
    }
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TlsVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TlsVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a TLS version, \"1.2\" or \"1.3\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TlsVersion, E> {
                TlsVersion::parse(v).ok_or_else(|| {
                    E::custom(format!(
                        "unsupported TLS version {v:?}: write \"1.2\" or \"1.3\""
                    ))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TlsVersion, E> {
                self.visit_str(&format!("{v}"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TlsVersion, E> {
                self.visit_str(&format!("{v}"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TlsVersion, E> {
                self.visit_str(&format!("{v}"))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<TlsServerConfig, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_versions() {
        let c = parse("cert_file: a.crt\nkey_file: a.key\n").unwrap();
        assert_eq!(c, TlsServerConfig::new("a.crt", "a.key"));
        assert_eq!(c.min_version, TlsVersion::V1_2);
        assert_eq!(c.reload_interval.get().as_secs(), 60);
        assert_eq!(c.handshake_timeout.get().as_secs(), 10);
        for (text, want) in [
            ("\"1.3\"", TlsVersion::V1_3),
            ("1.3", TlsVersion::V1_3),
            ("'1.2'", TlsVersion::V1_2),
            ("1.2", TlsVersion::V1_2),
        ] {
            let c = parse(&format!("cert_file: a\nkey_file: b\nmin_version: {text}\n")).unwrap();
            assert_eq!(c.min_version, want, "{text}");
        }
    }

    #[test]
    fn bad_version_and_unknown_keys_are_refused() {
        let e = parse("cert_file: a\nkey_file: b\nmin_version: \"1.1\"\n").unwrap_err();
        assert!(e.contains("unsupported TLS version \"1.1\""), "{e}");
        let e = parse("cert_file: a\nkey_file: b\nca_file: c\n").unwrap_err();
        assert!(e.contains("ca_file"), "{e}");
        let e = parse("key_file: b\n").unwrap_err();
        assert!(e.contains("cert_file"), "{e}");
    }

    #[test]
    fn validate_names_the_missing_file_and_zero_timeout() {
        let mut c = TlsServerConfig::new("/nonexistent/tg.crt", "/nonexistent/tg.key");
        c.handshake_timeout = Duration::from_secs(0);
        let errors = c.validate("receivers.otlp.protocols.grpc.tls");
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "receivers.otlp.protocols.grpc.tls.handshake_timeout",
                "receivers.otlp.protocols.grpc.tls.cert_file"
            ]
        );
        assert!(
            errors[1].message.contains("/nonexistent/tg.crt"),
            "{}",
            errors[1].message
        );
    }
}
