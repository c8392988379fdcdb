//! Issue 15: OTLP logs. `LogsService/Export` on the gRPC port and `POST /v1/logs` on the HTTP
//! port, delivered as `Batch::Logs`, under exactly the rules traces follow: the same limits
//! (request size, gzip bombs, nesting depth), errors (truncated protobuf, invalid JSON with
//! its position), partial success (`rejected_log_records`), retryable refusals when the
//! pipeline is full, and tenancy. A signal that no pipeline takes from the receiver is
//! answered HTTP 404 / gRPC `UNIMPLEMENTED`, saying which pipeline to add.

use super::*;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::{LogRecord as ProtoRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use tonic::metadata::MetadataValue;
use tracegate_model::{LogBatch, SpanId, TraceId};
use tracegate_pipeline::Refused;

const LOGS: &str = "/v1/logs";
const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

fn string(s: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(V::StringValue(s.into())),
    })
}

/// A log record in trace `trace_id` whose body is the string `body`.
fn record(trace_id: Vec<u8>, body: &str) -> ProtoRecord {
    ProtoRecord {
        time_unix_nano: 1_000,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: string(body),
        attributes: vec![KeyValue {
            key: "k".into(),
            value: string("v"),
            ..Default::default()
        }],
        trace_id,
        span_id: vec![2; 8],
        ..Default::default()
    }
}

