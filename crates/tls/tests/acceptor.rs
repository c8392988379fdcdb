//! The acceptor end to end over loopback TCP: handshakes with and without client
//! certificates, refused clients and how they are counted, certificate rotation (explicit and
//! by the background reloader) and a bad rotation that keeps the old certificate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream as ClientStream;
use tokio_util::sync::CancellationToken;
use tracegate_tls::test_util::{CertFiles, TestPki};
use tracegate_tls::{
    ClientIdentity, HandshakeError, ReloadOutcome, TlsAcceptor, TlsServerConfig, TlsVersion,
    client_identity, subject_common_name,
};

/// Serves `count` connections on a fresh port: each is handshaken, then echoed. Each
/// handshake's outcome (the client identity, or the error) is sent back.
async fn serve(
    acceptor: Arc<TlsAcceptor>,
    count: usize,
) -> (
    SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<Result<Option<ClientIdentity>, HandshakeError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for _ in 0..count {
            let (tcp, peer) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp, Some(peer)).await {
                    Ok(mut tls) => {
                        tx.send(Ok(client_identity(&tls))).unwrap();
                        let mut buf = [0u8; 64];
                        loop {
                            match tls.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if tls.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                    let _ = tls.flush().await;
                                }
                            }
                        }
                    }
                    Err(e) => tx.send(Err(e)).unwrap(),
                }
            });
        }
    });
    (addr, rx)
}

async fn connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<ClientStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// Writes and reads back through the echo server.
async fn echo(stream: &mut ClientStream<TcpStream>, text: &str) -> String {
    stream.write_all(text.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut buf = vec![0u8; text.len()];
    stream.read_exact(&mut buf).await.unwrap();
    String::from_utf8(buf).unwrap()
}

/// The common name of the certificate the server presented.
fn server_cn(stream: &ClientStream<TcpStream>) -> String {
    let cert = &stream.get_ref().1.peer_certificates().unwrap()[0];
    subject_common_name(cert.as_ref()).unwrap()
}

fn config(server: &CertFiles, client_ca: Option<&Path>) -> TlsServerConfig {
    let mut c = TlsServerConfig::new(&server.cert, &server.key);
    c.client_ca_file = client_ca.map(Path::to_owned);
    c
}

/// Every counter at one instant (a snapshot resets the recorder's counters, so take one).
struct Counters(Vec<(metrics_util::CompositeKey, DebugValue)>);

impl Counters {
    fn read(snapshotter: &Snapshotter) -> Self {
        let all = snapshotter.snapshot().into_vec();
        Self(all.into_iter().map(|(k, _, _, v)| (k, v)).collect())
    }

    /// The sum of counter `name` over the series with all of `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let key = k.key();
                let matches = key.name() == name
                    && labels
                        .iter()
                        .all(|(lk, lv)| key.labels().any(|l| l.key() == *lk && l.value() == *lv));
                match (matches, v) {
                    (true, DebugValue::Counter(n)) => Some(*n),
                    _ => None,
                }
            })
            .sum()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn mtls_exposes_the_client_common_name() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "server-one");
    let client = pki.client("client", "tenant-a");
    let acceptor =
        Arc::new(TlsAcceptor::new("t", &config(&server, Some(&pki.ca_cert)), &[]).unwrap());
    assert!(acceptor.requires_client_certificate());
    let (addr, mut outcomes) = serve(acceptor, 1).await;
    let mut stream = connect(addr, pki.client_config(Some(&client), &[]))
        .await
        .unwrap();
    assert_eq!(echo(&mut stream, "hello").await, "hello");
    let identity = outcomes.recv().await.unwrap().unwrap().unwrap();
    assert_eq!(identity.subject_cn.as_deref(), Some("tenant-a"));
    assert_eq!(server_cn(&stream), "server-one");
}

#[tokio::test(flavor = "current_thread")]
async fn without_client_ca_there_is_no_identity() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "server-one");
    let acceptor = Arc::new(TlsAcceptor::new("t", &config(&server, None), &[]).unwrap());
    let (addr, mut outcomes) = serve(acceptor, 1).await;
    let mut stream = connect(addr, pki.client_config(None, &[])).await.unwrap();
    assert_eq!(echo(&mut stream, "x").await, "x");
    assert_eq!(outcomes.recv().await.unwrap().unwrap(), None);
}

