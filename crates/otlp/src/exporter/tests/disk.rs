//! The exporter with the write-ahead log's [`Release`]: a real [`Ledger`] over a tiny
//! in-memory [`Log`], the disk queue in a temporary directory, and the scripted server of
//! `mod.rs` stopped and started again on the same port.

use super::*;
use tracegate_model::Origin;
use tracegate_pipeline::durability::{Ledger, Log, LogError, Release};
use tracegate_pipeline::telemetry::names;

/// A log that only counts: LSN = bytes appended so far.
#[derive(Debug, Default)]
struct CountingLog {
    end: AtomicUsize,
}

#[tonic::async_trait]
impl Log for CountingLog {
    async fn append(&self, record: Vec<u8>) -> Result<u64, LogError> {
        Ok(self.end.fetch_add(record.len().max(1), Ordering::SeqCst) as u64)
    }
    fn checkpoint(&self, _consumer: &str, _durable_before: u64) {}
    fn end(&self) -> u64 {
        self.end.load(Ordering::SeqCst) as u64
    }
    async fn flush(&self) {}
}

/// A ledger with one consumer, `id`, and its release over `state_dir`.
fn logged_release(
    id: &str,
    state_dir: &std::path::Path,
) -> (Arc<CountingLog>, Arc<Ledger>, Release) {
    let log = Arc::new(CountingLog::default());
    let ledger = Ledger::new(log.clone(), vec![id.to_owned()]);
    let release = ledger.release(0, state_dir.to_owned(), true, 0, 0);
    (log, ledger, release)
}

/// Batch `n`: one span named `batch-n`, logged (its own record) and owed to consumer 0.
async fn logged(log: &CountingLog, ledger: &Ledger, n: u8) -> Arc<Payload> {
    let lsn = log.append(vec![0; 10]).await.unwrap();
    ledger.logged(None, lsn, 1, &[0]);
    let (mut batch, rejected) =
        SpanBatch::from_request(request(vec![span(vec![n; 16], n, &format!("batch-{n}"))]));
    assert!(rejected.is_empty());
    for span in &mut batch.spans {
        span.origin = Origin::logged(lsn);
    }
    Arc::new(Payload::Spans(batch))
}

/// The names of the spans the server accepted, in the order it accepted them.
fn accepted_names(script: &Script) -> Vec<String> {
    script
        .accepted
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

fn names_of(batches: impl IntoIterator<Item = u8>) -> Vec<String> {
    batches.into_iter().map(|n| format!("batch-{n}")).collect()
}

/// A scripted server on a fixed address that can be stopped and started again.
struct Server {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Server {
    /// Stops accepting, and returns once every connection is closed.
    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap().unwrap();
    }
}

/// Serves `script` on `addr` (again), waiting for the port to be free.
async fn serve_at(addr: SocketAddr, script: Arc<Script>) -> Server {
    let mut listener = None;
    for _ in 0..100 {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                listener = Some(l);
                break;
            }
            Err(_) => tokio::time::sleep(StdDuration::from_millis(20)).await,
        }
    }
    let listener = listener.expect("the port came free");
    let stop = CancellationToken::new();
    let service = TraceServiceServer::new(ScriptedServer(script))
        .accept_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Zstd);
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener),
                stop.clone().cancelled_owned(),
            ),
    );
    Server { stop, task }
}

/// A port nothing listens on (for now).
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A disk-queue exporter with one consumer (so delivery is strictly in order) and a retry
/// budget far shorter than the outages below.
fn disk_config(addr: SocketAddr) -> OtlpExporterConfig {
    let mut config = config(format!("http://{addr}"));
    config.timeout = Duration::from_millis(500);
    config.retry.max_elapsed_time = Duration::from_millis(100);
    config.sending_queue.num_consumers = 1;
    config
}

async fn started(id: &str, config: &OtlpExporterConfig, release: Release) -> OtlpExporter {
    let mut exporter = exporter(id, config);
    assert!(exporter.take_release(release));
    exporter.start().await.unwrap();
    exporter
}

