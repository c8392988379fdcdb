//! TLS for tracegate's clients (the OTLP exporter, loadgen): the `tls:` key of a client
//! ([`TlsClientConfig`]), loaded into a [`TlsClient`] that holds the rustls `ClientConfig`
//! and makes connections.
//!
//! Errors name the key path (`exporters.otlp.tls.ca_file`) and the file, never the content:
//! the PEM parsing is the listeners' (`load.rs`), which does not quote what it reads.

use crate::config::TlsVersion;
use crate::load::{LoadError, parse_certs, parse_key, provider, read_bounded};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpStream;
use tracegate_pipeline::ConfigError;

/// The stream a client handshake gives.
pub type ClientTlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// `tls:` on a client: connect over TLS, verifying the server's certificate against
/// `ca_file` (or the system's CA certificates), optionally presenting a client certificate.
///
/// ```yaml
/// tls:
///   ca_file: /etc/tracegate/tls/backend-ca.crt  # PEM; unset: the system's CA certificates
///   cert_file: /etc/tracegate/tls/client.crt    # optional, with key_file: mTLS
///   key_file: /etc/tracegate/tls/client.key
///   server_name_override: tempo.internal        # optional: the name the certificate must carry
///   insecure_skip_verify: false                 # true: no verification (tests only!)
///   min_version: "1.2"                          # or "1.3"
/// ```
///
/// The files are read when the config is checked, so a bad path or a key that does not
/// match its certificate stops the start with an error naming the key. They are not re-read
/// while the gateway runs: a rotated client certificate takes effect at the next start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// CA certificates (PEM) the server's certificate must chain to. Unset: the system's CA
    /// certificates (`/etc/ssl/certs`, or `SSL_CERT_FILE` / `SSL_CERT_DIR`).
    pub ca_file: Option<PathBuf>,
    /// A client certificate chain (PEM) to present, for servers that require mTLS. Needs
    /// `key_file`.
    pub cert_file: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1). Never printed.
    pub key_file: Option<PathBuf>,
    /// The name to verify the server's certificate against (and send as SNI), instead of the
    /// endpoint's host: for an endpoint reached by IP address or through a tunnel.
    pub server_name_override: Option<String>,
    /// Accept any server certificate, without verification. Anyone on the path can then
    /// read and change the traffic: for tests only. Logged as a warning at start.
    pub insecure_skip_verify: bool,
    /// The lowest TLS version used, `"1.2"` or `"1.3"`. Default `"1.2"`.
    pub min_version: TlsVersion,
}

/// A loaded client TLS config: the rustls config and the server name to use, if overridden.
#[derive(Debug, Clone)]
pub struct TlsClient {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    insecure: bool,
}

impl TlsClientConfig {
    /// Checks the section at `path` (such as `exporters.otlp.tls`): the same checks
    /// [`load`](Self::load) makes, each error naming its key.
    pub fn validate(&self, path: &str) -> Vec<ConfigError> {
        match self.load(path, &[]) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e],
        }
    }

    /// Reads the files and builds the client config offering `alpn` (such as
    /// [`ALPN_GRPC`](crate::ALPN_GRPC)). Errors name the key under `path` and the file.
    pub fn load(&self, path: &str, alpn: &[&[u8]]) -> Result<TlsClient, ConfigError> {
        let at = |e: LoadError| ConfigError::new(format!("{path}.{}", e.key), e.message());
        let server_name = match &self.server_name_override {
            Some(name) => Some(ServerName::try_from(name.trim().to_owned()).map_err(|_| {
                ConfigError::new(
                    format!("{path}.server_name_override"),
                    format!("{name:?} is not a DNS name or IP address"),
                )
            })?),
            None => None,
        };
        let provider = provider();
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.min_version {
            TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::V1_3 => &[&rustls::version::TLS13],
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| {
                ConfigError::new(
                    format!("{path}.min_version"),
                    format!("not supported by the crypto provider: {e}"),
                )
            })?;
        let builder = if self.insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
        } else {
            builder.with_root_certificates(self.roots(path)?)
        };
        let mut config = match (&self.cert_file, &self.key_file) {
            (Some(cert_file), Some(key_file)) => {
                let certs = parse_certs(
                    "cert_file",
                    cert_file,
                    &read_bounded("cert_file", cert_file).map_err(at)?,
                )
                .map_err(at)?;
                let key = parse_key(key_file, &read_bounded("key_file", key_file).map_err(at)?)
                    .map_err(at)?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    let problem = match e {
                        rustls::Error::InconsistentKeys(_) => {
                            "the key does not belong to the certificate in cert_file"
                        }
                        _ => {
                            "not a usable private key for this certificate (RSA, ECDSA \
                             P-256/P-384 or Ed25519 are supported)"
                        }
                    };
                    at(LoadError::new("key_file", key_file, problem))
                })?
            }
            (Some(_), None) => {
                return Err(ConfigError::new(
                    format!("{path}.key_file"),
                    "required with cert_file: the client certificate's private key",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    format!("{path}.cert_file"),
                    "required with key_file: the client certificate the key belongs to",
                ));
            }
            (None, None) => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(TlsClient {
            config: Arc::new(config),
            server_name,
            insecure: self.insecure_skip_verify,
        })
    }

    /// The CA certificates to verify servers with: `ca_file`'s, or the system's.
    fn roots(&self, path: &str) -> Result<RootCertStore, ConfigError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(file) => {
                let at = |e: LoadError| ConfigError::new(format!("{path}.ca_file"), e.message());
                let bytes = read_bounded("ca_file", file).map_err(at)?;
                for cert in parse_certs("ca_file", file, &bytes).map_err(at)? {
                    roots.add(cert).map_err(|e| {
                        at(LoadError::new(
                            "ca_file",
                            file,
                            format!("a certificate is not a usable CA certificate: {e}"),
                        ))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(ConfigError::new(
                        format!("{path}.ca_file"),
                        "unset, and no system CA certificates were found (install the \
                         ca-certificates package, or set ca_file to the CA that signed the \
                         server's certificate)",
                    ));
                }
            }
        }
        Ok(roots)
    }
}

