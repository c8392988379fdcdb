//! Partial success: a 17-byte trace id among valid spans, over gRPC, HTTP protobuf and HTTP
//! JSON; generated RAG traces arriving intact.

use super::*;

// ---------------------------------------------------------------------------------------------
// Partial success

#[tokio::test]
async fn partial_success_over_grpc_keeps_the_valid_spans() {
    let mut h = start("otlp/partial_grpc", local_config(), 16).await;
    let response = h
        .grpc_client()
        .await
        .export(request_with_a_bad_id())
        .await
        .unwrap()
        .into_inner();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_spans, 1);
    assert_eq!(partial.error_message, BAD_ID_MESSAGE);
    assert_eq!(
        names_of(&h.rx.recv().await.unwrap().into_spans()),
        ["a", "c"]
    );

    // A fully valid request has no partial_success at all.
    let response = h
        .grpc_client()
        .await
        .export(valid_request(2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        response,
        ExportTraceServiceResponse {
            partial_success: None
        }
    );
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 2);

    let grpc = [("transport", "grpc")];
    assert_eq!(h.count(names::RECEIVER_ACCEPTED_SPANS, &grpc), 4);
    assert_eq!(
        h.count(
            names::RECEIVER_REFUSED_SPANS,
            &[("transport", "grpc"), ("reason", "invalid_id")]
        ),
        1
    );
    assert_eq!(
        (h.requests("grpc", "partial"), h.requests("grpc", "ok")),
        (1, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn partial_success_over_http_protobuf_keeps_the_valid_spans() {
    let mut h = start("otlp/partial_http_pb", local_config(), 16).await;
    let reply = h
        .post(
            "application/x-protobuf",
            &request_with_a_bad_id().encode_to_vec(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/x-protobuf"));
    let response = ExportTraceServiceResponse::decode(&reply.body[..]).unwrap();
    let partial = response.partial_success.unwrap();
    assert_eq!(
        (partial.rejected_spans, partial.error_message.as_str()),
        (1, BAD_ID_MESSAGE)
    );
    assert_eq!(
        names_of(&h.rx.recv().await.unwrap().into_spans()),
        ["a", "c"]
    );
    assert_eq!(
        h.count(names::RECEIVER_ACCEPTED_SPANS, &[("transport", "http")]),
        2
    );
    assert_eq!(h.requests("http", "partial"), 1);
    h.stop().await;
}

#[tokio::test]
async fn partial_success_over_http_json_keeps_the_valid_spans() {
    let mut h = start("otlp/partial_http_json", local_config(), 16).await;
    let span = |trace: &str, span: &str, name: &str| {
        format!(
            r#"{{"traceId":"{trace}","spanId":"{span}","name":"{name}","kind":"SPAN_KIND_SERVER"}}"#
        )
    };
    let good = "0102030405060708090a0b0c0d0e0f10";
    let json = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{},{},{}]}}]}}]}}"#,
        span(good, "0101010101010101", "a"),
        span(&format!("{good}11"), "0202020202020202", "bad"),
        span(good, "0303030303030303", "c"),
    );
    let reply = h
        .post("application/json; charset=utf-8", json.as_bytes())
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["partialSuccess"]["rejectedSpans"], "1");
    assert_eq!(body["partialSuccess"]["errorMessage"], BAD_ID_MESSAGE);
    let batch = h.rx.recv().await.unwrap().into_spans();
    assert_eq!(names_of(&batch), ["a", "c"]);
    assert_eq!(batch.spans[0].kind, tracegate_model::SpanKind::Server);
    assert_eq!(h.requests("http", "partial"), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_request_of_only_invalid_spans_is_still_a_partial_success() {
    let mut h = start("otlp/all_invalid", local_config(), 16).await;
    let bad = request(vec![
        span(vec![1; 17], 1, "x"),
        span(vec![0; 16], 2, "zero"),
    ]);
    let response = h
        .grpc_client()
        .await
        .export(bad.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.partial_success.unwrap().rejected_spans, 2);
    let reply = h.post("application/x-protobuf", &bad.encode_to_vec()).await;
    assert_eq!(reply.status, 200);
    let partial = ExportTraceServiceResponse::decode(&reply.body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(partial.rejected_spans, 2);
    assert!(
        partial.error_message.contains("trace_id is all zeros"),
        "{}",
        partial.error_message
    );
    assert!(h.rx.try_recv().is_err(), "nothing reaches the pipeline");
    // An empty request is a plain success.
    let reply = h.post("application/json", b"{}").await;
    assert_eq!((reply.status, &reply.body[..]), (200, &b"{}"[..]));
    h.stop().await;
}

#[tokio::test]
async fn generated_rag_traces_arrive_intact_over_every_transport() {
    let config = OtlpReceiverConfig {
        max_request_bytes: ByteSize::mib(1),
        ..local_config()
    };
    let mut h = start("otlp/generated", config, 16).await;
    let mut generator = Generator::new(GeneratorConfig {
        seed: 3,
        ..Default::default()
    });
    let expected = |request: &ExportTraceServiceRequest| SpanBatch::from_request(request.clone()).0;

    let mut spans = 0;
    let request = generator.request_with_traces(10);
    spans += span_count(&request) as u64;
    h.grpc_client().await.export(request.clone()).await.unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans(), expected(&request));

    let request = generator.request_with_traces(10);
    spans += span_count(&request) as u64;
    let reply = h
        .post("application/x-protobuf", &request.encode_to_vec())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(h.rx.recv().await.unwrap().into_spans(), expected(&request));

    let request = generator.request_with_traces(10);
    spans += span_count(&request) as u64;
    let reply = h
        .post("application/json", &serde_json::to_vec(&request).unwrap())
        .await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(h.rx.recv().await.unwrap().into_spans(), expected(&request));

    let accepted = |t| h.count(names::RECEIVER_ACCEPTED_SPANS, &[("transport", t)]);
    assert_eq!(accepted("grpc") + accepted("http"), spans);
    h.stop().await;
}
