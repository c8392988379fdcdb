//! Receiver tests, against real servers on 127.0.0.1 with port 0.
//!
//! - config: the YAML fixture `testdata/receiver.yaml`, and errors with key paths;
//! - OTLP/JSON: the spec's example (as `testdata/trace.json`, extended), key styles, nulls,
//!   errors and nesting limits;
//! - partial success: a 17-byte trace id among valid spans, over gRPC, HTTP protobuf and
//!   HTTP JSON;
//! - bad input: truncated protobuf, invalid JSON, bodies over the limits, compression bombs,
//!   unknown Content-Type and Content-Encoding, wrong method;
//! - back-pressure: a full pipeline gives gRPC `UNAVAILABLE` and HTTP 503 with Retry-After;
//! - compression: gRPC gzip and zstd, HTTP gzip and deflate;
//! - lifecycle: a taken port, and shutdown dropping the sender;
//! - bounds (`bounds.rs`, issue 18): the in-flight byte budget, connection and request caps,
//!   slow uploads, and a lying Content-Length.
//!
//! Each test checks the metrics it should have produced, under its own receiver id.

use super::json::decode_request;
use super::*;
use crate::exporter::Compression;
use crate::exporter::service::{Outcome, TraceClient};
use crate::test_util::{counter, init_metrics, request, span, valid_request};
use bytes::Bytes;
use flate2::Compression as Level;
use flate2::write::{GzEncoder, ZlibEncoder};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use prost::Message;
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::transport::Channel;
use tracegate_model::SpanBatch;
use tracegate_pipeline::telemetry::names;
use tracegate_pipeline::{ByteSize, SpanSender};
use tracegate_testkit::{Generator, GeneratorConfig, span_count};

mod bounds;

// ---------------------------------------------------------------------------------------------
// Harness

/// A running receiver and the far end of its pipeline queue.
struct Harness {
    id: String,
    grpc: SocketAddr,
    http: SocketAddr,
    rx: mpsc::Receiver<SpanBatch>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ComponentError>>,
}

/// Both protocols on 127.0.0.1 port 0, with small limits.
fn local_config() -> OtlpReceiverConfig {
    OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcConfig {
                endpoint: "127.0.0.1:0".into(),
            }),
            http: Some(HttpConfig {
                endpoint: "127.0.0.1:0".into(),
            }),
        },
        max_request_bytes: ByteSize::kib(64),
        max_decompressed_bytes: ByteSize::kib(256),
        ..OtlpReceiverConfig::default()
    }
}

/// Starts a receiver whose pipeline queue holds `capacity` batches and refuses after 50 ms.
async fn start(id: &str, config: OtlpReceiverConfig, capacity: usize) -> Harness {
    init_metrics();
    let id = ComponentId::parse(id).unwrap();
    let mut receiver = Box::new(OtlpReceiver::new(id.clone(), config));
    receiver.bind().await.unwrap();
    let grpc = receiver.grpc_addr().unwrap();
    let http = receiver.http_addr().unwrap();
    let (tx, rx) = mpsc::channel(capacity);
    let shutdown = CancellationToken::new();
    let ctx = ReceiverContext {
        id: id.clone(),
        output: SpanSender::new(vec![tx], Duration::from_millis(50)),
        shutdown: shutdown.clone(),
    };
    let task = tokio::spawn(receiver.run(ctx));
    Harness {
        id: id.to_string(),
        grpc,
        http,
        rx,
        shutdown,
        task,
    }
}

impl Harness {
    /// Stops the receiver and checks that it returned cleanly and dropped its sender.
    async fn stop(mut self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
        while self.rx.try_recv().is_ok() {}
        assert!(
            self.rx.recv().await.is_none(),
            "the receiver must drop its sender when it stops"
        );
    }

    fn count(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let mut all = vec![("receiver", self.id.as_str())];
        all.extend_from_slice(labels);
        counter(name, &all)
    }

    fn requests(&self, transport: &str, outcome: &str) -> u64 {
        self.count(
            names::RECEIVER_REQUESTS,
            &[("transport", transport), ("outcome", outcome)],
        )
    }

    async fn grpc_client(&self) -> TraceServiceClient<Channel> {
        TraceServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .unwrap()
    }

    /// Sends `body` as the gRPC message as it is (it need not be a valid request).
    async fn grpc_raw(&self, body: Vec<u8>, compression: Compression) -> Outcome {
        let channel = Channel::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .connect_lazy();
        TraceClient::new(channel, compression, MetadataMap::new())
            .export(Bytes::from(body))
            .await
    }