/// A request from service `svc` with these records in one scope.
fn logs_request(log_records: Vec<ProtoRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: string("svc"),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                log_records,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// `n` valid records of one trace, with bodies `m1` .. `mn`.
fn valid_logs(n: u8) -> ExportLogsServiceRequest {
    logs_request(
        (1..=n)
            .map(|i| record(vec![7; 16], &format!("m{i}")))
            .collect(),
    )
}

/// Two valid records around one whose trace id is 17 bytes.
fn logs_with_a_bad_id() -> ExportLogsServiceRequest {
    logs_request(vec![
        record(vec![1; 16], "a"),
        record(vec![1; 17], "bad"),
        record(vec![1; 16], "c"),
    ])
}

const BAD_LOG_ID_MESSAGE: &str = "1 log record(s) rejected: \
    resource_logs[0].scope_logs[0].log_records[1]: trace_id is 17 bytes, expected 16";

fn bodies(batch: &LogBatch) -> Vec<&str> {
    batch
        .records
        .iter()
        .map(|r| r.body_str().unwrap_or("<not a string>"))
        .collect()
}

/// An `AnyValue` nested `depth` arrays deep around a string.
fn nested(depth: usize) -> AnyValue {
    let mut value = AnyValue {
        value: Some(V::StringValue("x".into())),
    };
    for _ in 0..depth {
        value = AnyValue {
            value: Some(V::ArrayValue(ArrayValue {
                values: vec![value],
            })),
        };
    }
    value
}

/// A receiver listed in a `traces` and a `logs` pipeline.
async fn start_logs(id: &str, config: OtlpReceiverConfig, capacity: usize) -> Harness {
    start_fed(id, capacity, Feeds::Both, |id| {
        OtlpReceiver::new(id, config)
    })
    .await
}

impl Harness {
    async fn logs_client(&self) -> LogsServiceClient<Channel> {
        LogsServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    async fn post_logs(&self, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        http_request(self.http, LOGS, "POST", headers, Some(body), body.len()).await
    }

    /// The next batch the pipeline got, which must be of log records.
    async fn next_logs(&mut self) -> LogBatch {
        let inbound = self.rx.recv().await.unwrap();
        assert!(
            inbound.logs().is_some(),
            "expected Batch::Logs: {inbound:?}"
        );
        inbound.into_logs()
    }

    fn log_requests(&self, transport: &str, outcome: &str) -> u64 {
        self.count(
            names::RECEIVER_REQUESTS,
            &[
                ("transport", transport),
                ("signal", "logs"),
                ("outcome", outcome),
            ],
        )
    }

    /// [`Self::log_requests`] over gRPC and over HTTP.
    fn log_requests_each(&self, outcome: &str) -> (u64, u64) {
        (
            self.log_requests("grpc", outcome),
            self.log_requests("http", outcome),
        )
    }

    /// The log-record counter `name` (for `reason`, if given) over gRPC and over HTTP.
    fn log_records_each(&self, name: &str, reason: Option<&str>) -> (u64, u64) {
        let count = |transport| {
            let mut labels = vec![("transport", transport)];
            labels.extend(reason.map(|r| ("reason", r)));
            self.count(name, &labels)
        };
        (count("grpc"), count("http"))
    }
}

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
// Delivery

#[tokio::test]
async fn logs_arrive_over_grpc_and_http_as_log_batches() {
    let mut h = start_logs("otlp/logs_ok", local_config(), 16).await;

    // gRPC, plain and gzip.
    let response = h
        .logs_client()
        .await
        .export(valid_logs(3))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response, ExportLogsServiceResponse::default());
    let batch = h.next_logs().await;
    assert_eq!(bodies(&batch), ["m1", "m2", "m3"]);
    let first = &batch.records[0];
    assert_eq!(first.service_name(), "svc");
    assert_eq!(first.trace_id, Some(TraceId([7; 16])));
    assert_eq!(first.span_id, Some(SpanId([2; 8])));
    assert_eq!((first.severity_number, first.time_unix_nano), (9, 1_000));
    h.logs_client()
        .await
        .send_compressed(CompressionEncoding::Gzip)
        .export(valid_logs(2))
        .await
        .unwrap();
    assert_eq!(bodies(&h.next_logs().await), ["m1", "m2"]);

    // HTTP protobuf, plain and gzip.
    let proto = valid_logs(1).encode_to_vec();
    let reply = h.post_logs(&[("content-type", PROTOBUF)], &proto).await;
    assert_eq!(reply.status, 200, "{:?}", reply.error_message());
    assert_eq!(reply.header("content-type"), Some(PROTOBUF));
    assert_eq!(
        ExportLogsServiceResponse::decode(&reply.body[..]).unwrap(),
        ExportLogsServiceResponse::default()
    );
    assert_eq!(bodies(&h.next_logs().await), ["m1"]);
    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF), ("content-encoding", "gzip")],
            &gzip(&valid_logs(2).encode_to_vec()),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(bodies(&h.next_logs().await), ["m1", "m2"]);

    // HTTP JSON, plain and gzip; the answer is JSON.
    let json = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"traceId":"07070707070707070707070707070707","body":{"stringValue":"j1"}},
        {"body":{"stringValue":"j2"}}]}]}]}"#;
    let reply = h.post_logs(&[("content-type", JSON)], json).await;
    assert_eq!(
        (reply.status, reply.header("content-type")),
        (200, Some(JSON))
    );
    assert_eq!(reply.body, b"{}");
    let batch = h.next_logs().await;
    assert_eq!(bodies(&batch), ["j1", "j2"]);
    assert_eq!(
        (batch.records[0].trace_id, batch.records[1].trace_id),
        (Some(TraceId([7; 16])), None)
    );
    let reply = h
        .post_logs(
            &[("content-type", JSON), ("content-encoding", "gzip")],
            &gzip(json),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(bodies(&h.next_logs().await), ["j1", "j2"]);

    // Counted as log records, per transport; no spans.
    let accepted = names::RECEIVER_ACCEPTED_LOG_RECORDS;
    assert_eq!(h.log_records_each(accepted, None), (5, 7));
    assert_eq!(h.count(names::RECEIVER_ACCEPTED_SPANS, &[]), 0);
    assert_eq!(h.log_requests_each("ok"), (2, 4));
    h.stop().await;
}