#[tokio::test(flavor = "current_thread")]
async fn refused_clients_are_counted_by_reason() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let pki = TestPki::new("Test CA");
    let other = TestPki::new("Other CA");
    let server = pki.server("server", "server-one");
    let mut cfg = config(&server, Some(&pki.ca_cert));
    cfg.handshake_timeout = tracegate_pipeline::Duration::from_millis(300);
    let acceptor = Arc::new(TlsAcceptor::new("mtls", &cfg, &[]).unwrap());
    let (addr, mut outcomes) = serve(acceptor, 5).await;

    // No client certificate: the server refuses it (TLS 1.3 reports it after the client's
    // handshake finished, on the first read).
    let no_cert = connect(addr, pki.client_config(None, &[])).await;
    if let Ok(mut stream) = no_cert {
        let _ = stream.write_all(b"x").await;
        let mut buf = [0u8; 1];
        assert!(!matches!(stream.read(&mut buf).await, Ok(1)));
    }
    let e = outcomes.recv().await.unwrap().unwrap_err();
    assert!(matches!(e, HandshakeError::ClientCertificate(_)), "{e}");

    // A client certificate from another CA.
    let stranger = other.client("stranger", "tenant-a");
    let wrong = connect(addr, pki.client_config(Some(&stranger), &[])).await;
    if let Ok(mut stream) = wrong {
        let mut buf = [0u8; 1];
        assert!(!matches!(stream.read(&mut buf).await, Ok(1)));
    }
    let e = outcomes.recv().await.unwrap().unwrap_err();
    assert!(matches!(e, HandshakeError::ClientCertificate(_)), "{e}");

    // Plaintext HTTP to the TLS port: no HTTP answer, the connection closes.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    let e = outcomes.recv().await.unwrap().unwrap_err();
    assert!(matches!(e, HandshakeError::NotTls(_)), "{e}");

    // A TCP probe: connect, then close.
    drop(TcpStream::connect(addr).await.unwrap());
    let e = outcomes.recv().await.unwrap().unwrap_err();
    assert!(matches!(e, HandshakeError::Closed), "{e}");

    // A client that connects and says nothing.
    let _silent = TcpStream::connect(addr).await.unwrap();
    let e = outcomes.recv().await.unwrap().unwrap_err();
    assert!(matches!(e, HandshakeError::Timeout(_)), "{e}");

    let name = tracegate_tls::HANDSHAKE_FAILURES_TOTAL;
    let counters = Counters::read(&snapshotter);
    for (reason, want) in [
        ("client_certificate", 2),
        ("not_tls", 1),
        ("closed", 1),
        ("timeout", 1),
    ] {
        let got = counters.get(name, &[("listener", "mtls"), ("reason", reason)]);
        assert_eq!(got, want, "{reason}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn min_version_1_3_refuses_a_tls_1_2_client() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "server-one");
    let mut cfg = config(&server, None);
    cfg.min_version = TlsVersion::V1_3;
    let acceptor = Arc::new(TlsAcceptor::new("t", &cfg, &[]).unwrap());
    let (addr, mut outcomes) = serve(acceptor, 1).await;
    let mut old = (*pki.client_config(None, &[])).clone();
    let roots = {
        let mut r = rustls::RootCertStore::empty();
        r.add(tracegate_tls::test_util::first_cert(&pki.ca_cert))
            .unwrap();
        r
    };
    old = rustls::ClientConfig::builder_with_provider(old.crypto_provider().clone())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    assert!(connect(addr, Arc::new(old)).await.is_err());
    let e = outcomes.recv().await.unwrap().unwrap_err();
    assert!(matches!(e, HandshakeError::Incompatible(_)), "{e}");
}

/// Replaces `to`'s files with `from`'s the way a rotation tool does (write aside, rename).
fn install(from: &CertFiles, to: &CertFiles) {
    for (src, dst) in [(&from.cert, &to.cert), (&from.key, &to.key)] {
        let aside = dst.with_extension("new");
        std::fs::copy(src, &aside).unwrap();
        std::fs::rename(&aside, dst).unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn reload_swaps_the_certificate_for_new_connections_only() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let pki = TestPki::new("Test CA");
    let live = pki.server("live", "server-one");
    let next = pki.server("next", "server-two");
    let acceptor = Arc::new(TlsAcceptor::new("rot", &config(&live, None), &[]).unwrap());
    let (addr, _outcomes) = serve(acceptor.clone(), 3).await;
    let mut old = connect(addr, pki.client_config(None, &[])).await.unwrap();
    assert_eq!(server_cn(&old), "server-one");
    assert_eq!(acceptor.reload(), ReloadOutcome::Unchanged);

    install(&next, &live);
    assert_eq!(acceptor.reload(), ReloadOutcome::Reloaded);
    assert_eq!(acceptor.reload(), ReloadOutcome::Unchanged);
    let new = connect(addr, pki.client_config(None, &[])).await.unwrap();
    assert_eq!(server_cn(&new), "server-two");
    // The connection made before the rotation goes on.
    assert_eq!(echo(&mut old, "still here").await, "still here");

    // A broken key: the old certificate stays, the failure is reported once.
    std::fs::write(&live.key, "-----BEGIN PRIVATE KEY-----\nnot base64!\n").unwrap();
    let first = acceptor.reload();
    assert!(
        matches!(&first, ReloadOutcome::Failed { error, repeated: false } if error.key == "key_file"),
        "{first:?}"
    );
    assert!(matches!(
        acceptor.reload(),
        ReloadOutcome::Failed { repeated: true, .. }
    ));
    let during = connect(addr, pki.client_config(None, &[])).await.unwrap();
    assert_eq!(server_cn(&during), "server-two");

    // A key that belongs to another certificate.
    let stray = pki.server("stray", "server-three");
    std::fs::copy(&stray.key, &live.key).unwrap();
    match acceptor.reload() {
        ReloadOutcome::Failed {
            error,
            repeated: false,
        } => {
            assert!(error.problem.contains("does not belong"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    let counters = Counters::read(&snapshotter);
    assert_eq!(
        counters.get(tracegate_tls::RELOADS_TOTAL, &[("listener", "rot")]),
        1
    );
    let failures = counters.get(tracegate_tls::RELOAD_FAILURES_TOTAL, &[("listener", "rot")]);
    assert_eq!(failures, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_reloader_picks_up_rotated_files() {
    let pki = TestPki::new("Test CA");
    let live = pki.server("live", "server-one");
    let next = pki.server("next", "server-two");
    let mut cfg = config(&live, None);
    cfg.reload_interval = tracegate_pipeline::Duration::from_millis(100);
    let acceptor = Arc::new(TlsAcceptor::new("bg", &cfg, &[]).unwrap());
    let stop = CancellationToken::new();
    let reloader = acceptor.spawn_reloader(stop.clone()).unwrap();
    let (addr, _outcomes) = serve(acceptor, 100).await;
    let mut old = connect(addr, pki.client_config(None, &[])).await.unwrap();
    assert_eq!(server_cn(&old), "server-one");
    install(&next, &live);
    let mut seen = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let new = connect(addr, pki.client_config(None, &[])).await.unwrap();
        seen = server_cn(&new);
        if seen == "server-two" {
            break;
        }
    }
    assert_eq!(seen, "server-two");
    assert_eq!(echo(&mut old, "old connection").await, "old connection");
    stop.cancel();
    reloader.await.unwrap();
}

#[test]
fn reload_interval_zero_starts_no_reloader() {
    let pki = TestPki::new("Test CA");
    let live = pki.server("live", "server-one");
    let mut cfg = config(&live, None);
    cfg.reload_interval = tracegate_pipeline::Duration::from_secs(0);
    let acceptor = Arc::new(TlsAcceptor::new("z", &cfg, &[]).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _enter = runtime.enter();
    assert!(acceptor.spawn_reloader(CancellationToken::new()).is_none());
}

#[test]
fn validate_names_the_key_and_never_quotes_the_key_file() {
    let pki = TestPki::new("Test CA");
    let a = pki.server("a", "a");
    let b = pki.server("b", "b");
    assert!(config(&a, Some(&pki.ca_cert)).validate("x.tls").is_empty());

    let key_text = std::fs::read_to_string(&b.key).unwrap();
    let mismatched = TlsServerConfig::new(&a.cert, &b.key);
    let errors = mismatched.validate("x.tls");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "x.tls.key_file");
    assert!(
        errors[0].message.contains("does not belong"),
        "{}",
        errors[0].message
    );

    // The key file given as the certificate, and as the CA: refused, and the key's content
    // appears in no message.
    let swapped = config(
        &CertFiles {
            cert: b.key.clone(),
            key: b.key.clone(),
        },
        None,
    );
    let ca_is_key = config(&a, Some(&b.key));
    for (cfg, key) in [
        (swapped, "x.tls.cert_file"),
        (ca_is_key, "x.tls.client_ca_file"),
    ] {
        let errors = cfg.validate("x.tls");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, key);
        assert!(
            errors[0].message.contains("no certificate found"),
            "{}",
            errors[0].message
        );
        for line in key_text.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!errors[0].message.contains(line));
        }
    }

    // A certificate given as the key.
    let errors = TlsServerConfig::new(&a.cert, &a.cert).validate("x.tls");
    assert_eq!(errors[0].path, "x.tls.key_file");
    assert!(
        errors[0].message.contains("no private key found"),
        "{}",
        errors[0].message
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_expiry_gauge_follows_the_certificate_in_use() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let pki = TestPki::new("Test CA");
    let live = pki.server("live", "server-one");
    let acceptor = TlsAcceptor::new("exp", &config(&live, None), &[]).unwrap();
    let gauge = |snapshotter: &Snapshotter| {
        snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .find_map(|(k, _, _, v)| match v {
                DebugValue::Gauge(g) if k.key().name() == tracegate_tls::CERTIFICATE_EXPIRY => {
                    Some(g.into_inner())
                }
                _ => None,
            })
            .unwrap()
    };
    let want = tracegate_tls::not_after(tracegate_tls::test_util::first_cert(&live.cert).as_ref())
        .unwrap();
    assert_eq!(gauge(&snapshotter), want as f64);
    // openssl was asked for 2 days.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (want - now - 2 * 86_400).abs() < 600,
        "not_after {want}, now {now}"
    );

    let next = pki.server_for_days("next", "server-two", 30);
    install(&next, &live);
    assert_eq!(acceptor.reload(), ReloadOutcome::Reloaded);
    let later = gauge(&snapshotter);
    assert!(
        (later as i64 - now - 30 * 86_400).abs() < 600,
        "not_after {later}"
    );
}