    async fn post(&self, content_type: &str, body: &[u8]) -> Reply {
        http_call(
            self.http,
            "POST",
            &[("content-type", content_type)],
            Some(body),
        )
        .await
    }
}

fn status_of(outcome: Outcome) -> tonic::Status {
    match outcome {
        Outcome::Retryable(s) | Outcome::Permanent(s) => s,
        Outcome::Sent { .. } => panic!("expected an error, got success"),
    }
}

/// An HTTP response as the test client read it.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `google.rpc.Status` message of an error reply, in either format.
    fn error_message(&self) -> String {
        if self.header("content-type") == Some("application/json") {
            let v: serde_json::Value = serde_json::from_slice(&self.body).unwrap();
            v["message"].as_str().unwrap().to_owned()
        } else {
            RpcStatus::decode(&self.body[..]).unwrap().message
        }
    }
}

/// A minimal HTTP/1.1 client. With `body: None` it sends only the head, so the server can
/// refuse by Content-Length without leaving unread bytes behind.
async fn http_call(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Reply {
    http_call_with_length(addr, method, headers, body, body.map_or(0, <[u8]>::len)).await
}

async fn http_call_with_length(
    addr: SocketAddr,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    content_length: usize,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} /v1/traces HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {content_length}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    if let Some(body) = body {
        stream.write_all(body).await.unwrap();
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete HTTP response");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[line_end + 2..line_end + 2 + size]);
        data = &data[line_end + 2 + size + 2..];
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Level::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn names_of(batch: &SpanBatch) -> Vec<&str> {
    batch.spans.iter().map(|s| s.name.as_str()).collect()
}

/// Two valid spans around one whose trace id is 17 bytes.
fn request_with_a_bad_id() -> ExportTraceServiceRequest {
    request(vec![
        span(vec![1; 16], 1, "a"),
        span(vec![1; 17], 2, "bad"),
        span(vec![1; 16], 3, "c"),
    ])
}

const BAD_ID_MESSAGE: &str = "1 span(s) rejected: resource_spans[0].scope_spans[0].spans[1]: trace_id is 17 bytes, expected 16";

// ---------------------------------------------------------------------------------------------
// Config

fn fixture(name: &str) -> serde_yaml_ng::Mapping {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["receivers"].as_mapping().unwrap().clone()
}

fn parse(yaml: &str) -> Result<OtlpReceiverConfig, ConfigError> {
    OtlpReceiverConfig::from_section("receivers.otlp", serde_yaml_ng::from_str(yaml).unwrap())
}

#[test]
fn config_fixture_parses_to_the_expected_structs() {
    let sections = fixture("receiver.yaml");
    let get = |id: &str| {
        OtlpReceiverConfig::from_section(&format!("receivers.{id}"), sections[id].clone()).unwrap()
    };
    assert_eq!(get("otlp"), OtlpReceiverConfig::default());
    assert_eq!(
        OtlpReceiverConfig::default(),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: Some(GrpcConfig {
                    endpoint: "0.0.0.0:4317".into()
                }),
                http: Some(HttpConfig {
                    endpoint: "0.0.0.0:4318".into()
                }),
            },
            max_request_bytes: ByteSize::mib(8),
            max_decompressed_bytes: ByteSize::mib(64),
            max_in_flight_bytes: ByteSize::mib(256),
            max_connections: 1024,
            max_concurrent_requests: 128,
            request_timeout: tracegate_pipeline::Duration::from_secs(30),
            header_read_timeout: tracegate_pipeline::Duration::from_secs(10),
        }
    );
    assert_eq!(
        get("otlp/grpc_only"),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: Some(GrpcConfig::default()),
                http: None
            },
            ..Default::default()
        }
    );
    assert_eq!(
        get("otlp/custom"),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: Some(GrpcConfig {
                    endpoint: "127.0.0.1:14317".into()
                }),
                http: Some(HttpConfig {
                    endpoint: "localhost:14318".into()
                }),
            },
            max_request_bytes: ByteSize::mib(4),
            max_decompressed_bytes: ByteSize::mib(32),
            max_in_flight_bytes: ByteSize::mib(128),
            max_connections: 64,
            max_concurrent_requests: 16,
            request_timeout: tracegate_pipeline::Duration::from_secs(5),
            header_read_timeout: tracegate_pipeline::Duration::from_millis(2500),
        }
    );
    assert_eq!(
        get("otlp/bytes"),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: None,
                http: Some(HttpConfig::default())
            },
            max_request_bytes: ByteSize::mib(1),
            ..Default::default()
        }
    );
}

