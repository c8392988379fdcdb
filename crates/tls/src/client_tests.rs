#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::TlsServerConfig;
use crate::test_util::{CertFiles, TestPki};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn parse(yaml: &str) -> Result<TlsClientConfig, String> {
    serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
}

fn trusting(pki: &TestPki) -> TlsClientConfig {
    TlsClientConfig {
        ca_file: Some(pki.ca_cert.clone()),
        ..TlsClientConfig::default()
    }
}

/// A TLS echo server on 127.0.0.1 with `server`'s certificate, requiring client certificates
/// signed by `client_ca` if given. Answers each connection with the ALPN protocol agreed
/// (or `-`), then closes it.
async fn server(server: &CertFiles, client_ca: Option<&std::path::Path>) -> u16 {
    let mut config = TlsServerConfig::new(&server.cert, &server.key);
    config.client_ca_file = client_ca.map(|p| p.to_owned());
    let loaded = crate::load::load(&config, &[b"h2".to_vec()]).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(loaded.server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let alpn = tls.get_ref().1.alpn_protocol().unwrap_or(b"-").to_vec();
                    let _ = tls.write_all(&alpn).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    port
}

async fn exchange(client: &TlsClient, host: &str, port: u16) -> io::Result<String> {
    let mut tls = client.connect(host, port).await?;
    let mut got = Vec::new();
    tls.read_to_end(&mut got).await?;
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn defaults_and_unknown_keys() {
    let c = parse("ca_file: /ca.crt\n").unwrap();
    assert_eq!(c.ca_file.as_deref(), Some(std::path::Path::new("/ca.crt")));
    assert!(!c.insecure_skip_verify);
    assert_eq!(c.min_version, TlsVersion::V1_2);
    let e = parse("ca_file: a\nclient_ca_file: b\n").unwrap_err();
    assert!(e.contains("client_ca_file"), "{e}");
    let c = parse("min_version: \"1.3\"\ninsecure_skip_verify: true\n").unwrap();
    assert_eq!(c.min_version, TlsVersion::V1_3);
    assert!(c.insecure_skip_verify);
}

#[test]
fn validate_names_the_key_and_the_file() {
    let at = "exporters.otlp.tls";
    let c = TlsClientConfig {
        ca_file: Some("/nonexistent/ca.crt".into()),
        ..TlsClientConfig::default()
    };
    let errors = c.validate(at);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "exporters.otlp.tls.ca_file");
    assert!(
        errors[0].message.contains("/nonexistent/ca.crt"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[0].message.contains("cannot open"),
        "{}",
        errors[0].message
    );

    let pki = TestPki::new("validate");
    let mut c = trusting(&pki);
    c.cert_file = Some(pki.ca_cert.clone());
    assert_eq!(c.validate(at)[0].path, "exporters.otlp.tls.key_file");
    c.cert_file = None;
    c.key_file = Some(pki.ca_cert.clone());
    assert_eq!(c.validate(at)[0].path, "exporters.otlp.tls.cert_file");

    let mut c = trusting(&pki);
    c.server_name_override = Some("not a name!".into());
    assert_eq!(
        c.validate(at)[0].path,
        "exporters.otlp.tls.server_name_override"
    );

    // A key file of the wrong kind: the error says so without quoting the file.
    let secret = pki.dir().join("not-a-key.pem");
    std::fs::write(
        &secret,
        "-----BEGIN CERTIFICATE-----\nU0VDUkVUS0VZTUFURVJJQUw=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let client = pki.client("c", "c");
    let mut c = trusting(&pki);
    c.cert_file = Some(client.cert.clone());
    c.key_file = Some(secret);
    let e = &c.validate(at)[0];
    assert_eq!(e.path, "exporters.otlp.tls.key_file");
    assert!(e.message.contains("no private key found"), "{}", e.message);
    assert!(!e.message.contains("U0VDUkVU"), "{}", e.message);

    // A key that belongs to another certificate.
    let other = pki.client("d", "d");
    let mut c = trusting(&pki);
    c.cert_file = Some(client.cert);
    c.key_file = Some(other.key);
    let e = &c.validate(at)[0];
    assert_eq!(e.path, "exporters.otlp.tls.key_file");
    assert!(e.message.contains("does not belong"), "{}", e.message);
}

#[tokio::test]
async fn connects_to_a_server_the_ca_signed_and_offers_h2() {
    let pki = TestPki::new("ca");
    let port = server(&pki.server("s", "localhost"), None).await;
    let client = trusting(&pki).load("t", crate::ALPN_GRPC).unwrap();
    assert!(!client.is_insecure());
    assert_eq!(exchange(&client, "localhost", port).await.unwrap(), "h2");
    assert_eq!(exchange(&client, "127.0.0.1", port).await.unwrap(), "h2");
}

#[tokio::test]
async fn refuses_a_server_another_ca_signed_unless_insecure() {
    let pki = TestPki::new("ours");
    let other = TestPki::new("theirs");
    let port = server(&other.server("s", "localhost"), None).await;
    let client = trusting(&pki).load("t", crate::ALPN_GRPC).unwrap();
    let e = exchange(&client, "localhost", port).await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("TLS handshake with localhost:"), "{text}");
    assert!(text.contains("not trusted"), "{text}");
    let e = client.connect("localhost", port).await.unwrap_err();
    assert_eq!(e.reason(), "tls", "{e}");
    // Nothing listens on a port just freed: the TCP step fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let e = client.connect("127.0.0.1", closed_port).await.unwrap_err();
    assert_eq!(e.reason(), "connect", "{e}");
    assert!(
        e.to_string().starts_with("cannot connect to 127.0.0.1:"),
        "{e}"
    );

    let insecure = TlsClientConfig {
        insecure_skip_verify: true,
        ..TlsClientConfig::default()
    }
    .load("t", crate::ALPN_GRPC)
    .unwrap();
    assert!(insecure.is_insecure());
    assert_eq!(exchange(&insecure, "localhost", port).await.unwrap(), "h2");
}

#[tokio::test]
async fn server_name_override_is_what_the_certificate_is_checked_against() {
    let pki = TestPki::new("ca");
    let port = server(&pki.server("s", "localhost"), None).await;
    let mut config = trusting(&pki);
    // The certificate names localhost and 127.0.0.1, not this.
    config.server_name_override = Some("tempo.internal".into());
    let client = config.load("t", crate::ALPN_GRPC).unwrap();
    assert!(exchange(&client, "127.0.0.1", port).await.is_err());
    config.server_name_override = Some("localhost".into());
    let client = config.load("t", crate::ALPN_GRPC).unwrap();
    assert_eq!(exchange(&client, "127.0.0.1", port).await.unwrap(), "h2");
}

#[tokio::test]
async fn presents_the_client_certificate_to_a_server_requiring_one() {
    let pki = TestPki::new("ca");
    let port = server(&pki.server("s", "localhost"), Some(&pki.ca_cert)).await;
    let without = trusting(&pki).load("t", crate::ALPN_GRPC).unwrap();
    // TLS 1.3: the server's refusal arrives with the first read.
    assert!(exchange(&without, "localhost", port).await.is_err());
    let files = pki.client("c", "team-a");
    let mut config = trusting(&pki);
    config.cert_file = Some(files.cert);
    config.key_file = Some(files.key);
    let with = config.load("t", crate::ALPN_GRPC).unwrap();
    assert_eq!(exchange(&with, "localhost", port).await.unwrap(), "h2");
}