/// A hand-worked OTLP/JSON golden case through the HTTP receiver: a structured LLM log whose
/// body is a kvlist (with a nested kvlist and an array), snake_case and camelCase keys, int64
/// as a string and as a number, the severity as a number, upper-case hex ids.
#[tokio::test]
async fn an_otlp_json_log_with_a_kvlist_body_arrives_field_for_field() {
    let mut h = start_logs("otlp/logs_golden", local_config(), 16).await;
    let json = br#"{"resource_logs":[{
        "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rag-api"}}]},
        "scopeLogs":[{"scope":{"name":"app.llm"},"log_records":[{
            "timeUnixNano":"1764590400000000000",
            "observed_time_unix_nano":1764590400000000500,
            "severityNumber":17,
            "severityText":"ERROR",
            "eventName":"llm.call",
            "traceId":"5B8EFFF798038103D269B633813FC60C",
            "spanId":"EEE19B7EC3C1B174",
            "attributes":[{"key":"request_id","value":{"stringValue":"req-42"}},
                          {"key":"retries","value":{"intValue":2}}],
            "body":{"kvlistValue":{"values":[
                {"key":"model","value":{"stringValue":"gpt-4o-mini"}},
                {"key":"metrics","value":{"kvlistValue":{"values":[
                    {"key":"input_tokens","value":{"intValue":"812"}},
                    {"key":"latency_ms","value":{"doubleValue":1250.5}}]}}},
                {"key":"tags","value":{"arrayValue":{"values":[
                    {"stringValue":"rag"},{"boolValue":true}]}}}]}}
        }]}]
    }]}"#;
    let reply = h.post_logs(&[("content-type", JSON)], json).await;
    assert_eq!(reply.status, 200, "{:?}", reply.error_message());
    let batch = h.next_logs().await;
    assert_eq!(batch.len(), 1);
    let r = &batch.records[0];
    assert_eq!(r.service_name(), "rag-api");
    assert_eq!(r.scope.name, "app.llm");
    assert_eq!(r.time_unix_nano, 1_764_590_400_000_000_000);
    assert_eq!(r.observed_time_unix_nano, 1_764_590_400_000_000_500);
    assert_eq!((r.severity_number, r.severity_text.as_str()), (17, "ERROR"));
    assert_eq!(r.event_name, "llm.call");
    assert_eq!(
        r.trace_id.map(|t| t.to_hex()).as_deref(),
        Some("5b8efff798038103d269b633813fc60c")
    );
    assert_eq!(
        r.span_id.map(|s| s.to_hex()).as_deref(),
        Some("eee19b7ec3c1b174")
    );
    assert_eq!(r.field_str("request_id"), Some("req-42"));
    assert_eq!(r.attr("retries"), Some(&V::IntValue(2)));
    // The body map, and the seed's nested `metrics` map, through the model's accessors.
    let keys: Vec<&str> = r
        .body_map()
        .unwrap()
        .iter()
        .map(|kv| kv.key.as_str())
        .collect();
    assert_eq!(keys, ["model", "metrics", "tags"]);
    assert_eq!(r.field_str("model"), Some("gpt-4o-mini"));
    assert_eq!(r.field_f64("input_tokens"), Some(812.0));
    assert_eq!(r.field_f64("latency_ms"), Some(1250.5));
    assert_eq!(
        r.field("tags"),
        Some(&V::ArrayValue(ArrayValue {
            values: vec![
                string("rag").unwrap(),
                AnyValue {
                    value: Some(V::BoolValue(true))
                }
            ]
        }))
    );
    h.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Partial success

#[tokio::test]
async fn a_bad_trace_id_is_a_partial_success_over_every_transport() {
    let mut h = start_logs("otlp/logs_partial", local_config(), 16).await;
    let response = h
        .logs_client()
        .await
        .export(logs_with_a_bad_id())
        .await
        .unwrap()
        .into_inner();
    let partial = response.partial_success.unwrap();
    assert_eq!(partial.rejected_log_records, 1);
    assert_eq!(partial.error_message, BAD_LOG_ID_MESSAGE);
    assert_eq!(bodies(&h.next_logs().await), ["a", "c"]);

    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF)],
            &logs_with_a_bad_id().encode_to_vec(),
        )
        .await;
    assert_eq!(reply.status, 200);
    let partial = ExportLogsServiceResponse::decode(&reply.body[..])
        .unwrap()
        .partial_success
        .unwrap();
    assert_eq!(
        (partial.rejected_log_records, partial.error_message.as_str()),
        (1, BAD_LOG_ID_MESSAGE)
    );
    assert_eq!(bodies(&h.next_logs().await), ["a", "c"]);

    let json = br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"traceId":"01010101010101010101010101010101","body":{"stringValue":"a"}},
        {"traceId":"0101010101010101010101010101010101","body":{"stringValue":"bad"}},
        {"body":{"stringValue":"c"}}]}]}]}"#;
    let reply = h.post_logs(&[("content-type", JSON)], json).await;
    assert_eq!(reply.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"partialSuccess": {
            "rejectedLogRecords": "1",
            "errorMessage": BAD_LOG_ID_MESSAGE,
        }})
    );
    assert_eq!(bodies(&h.next_logs().await), ["a", "c"]);

    let refused = names::RECEIVER_REFUSED_LOG_RECORDS;
    assert_eq!(h.log_records_each(refused, Some("invalid_id")), (1, 2));
    assert_eq!(h.log_requests_each("partial"), (1, 2));
    h.stop().await;
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

