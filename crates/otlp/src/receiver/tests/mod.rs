//! Receiver tests, against real servers on 127.0.0.1 with port 0.
//!
//! - `config.rs`: the YAML fixture `testdata/receiver.yaml`, `config/default.yaml`, and errors
//!   with key paths;
//! - `otlp_json.rs`: the spec's example (as `testdata/trace.json`, extended), key styles,
//!   nulls, errors and nesting limits;
//! - `partial.rs`: partial success, a 17-byte trace id among valid spans, over gRPC, HTTP
//!   protobuf and HTTP JSON;
//! - `bad_input.rs`: truncated protobuf, invalid JSON, bodies over the limits, compression
//!   bombs, unknown Content-Type and Content-Encoding, wrong method;
//! - `lifecycle.rs`: back-pressure (a full pipeline gives gRPC `UNAVAILABLE` and HTTP 503 with
//!   Retry-After), compression (gRPC gzip and zstd, HTTP gzip, deflate and zstd), a taken port, and
//!   shutdown dropping the sender;
//! - `tenancy.rs`: `X-Scope-OrgID` with multi-tenancy on (the tenant reaches the spans;
//!   missing → 401 / `UNAUTHENTICATED`, invalid → 400 / `INVALID_ARGUMENT`) and off (ignored);
//! - `bounds.rs` (issue 18): the in-flight byte budget, connection and request caps, slow
//!   uploads and headers, and a lying Content-Length;
//! - `logs.rs` (issue 15): `LogsService/Export` and `POST /v1/logs` under the same limits,
//!   errors, partial success, refusals and tenancy, and a signal with no pipeline refused.
//!
//! - `tls.rs` (issue 17): TLS and mTLS on both listeners, plaintext to a TLS port, rotation;
//! - `auth.rs` (issue 17): bearer tokens and client certificates deciding the tenant, 401 /
//!   403 and their counts.
//!
//! This file holds the harness they share.
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

mod auth;
mod bad_input;
mod bounds;
mod config;
mod lifecycle;
mod logs;
mod otlp_json;
mod partial;
mod tenancy;
mod tls;

// ---------------------------------------------------------------------------------------------
// Harness

/// A running receiver and the far end of its pipeline queue.
struct Harness {
    id: String,
    grpc: SocketAddr,
    http: SocketAddr,
    rx: mpsc::Receiver<tracegate_pipeline::sender::Inbound>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ComponentError>>,
}

/// Both protocols on 127.0.0.1 port 0, with small limits.
fn local_config() -> OtlpReceiverConfig {
    OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcConfig {
                endpoint: "127.0.0.1:0".into(),
                tls: None,
            }),
            http: Some(HttpConfig {
                endpoint: "127.0.0.1:0".into(),
                tls: None,
            }),
        },
        max_request_bytes: ByteSize::kib(64),
        max_decompressed_bytes: ByteSize::kib(256),
        ..OtlpReceiverConfig::default()
    }
}

/// Starts a receiver whose pipeline queue holds `capacity` batches and refuses after 50 ms.
async fn start(id: &str, config: OtlpReceiverConfig, capacity: usize) -> Harness {
    start_receiver(id, capacity, |id| OtlpReceiver::new(id, config)).await
}

/// As [`start`], with the receiver built by `build`.
async fn start_receiver(
    id: &str,
    capacity: usize,
    build: impl FnOnce(ComponentId) -> OtlpReceiver,
) -> Harness {
    start_fed(id, capacity, Feeds::Traces, build).await
}

/// Which pipelines list the receiver under test; all of them end in the harness's one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feeds {
    Traces,
    Logs,
    Both,
}

impl Feeds {
    /// A sender to `tx` for these pipelines, refusing after 50 ms.
    fn sender(self, tx: mpsc::Sender<tracegate_pipeline::sender::Inbound>) -> SpanSender {
        let traces = match self {
            Feeds::Traces | Feeds::Both => vec![tx.clone()],
            Feeds::Logs => Vec::new(),
        };
        let logs = match self {
            Feeds::Logs | Feeds::Both => vec![tx],
            Feeds::Traces => Vec::new(),
        };
        SpanSender::new(traces, Duration::from_millis(50)).with_logs(logs)
    }
}

/// As [`start_receiver`], feeding the pipelines of `feeds`.
async fn start_fed(
    id: &str,
    capacity: usize,
    feeds: Feeds,
    build: impl FnOnce(ComponentId) -> OtlpReceiver,
) -> Harness {
    start_with_output(id, capacity, |tx| feeds.sender(tx), build).await
}

/// As [`start_receiver`], with the receiver's output made by `output` from the queue's end.
async fn start_with_output(
    id: &str,
    capacity: usize,
    output: impl FnOnce(mpsc::Sender<tracegate_pipeline::sender::Inbound>) -> SpanSender,
    build: impl FnOnce(ComponentId) -> OtlpReceiver,
) -> Harness {
    init_metrics();
    let id = ComponentId::parse(id).unwrap();
    let mut receiver = Box::new(build(id.clone()));
    receiver.bind().await.unwrap();
    let grpc = receiver.grpc_addr().unwrap();
    let http = receiver.http_addr().unwrap();
    let (tx, rx) = mpsc::channel(capacity);
    let shutdown = CancellationToken::new();
    let ctx = ReceiverContext {
        id: id.clone(),
        output: output(tx),
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
    http_request(addr, "/v1/traces", method, headers, body, content_length).await
}

/// As [`http_call_with_length`], to `path`.
async fn http_request(
    addr: SocketAddr,
    path: &str,
    method: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    content_length: usize,
) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {content_length}\r\n"
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

/// 512 KiB requests, inflated or not: room for [`gzip_bomb`] on the wire, not inflated.
fn bomb_config() -> OtlpReceiverConfig {
    OtlpReceiverConfig {
        max_request_bytes: ByteSize::kib(512),
        max_decompressed_bytes: ByteSize::kib(512),
        ..local_config()
    }
}

/// 100 MiB of zeros in about 100 KB: one compressed MiB, repeated as gzip members.
fn gzip_bomb() -> Vec<u8> {
    let mut member = GzEncoder::new(Vec::new(), Level::best());
    member.write_all(&vec![0u8; 1 << 20]).unwrap();
    member.finish().unwrap().repeat(100)
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
