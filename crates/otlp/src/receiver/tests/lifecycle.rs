//! Back-pressure (a full pipeline gives gRPC `UNAVAILABLE` and HTTP 503 with Retry-After),
//! compression (gRPC gzip and zstd, HTTP gzip, deflate and zstd) and lifecycle (a taken port, only
//! the listed protocols, shutdown dropping the sender).

use super::*;

// ---------------------------------------------------------------------------------------------
// Back-pressure

#[tokio::test]
async fn a_full_pipeline_is_unavailable_and_503_with_retry_after() {
    // One slot, never read: the first batch fills it, the next ones wait 50 ms and are refused.
    let h = start("otlp/full", local_config(), 1).await;
    h.grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap();

    let status = h
        .grpc_client()
        .await
        .export(valid_request(2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "the pipeline is full; retry later");

    let reply = h
        .post("application/x-protobuf", &valid_request(3).encode_to_vec())
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.error_message(), "the pipeline is full; retry later");
    let reply = h.post("application/json", br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}]}]}]}"#).await;
    assert_eq!(
        (reply.status, reply.header("content-type")),
        (503, Some("application/json"))
    );

    let full = |t| {
        h.count(
            names::RECEIVER_REFUSED_SPANS,
            &[("transport", t), ("reason", "pipeline_full")],
        )
    };
    assert_eq!((full("grpc"), full("http")), (2, 4));
    assert_eq!(
        (
            h.requests("grpc", "pipeline_full"),
            h.requests("http", "pipeline_full")
        ),
        (1, 2)
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Compression

#[tokio::test]
async fn grpc_accepts_gzip_and_zstd() {
    let mut h = start("otlp/grpc_compression", local_config(), 16).await;
    for encoding in [CompressionEncoding::Gzip, CompressionEncoding::Zstd] {
        let mut client = h.grpc_client().await.send_compressed(encoding);
        let response = client.export(valid_request(3)).await.unwrap().into_inner();
        assert_eq!(response.partial_success, None);
        assert_eq!(
            h.rx.recv().await.unwrap().into_spans().len(),
            3,
            "{encoding:?}"
        );
    }
    assert_eq!(h.requests("grpc", "ok"), 2);
    h.stop().await;
}

#[tokio::test]
async fn http_accepts_gzip_deflate_and_zstd() {
    let mut h = start("otlp/http_compression", local_config(), 16).await;
    let raw = valid_request(2).encode_to_vec();
    let mut zlib = ZlibEncoder::new(Vec::new(), Level::fast());
    zlib.write_all(&raw).unwrap();
    // zstd both as one frame of a known size and as a stream (no content size, a level's
    // window), as the Go and Java exporters write it.
    let mut stream = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    stream.write_all(&raw).unwrap();
    for (encoding, body) in [
        ("gzip", gzip(&raw)),
        ("deflate", zlib.finish().unwrap()),
        ("zstd", zstd::bulk::compress(&raw, 3).unwrap()),
        ("zstd", stream.finish().unwrap()),
    ] {
        let reply = http_call(
            h.http,
            "POST",
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", encoding),
            ],
            Some(&body),
        )
        .await;
        assert_eq!(reply.status, 200, "{encoding}");
        assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 2);
    }
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle

#[tokio::test]
async fn a_taken_port_fails_bind_naming_the_endpoint() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = taken.local_addr().unwrap().to_string();
    let config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcConfig {
                endpoint: endpoint.clone(),
                tls: None,
            }),
            http: None,
        },
        ..Default::default()
    };
    let mut receiver = OtlpReceiver::new(ComponentId::parse("otlp/taken").unwrap(), config);
    let e = receiver.bind().await.unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "otlp/taken: could not start: cannot listen for OTLP/gRPC on {endpoint}"
        )),
        "{e}"
    );
    assert!(
        e.contains("receivers.otlp/taken.protocols.grpc.endpoint"),
        "{e}"
    );
}

#[tokio::test]
async fn only_the_listed_protocols_run() {
    let config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: None,
            http: Some(HttpConfig {
                endpoint: "127.0.0.1:0".into(),
                tls: None,
            }),
        },
        ..local_config()
    };
    let mut receiver = OtlpReceiver::new(ComponentId::parse("otlp/http_only").unwrap(), config);
    receiver.bind().await.unwrap();
    assert!(receiver.grpc_addr().is_none());
    assert!(receiver.http_addr().is_some());
}

#[tokio::test]
async fn shutdown_stops_listening_and_drops_the_sender() {
    let mut h = start("otlp/shutdown", local_config(), 16).await;
    h.grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);
    let (grpc, http) = (h.grpc, h.http);
    h.stop().await;
    assert!(
        TcpStream::connect(grpc).await.is_err(),
        "gRPC listener closed"
    );
    assert!(
        TcpStream::connect(http).await.is_err(),
        "HTTP listener closed"
    );
}
