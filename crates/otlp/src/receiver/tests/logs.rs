//! Issue 15: OTLP logs. `LogsService/Export` on the gRPC port and `POST /v1/logs` on the HTTP
//! port, delivered as `Batch::Logs`, under exactly the rules traces follow: the same limits
//! (request size, gzip bombs, nesting depth), errors (truncated protobuf, invalid JSON with
//! its position), partial success (`rejected_log_records`), retryable refusals when the
//! pipeline is full, and tenancy. A signal that no pipeline takes from the receiver is
//! answered HTTP 404 / gRPC `UNIMPLEMENTED`, saying which pipeline to add.
//!
//! This file holds the helpers, delivery, partial success, tenancy and the missing-pipeline
//! answers; `logs/refusals.rs` the bad input, limits and retryable refusals.

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

mod refusals;

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
// Tenancy and signals without a pipeline

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
