//! Logs refused whole: truncated protobuf, invalid JSON, nesting, size limits and gzip
//! bombs (not retryable), and a full pipeline or write-ahead log (retryable), each answered
//! as traces are.

use super::*;
use tracegate_pipeline::Refused;

/// Calls `LogsService/Export` over a raw HTTP/2 connection with `message` as the gRPC message
/// as it is (it need not be a valid request), gzip-flagged if `gzip`, and returns the status.
async fn grpc_logs_raw(addr: SocketAddr, message: &[u8], gzip: bool) -> tonic::Status {
    use hyper::body::Body as _;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut frame = vec![u8::from(gzip)];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    let mut request = ::http::Request::post(format!(
        "http://{addr}/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers");
    if gzip {
        request = request.header("grpc-encoding", "gzip");
    }
    let request = request.body(axum::body::Body::from(frame)).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), sender.send_request(request))
        .await
        .expect("the server must answer")
        .unwrap();
    let (parts, mut body) = response.into_parts();
    if let Some(status) = tonic::Status::from_header_map(&parts.headers) {
        return status;
    }
    // Not a trailers-only answer: the status is in the trailers.
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        if let Ok(trailers) = frame.unwrap().into_trailers() {
            return tonic::Status::from_header_map(&trailers).expect("a grpc-status trailer");
        }
    }
    panic!("no grpc-status in the response");
}

// ---------------------------------------------------------------------------------------------
// Bad input and limits

#[tokio::test]
async fn truncated_protobuf_and_invalid_json_are_invalid_argument_and_400() {
    let mut h = start_logs("otlp/logs_bad", local_config(), 16).await;
    let mut body = valid_logs(3).encode_to_vec();
    body.truncate(body.len() - 3);

    let status = grpc_logs_raw(h.grpc, &body, false).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("invalid protobuf: failed to decode Protobuf message"),
        "{status:?}"
    );
    let reply = h.post_logs(&[("content-type", PROTOBUF)], &body).await;
    assert_eq!(reply.status, 400);
    let status = RpcStatus::decode(&reply.body[..]).unwrap();
    assert_eq!(status.code, Code::InvalidArgument as i32);
    assert!(
        status
            .message
            .starts_with("invalid protobuf: failed to decode Protobuf message"),
        "{status:?}"
    );

    // Invalid JSON: the key path and the position.
    let reply = h
        .post_logs(
            &[("content-type", JSON)],
            br#"{"resourceLogs": [{"scopeLogs": 3}]}"#,
        )
        .await;
    assert_eq!(
        (reply.status, reply.header("content-type")),
        (400, Some(JSON))
    );
    let status: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(status["code"], Code::InvalidArgument as i32);
    let message = status["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid OTLP/JSON at resourceLogs[0].scopeLogs: invalid type"),
        "{message}"
    );
    assert!(message.ends_with("at line 1 column 33"), "{message}");
    let reply = h
        .post_logs(&[("content-type", JSON)], b"{\"resourceLogs\": [")
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.error_message().starts_with(
            "invalid OTLP/JSON at resourceLogs: EOF while parsing a list at line 1 column 18"
        ),
        "{}",
        reply.error_message()
    );

    // The receiver keeps serving.
    h.logs_client().await.export(valid_logs(1)).await.unwrap();
    assert_eq!(h.next_logs().await.len(), 1);
    assert_eq!(h.log_requests_each("bad_request"), (1, 3));
    h.stop().await;
}

#[tokio::test]
async fn log_bodies_nested_too_deep_are_refused_and_shallow_ones_pass() {
    let mut h = start_logs("otlp/logs_deep", local_config(), 16).await;
    let deep = |depth| {
        let mut r = record(vec![1; 16], "");
        r.body = Some(nested(depth));
        logs_request(vec![r])
    };
    // Protobuf: prost's recursion limit, on both transports.
    let body = deep(120).encode_to_vec();
    let reply = h.post_logs(&[("content-type", PROTOBUF)], &body).await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.error_message().contains("recursion limit reached"),
        "{}",
        reply.error_message()
    );
    let status = h.logs_client().await.export(deep(120)).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("recursion limit reached"),
        "{status:?}"
    );
    // Attributes are bounded the same way.
    let mut r = record(vec![1; 16], "x");
    r.attributes[0].value = Some(nested(120));
    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF)],
            &logs_request(vec![r]).encode_to_vec(),
        )
        .await;
    assert_eq!(reply.status, 400);

    // JSON: serde_json's recursion limit.
    let mut value = r#"{"stringValue":"x"}"#.to_owned();
    for _ in 0..200 {
        value = format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#);
    }
    let json =
        format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{value}}}]}}]}}]}}"#);
    let reply = h
        .post_logs(&[("content-type", JSON)], json.as_bytes())
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.error_message().contains("recursion limit exceeded"),
        "{}",
        reply.error_message()
    );
    assert!(h.rx.try_recv().is_err(), "nothing reached the pipeline");

    // A body nested 30 deep is an ordinary structured log.
    let reply = h
        .post_logs(&[("content-type", PROTOBUF)], &deep(30).encode_to_vec())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(h.next_logs().await.records[0].body, Some(nested(30)));
    assert_eq!(h.log_requests_each("bad_request"), (1, 3));
    h.stop().await;
}