impl TlsClient {
    /// The rustls config, for clients that make their own connections (with the ALPN given
    /// to [`TlsClientConfig::load`]).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// Whether server certificates go unverified (`insecure_skip_verify`).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// The name to verify the server for `host` against: `server_name_override`, or `host`
    /// (brackets of an IPv6 literal removed).
    pub fn server_name(&self, host: &str) -> io::Result<ServerName<'static>> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(host.to_owned()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{host:?} is not a DNS name or IP address to verify a certificate for"),
            )
        })
    }

    /// Connects to `host:port` over TCP and makes the TLS handshake. The error says which
    /// step failed and, for a certificate the client does not trust, what to check.
    pub async fn connect(&self, host: &str, port: u16) -> Result<ClientTlsStream, ConnectError> {
        let addr = format!("{host}:{port}");
        let name = self
            .server_name(host)
            .map_err(|source| ConnectError::ServerName {
                addr: addr.clone(),
                source,
            })?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((bare, port))
            .await
            .and_then(|tcp| tcp.set_nodelay(true).map(|()| tcp))
            .map_err(|source| ConnectError::Tcp {
                addr: addr.clone(),
                source,
            })?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        connector.connect(name, tcp).await.map_err(|source| {
            let hint = match source
                .get_ref()
                .and_then(|e| e.downcast_ref::<rustls::Error>())
            {
                Some(rustls::Error::InvalidCertificate(_)) => {
                    " (the server's certificate is not trusted: check that tls.ca_file is the \
                     CA that signed it and that it names the host, or set \
                     tls.server_name_override)"
                }
                Some(rustls::Error::AlertReceived(_)) => {
                    " (the server refused the handshake: if it requires a client \
                     certificate, set tls.cert_file and tls.key_file)"
                }
                _ => "",
            };
            ConnectError::Handshake { addr, source, hint }
        })
    }
}

/// Why [`TlsClient::connect`] failed: the step, the address and the cause. Never holds key
/// material (rustls's errors name what was wrong, not the bytes).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The host is not a name a certificate can be checked against.
    #[error("cannot connect to {addr}: {source}")]
    ServerName {
        /// `host:port`.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// The TCP connection failed (refused, unreachable, no such host).
    #[error("cannot connect to {addr}: {source}")]
    Tcp {
        /// `host:port`.
        addr: String,
        /// The cause.
        source: io::Error,
    },
    /// The TLS handshake failed (a certificate not trusted, no common version, the server
    /// wanting a client certificate).
    #[error("TLS handshake with {addr} failed: {source}{hint}")]
    Handshake {
        /// `host:port`.
        addr: String,
        /// The cause.
        source: io::Error,
        /// What to check, or empty.
        hint: &'static str,
    },
}

impl ConnectError {
    /// A metric label for the step that failed: `server_name`, `connect` or `tls`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ServerName { .. } => "server_name",
            Self::Tcp { .. } => "connect",
            Self::Handshake { .. } => "tls",
        }
    }
}

impl From<ConnectError> for io::Error {
    fn from(e: ConnectError) -> Self {
        let kind = match &e {
            ConnectError::ServerName { source, .. }
            | ConnectError::Tcp { source, .. }
            | ConnectError::Handshake { source, .. } => source.kind(),
        };
        io::Error::new(kind, e.to_string())
    }
}

/// `insecure_skip_verify`: any certificate is accepted; the handshake's signatures are still
/// checked (so the peer holds the key of the certificate it sent, whatever that is).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