#[tokio::test]
async fn log_tenants_come_from_x_scope_orgid() {
    let mut h = start_fed("otlp/logs_tenant", 16, Feeds::Both, |id| {
        OtlpReceiver::new(id, local_config()).with_multitenancy(true)
    })
    .await;
    let mut client = h.logs_client().await;
    let mut request = tonic::Request::new(valid_logs(2));
    request
        .metadata_mut()
        .insert("x-scope-orgid", MetadataValue::from_static("team-a"));
    client.export(request).await.unwrap();
    let batch = h.next_logs().await;
    assert_eq!(batch.len(), 2);
    assert!(batch.records.iter().all(|r| r.tenant() == "team-a"));
    let missing = client.export(valid_logs(1)).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(missing.message().contains("X-Scope-OrgID"), "{missing:?}");

    let body = valid_logs(1).encode_to_vec();
    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF), ("x-scope-orgid", "team-b")],
            &body,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(h.next_logs().await.records[0].tenant(), "team-b");
    let reply = h.post_logs(&[("content-type", PROTOBUF)], &body).await;
    assert_eq!(reply.status, 401);
    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF), ("x-scope-orgid", "a/b")],
            &body,
        )
        .await;
    assert_eq!(reply.status, 400);
    assert!(
        reply.error_message().contains("'/'"),
        "{}",
        reply.error_message()
    );
    assert!(
        h.rx.try_recv().is_err(),
        "refused requests reach no pipeline"
    );
    assert_eq!(h.log_requests_each("unauthenticated"), (1, 1));
    h.stop().await;
}

#[tokio::test]
async fn a_signal_no_pipeline_takes_is_404_and_unimplemented() {
    // Listed only in a traces pipeline: logs are refused, traces go through.
    let mut h = start_fed("otlp/logs_none", 16, Feeds::Traces, |id| {
        OtlpReceiver::new(id, local_config())
    })
    .await;
    let expected = "receiver otlp/logs_none feeds no logs pipeline, so it does not accept logs: \
                    add a `logs` pipeline that lists it \
                    (service.pipelines.logs.receivers: [otlp/logs_none])";
    let reply = h
        .post_logs(
            &[("content-type", PROTOBUF)],
            &valid_logs(1).encode_to_vec(),
        )
        .await;
    assert_eq!(reply.status, 404);
    let status = RpcStatus::decode(&reply.body[..]).unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (Code::Unimplemented as i32, expected)
    );
    let reply = h.post_logs(&[("content-type", JSON)], b"{}").await;
    assert_eq!(
        (reply.status, reply.header("content-type")),
        (404, Some(JSON))
    );
    let status = h
        .logs_client()
        .await
        .export(valid_logs(1))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unimplemented, expected)
    );
    h.grpc_client()
        .await
        .export(valid_request(2))
        .await
        .unwrap();
    assert_eq!(h.rx.recv().await.unwrap().into_spans().len(), 2);
    assert!(h.rx.try_recv().is_err(), "no log batch was sent");
    assert_eq!(h.log_requests_each("no_pipeline"), (1, 2));
    h.stop().await;

    // Listed only in a logs pipeline: the other way round.
    let mut h = start_fed("otlp/traces_none", 16, Feeds::Logs, |id| {
        OtlpReceiver::new(id, local_config())
    })
    .await;
    let reply = h
        .post("application/x-protobuf", &valid_request(1).encode_to_vec())
        .await;
    assert_eq!(reply.status, 404);
    assert!(
        reply
            .error_message()
            .contains("add a `traces` pipeline that lists it"),
        "{}",
        reply.error_message()
    );
    let status = h
        .grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    h.logs_client().await.export(valid_logs(1)).await.unwrap();
    assert_eq!(h.next_logs().await.len(), 1);
    assert_eq!(
        h.count(
            names::RECEIVER_REQUESTS,
            &[("signal", "traces"), ("outcome", "no_pipeline")]
        ),
        2
    );
    h.stop().await;
}

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
