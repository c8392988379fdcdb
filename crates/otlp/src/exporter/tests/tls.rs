//! The exporter over TLS, against the OTLP receiver serving TLS (and mTLS) in process: a CA
//! file, a client certificate, and a server certificate another CA signed (refused, counted,
//! retried).

use super::*;
use tracegate_tls::test_util::TestPki;
use tracegate_tls::{TlsClientConfig, TlsServerConfig};

struct Running {
    addr: SocketAddr,
    rx: mpsc::Receiver<tracegate_pipeline::sender::Inbound>,
    shutdown: CancellationToken,
}

async fn tls_receiver(id: &str, tls: TlsServerConfig) -> Running {
    init_metrics();
    let receiver_config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcConfig {
                endpoint: "127.0.0.1:0".into(),
                tls: Some(tls),
            }),
            http: None,
        },
        ..Default::default()
    };
    let id = ComponentId::parse(id).unwrap();
    let mut receiver = Box::new(OtlpReceiver::new(id.clone(), receiver_config));
    receiver.bind().await.unwrap();
    let addr = receiver.grpc_addr().unwrap();
    let (tx, rx) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let ctx = ReceiverContext {
        id,
        output: SpanSender::new(vec![tx], StdDuration::from_millis(100)),
        shutdown: shutdown.clone(),
    };
    tokio::spawn(receiver.run(ctx));
    Running { addr, rx, shutdown }
}

fn tls_config(endpoint: String, tls: TlsClientConfig) -> OtlpExporterConfig {
    let mut c = config(endpoint);
    c.tls = Some(tls);
    c.sending_queue.storage = QueueStorage::Memory;
    c
}

#[tokio::test]
async fn delivers_over_tls_with_a_ca_file_and_over_mtls() {
    let pki = TestPki::new("tempo-ca");
    let server = pki.server("s", "localhost");
    // TLS: `https://localhost`, trusting the CA.
    let mut running = tls_receiver(
        "otlp/tls_rx",
        TlsServerConfig::new(&server.cert, &server.key),
    )
    .await;
    let tls = TlsClientConfig {
        ca_file: Some(pki.ca_cert.clone()),
        ..Default::default()
    };
    let endpoint = format!("https://localhost:{}", running.addr.port());
    let mut exp = exporter("otlp/tls", &tls_config(endpoint, tls.clone()));
    let (body, batch) = payload(valid_request(3));
    exp.export(body).await.unwrap();
    exp.shutdown().await.unwrap();
    let got = running.rx.recv().await.unwrap().into_spans();
    assert_eq!(got.to_request(), batch.to_request());
    running.shutdown.cancel();

    // mTLS: the receiver requires a client certificate the CA signed; `host:port` with tls:.
    let mut server_tls = TlsServerConfig::new(&server.cert, &server.key);
    server_tls.client_ca_file = Some(pki.ca_cert.clone());
    let mut running = tls_receiver("otlp/mtls_rx", server_tls).await;
    let client = pki.client("c", "gateway");
    let mtls = TlsClientConfig {
        cert_file: Some(client.cert),
        key_file: Some(client.key),
        ..tls.clone()
    };
    let endpoint = format!("127.0.0.1:{}", running.addr.port());
    let mut exp = exporter("otlp/mtls", &tls_config(endpoint.clone(), mtls));
    let (body, batch) = payload(valid_request(3));
    exp.export(body).await.unwrap();
    exp.shutdown().await.unwrap();
    let got = running.rx.recv().await.unwrap().into_spans();
    assert_eq!(got.to_request(), batch.to_request());

    // Without the client certificate the receiver refuses the handshake: not delivered.
    let mut c = tls_config(endpoint, tls);
    c.retry.max_elapsed_time = Duration::from_millis(200);
    let mut exp = exporter("otlp/mtls_nocert", &c);
    let (body, _) = payload(valid_request(3));
    exp.export(body).await.unwrap();
    exp.shutdown().await.unwrap();
    // TLS 1.3: the server's refusal comes after the client's handshake, as the connection
    // closing under the first call; that is retried like a failed connect, then given up.
    let id = "otlp/mtls_nocert";
    assert_eq!(failed(id, "retries_exhausted"), 3);
    assert_eq!(failed(id, "permanent"), 0);
    assert!(running.rx.try_recv().is_err());
    running.shutdown.cancel();
}

#[tokio::test]
async fn a_server_another_ca_signed_is_refused_counted_and_retried() {
    let ours = TestPki::new("ours");
    let theirs = TestPki::new("theirs");
    let server = theirs.server("s", "localhost");
    let mut running = tls_receiver(
        "otlp/untrusted_rx",
        TlsServerConfig::new(&server.cert, &server.key),
    )
    .await;
    let tls = TlsClientConfig {
        ca_file: Some(ours.ca_cert.clone()),
        ..Default::default()
    };
    let id = "otlp/untrusted";
    let mut c = tls_config(format!("https://localhost:{}", running.addr.port()), tls);
    c.retry.max_elapsed_time = Duration::from_millis(300);
    let mut exp = exporter(id, &c);
    let (body, _) = payload(valid_request(3));
    exp.export(body).await.unwrap();
    exp.shutdown().await.unwrap();
    assert_eq!(failed(id, "retries_exhausted"), 3);
    let handshakes = counter(
        CONNECT_FAILURES_TOTAL,
        &[("exporter", id), ("reason", "tls")],
    );
    assert!(handshakes >= 2, "{handshakes} handshake failures counted");
    assert!(count(names::EXPORTER_RETRIES, id, &[]) >= 1);
    assert!(running.rx.try_recv().is_err());
    running.shutdown.cancel();
}

#[test]
fn tls_config_errors_and_redacted_headers() {
    let err = |yaml: &str| {
        OtlpExporterConfig::from_section("exporters.otlp", serde_yaml_ng::from_str(yaml).unwrap())
            .unwrap_err()
            .to_string()
    };
    let e = err("endpoint: tempo:4317\ntls: { ca_file: /nonexistent/ca.crt }");
    assert!(
        e.starts_with("exporters.otlp.tls.ca_file: /nonexistent/ca.crt: cannot open"),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\ntls: { cafile: x }");
    assert!(e.contains("cafile"), "{e}");
    let e = err("endpoint: ftp://tempo:4317");
    assert!(e.contains("use http:// or https://"), "{e}");

    let c = OtlpExporterConfig::from_section(
        "exporters.otlp",
        serde_yaml_ng::from_str(
            "endpoint: tempo:4317\nheaders: { authorization: \"Bearer s3cr3t-t0ken\" }",
        )
        .unwrap(),
    )
    .unwrap();
    let resolved = c.resolve("exporters.otlp").unwrap();
    assert!(resolved.tls.is_none());
    for text in [format!("{c:?}"), format!("{resolved:?}")] {
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(text.contains("authorization"), "{text}");
    }
    assert_eq!(
        resolved
            .headers
            .get("authorization")
            .unwrap()
            .to_str()
            .unwrap(),
        "Bearer s3cr3t-t0ken"
    );
}