#[tokio::test]
async fn oversized_log_requests_and_gzip_bombs_are_refused() {
    let config = bomb_config();
    let mut h = start_logs("otlp/logs_large", config, 16).await;
    // HTTP: refused by Content-Length, before the body is read.
    let reply = http_request(
        h.http,
        LOGS,
        "POST",
        &[("content-type", PROTOBUF)],
        None,
        600_000,
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.error_message(),
        "request body is 600000 bytes, over max_request_bytes (524288 bytes)"
    );
    // gRPC: refused by the message's length prefix.
    let big = logs_request(vec![record(vec![1; 16], &"x".repeat(600_000))]);
    let status = h.logs_client().await.export(big).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status
            .message()
            .contains("over max_request_bytes (524288 bytes)"),
        "{status:?}"
    );

    // A gzip bomb: 100 MiB of zeros in about 100 KB.
    let bomb = gzip_bomb();
    assert!(bomb.len() < 512 * 1024, "the bomb fits max_request_bytes");
    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF), ("content-encoding", "gzip")],
            &bomb,
        )
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.error_message(),
        "gzip body decompresses to more than max_decompressed_bytes (524288 bytes)"
    );
    let status = grpc_logs_raw(h.grpc, &gzip(&vec![0u8; 4 << 20]), true).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("size limit"), "{status:?}");

    // Both keep serving.
    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF), ("content-encoding", "gzip")],
            &gzip(&valid_logs(2).encode_to_vec()),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(h.next_logs().await.len(), 2);
    let status = grpc_logs_raw(h.grpc, &valid_logs(1).encode_to_vec(), false).await;
    assert_eq!(status.code(), Code::Ok, "{status:?}");
    assert_eq!(h.next_logs().await.len(), 1);
    assert_eq!(h.log_requests_each("too_large"), (2, 2));
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Refusals and tenancy

#[tokio::test]
async fn a_full_logs_pipeline_is_unavailable_and_503_with_retry_after() {
    // One slot, never read: the first batch fills it, the next ones wait 50 ms and are refused.
    let h = start_logs("otlp/logs_full", local_config(), 1).await;
    h.logs_client().await.export(valid_logs(1)).await.unwrap();
    let status = h
        .logs_client()
        .await
        .export(valid_logs(2))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "the pipeline is full; retry later");

    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF)],
            &valid_logs(3).encode_to_vec(),
        )
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.error_message(), "the pipeline is full; retry later");
    let reply = h
        .post_logs(
            &[("content-type", JSON)],
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}"#,
        )
        .await;
    assert_eq!(
        (reply.status, reply.header("content-type")),
        (503, Some(JSON))
    );
    assert_eq!(reply.header("retry-after"), Some("1"));

    let refused = names::RECEIVER_REFUSED_LOG_RECORDS;
    assert_eq!(h.log_records_each(refused, Some("pipeline_full")), (2, 4));
    assert_eq!(h.log_requests_each("pipeline_full"), (1, 2));
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The write-ahead log

#[tokio::test]
async fn write_ahead_log_refusals_of_logs_get_the_statuses_traces_get() {
    // The pipeline logs every batch before the receiver answers; this test plays the
    // pipeline and answers each batch as the log would.
    let mut h = start_with_output(
        "otlp/logs_wal",
        16,
        |tx| Feeds::Both.sender(tx).wait_for_log(),
        |id| OtlpReceiver::new(id, local_config()),
    )
    .await;
    let (grpc, http) = (h.grpc, h.http);
    let grpc_call = move || async move {
        LogsServiceClient::connect(format!("http://{grpc}"))
            .await
            .unwrap()
            .export(valid_logs(2))
            .await
    };
    let http_call = move || async move {
        let body = valid_logs(2).encode_to_vec();
        http_request(
            http,
            LOGS,
            "POST",
            &[("content-type", PROTOBUF)],
            Some(&body),
            body.len(),
        )
        .await
    };
    for answer in [Refused::WalFull, Refused::TooLarge] {
        let call = tokio::spawn(grpc_call());
        let mut inbound = h.rx.recv().await.unwrap();
        assert_eq!(inbound.logs().map(LogBatch::len), Some(2));
        inbound.answer(Err(answer));
        let status = call.await.unwrap().unwrap_err();
        let code = match answer {
            Refused::TooLarge => Code::ResourceExhausted,
            _ => Code::Unavailable,
        };
        assert_eq!(
            (status.code(), status.message()),
            (code, answer.to_string().as_str())
        );

        let call = tokio::spawn(http_call());
        h.rx.recv().await.unwrap().answer(Err(answer));
        let reply = call.await.unwrap();
        let (status, retry_after) = match answer {
            Refused::TooLarge => (413, None),
            _ => (503, Some("1")),
        };
        assert_eq!(
            (reply.status, reply.header("retry-after")),
            (status, retry_after)
        );
        assert_eq!(reply.error_message(), answer.to_string());
    }
    // Logged: OK.
    let call = tokio::spawn(http_call());
    h.rx.recv().await.unwrap().answer(Ok(()));
    assert_eq!(call.await.unwrap().status, 200);

    let refused = names::RECEIVER_REFUSED_LOG_RECORDS;
    assert_eq!(h.log_records_each(refused, Some("wal_full")), (2, 2));
    assert_eq!(
        h.log_records_each(refused, Some("wal_record_too_large")),
        (2, 2)
    );
    assert_eq!(h.log_requests_each("wal_full"), (1, 1));
    assert_eq!(
        h.log_records_each(names::RECEIVER_ACCEPTED_LOG_RECORDS, None),
        (0, 2)
    );
    h.stop().await;
}
