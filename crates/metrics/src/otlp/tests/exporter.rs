use super::*;
use crate::otlp::config::{OtlpMetricsConfig, Temporality};
use crate::otlp::exporter::{EXPORTS_TOTAL, OtlpMetricsExporter, REJECTED_POINTS_TOTAL};
use crate::registry::MetricsRegistry;
use crate::snapshot::MetricSource;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration as StdDuration;
use tokio_util::sync::CancellationToken;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tracegate_pipeline::Duration;
use tracegate_testkit::metrics::CapturedMetrics;

/// Answers each export with the next scripted result (OK once the script runs out), and
/// keeps what it accepted with the request's metadata.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Result<ExportMetricsServiceResponse, Status>>>,
    accepted: Mutex<Vec<(ExportMetricsServiceRequest, BTreeMap<String, String>)>>,
    attempts: AtomicU64,
}

struct ScriptedServer(Arc<Script>);

#[tonic::async_trait]
impl MetricsService for ScriptedServer {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.0.attempts.fetch_add(1, Ordering::SeqCst);
        let answer = self.0.answers.lock().unwrap().pop_front();
        if let Some(Err(status)) = answer {
            return Err(status);
        }
        let metadata = ["x-scope-orgid", "grpc-encoding"]
            .iter()
            .filter_map(|k| {
                Some((
                    (*k).to_owned(),
                    request.metadata().get(*k)?.to_str().ok()?.to_owned(),
                ))
            })
            .collect();
        self.0
            .accepted
            .lock()
            .unwrap()
            .push((request.into_inner(), metadata));
        Ok(Response::new(
            answer.and_then(Result::ok).unwrap_or_default(),
        ))
    }
}

async fn serve(script: Arc<Script>) -> (SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let service = MetricsServiceServer::new(ScriptedServer(script))
        .accept_compressed(CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener),
                stop.clone().cancelled_owned(),
            ),
    );
    (addr, stop)
}

/// A source whose one counter counts its own collections: 1 on the first, 2 on the next…
#[derive(Debug, Default)]
struct CountingSource(AtomicU64);

impl MetricSource for CountingSource {
    fn collect(&self, _now: u64) -> Vec<Family> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        vec![family(
            "tracegate.collections",
            Kind::Counter,
            "1",
            vec![series(&[("k", "v")], 1, Value::Counter(n as f64))],
        )]
    }
}

fn registry() -> (MetricsRegistry, Arc<CountingSource>) {
    let registry = MetricsRegistry::new();
    let source = Arc::new(CountingSource::default());
    registry.add_source("span_metrics", source.clone());
    (registry, source)
}

fn config(addr: SocketAddr, temporality: Temporality, interval_ms: u64) -> OtlpMetricsConfig {
    OtlpMetricsConfig {
        endpoint: format!("http://{addr}"),
        temporality,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_secs(2),
        headers: BTreeMap::from([("X-Scope-OrgID".to_owned(), "tenant-a".to_owned())]),
        ..Default::default()
    }
}

fn counter_values(request: &ExportMetricsServiceRequest) -> Vec<f64> {
    request.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .flat_map(|m| match &m.data {
            Some(Data::Sum(s)) => s.data_points.clone(),
            _ => vec![],
        })
        .filter_map(|p| match p.value {
            Some(number_data_point::Value::AsDouble(v)) => Some(v),
            _ => None,
        })
        .collect()
}

/// Runs `test` on a current-thread runtime with `captured` recording its metrics.
fn run<F: std::future::Future<Output = ()>>(captured: &CapturedMetrics, test: impl FnOnce() -> F) {
    captured.run(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test());
    });
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = tokio::time::Instant::now() + StdDuration::from_secs(10);
    while !done() {
        assert!(
            tokio::time::Instant::now() < give_up,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(StdDuration::from_millis(10)).await;
    }
}

