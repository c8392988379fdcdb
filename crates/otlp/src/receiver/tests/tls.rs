//! TLS on both listeners (issue 17): gRPC and HTTP clients over TLS, plaintext to a TLS port,
//! mTLS with a good, a foreign and no client certificate, certificate rotation while the
//! receiver runs, and a bad `tls` section refused at build with the key's path.

use super::*;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;
use tonic::transport::Endpoint;
use tracegate_tls::test_util::{CertFiles, TestPki};
use tracegate_tls::{ALPN_GRPC, HANDSHAKE_FAILURES_TOTAL, TlsServerConfig, subject_common_name};

/// [`local_config`] with TLS on both listeners, mTLS with `client_ca`, files checked every
/// 100 ms.
pub(super) fn tls_config(
    server: &CertFiles,
    client_ca: Option<&std::path::Path>,
) -> OtlpReceiverConfig {
    let mut tls = TlsServerConfig::new(&server.cert, &server.key);
    tls.client_ca_file = client_ca.map(Into::into);
    tls.reload_interval = tracegate_pipeline::Duration::from_millis(100);
    tls.handshake_timeout = tracegate_pipeline::Duration::from_secs(2);
    let mut config = local_config();
    if let Some(grpc) = config.protocols.grpc.as_mut() {
        grpc.tls = Some(tls.clone());
    }
    if let Some(http) = config.protocols.http.as_mut() {
        http.tls = Some(tls);
    }
    config
}

async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    TlsConnector::from(config).connect(name, tcp).await
}

/// A gRPC channel over TLS (tonic built without its TLS feature: the connector does TLS).
async fn tls_channel(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_| {
            let config = config.clone();
            async move { tls_connect(addr, config).await.map(TokioIo::new) }
        }))
        .await
}

/// Exports `spans` spans over a fresh TLS channel.
async fn grpc_export(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    spans: u8,
) -> Result<(), String> {
    grpc_export_with(addr, config, spans, &[]).await
}

/// As [`grpc_export`], with these metadata entries.
pub(super) async fn grpc_export_with(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    spans: u8,
    metadata: &[(&'static str, &str)],
) -> Result<(), String> {
    let channel = tls_channel(addr, config).await.map_err(|e| e.to_string())?;
    let mut request = tonic::Request::new(valid_request(spans));
    for (k, v) in metadata {
        request
            .metadata_mut()
            .insert(*k, v.parse().map_err(|_| "bad metadata".to_owned())?);
    }
    TraceServiceClient::new(channel)
        .export(request)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// POSTs a protobuf request over HTTP/1.1 and TLS; the response's status line, or what went
/// wrong.
async fn https_post(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    spans: u8,
) -> Result<String, String> {
    https_post_with(addr, config, spans, &[]).await
}

/// As [`https_post`], with these extra headers.
pub(super) async fn https_post_with(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    spans: u8,
    headers: &[(&str, &str)],
) -> Result<String, String> {
    let mut stream = tls_connect(addr, config).await.map_err(|e| e.to_string())?;
    let body = valid_request(spans).encode_to_vec();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
         content-type: application/x-protobuf\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    );
    let io = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(&body).await?;
        stream.flush().await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = io.await.map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&raw);
    text.lines()
        .next()
        .map(str::to_owned)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| "no response".to_owned())
}

fn handshake_failures(listener: &str, reason: &str) -> u64 {
    counter(
        HANDSHAKE_FAILURES_TOTAL,
        &[("listener", listener), ("reason", reason)],
    )
}

#[tokio::test]
async fn grpc_and_http_over_tls_deliver_spans() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "gateway");
    let mut h = start("otlp/tls_ok", tls_config(&server, None), 16).await;

    grpc_export(h.grpc, pki.client_config(None, ALPN_GRPC), 2)
        .await
        .unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 2);

    let status = https_post(h.http, pki.client_config(None, &[b"http/1.1"]), 3)
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 3);
    assert_eq!(h.requests("grpc", "ok"), 1);
    assert_eq!(h.requests("http", "ok"), 1);
    h.stop().await;
}

#[tokio::test]
async fn plaintext_to_a_tls_port_is_refused_and_the_listener_goes_on() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "gateway");
    let mut h = start("otlp/tls_plain", tls_config(&server, None), 16).await;

    // A plaintext gRPC client (h2c).
    let plain = h
        .grpc_raw(valid_request(1).encode_to_vec(), Compression::None)
        .await;
    assert!(!matches!(plain, Outcome::Sent { .. }));
    // Plaintext HTTP: no HTTP answer, just a closed connection (and perhaps a TLS alert).
    let mut stream = TcpStream::connect(h.http).await.unwrap();
    stream
        .write_all(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    assert!(h.rx.try_recv().is_err(), "nothing got through in the clear");

    // TLS clients are still served.
    grpc_export(h.grpc, pki.client_config(None, ALPN_GRPC), 1)
        .await
        .unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);
    assert!(handshake_failures("otlp/tls_plain/grpc", "not_tls") >= 1);
    assert_eq!(handshake_failures("otlp/tls_plain/http", "not_tls"), 1);
    h.stop().await;
}

