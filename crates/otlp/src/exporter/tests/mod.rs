//! Exporter tests, against a real in-process tonic `TraceService` on 127.0.0.1 port 0 that
//! answers from a script.
//!
//! - config: the YAML fixture `testdata/exporter.yaml`, and errors with key paths;
//! - delivery: exact spans, headers as metadata, gzip;
//! - retries: `UNAVAILABLE` twice then OK is delivered once; `INVALID_ARGUMENT` is not
//!   retried; an endpoint that stays down is given up on after `max_elapsed_time`;
//! - partial success: rejected spans are counted as failed;
//! - the queue: a full queue drops and counts the batch; shutdown drains it; `abandon`
//!   returns what was queued or in flight;
//! - end to end: the exporter feeding the OTLP receiver generated RAG traces;
//! - `disk.rs`: the disk queue with the write-ahead log's release: outages longer than the
//!   retry budget, crashes, shutdown, and when spans are released to the log.

use super::*;
use crate::receiver::{GrpcConfig, OtlpReceiver, OtlpReceiverConfig, Protocols};
use crate::test_util::{counter, init_metrics, request, span, valid_request};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tracegate_model::SpanBatch;
use tracegate_pipeline::telemetry::names;
use tracegate_pipeline::{Duration, Payload, Receiver, ReceiverContext, SpanSender};
use tracegate_testkit::{Generator, GeneratorConfig};

mod disk;
mod tls;

// ---------------------------------------------------------------------------------------------
// A scripted OTLP server

/// Answers each export with the next scripted result (OK once the script runs out), and
/// keeps what it accepted.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Result<ExportTraceServiceResponse, Status>>>,
    accepted: Mutex<Vec<ExportTraceServiceRequest>>,
    tenants: Mutex<Vec<String>>,
    attempts: AtomicUsize,
    /// When set, each export waits for a permit first.
    gate: Option<Arc<Semaphore>>,
}

struct ScriptedServer(Arc<Script>);

#[tonic::async_trait]
impl TraceService for ScriptedServer {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.0.attempts.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.0.gate {
            gate.acquire().await.unwrap().forget();
        }
        if let Some(tenant) = request.metadata().get("x-scope-orgid") {
            self.0
                .tenants
                .lock()
                .unwrap()
                .push(tenant.to_str().unwrap().to_owned());
        }
        let answer = self
            .0
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(Default::default()));
        if answer.is_ok() {
            self.0.accepted.lock().unwrap().push(request.into_inner());
        }
        answer.map(Response::new)
    }
}

/// Starts the server; it stops when the returned token is cancelled.
async fn serve(script: Arc<Script>) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let service = TraceServiceServer::new(ScriptedServer(script))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let signal = stop.clone().cancelled_owned();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), signal),
    );
    (addr, stop)
}

