//! Test certificates, made with the `openssl` CLI (no extra crates to build): a CA
//! ([`TestPki`]), server certificates for `localhost` / `127.0.0.1`, client certificates
//! with a chosen common name, and a rustls client config trusting the CA. Tests only: these
//! helpers panic on failure.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use crate::load::provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The key (PEM, PKCS#8).
    pub key: PathBuf,
}

/// A throwaway CA in a temporary directory.
#[derive(Debug)]
pub struct TestPki {
    dir: tempfile::TempDir,
    /// The CA certificate (PEM).
    pub ca_cert: PathBuf,
    ca_key: PathBuf,
    serial: AtomicU32,
}

const CA_EXT: &str = "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n";

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl (the CLI must be installed for the TLS tests)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPki {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("ca.cnf"), CA_EXT).expect("write ca.cnf");
        let ca_key = dir.path().join("ca.key");
        let ca_cert = dir.path().join("ca.crt");
        Self::gen_key(dir.path(), &ca_key);
        openssl(
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                path(&ca_key),
                "-out",
                path(&ca_cert),
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-config",
                "ca.cnf",
                "-extensions",
                "v3",
            ],
            dir.path(),
        );
        Self {
            dir,
            ca_cert,
            ca_key,
            serial: AtomicU32::new(1),
        }
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn gen_key(dir: &Path, key: &Path) {
        openssl(
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                path(key),
            ],
            dir,
        );
    }

    fn leaf(&self, file: &str, cn: &str, ext: &str, days: u32) -> CertFiles {
        let dir = self.dir.path();
        let key = dir.join(format!("{file}.key"));
        let cert = dir.join(format!("{file}.crt"));
        let csr = dir.join(format!("{file}.csr"));
        let ext_file = dir.join(format!("{file}.ext"));
        std::fs::write(&ext_file, format!("[v3]\nbasicConstraints=CA:FALSE\n{ext}")).unwrap();
        Self::gen_key(dir, &key);
        openssl(
            &[
                "req",
                "-new",
                "-key",
                path(&key),
                "-out",
                path(&csr),
                "-subj",
                &format!("/O=tracegate tests/CN={cn}"),
                "-config",
                "ca.cnf",
            ],
            dir,
        );
        let serial = self.serial.fetch_add(1, Ordering::Relaxed).to_string();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                path(&csr),
                "-CA",
                path(&self.ca_cert),
                "-CAkey",
                path(&self.ca_key),
                "-set_serial",
                &serial,
                "-days",
                &days.to_string(),
                "-out",
                path(&cert),
                "-extfile",
                path(&ext_file),
                "-extensions",
                "v3",
            ],
            dir,
        );
        CertFiles { cert, key }
    }

    /// A server certificate for `localhost` and `127.0.0.1` with common name `cn`, in files
    /// named after `file`.
    pub fn server(&self, file: &str, cn: &str) -> CertFiles {
        self.server_for_days(file, cn, 2)
    }

    /// As [`TestPki::server`], valid for `days` days from now.
    pub fn server_for_days(&self, file: &str, cn: &str, days: u32) -> CertFiles {
        self.leaf(
            file,
            cn,
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n\
             subjectAltName=DNS:localhost,IP:127.0.0.1\n",
            days,
        )
    }

    /// A client certificate with common name `cn`.
    pub fn client(&self, file: &str, cn: &str) -> CertFiles {
        self.leaf(
            file,
            cn,
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
            2,
        )
    }

    /// A rustls client config trusting this CA, offering `alpn`, with `client` as its
    /// certificate if given.
    pub fn client_config(
        &self,
        client: Option<&CertFiles>,
        alpn: &[&[u8]],
    ) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&self.ca_cert).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match client {
            Some(files) => {
                let certs = CertificateDer::pem_file_iter(&files.cert)
                    .unwrap()
                    .collect::<Result<Vec<_>, _>>()
                    .unwrap();
                let key = PrivateKeyDer::from_pem_file(&files.key).unwrap();
                builder.with_client_auth_cert(certs, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// The first certificate of a PEM file, DER.
pub fn first_cert(pem: &Path) -> CertificateDer<'static> {
    CertificateDer::pem_file_iter(pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}