/// `config/default.yaml` (what users read) states the same limits as the code's defaults.
#[test]
fn the_default_yaml_states_the_code_defaults() {
    let path = format!("{}/../../config/default.yaml", env!("CARGO_MANIFEST_DIR"));
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut section = doc["receivers"]["otlp"].as_mapping().unwrap().clone();
    // The endpoints are `${env:...}` placeholders, resolved only by the binary.
    section.remove("protocols").unwrap();
    let parsed =
        OtlpReceiverConfig::from_section("receivers.otlp", serde_yaml_ng::Value::Mapping(section))
            .unwrap();
    assert_eq!(parsed, OtlpReceiverConfig::default());
}

#[test]
fn config_errors_carry_key_paths() {
    let err = |yaml: &str| parse(yaml).unwrap_err().to_string();
    let e = err("max_request_bytes: lots");
    assert!(
        e.starts_with("receivers.otlp.max_request_bytes: invalid size \"lots\""),
        "{e}"
    );
    let e = err("max_requst_bytes: 1MiB");
    assert!(
        e.starts_with("receivers.otlp.max_requst_bytes: unknown field `max_requst_bytes`"),
        "{e}"
    );
    let e = err("protocols: { grpc: { endpoint: 0.0.0.0:4317, port: 1 } }");
    assert!(
        e.starts_with("receivers.otlp.protocols.grpc.port: unknown field `port`"),
        "{e}"
    );
    let e = err("protocols: { thrift: {} }");
    assert!(
        e.starts_with("receivers.otlp.protocols.thrift: unknown field `thrift`"),
        "{e}"
    );
    let e = err("protocols: {}");
    assert!(
        e.starts_with("receivers.otlp.protocols: no protocol enabled"),
        "{e}"
    );
    let e = err("protocols: { http: { endpoint: localhost } }");
    assert!(
        e.starts_with("receivers.otlp.protocols.http.endpoint: invalid endpoint \"localhost\""),
        "{e}"
    );
    let e = err("max_request_bytes: 8MiB\nmax_decompressed_bytes: 1MiB");
    assert!(e.starts_with("receivers.otlp.max_decompressed_bytes: 1.0 MiB is less than max_request_bytes (8.0 MiB)"), "{e}");
    let e = err("max_in_flight_bytes: 199MiB");
    assert!(
        e.starts_with("receivers.otlp.max_in_flight_bytes: 199.0 MiB cannot hold one request of the largest size, 200.0 MiB"),
        "{e}"
    );
    assert!(parse("max_in_flight_bytes: 200MiB").is_ok());
    for key in ["max_connections", "max_concurrent_requests"] {
        let e = err(&format!("{key}: 0"));
        assert!(
            e.starts_with(&format!("receivers.otlp.{key}: must be more than 0")),
            "{e}"
        );
    }
    for key in ["request_timeout", "header_read_timeout"] {
        let e = err(&format!("{key}: 0s"));
        assert!(
            e.starts_with(&format!("receivers.otlp.{key}: must be more than 0")),
            "{e}"
        );
    }
}

#[test]
fn factory_builds_under_the_otlp_type() {
    let factory = OtlpReceiverFactory;
    assert_eq!(factory.type_name(), "otlp");
    let ctx = BuildContext::new("test");
    let id = ComponentId::parse("otlp/x").unwrap();
    assert!(factory.build(&id, serde_yaml_ng::Value::Null, &ctx).is_ok());
    let bad = serde_yaml_ng::from_str("max_request_bytes: -1").unwrap();
    let e = factory.build(&id, bad, &ctx).unwrap_err();
    assert_eq!(e.path, "receivers.otlp/x.max_request_bytes");
}

// ---------------------------------------------------------------------------------------------
// OTLP/JSON

fn string_kv(key: &str, value: &str) -> KeyValue {
    kv(key, V::StringValue(value.into()))
}

fn kv(key: &str, value: V) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