fn config(endpoint: String) -> OtlpExporterConfig {
    OtlpExporterConfig {
        endpoint,
        timeout: Duration::from_secs(5),
        retry: RetryConfig {
            initial_interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn exporter(id: &str, config: &OtlpExporterConfig) -> OtlpExporter {
    init_metrics();
    OtlpExporter::from_config(&ComponentId::parse(id).unwrap(), config).unwrap()
}

fn payload(request: ExportTraceServiceRequest) -> (Arc<Payload>, SpanBatch) {
    let (batch, rejected) = SpanBatch::from_request(request);
    assert!(rejected.is_empty());
    (Arc::new(Payload::Spans(batch.clone())), batch)
}

fn count(name: &str, id: &str, labels: &[(&str, &str)]) -> u64 {
    let mut all = vec![("exporter", id)];
    all.extend_from_slice(labels);
    counter(name, &all)
}

fn failed(id: &str, error_type: &str) -> u64 {
    count(
        names::EXPORTER_FAILED_SPANS,
        id,
        &[("error_type", error_type)],
    )
}

async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

// ---------------------------------------------------------------------------------------------
// Config

#[test]
fn config_fixture_parses_to_the_expected_structs() {
    let text = std::fs::read_to_string(format!(
        "{}/testdata/exporter.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let get = |id: &str| {
        OtlpExporterConfig::from_section(&format!("exporters.{id}"), doc["exporters"][id].clone())
            .unwrap()
    };
    assert_eq!(
        get("otlp/tempo"),
        OtlpExporterConfig {
            endpoint: "http://tempo:4317".into(),
            tls: None,
            compression: Compression::Gzip,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(10),
            sending_queue: SendingQueueConfig {
                queue_size: 1000,
                num_consumers: 4,
                storage: QueueStorage::Disk,
                max_bytes: tracegate_pipeline::ByteSize::mib(1024),
            },
            retry: RetryConfig {
                enabled: true,
                initial_interval: Duration::from_secs(1),
                max_interval: Duration::from_secs(30),
                max_elapsed_time: Duration::from_secs(300),
            },
            sampled_only: false,
        }
    );
    assert_eq!(
        get("otlp/full"),
        OtlpExporterConfig {
            endpoint: "tempo:4317".into(),
            tls: None,
            compression: Compression::None,
            headers: BTreeMap::from([
                ("x-scope-orgid".to_owned(), "tenant".to_owned()),
                ("authorization".to_owned(), "Bearer abc".to_owned()),
            ]),
            timeout: Duration::from_secs(5),
            sending_queue: SendingQueueConfig {
                queue_size: 10,
                num_consumers: 2,
                storage: QueueStorage::Memory,
                max_bytes: tracegate_pipeline::ByteSize::mib(64),
            },
            retry: RetryConfig {
                enabled: false,
                initial_interval: Duration::from_millis(100),
                max_interval: Duration::from_secs(2),
                max_elapsed_time: Duration::from_secs(60),
            },
            sampled_only: true,
        }
    );
}

#[test]
fn config_errors_carry_key_paths() {
    let err = |yaml: &str| {
        OtlpExporterConfig::from_section(
            "exporters.otlp/tempo",
            serde_yaml_ng::from_str(yaml).unwrap(),
        )
        .unwrap_err()
        .to_string()
    };
    let e = err("compression: gzip");
    assert!(
        e.starts_with("exporters.otlp/tempo.endpoint: required"),
        "{e}"
    );
    let e = err("endpoint: grpcs://tempo:4317");
    assert!(
        e.starts_with("exporters.otlp/tempo.endpoint: unsupported scheme \"grpcs\""),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\ncompression: brotli");
    assert!(
        e.starts_with("exporters.otlp/tempo.compression: unknown variant `brotli`"),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\ntimeout: 10");
    assert!(
        e.starts_with("exporters.otlp/tempo.timeout: invalid duration 10"),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\nretry: { max_elapsed: 1m }");
    assert!(
        e.starts_with("exporters.otlp/tempo.retry.max_elapsed: unknown field `max_elapsed`"),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\nheaders: { \"bad key\": x }");
    assert!(
        e.starts_with("exporters.otlp/tempo.headers.bad key: invalid header name"),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\nsending_queue: { queue_size: 0 }");
    assert!(
        e.starts_with("exporters.otlp/tempo.sending_queue.queue_size: must be at least 1"),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\nsending_queue: { max_bytes: 1KiB }");
    assert!(
        e.starts_with("exporters.otlp/tempo.sending_queue.max_bytes: must be at least 1"),
        "{e}"
    );
    let e = err("endpoint: tempo:4317\nsending_queue: { storage: tape }");
    assert!(
        e.starts_with("exporters.otlp/tempo.sending_queue.storage: unknown variant `tape`"),
        "{e}"
    );
    // Beyond what tokio's channel accepts: an error with its key path, not a panic at start.
    let e = err(&format!(
        "endpoint: tempo:4317\nsending_queue: {{ queue_size: {} }}",
        usize::MAX
    ));
    assert!(
        e.starts_with(
            "exporters.otlp/tempo.sending_queue.queue_size: must be at least 1 and at most"
        ),
        "{e}"
    );
}

#[test]
fn factory_builds_without_a_runtime_or_a_reachable_endpoint() {
    let factory = OtlpExporterFactory;
    assert_eq!(factory.type_name(), "otlp");
    let ctx = BuildContext::new("test");
    let id = ComponentId::parse("otlp/tempo").unwrap();
    let section = serde_yaml_ng::from_str("endpoint: http://tempo.invalid:4317").unwrap();
    assert!(factory.build(&id, section, &ctx).is_ok());
    let e = factory
        .build(&id, serde_yaml_ng::Value::Null, &ctx)
        .unwrap_err();
    assert_eq!(e.path, "exporters.otlp/tempo.endpoint");
}

#[test]
fn sampled_only_is_off_by_default_and_reaches_the_topology() {
    let ctx = BuildContext::new("test");
    let id = ComponentId::parse("otlp/tempo").unwrap();
    let build =
        |yaml: &str| OtlpExporterFactory.build(&id, serde_yaml_ng::from_str(yaml).unwrap(), &ctx);
    let all = build("endpoint: http://tempo.invalid:4317").unwrap();
    assert!(!all.sampled_only());
    let sampled = build("{ endpoint: http://tempo.invalid:4317, sampled_only: true }").unwrap();
    assert!(sampled.sampled_only());
    let e = build("{ endpoint: http://tempo.invalid:4317, sampled_only: maybe }").unwrap_err();
    assert_eq!(e.path, "exporters.otlp/tempo.sampled_only", "{e}");
}

// ---------------------------------------------------------------------------------------------
// Delivery and retries

#[tokio::test]
async fn delivers_exact_spans_with_headers() {
    let script = Arc::new(Script::default());
    let (addr, stop) = serve(script.clone()).await;
    let mut config = config(format!("http://{addr}"));
    config
        .headers
        .insert("X-Scope-OrgID".into(), "tenant-a".into());
    let mut exporter = exporter("otlp/exact", &config);

    let (first, first_batch) = payload(valid_request(3));
    let (second, second_batch) = payload(request(vec![span(vec![9; 16], 1, "other")]));
    exporter.export(first).await.unwrap();
    exporter.export(second).await.unwrap();
    exporter.shutdown().await.unwrap();

    let mut accepted = script.accepted.lock().unwrap().clone();
    accepted.sort_by_key(|r| r.resource_spans[0].scope_spans[0].spans.len());
    assert_eq!(
        accepted,
        [second_batch.to_request(), first_batch.to_request()]
    );
    assert_eq!(*script.tenants.lock().unwrap(), ["tenant-a", "tenant-a"]);
    assert_eq!(count(names::EXPORTER_SENT_SPANS, "otlp/exact", &[]), 4);
    // Shutting down twice is fine.
    exporter.shutdown().await.unwrap();
    stop.cancel();
}

#[tokio::test]
async fn unavailable_twice_then_ok_is_delivered_once() {
    let script = Arc::new(Script::default());
    script.answers.lock().unwrap().extend([
        Err(Status::unavailable("busy")),
        Err(Status::unavailable("still busy")),
    ]);
    let (addr, stop) = serve(script.clone()).await;
    let mut exporter = exporter("otlp/retry", &config(format!("http://{addr}")));
    let (payload, batch) = payload(valid_request(2));
    exporter.export(payload).await.unwrap();
    exporter.shutdown().await.unwrap();

    assert_eq!(script.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(*script.accepted.lock().unwrap(), [batch.to_request()]);
    assert_eq!(count(names::EXPORTER_RETRIES, "otlp/retry", &[]), 2);
    assert_eq!(count(names::EXPORTER_SENT_SPANS, "otlp/retry", &[]), 2);
    stop.cancel();
}

#[tokio::test]
async fn invalid_argument_is_dropped_without_retry() {
    let script = Arc::new(Script::default());
    script
        .answers
        .lock()
        .unwrap()
        .push_back(Err(Status::invalid_argument("bad data")));
    let (addr, stop) = serve(script.clone()).await;
    let mut exporter = exporter("otlp/permanent", &config(format!("http://{addr}")));
    exporter.export(payload(valid_request(3)).0).await.unwrap();
    exporter.shutdown().await.unwrap();

    assert_eq!(script.attempts.load(Ordering::SeqCst), 1);
    assert!(script.accepted.lock().unwrap().is_empty());
    assert_eq!(failed("otlp/permanent", "permanent"), 3);
    assert_eq!(count(names::EXPORTER_RETRIES, "otlp/permanent", &[]), 0);
    stop.cancel();
}

#[tokio::test]
async fn rejected_spans_of_a_partial_success_are_counted() {
    let script = Arc::new(Script::default());
    script
        .answers
        .lock()
        .unwrap()
        .push_back(Ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "one was too old".into(),
            }),
        }));
    let (addr, stop) = serve(script.clone()).await;
    let mut exporter = exporter("otlp/partial", &config(format!("http://{addr}")));
    exporter.export(payload(valid_request(3)).0).await.unwrap();
    exporter.shutdown().await.unwrap();

    assert_eq!(
        script.attempts.load(Ordering::SeqCst),
        1,
        "a partial success is not retried"
    );
    assert_eq!(count(names::EXPORTER_SENT_SPANS, "otlp/partial", &[]), 2);
    assert_eq!(failed("otlp/partial", "rejected"), 1);
    stop.cancel();
}

#[tokio::test]
async fn a_down_endpoint_is_retried_then_given_up_on() {
    // A port with nothing listening: connections are refused, which is UNAVAILABLE.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = config(format!("http://{addr}"));
    config.retry.max_elapsed_time = Duration::from_millis(200);
    let mut exporter = exporter("otlp/down", &config);
    // Starting and queueing do not wait for the endpoint.
    exporter.export(payload(valid_request(2)).0).await.unwrap();
    exporter.shutdown().await.unwrap();
    assert_eq!(failed("otlp/down", "retries_exhausted"), 2);
    assert!(count(names::EXPORTER_RETRIES, "otlp/down", &[]) >= 1);
}

// ---------------------------------------------------------------------------------------------
// The queue

#[tokio::test]
async fn a_full_queue_drops_and_counts_the_batch() {
    let gate = Arc::new(Semaphore::new(0));
    let script = Arc::new(Script {
        gate: Some(gate.clone()),
        ..Default::default()
    });
    let (addr, stop) = serve(script.clone()).await;
    let mut config = config(format!("http://{addr}"));
    config.sending_queue = SendingQueueConfig {
        queue_size: 1,
        num_consumers: 1,
        ..Default::default()
    };
    let mut exporter = exporter("otlp/queue_full", &config);

    // The first batch is taken by the sender and held by the server...
    exporter.export(payload(valid_request(1)).0).await.unwrap();
    eventually("the first attempt", || {
        script.attempts.load(Ordering::SeqCst) == 1
    })
    .await;
    // ...the second waits in the queue, and the third finds it full.
    exporter.export(payload(valid_request(2)).0).await.unwrap();
    exporter.export(payload(valid_request(3)).0).await.unwrap();
    assert_eq!(failed("otlp/queue_full", "queue_full"), 3);

    // Shutdown drains what was queued.
    gate.add_permits(10);
    exporter.shutdown().await.unwrap();
    let sizes: Vec<usize> = script
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.resource_spans[0].scope_spans[0].spans.len())
        .collect();
    assert_eq!(sizes, [1, 2]);
    assert_eq!(count(names::EXPORTER_SENT_SPANS, "otlp/queue_full", &[]), 3);
    stop.cancel();
}

#[tokio::test]
async fn an_aborted_shutdown_counts_what_was_lost() {
    let gate = Arc::new(Semaphore::new(0));
    let script = Arc::new(Script {
        gate: Some(gate),
        ..Default::default()
    });
    let (addr, stop) = serve(script.clone()).await;
    let mut exporter = exporter("otlp/aborted", &config(format!("http://{addr}")));
    exporter.export(payload(valid_request(4)).0).await.unwrap();
    // The server never answers; the topology's deadline gives up on the flush.
    assert!(
        tokio::time::timeout(StdDuration::from_millis(200), exporter.shutdown())
            .await
            .is_err()
    );
    drop(exporter);
    assert_eq!(failed("otlp/aborted", "shutdown"), 4);
    stop.cancel();
}

#[tokio::test]
async fn abandon_returns_the_spans_queued_and_in_flight() {
    let gate = Arc::new(Semaphore::new(0));
    let script = Arc::new(Script {
        gate: Some(gate.clone()),
        ..Default::default()
    });
    let (addr, stop) = serve(script.clone()).await;
    let mut config = config(format!("http://{addr}"));
    config.sending_queue = SendingQueueConfig {
        queue_size: 10,
        num_consumers: 1,
        ..Default::default()
    };
    let id = "otlp/abandoned";
    let mut exporter = exporter(id, &config);
    // One batch delivered before the deadline: not counted.
    gate.add_permits(1);
    exporter.export(payload(valid_request(2)).0).await.unwrap();
    eventually("the first delivery", || {
        script.accepted.lock().unwrap().len() == 1
    })
    .await;
    // One batch held by the server (in flight), two waiting in the queue.
    exporter.export(payload(valid_request(3)).0).await.unwrap();
    eventually("the second attempt", || {
        script.attempts.load(Ordering::SeqCst) == 2
    })
    .await;
    exporter.export(payload(valid_request(4)).0).await.unwrap();
    exporter.export(payload(valid_request(5)).0).await.unwrap();

    assert_eq!(exporter.abandon(), 3 + 4 + 5);
    // The senders are gone: nothing more reaches the server, even when it answers again.
    gate.add_permits(10);
    tokio::task::yield_now().await;
    assert_eq!(script.attempts.load(Ordering::SeqCst), 2);
    assert!(exporter.export(payload(valid_request(1)).0).await.is_err());
    assert_eq!(exporter.abandon(), 0, "abandoning twice loses nothing more");
    drop(exporter);
    assert_eq!(
        failed(id, "shutdown"),
        0,
        "the caller counts what abandon returned; dropping does not count it again"
    );
    assert_eq!(count(names::EXPORTER_SENT_SPANS, id, &[]), 2);
    stop.cancel();
}

// ---------------------------------------------------------------------------------------------
// End to end

#[tokio::test]
async fn feeds_the_otlp_receiver() {
    init_metrics();
    let receiver_config = OtlpReceiverConfig {
        protocols: Protocols {
            grpc: Some(GrpcConfig {
                endpoint: "127.0.0.1:0".into(),
                tls: None,
            }),
            http: None,
        },
        ..Default::default()
    };
    let id = ComponentId::parse("otlp/e2e").unwrap();
    let mut receiver = Box::new(OtlpReceiver::new(id.clone(), receiver_config));
    receiver.bind().await.unwrap();
    let addr = receiver.grpc_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let shutdown = CancellationToken::new();
    let ctx = ReceiverContext {
        id,
        output: SpanSender::new(vec![tx], StdDuration::from_millis(100)),
        shutdown: shutdown.clone(),
    };
    let task = tokio::spawn(receiver.run(ctx));

    let mut generator = Generator::new(GeneratorConfig {
        seed: 5,
        ..Default::default()
    });
    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let mut config = config(addr.to_string());
        config.compression = compression;
        let mut exporter = exporter("otlp/e2e", &config);
        let (payload, batch) = payload(generator.request_with_traces(5));
        exporter.export(payload).await.unwrap();
        exporter.shutdown().await.unwrap();
        let received = rx.recv().await.unwrap().into_spans();
        assert_eq!(received.to_request(), batch.to_request(), "{compression:?}");
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
}
