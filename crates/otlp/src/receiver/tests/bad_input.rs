//! Bad input: truncated protobuf, invalid JSON, bodies over the limits, compression bombs,
//! unknown Content-Type and Content-Encoding, wrong method.

use super::*;

// ---------------------------------------------------------------------------------------------
// Bad input

#[tokio::test]
async fn truncated_protobuf_is_invalid_argument_and_400() {
    let h = start("otlp/truncated", local_config(), 16).await;
    let mut body = valid_request(3).encode_to_vec();
    body.truncate(body.len() - 3);

    let status = status_of(h.grpc_raw(body.clone(), Compression::None).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("invalid protobuf: failed to decode Protobuf message"),
        "{status:?}"
    );

    let reply = h.post("application/x-protobuf", &body).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("content-type"), Some("application/x-protobuf"));
    let status = RpcStatus::decode(&reply.body[..]).unwrap();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(
        status
            .message
            .starts_with("invalid protobuf: failed to decode Protobuf message"),
        "{status:?}"
    );

    assert_eq!(
        (
            h.requests("grpc", "bad_request"),
            h.requests("http", "bad_request")
        ),
        (1, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn deeply_nested_protobuf_hits_proses_recursion_limit() {
    let h = start("otlp/deep_pb", local_config(), 16).await;
    let mut value = AnyValue {
        value: Some(V::StringValue("x".into())),
    };
    for _ in 0..120 {
        value = AnyValue {
            value: Some(V::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    let mut s = span(vec![1; 16], 1, "deep");
    s.attributes = vec![KeyValue {
        key: "k".into(),
        value: Some(value),
        ..Default::default()
    }];
    let reply = h
        .post("application/x-protobuf", &request(vec![s]).encode_to_vec())
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.error_message().contains("recursion limit reached"),
        "{}",
        reply.error_message()
    );
    h.stop().await;
}

#[tokio::test]
async fn invalid_json_is_400_with_a_json_status() {
    let h = start("otlp/bad_json", local_config(), 16).await;
    let reply = h
        .post(
            "application/json",
            br#"{"resourceSpans": [{"scopeSpans": 3}]}"#,
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let status: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(status["code"], Code::InvalidArgument as i32);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid OTLP/JSON at resourceSpans[0].scopeSpans: invalid type"),
        "{message}"
    );
    let reply = h.post("application/json", b"not json").await;
    assert_eq!(reply.status, 400);
    assert!(
        reply
            .error_message()
            .starts_with("invalid OTLP/JSON: expected ident"),
        "{}",
        reply.error_message()
    );
    assert_eq!(h.requests("http", "bad_request"), 2);
    h.stop().await;
}

#[tokio::test]
async fn bodies_over_max_request_bytes_are_refused() {
    let h = start("otlp/too_large", local_config(), 16).await;
    // HTTP: refused by Content-Length, before the body is read.
    let reply = http_call_with_length(
        h.http,
        "POST",
        &[("content-type", "application/x-protobuf")],
        None,
        200_000,
    )
    .await;
    assert_eq!(reply.status, 413);
    let status = RpcStatus::decode(&reply.body[..]).unwrap();
    assert_eq!(
        status.message,
        "request body is 200000 bytes, over max_request_bytes (65536 bytes)"
    );

    // gRPC: a message over max_request_bytes (but under max_decompressed_bytes), refused by
    // its length prefix.
    let big = request(vec![{
        let mut s = span(vec![1; 16], 1, "big");
        s.attributes.push(KeyValue {
            key: "prompt".into(),
            value: Some(AnyValue {
                value: Some(V::StringValue("x".repeat(100_000))),
            }),
            ..Default::default()
        });
        s
    }]);
    let status = h.grpc_client().await.export(big.clone()).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status
            .message()
            .contains("over max_request_bytes (65536 bytes)"),
        "{status:?}"
    );
    // Compressed, the same request is small enough and goes through.
    let mut client = h
        .grpc_client()
        .await
        .send_compressed(CompressionEncoding::Gzip);
    client.export(big).await.unwrap();

    assert_eq!(
        (
            h.requests("http", "too_large"),
            h.requests("grpc", "too_large")
        ),
        (1, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn a_gzip_bomb_is_refused_and_the_receiver_stays_up() {
    let config = bomb_config();
    let mut h = start("otlp/bomb", config, 16).await;
    let bomb = gzip_bomb();
    assert!(
        bomb.len() < 512 * 1024,
        "the bomb itself fits max_request_bytes: {}",
        bomb.len()
    );
    let reply = http_call(
        h.http,
        "POST",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        Some(&bomb),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.error_message(),
        "gzip body decompresses to more than max_decompressed_bytes (524288 bytes)"
    );

    // gRPC: tonic stops inflating at max_decompressed_bytes.
    let status = status_of(h.grpc_raw(vec![0u8; 4 << 20], Compression::Gzip).await);
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.message().contains("size limit"), "{status:?}");

    // Both keep serving.
    let body = gzip(&valid_request(2).encode_to_vec());
    let reply = http_call(
        h.http,
        "POST",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        Some(&body),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 2);
    h.grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 1);
    assert_eq!(
        (
            h.requests("http", "too_large"),
            h.requests("grpc", "too_large")
        ),
        (1, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn unsupported_media_types_encodings_and_methods() {
    let h = start("otlp/unsupported", local_config(), 16).await;
    let reply = h.post("text/plain", b"hello").await;
    assert_eq!(reply.status, 415);
    assert_eq!(
        reply.error_message(),
        "unsupported Content-Type \"text/plain\": send application/x-protobuf or application/json"
    );
    let reply = http_call(h.http, "POST", &[], Some(b"x")).await;
    assert_eq!(reply.status, 415);

    let reply = http_call(
        h.http,
        "POST",
        &[
            ("content-type", "application/json"),
            ("content-encoding", "br"),
        ],
        Some(b"{}"),
    )
    .await;
    assert_eq!(reply.status, 415);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(
        reply
            .error_message()
            .starts_with("unsupported Content-Encoding \"br\"")
    );

    let reply = http_call(h.http, "GET", &[], None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(h.requests("http", "unsupported"), 3);
    h.stop().await;
}