#[test]
fn json_decodes_the_spec_example_and_its_extensions() {
    let text = std::fs::read(format!(
        "{}/testdata/trace.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let request = decode_request(&text).unwrap();
    let rs = &request.resource_spans[0];
    assert_eq!(
        rs.resource.as_ref().unwrap().attributes,
        [string_kv("service.name", "my.service")]
    );
    let ss = &rs.scope_spans[0];
    let scope = ss.scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("my.library", "1.0.0")
    );
    assert_eq!(
        scope.attributes,
        [string_kv("my.scope.attribute", "some scope attribute")]
    );

    // The spec's own span: upper-case hex ids, times as strings, kind as an integer.
    let s = &ss.spans[0];
    assert_eq!(
        s.trace_id,
        hex::decode("5b8efff798038103d269b633813fc60c").unwrap()
    );
    assert_eq!(s.span_id, hex::decode("eee19b7ec3c1b174").unwrap());
    assert_eq!(s.parent_span_id, hex::decode("eee19b7ec3c1b173").unwrap());
    assert_eq!(s.name, "I'm a server span");
    assert_eq!(s.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(s.kind, 2);
    assert_eq!(s.attributes, [string_kv("my.span.attr", "some value")]);
    assert_eq!(s.status, None);

    // Enum names, int64 as string or number, every value kind, nesting, unknown keys.
    let s = &ss.spans[1];
    assert_eq!(s.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(s.start_time_unix_nano, 1_544_712_660_100_000_000);
    assert_eq!((s.flags, s.trace_state.as_str()), (257, "vendor=x"));
    let a = &s.attributes;
    assert_eq!(a[0], kv("gen_ai.usage.input_tokens", V::IntValue(1234)));
    assert_eq!(a[1], kv("gen_ai.usage.output_tokens", V::IntValue(56)));
    assert_eq!(a[2], kv("gen_ai.request.temperature", V::DoubleValue(0.5)));
    assert!(matches!(a[3].value.as_ref().unwrap().value, Some(V::DoubleValue(d)) if d.is_nan()));
    assert_eq!(a[4], kv("stream", V::BoolValue(true)));
    assert_eq!(a[5], kv("payload", V::BytesValue(b"hello".to_vec())));
    let str_value = |s: &str| AnyValue {
        value: Some(V::StringValue(s.into())),
    };
    assert_eq!(
        a[6],
        kv(
            "gen_ai.request.stop_sequences",
            V::ArrayValue(ArrayValue {
                values: vec![
                    str_value("END"),
                    AnyValue {
                        value: Some(V::IntValue(7))
                    }
                ]
            })
        )
    );
    let deep = kv(
        "deep",
        V::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(V::BoolValue(false)),
            }],
        }),
    );
    assert_eq!(
        a[7],
        kv(
            "gen_ai.request.options",
            V::KvlistValue(KeyValueList {
                values: vec![
                    kv("top_p", V::DoubleValue(1.0)),
                    kv(
                        "nested",
                        V::KvlistValue(KeyValueList { values: vec![deep] })
                    ),
                ]
            })
        )
    );
    assert_eq!(
        a[8],
        KeyValue {
            key: "empty".into(),
            value: Some(AnyValue { value: None }),
            ..Default::default()
        }
    );
    assert_eq!(a[9], string_kv("future", "kept"));
    assert_eq!(s.dropped_attributes_count, 2);
    assert_eq!(s.events[0].name, "gen_ai.content.prompt");
    assert_eq!(s.events[0].time_unix_nano, 1_544_712_660_500_000_000);
    assert_eq!(s.events[0].attributes, [string_kv("gen_ai.prompt", "hi")]);
    assert_eq!(
        s.links[0].trace_id,
        hex::decode("00000000000000000000000000000abc").unwrap()
    );
    assert_eq!(s.links[0].span_id, hex::decode("0000000000000def").unwrap());
    assert_eq!(s.links[0].flags, 1);
    let status = s.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "rate limited"));

    // snake_case keys and nulls.
    let s = &ss.spans[2];
    assert_eq!(s.span_id, hex::decode("eee19b7ec3c1b176").unwrap());
    assert!(s.parent_span_id.is_empty());
    assert_eq!(
        (s.kind, s.start_time_unix_nano),
        (1, 1_544_712_660_200_000_000)
    );
    assert_eq!(s.status.as_ref().unwrap().code, 1);

    // And the model takes all three spans.
    let (batch, rejected) = SpanBatch::from_request(request);
    assert!(rejected.is_empty(), "{}", rejected.message());
    assert_eq!(batch.len(), 3);
    assert_eq!(batch.spans[0].service_name(), "my.service");
}

#[test]
fn json_decodes_generated_rag_traces_as_opentelemetry_proto_serializes_them() {
    // opentelemetry-proto's `with-serde` writes OTLP/JSON (hex ids, int64 as strings, enums
    // as integers); every generated request must come back unchanged.
    let mut generator = Generator::new(GeneratorConfig {
        seed: 11,
        ..Default::default()
    });
    for _ in 0..5 {
        let request = generator.request_with_traces(3);
        let json = serde_json::to_vec(&request).unwrap();
        assert_eq!(decode_request(&json).unwrap(), request);
    }
}