fn queue_batches(id: &str) -> f64 {
    tracegate_testkit::metrics::CapturedMetrics::global()
        .gauge(names::EXPORTER_QUEUE_BATCHES, &[("exporter", id)])
}

#[tokio::test]
async fn an_outage_longer_than_the_retry_budget_loses_nothing_and_resumes_in_order() {
    let accepted = outage("otlp/disk_outage", 1).await;
    assert_eq!(
        accepted,
        names_of(1..=20),
        "one consumer: strictly in order"
    );
}

#[tokio::test]
async fn an_outage_with_several_consumers_loses_nothing() {
    let mut accepted = outage("otlp/disk_outage_4", 4).await;
    accepted.sort();
    accepted.dedup();
    let mut expected = names_of(1..=20);
    expected.sort();
    assert_eq!(accepted, expected);
}

/// The server stops under load for several times the retry budget, then starts again on
/// the same port; returns what it accepted, in order.
async fn outage(id: &str, consumers: usize) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    let (log, ledger, release) = logged_release(id, tmp.path());
    let script = Arc::new(Script::default());
    let addr = free_port();
    let server = serve_at(addr, script.clone()).await;
    let mut config = disk_config(addr);
    config.sending_queue.num_consumers = consumers;
    let mut exporter = started(id, &config, release).await;

    // Under load: batches keep coming while the server goes away.
    for n in 1..=5 {
        exporter
            .export(logged(&log, &ledger, n).await)
            .await
            .unwrap();
    }
    eventually("the first batches", || accepted_names(&script).len() == 5).await;
    server.stop().await;
    for n in 6..=20 {
        exporter
            .export(logged(&log, &ledger, n).await)
            .await
            .unwrap();
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
    // Down for several times the retry budget (100ms).
    tokio::time::sleep(StdDuration::from_millis(600)).await;
    assert_eq!(accepted_names(&script).len(), 5, "the server was down");
    assert!(count(names::EXPORTER_RETRIES, id, &[]) >= 1);
    assert_eq!(
        ledger.outstanding(0),
        0,
        "every span is durable in the disk queue"
    );
    let server = serve_at(addr, script.clone()).await;

    eventually("every batch", || accepted_names(&script).len() >= 20).await;
    // The server has the last batch a moment before its answer comes back and the queue
    // lets it go: wait for the queue to be empty, not just for the server.
    eventually("the queue to be empty", || queue_batches(id) == 0.0).await;
    exporter.shutdown().await.unwrap();
    assert!(count(names::EXPORTER_SENT_SPANS, id, &[]) >= 20);
    for error_type in ["retries_exhausted", "queue_full", "queue_io", "shutdown"] {
        assert_eq!(failed(id, error_type), 0, "{error_type}");
    }
    assert_eq!(queue_batches(id), 0.0);
    server.stop().await;
    accepted_names(&script)
}

#[tokio::test]
async fn spans_are_released_to_the_log_once_they_are_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/disk_release";
    let (log, ledger, release) = logged_release(id, tmp.path());
    // Nothing listens: no batch can be delivered. A retry budget longer than the test keeps
    // the first batch in flight: a shorter one hands it back to the queue mid-test (as the
    // outage test wants), and the count below would race that.
    let mut config = disk_config(free_port());
    config.retry.max_elapsed_time = Duration::from_secs(60);
    let mut exporter = started(id, &config, release).await;
    for n in 1..=3 {
        exporter
            .export(logged(&log, &ledger, n).await)
            .await
            .unwrap();
    }
    assert_eq!(ledger.outstanding(0), 0, "durable once on disk");
    assert_eq!(
        ledger.low_water(0),
        log.end(),
        "the log may drop every record"
    );
    assert_eq!(queue_batches(id), 3.0);
    let dir = tmp.path().join("sending_queue");
    assert!(
        dir.is_dir(),
        "the queue lives in the release's state directory"
    );
    exporter.shutdown().await.unwrap();
}