#[test]
fn pushes_with_gzip_and_headers_and_retries_one_unavailable() {
    let captured = CapturedMetrics::new();
    run(&captured, || async {
        let script = Arc::new(Script::default());
        script
            .answers
            .lock()
            .unwrap()
            .push_back(Err(Status::unavailable("warming up")));
        let (addr, stop) = serve(script.clone()).await;
        let (registry, _) = registry();
        let exporter =
            OtlpMetricsExporter::new(config(addr, Temporality::Cumulative, 300), registry).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(exporter.run(shutdown.clone()));

        wait_for("the first push", || {
            !script.accepted.lock().unwrap().is_empty()
        })
        .await;
        assert_eq!(
            script.attempts.load(Ordering::SeqCst),
            2,
            "one UNAVAILABLE, then delivered"
        );
        {
            let accepted = script.accepted.lock().unwrap();
            let (request, metadata) = &accepted[0];
            assert_eq!(
                metadata.get("x-scope-orgid").map(String::as_str),
                Some("tenant-a")
            );
            assert_eq!(
                metadata.get("grpc-encoding").map(String::as_str),
                Some("gzip")
            );
            let resource = request.resource_metrics[0].resource.as_ref().unwrap();
            let service = resource
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .unwrap();
            assert!(matches!(
                service.value.as_ref().and_then(|v| v.value.as_ref()),
                Some(any_value::Value::StringValue(s)) if s == "tracegate"
            ));
            // Cumulative: the first collection's value.
            assert_eq!(counter_values(request), vec![1.0]);
        }

        // Shutdown: a final push with the newest value.
        let before = script.accepted.lock().unwrap().len();
        shutdown.cancel();
        tokio::time::timeout(StdDuration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        let accepted = script.accepted.lock().unwrap();
        assert_eq!(accepted.len(), before + 1, "the final push at shutdown");
        let last = counter_values(&accepted.last().unwrap().0);
        assert_eq!(last, vec![(before + 1) as f64]);
        stop.cancel();
    });
    assert_eq!(captured.counter(EXPORTS_TOTAL, &[("outcome", "retry")]), 1);
    assert!(captured.counter(EXPORTS_TOTAL, &[("outcome", "success")]) >= 2);
    assert_eq!(
        captured.counter(EXPORTS_TOTAL, &[("outcome", "failure")]),
        0
    );
}

#[test]
fn permanent_errors_are_not_retried_and_delta_state_is_restored() {
    let captured = CapturedMetrics::new();
    run(&captured, || async {
        let script = Arc::new(Script::default());
        script
            .answers
            .lock()
            .unwrap()
            .push_back(Err(Status::invalid_argument("bad")));
        let (addr, stop) = serve(script.clone()).await;
        let (registry, source) = registry();
        let exporter =
            OtlpMetricsExporter::new(config(addr, Temporality::Delta, 200), registry).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(exporter.run(shutdown.clone()));

        wait_for("the second push", || {
            !script.accepted.lock().unwrap().is_empty()
        })
        .await;
        assert_eq!(
            script.attempts.load(Ordering::SeqCst),
            2,
            "INVALID_ARGUMENT is not retried"
        );
        shutdown.cancel();
        tokio::time::timeout(StdDuration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        stop.cancel();

        // The refused first push (value 1) put the state back, so the deltas delivered add
        // up to the last cumulative value: nothing lost, nothing twice.
        let accepted = script.accepted.lock().unwrap();
        let total: f64 = accepted.iter().flat_map(|(r, _)| counter_values(r)).sum();
        assert_eq!(total, source.0.load(Ordering::SeqCst) as f64);
        assert_eq!(
            counter_values(&accepted[0].0),
            vec![2.0],
            "the second push covers both intervals"
        );
    });
    assert_eq!(
        captured.counter(EXPORTS_TOTAL, &[("outcome", "failure")]),
        1
    );
    assert_eq!(captured.counter(EXPORTS_TOTAL, &[("outcome", "retry")]), 0);
}

#[test]
fn an_endpoint_that_stays_down_is_given_up_within_the_interval() {
    let captured = CapturedMetrics::new();
    run(&captured, || async {
        // Nothing listens on this port once the listener is dropped.
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap()
        };
        let (registry, _) = registry();
        let exporter =
            OtlpMetricsExporter::new(config(addr, Temporality::Cumulative, 200), registry).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(exporter.run(shutdown.clone()));
        // Two intervals and a half: two pushes, each given up before the next is due.
        tokio::time::sleep(StdDuration::from_millis(500)).await;
        shutdown.cancel();
        tokio::time::timeout(StdDuration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    });
    let failures = captured.counter(EXPORTS_TOTAL, &[("outcome", "failure")]);
    assert!((2..=3).contains(&failures), "failures: {failures}");
    assert!(captured.counter(EXPORTS_TOTAL, &[("outcome", "retry")]) >= 2);
    assert_eq!(
        captured.counter(EXPORTS_TOTAL, &[("outcome", "success")]),
        0
    );
}

#[test]
fn new_checks_the_endpoint() {
    let e =
        OtlpMetricsExporter::new(OtlpMetricsConfig::default(), MetricsRegistry::new()).unwrap_err();
    assert!(
        e.contains("metrics.otlp.endpoint") && e.contains("required"),
        "{e}"
    );
}

#[test]
fn partial_success_counts_the_rejected_points() {
    let captured = CapturedMetrics::new();
    run(&captured, || async {
        let script = Arc::new(Script::default());
        script
            .answers
            .lock()
            .unwrap()
            .push_back(Ok(ExportMetricsServiceResponse {
                partial_success: Some(ExportMetricsPartialSuccess {
                    rejected_data_points: 1,
                    error_message: "too old".to_owned(),
                }),
            }));
        let (addr, stop) = serve(script.clone()).await;
        let (registry, _) = registry();
        let mut config = config(addr, Temporality::Cumulative, 100);
        config.compression = crate::otlp::Compression::None;
        let exporter = OtlpMetricsExporter::new(config, registry).unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(exporter.run(shutdown.clone()));
        wait_for("the first push", || {
            script.attempts.load(Ordering::SeqCst) >= 1
        })
        .await;
        shutdown.cancel();
        tokio::time::timeout(StdDuration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        stop.cancel();
        let accepted = script.accepted.lock().unwrap();
        assert!(
            accepted
                .iter()
                .all(|(_, m)| !m.contains_key("grpc-encoding")),
            "compression: none"
        );
    });
    assert_eq!(captured.counter(REJECTED_POINTS_TOTAL, &[]), 1);
    assert_eq!(
        captured.counter(EXPORTS_TOTAL, &[("outcome", "retry")]),
        0,
        "a partial success is not retried"
    );
}
