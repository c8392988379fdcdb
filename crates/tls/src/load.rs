//! Reading a [`TlsServerConfig`]'s files into a rustls `ServerConfig` ([`load`]), with a
//! fingerprint of their content so a reload can tell whether anything changed.
//!
//! Errors ([`LoadError`]) name the config key and the file, and say what is wrong in words of
//! our own: a PEM parser's message can quote the offending line, and in a key file that line
//! could be key material, so it is never passed on.

use crate::config::{TlsServerConfig, TlsVersion};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest certificate, key or CA file read (a CA bundle of a few hundred certificates fits).
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// What went wrong loading one of the files, and which config key names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} {}: {problem}", file.display())]
pub struct LoadError {
    /// The config key: `cert_file`, `key_file` or `client_ca_file` (`ca_file` on a client).
    pub key: &'static str,
    /// The file.
    pub file: PathBuf,
    /// What is wrong and what to do (never any of the file's content).
    pub problem: String,
}

impl LoadError {
    pub(crate) fn new(key: &'static str, file: &Path, problem: impl Into<String>) -> Self {
        Self {
            key,
            file: file.to_owned(),
            problem: problem.into(),
        }
    }

    /// The message for a config error at the key: the file and the problem.
    pub fn message(&self) -> String {
        format!("{}: {}", self.file.display(), self.problem)
    }
}

/// The files' content as loaded: the rustls config built from them and their fingerprint.
#[derive(Debug, Clone)]
pub(crate) struct Loaded {
    pub(crate) server: Arc<rustls::ServerConfig>,
    pub(crate) fingerprint: Fingerprint,
    /// The leaf certificate's `notAfter`, seconds since the Unix epoch.
    pub(crate) not_after: Option<i64>,
}

/// SHA-256 over the content of the files, in order, each prefixed by its length.
pub(crate) type Fingerprint = [u8; 32];

/// The crypto provider every listener uses: ring.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The files' bytes, read (bounded) but not parsed.
pub(crate) struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
    ca: Option<Vec<u8>>,
}

impl Files {
    /// Reads the files `config` names.
    pub(crate) fn read(config: &TlsServerConfig) -> Result<Self, LoadError> {
        Ok(Self {
            cert: read_bounded("cert_file", &config.cert_file)?,
            key: read_bounded("key_file", &config.key_file)?,
            ca: match &config.client_ca_file {
                Some(path) => Some(read_bounded("client_ca_file", path)?),
                None => None,
            },
        })
    }

    /// The fingerprint of the content.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        let mut hash = Sha256::new();
        for part in [Some(&self.cert), Some(&self.key), self.ca.as_ref()] {
            match part {
                Some(bytes) => {
                    hash.update((bytes.len() as u64 + 1).to_le_bytes());
                    hash.update(bytes);
                }
                None => hash.update(0u64.to_le_bytes()),
            }
        }
        hash.finalize().into()
    }
}

/// Reads and parses the files of `config` into a server config offering `alpn` (in order of
/// preference), checking that the key matches the certificate.
pub(crate) fn load(config: &TlsServerConfig, alpn: &[Vec<u8>]) -> Result<Loaded, LoadError> {
    let files = Files::read(config)?;
    build(config, &files, alpn)
}

/// Parses `files` (read for `config`) into a server config.
pub(crate) fn build(
    config: &TlsServerConfig,
    files: &Files,
    alpn: &[Vec<u8>],
) -> Result<Loaded, LoadError> {
    let certs = parse_certs("cert_file", &config.cert_file, &files.cert)?;
    let key = parse_key(&config.key_file, &files.key)?;
    let not_after = certs
        .first()
        .and_then(|leaf| crate::identity::not_after(leaf.as_ref()));
    let provider = provider();
    let versions: &[&'static rustls::SupportedProtocolVersion] = match config.min_version {
        TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::V1_3 => &[&rustls::version::TLS13],
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| {
            LoadError::new(
                "cert_file",
                &config.cert_file,
                format!("no TLS version the crypto provider supports: {e}"),
            )
        })?;
    let builder = match (&config.client_ca_file, &files.ca) {
        (Some(path), Some(ca)) => {
            let mut roots = RootCertStore::empty();
            for cert in parse_certs("client_ca_file", path, ca)? {
                roots.add(cert).map_err(|e| {
                    LoadError::new(
                        "client_ca_file",
                        path,
                        format!("a certificate is not a usable CA certificate: {e}"),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| {
                    LoadError::new(
                        "client_ca_file",
                        path,
                        format!("cannot verify client certificates with these CAs: {e}"),
                    )
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut server = builder.with_single_cert(certs, key).map_err(|e| {
        let problem = match e {
            rustls::Error::InconsistentKeys(_) => {
                "the key does not belong to the certificate in cert_file (after a rotation, \
                 replace both files)"
                    .to_owned()
            }
            _ => "not a usable private key for this certificate (RSA, ECDSA P-256/P-384 or \
                  Ed25519 are supported)"
                .to_owned(),
        };
        LoadError::new("key_file", &config.key_file, problem)
    })?;
    server.alpn_protocols = alpn.to_vec();
    Ok(Loaded {
        server: Arc::new(server),
        fingerprint: files.fingerprint(),
        not_after,
    })
}

pub(crate) fn read_bounded(key: &'static str, path: &Path) -> Result<Vec<u8>, LoadError> {
    let file = std::fs::File::open(path).map_err(|e| {
        LoadError::new(
            key,
            path,
            format!("cannot open: {e} (check the path and that tracegate may read it)"),
        )
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| LoadError::new(key, path, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LoadError::new(
            key,
            path,
            format!("larger than {MAX_FILE_BYTES} bytes; is this the right file?"),
        ));
    }
    Ok(bytes)
}

/// Why a PEM file did not parse, without quoting it.
fn pem_problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a malformed PEM BEGIN line",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::NoItemsFound => "no PEM section of the expected type",
        pem::Error::SectionTooLarge => "a PEM section is too large",
        _ => "not valid PEM",
    }
}

pub(crate) fn parse_certs(
    key: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LoadError::new(key, path, pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(LoadError::new(
            key,
            path,
            "no certificate found: expected PEM blocks starting with \
             -----BEGIN CERTIFICATE-----",
        ));
    }
    Ok(certs)
}

pub(crate) fn parse_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, LoadError> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| {
        let problem = match e {
            pem::Error::NoItemsFound => "no private key found: expected a PEM block such as \
                 -----BEGIN PRIVATE KEY----- (PKCS#8), RSA PRIVATE KEY or EC PRIVATE KEY"
                .to_owned(),
            e => format!("cannot parse the private key: {}", pem_problem(&e)),
        };
        LoadError::new("key_file", path, problem)
    })
}