#[tokio::test]
async fn batches_left_on_disk_by_a_crash_are_delivered_by_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/disk_crash";
    let down = free_port();
    {
        let (log, ledger, release) = logged_release(id, tmp.path());
        let mut exporter = started(id, &disk_config(down), release).await;
        for n in 1..=4 {
            exporter
                .export(logged(&log, &ledger, n).await)
                .await
                .unwrap();
        }
        // Let the sender take a batch and start retrying it.
        tokio::time::sleep(StdDuration::from_millis(100)).await;
        // Dropped without shutdown: the process died.
        drop(exporter);
    }
    // The next run: a new log (the old one has let go of these spans), the same state
    // directory, and a server that is up.
    let script = Arc::new(Script::default());
    let server = serve_at(down, script.clone()).await;
    let (_log, _ledger, release) = logged_release(id, tmp.path());
    let mut exporter = started(id, &disk_config(down), release).await;
    eventually("the batches of the previous run", || {
        accepted_names(&script).len() >= 4
    })
    .await;
    exporter.shutdown().await.unwrap();
    assert_eq!(accepted_names(&script), names_of(1..=4));
    assert_eq!(failed(id, "shutdown"), 0);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_with_the_endpoint_down_is_prompt_and_keeps_the_batches() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/disk_shutdown";
    let down = free_port();
    let (log, ledger, release) = logged_release(id, tmp.path());
    let mut exporter = started(id, &disk_config(down), release).await;
    for n in 1..=3 {
        exporter
            .export(logged(&log, &ledger, n).await)
            .await
            .unwrap();
    }
    tokio::time::timeout(StdDuration::from_secs(3), exporter.shutdown())
        .await
        .expect("shutdown stops the senders at their first failure")
        .unwrap();
    assert_eq!(exporter.abandon(), 0, "nothing on disk is lost");
    drop(exporter);
    assert_eq!(failed(id, "shutdown"), 0);

    let script = Arc::new(Script::default());
    let server = serve_at(down, script.clone()).await;
    let (_log, _ledger, release) = logged_release(id, tmp.path());
    let mut exporter = started(id, &disk_config(down), release).await;
    eventually("the kept batches", || accepted_names(&script).len() >= 3).await;
    exporter.shutdown().await.unwrap();
    assert_eq!(accepted_names(&script), names_of(1..=3));
    server.stop().await;
}

#[tokio::test]
async fn the_memory_queue_releases_spans_only_once_delivered() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/memory_release";
    let (log, ledger, release) = logged_release(id, tmp.path());
    let gate = Arc::new(Semaphore::new(0));
    let script = Arc::new(Script {
        gate: Some(gate.clone()),
        ..Default::default()
    });
    let (addr, stop) = serve(script.clone()).await;
    let mut config = disk_config(addr);
    config.sending_queue.storage = QueueStorage::Memory;
    let mut exporter = started(id, &config, release).await;
    for n in 1..=3 {
        exporter
            .export(logged(&log, &ledger, n).await)
            .await
            .unwrap();
    }
    assert_eq!(
        ledger.outstanding(0),
        3,
        "not delivered yet: the log keeps them"
    );
    assert!(!tmp.path().join("sending_queue").exists());
    gate.add_permits(10);
    exporter.shutdown().await.unwrap();
    assert_eq!(accepted_names(&script), names_of(1..=3));
    assert_eq!(ledger.outstanding(0), 0);
    stop.cancel();
}

#[tokio::test]
async fn the_memory_queue_leaves_undelivered_spans_to_the_log_on_abandon() {
    let tmp = tempfile::tempdir().unwrap();
    let id = "otlp/memory_abandon";
    let (log, ledger, release) = logged_release(id, tmp.path());
    let mut config = disk_config(free_port());
    config.sending_queue.storage = QueueStorage::Memory;
    let mut exporter = started(id, &config, release).await;
    exporter
        .export(logged(&log, &ledger, 1).await)
        .await
        .unwrap();
    exporter
        .export(logged(&log, &ledger, 2).await)
        .await
        .unwrap();
    assert_eq!(exporter.abandon(), 0, "the log still holds them");
    drop(exporter);
    assert_eq!(ledger.outstanding(0), 2, "a restart replays them");
    assert_eq!(failed(id, "shutdown"), 0);
}