#[test]
fn json_errors_say_where_and_what() {
    let err = |json: &str| decode_request(json.as_bytes()).unwrap_err();
    let e = err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#);
    assert!(
        e.starts_with("invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[0].traceId: id \"xyz\" is not hex"),
        "{e}"
    );
    let e = err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SERVER"}]}]}]}"#);
    assert!(
        e.contains("spans[0].kind: unknown span kind \"SERVER\""),
        "{e}"
    );
    let e = err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#);
    assert!(
        e.contains("spans[0].startTimeUnixNano: \"soon\" is not an integer"),
        "{e}"
    );
    let e = err(r#"{"resourceSpans": 5}"#);
    assert!(
        e.starts_with("invalid OTLP/JSON at resourceSpans: invalid type"),
        "{e}"
    );
    let e = err("{\"resourceSpans\": [");
    assert!(
        e.starts_with("invalid OTLP/JSON at resourceSpans: EOF while parsing a list"),
        "{e}"
    );
    // Empty objects and nulls are empty requests.
    assert_eq!(
        decode_request(b"{}").unwrap(),
        ExportTraceServiceRequest::default()
    );
    assert_eq!(
        decode_request(br#"{"resourceSpans":null}"#).unwrap(),
        ExportTraceServiceRequest::default()
    );
}

#[test]
fn json_nesting_is_bounded_by_serde_jsons_recursion_limit() {
    let depth = 200;
    let mut value = String::from(r#"{"stringValue":"x"}"#);
    for _ in 0..depth {
        value = format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#);
    }
    let json = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"k","value":{value}}}]}}]}}]}}]}}"#
    );
    let e = decode_request(json.as_bytes()).unwrap_err();
    assert!(e.contains("recursion limit exceeded"), "{e}");
}

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
    assert_eq!(names_of(&h.rx.recv().await.unwrap()), ["a", "c"]);

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
    assert_eq!(h.rx.recv().await.unwrap().len(), 2);

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
    assert_eq!(names_of(&h.rx.recv().await.unwrap()), ["a", "c"]);
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
    let batch = h.rx.recv().await.unwrap();
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
    assert_eq!(h.rx.recv().await.unwrap(), expected(&request));

    let request = generator.request_with_traces(10);
    spans += span_count(&request) as u64;
    let reply = h
        .post("application/x-protobuf", &request.encode_to_vec())
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(h.rx.recv().await.unwrap(), expected(&request));

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
    assert_eq!(h.rx.recv().await.unwrap(), expected(&request));

    let accepted = |t| h.count(names::RECEIVER_ACCEPTED_SPANS, &[("transport", t)]);
    assert_eq!(accepted("grpc") + accepted("http"), spans);
    h.stop().await;
}

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
    let config = OtlpReceiverConfig {
        max_request_bytes: ByteSize::kib(512),
        max_decompressed_bytes: ByteSize::kib(512),
        ..local_config()
    };
    let mut h = start("otlp/bomb", config, 16).await;
    // 100 MiB of zeros in about 100 KB: one compressed MiB, repeated as gzip members.
    let mut member = GzEncoder::new(Vec::new(), Level::best());
    member.write_all(&vec![0u8; 1 << 20]).unwrap();
    let bomb = member.finish().unwrap().repeat(100);
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
    assert_eq!(h.rx.recv().await.unwrap().len(), 2);
    h.grpc_client()
        .await
        .export(valid_request(1))
        .await
        .unwrap();
    assert_eq!(h.rx.recv().await.unwrap().len(), 1);
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
    assert_eq!(status.message(), "pipeline full, retry later");

    let reply = h
        .post("application/x-protobuf", &valid_request(3).encode_to_vec())
        .await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.error_message(), "pipeline full, retry later");
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
        assert_eq!(h.rx.recv().await.unwrap().len(), 3, "{encoding:?}");
    }
    assert_eq!(h.requests("grpc", "ok"), 2);
    h.stop().await;
}

#[tokio::test]
async fn http_accepts_gzip_and_deflate() {
    let mut h = start("otlp/http_compression", local_config(), 16).await;
    let raw = valid_request(2).encode_to_vec();
    let mut zlib = ZlibEncoder::new(Vec::new(), Level::fast());
    zlib.write_all(&raw).unwrap();
    for (encoding, body) in [("gzip", gzip(&raw)), ("deflate", zlib.finish().unwrap())] {
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
        assert_eq!(h.rx.recv().await.unwrap().len(), 2);
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
    assert_eq!(h.rx.recv().await.unwrap().len(), 1);
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