#[tokio::test]
async fn mtls_accepts_exactly_the_clients_with_a_certificate_from_the_ca() {
    let pki = TestPki::new("Test CA");
    let other = TestPki::new("Other CA");
    let server = pki.server("server", "gateway");
    let good = pki.client("good", "tenant-a");
    let foreign = other.client("foreign", "tenant-a");
    let mut h = start("otlp/tls_mtls", tls_config(&server, Some(&pki.ca_cert)), 16).await;

    grpc_export(h.grpc, pki.client_config(Some(&good), ALPN_GRPC), 1)
        .await
        .unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);
    let status = https_post(h.http, pki.client_config(Some(&good), &[]), 1)
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);

    for client in [None, Some(&foreign)] {
        let grpc = grpc_export(h.grpc, pki.client_config(client, ALPN_GRPC), 1).await;
        assert!(
            grpc.is_err(),
            "gRPC without a valid client certificate: {grpc:?}"
        );
        let http = https_post(h.http, pki.client_config(client, &[]), 1).await;
        assert!(
            !http.as_ref().is_ok_and(|s| s.starts_with("HTTP/")),
            "HTTP without a valid client certificate: {http:?}"
        );
    }
    assert!(h.rx.try_recv().is_err(), "refused clients sent nothing");
    assert_eq!(
        handshake_failures("otlp/tls_mtls/grpc", "client_certificate"),
        2
    );
    assert_eq!(
        handshake_failures("otlp/tls_mtls/http", "client_certificate"),
        2
    );
    h.stop().await;
}

/// The common name of the certificate the gRPC listener presents to a new connection.
async fn presented(addr: SocketAddr, pki: &TestPki) -> String {
    let stream = tls_connect(addr, pki.client_config(None, ALPN_GRPC))
        .await
        .unwrap();
    let cert = &stream.get_ref().1.peer_certificates().unwrap()[0];
    subject_common_name(cert.as_ref()).unwrap()
}

#[tokio::test]
async fn rotated_files_reach_new_connections_while_old_ones_go_on() {
    let pki = TestPki::new("Test CA");
    let live = pki.server("live", "gateway-one");
    let next = pki.server("next", "gateway-two");
    let mut h = start("otlp/tls_rotate", tls_config(&live, None), 16).await;
    let old = tls_channel(h.grpc, pki.client_config(None, ALPN_GRPC))
        .await
        .unwrap();
    let mut old = TraceServiceClient::new(old);
    old.export(valid_request(1)).await.unwrap();
    assert_eq!(presented(h.grpc, &pki).await, "gateway-one");

    // Rotate as cert-manager or a deploy script would: write aside, then rename over.
    for (src, dst) in [(&next.cert, &live.cert), (&next.key, &live.key)] {
        let aside = dst.with_extension("tmp");
        std::fs::copy(src, &aside).unwrap();
        std::fs::rename(&aside, dst).unwrap();
    }
    let mut seen = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen = presented(h.grpc, &pki).await;
        if seen == "gateway-two" {
            break;
        }
    }
    assert_eq!(seen, "gateway-two");
    // The connection opened before the rotation still exports.
    old.export(valid_request(2)).await.unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 2);
    assert_eq!(
        counter(
            tracegate_tls::RELOADS_TOTAL,
            &[("listener", "otlp/tls_rotate/grpc")]
        ),
        1
    );
    h.stop().await;
}

#[test]
fn a_tls_file_that_does_not_load_is_a_config_error_at_its_key() {
    let yaml = "protocols:\n  grpc:\n    endpoint: 127.0.0.1:4317\n    tls:\n      \
                cert_file: /nonexistent/server.crt\n      key_file: /nonexistent/server.key\n";
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let e = OtlpReceiverConfig::from_section("receivers.otlp", value).unwrap_err();
    assert_eq!(e.path, "receivers.otlp.protocols.grpc.tls.cert_file");
    assert!(
        e.message.contains("/nonexistent/server.crt"),
        "{}",
        e.message
    );

    let pki = TestPki::new("Test CA");
    let a = pki.server("a", "a");
    let b = pki.server("b", "b");
    let yaml = format!(
        "protocols:\n  http:\n    tls:\n      cert_file: {}\n      key_file: {}\n      \
         min_version: \"1.3\"\n",
        a.cert.display(),
        b.key.display()
    );
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    let e = OtlpReceiverConfig::from_section("receivers.otlp", value).unwrap_err();
    assert_eq!(e.path, "receivers.otlp.protocols.http.tls.key_file");
    assert!(e.message.contains("does not belong"), "{}", e.message);
}

#[tokio::test]
async fn a_stalled_handshake_does_not_hold_up_other_clients() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "gateway");
    let mut h = start("otlp/tls_stall", tls_config(&server, None), 16).await;
    // Clients that connect and never start the handshake (the timeout is 2 s).
    let _grpc_stalled = TcpStream::connect(h.grpc).await.unwrap();
    let _http_stalled = TcpStream::connect(h.http).await.unwrap();
    let started = std::time::Instant::now();
    grpc_export(h.grpc, pki.client_config(None, ALPN_GRPC), 1)
        .await
        .unwrap();
    let status = https_post(h.http, pki.client_config(None, &[]), 1)
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "served after {:?}, behind the stalled handshakes",
        started.elapsed()
    );
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);
    // The stalled ones are cut off at the timeout and counted.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(handshake_failures("otlp/tls_stall/grpc", "timeout"), 1);
    assert_eq!(handshake_failures("otlp/tls_stall/http", "timeout"), 1);
    h.stop().await;
}
