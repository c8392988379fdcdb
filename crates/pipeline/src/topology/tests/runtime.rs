//! The runtime's promises under trouble (issue 18): one shutdown deadline that blocked
//! deliveries obey, exporters with their own fate, watched tasks, byte-bounded queues.
//!
//! Time is paused: tokio jumps to the next timer whenever every task waits, so a wait of
//! minutes costs nothing, and a topology that hangs runs into the guard `timeout` at once
//! instead of stalling the test run.

use super::*;
use crate::health::Status as Health;
use crate::telemetry::names;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::sync::atomic::{AtomicUsize, Ordering};

/// An exporter whose `export` never returns; `abandon` reports the payload it was stuck on.
#[derive(Debug, Default)]
struct StuckExporter {
    in_flight: usize,
    started: Arc<AtomicUsize>,
}

#[async_trait]
impl Exporter for StuckExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        self.in_flight = payload.span_count();
        self.started.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
    fn abandon(&mut self) -> usize {
        std::mem::take(&mut self.in_flight)
    }
}

/// An exporter that panics on its first payload.
#[derive(Debug)]
struct PanickingExporter;

#[async_trait]
impl Exporter for PanickingExporter {
    async fn export(&mut self, _: Arc<Payload>) -> Result<(), ExportError> {
        panic!("exporter bug")
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

struct Setup {
    config: Config,
    accepted: Arc<Mutex<Vec<u64>>>,
    refused: Arc<Mutex<u64>>,
}

/// A burst of `batches` × `per` spans through no processors to `exporters`.
fn setup(batches: u64, per: u64, exporters: Vec<(&str, Box<dyn Exporter>)>) -> Setup {
    let id = |s: &str| ComponentId::parse(s).unwrap();
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0));
    let receiver = BurstReceiver {
        batches,
        per,
        accepted: accepted.clone(),
        refused: refused.clone(),
    };
    let ids: Vec<ComponentId> = exporters.iter().map(|(n, _)| id(n)).collect();
    let config = Config {
        receivers: BTreeMap::from([(id("burst"), Box::new(receiver) as Box<dyn Receiver>)]),
        exporters: exporters.into_iter().map(|(n, e)| (id(n), e)).collect(),
        pipelines: vec![Pipeline {
            signal: tracegate_model::Signal::Traces,
            id: "traces".into(),
            receivers: vec![id("burst")],
            processors: vec![],
            exporters: ids,
        }],
        service: ServiceConfig {
            queue_size: 1,
            refuse_after: crate::Duration::from_millis(20),
            shutdown_timeout: crate::Duration::from_millis(500),
            ..ServiceConfig::default()
        },
        health: Default::default(),
        durability: None,
        query: Default::default(),
    };
    Setup {
        config,
        accepted,
        refused,
    }
}

fn recorder() -> (DebuggingRecorder, Snapshotter) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    (recorder, snapshotter)
}

/// Every counter, read once (reading resets the recorder's counters).
struct Counters(Vec<Series>);

/// A counter's name, labels and value.
type Series = (String, Vec<(String, String)>, u64);

impl Counters {
    fn read(snapshotter: &Snapshotter) -> Self {
        let all = snapshotter.snapshot().into_vec().into_iter();
        Self(
            all.filter_map(|(k, _, _, v)| match v {
                DebugValue::Counter(n) => {
                    let key = k.key();
                    let labels = key
                        .labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect();
                    Some((key.name().to_owned(), labels, n))
                }
                _ => None,
            })
            .collect(),
        )
    }

    /// The sum of counter `name` over the series whose labels include all of `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }
}

/// Runs the topology for `running`, then shuts it down; fails if shutdown does not end
/// within a minute of (paused) time.
async fn run_then_stop(
    config: Config,
    running: Duration,
    while_running: impl FnOnce(),
) -> Result<(), ComponentError> {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(config, shutdown.clone()));
    tokio::time::sleep(running).await;
    while_running();
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("shutdown hung past its deadline")
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn issue_18_a_blocked_delivery_gives_up_at_the_deadline_and_counts_what_it_held() {
    let (rec, snap) = recorder();
    let _guard = metrics::set_default_local_recorder(&rec);
    // 20 batches of 5 spans: far more than the queues of 1 hold, so the pipeline is blocked
    // delivering to the exporter's full queue when shutdown starts.
    let mut s = setup(20, 5, vec![("stuck", Box::new(StuckExporter::default()))]);
    // A long stall timeout: this exporter is only slow, so back-pressure holds.
    s.config.service.exporter_stall_timeout = crate::Duration::from_secs(3600);
    let err = run_then_stop(s.config, Duration::from_secs(1), || {})
        .await
        .unwrap_err()
        .to_string();

    let accepted = s.accepted.lock().unwrap().len();
    assert!(*s.refused.lock().unwrap() > 0, "the queues filled up");
    // In flight at the exporter, in its queue, being delivered, in the pipeline's queue.
    assert_eq!(accepted, 4 * 5, "{err}");
    assert!(
        err.contains(&format!(
            "within service.shutdown_timeout (500ms): {accepted} spans were not flushed"
        )),
        "{err}"
    );
    let unflushed = names::SHUTDOWN_UNFLUSHED_SPANS;
    let counters = Counters::read(&snap);
    assert_eq!(counters.get(unflushed, &[]), accepted as u64);
    // In flight, queued and being delivered to the exporter; queued for the pipeline.
    assert_eq!(counters.get(unflushed, &[("stage", "exporter/stuck")]), 15);
    assert_eq!(counters.get(unflushed, &[("stage", "pipeline/traces")]), 5);
}

#[tokio::test(start_paused = true)]
async fn issue_18_a_blocked_assembly_pipeline_gives_up_at_the_deadline_too() {
    let (rec, snap) = recorder();
    let _guard = metrics::set_default_local_recorder(&rec);
    let mut s = setup(40, 4, vec![("stuck", Box::new(StuckExporter::default()))]);
    s.config.service.exporter_stall_timeout = crate::Duration::from_secs(3600);
    let shards: Vec<Box<dyn crate::component::Assembler>> = (0..2)
        .map(|_| Box::new(GroupingAssembler::default()) as Box<dyn crate::component::Assembler>)
        .collect();
    let id = |s: &str| ComponentId::parse(s).unwrap();
    s.config.pipelines[0]
        .processors
        .push((id("trace_assembly"), Processor::Assemble(shards)));
    let err = run_then_stop(s.config, Duration::from_secs(1), || {})
        .await
        .unwrap_err()
        .to_string();
    let accepted = s.accepted.lock().unwrap().len() as u64;
    assert!(accepted > 0);
    assert!(
        err.contains(&format!("{accepted} spans were not flushed")),
        "{err}"
    );
    assert_eq!(
        Counters::read(&snap).get(names::SHUTDOWN_UNFLUSHED_SPANS, &[]),
        accepted,
        "every accepted span is counted once, wherever it was held"
    );
}

/// Records what it exports.
#[derive(Debug)]
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl Exporter for Counting {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        self.0.fetch_add(payload.span_count(), Ordering::SeqCst);
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn issue_18_a_stalled_exporter_does_not_hold_back_another() {
    let (rec, snap) = recorder();
    let _guard = metrics::set_default_local_recorder(&rec);
    let fast = Arc::new(AtomicUsize::new(0));
    let mut s = setup(
        50,
        5,
        vec![
            ("a_stuck", Box::new(StuckExporter::default())),
            ("b_fast", Box::new(Counting(fast.clone()))),
        ],
    );
    s.config.service.exporter_stall_timeout = crate::Duration::from_millis(100);
    s.config.service.refuse_after = crate::Duration::from_secs(5);
    let health = s.config.health.clone();
    let mut fast_while_running = 0;
    let mut health_while_running = None;
    let err = run_then_stop(s.config, Duration::from_secs(10), || {
        fast_while_running = fast.load(Ordering::SeqCst);
        health_while_running = Some(health.report());
    })
    .await
    .unwrap_err();

    // Every batch was accepted (the stall only delayed the pipeline once) and reached the
    // fast exporter while the other was stuck.
    assert_eq!(s.accepted.lock().unwrap().len(), 250);
    assert_eq!(fast_while_running, 250, "{err}");
    let report = health_while_running.unwrap();
    assert_eq!(report.status, Health::Degraded);
    assert_eq!(report.components[0].component, "exporter/a_stuck");
    assert!(
        report.components[0]
            .reason
            .contains("exporter_stall_timeout")
    );
    // What did not fit its queue is counted as stalled; one in flight and one queued are
    // counted at the deadline.
    let counters = Counters::read(&snap);
    let stalled = counters.get(
        names::EXPORTER_FAILED_SPANS,
        &[("exporter", "a_stuck"), ("error_type", "stalled")],
    );
    assert_eq!(stalled, 250 - 10);
    assert_eq!(counters.get(names::SHUTDOWN_UNFLUSHED_SPANS, &[]), 10);
}

#[tokio::test(start_paused = true)]
async fn issue_18_a_panicking_processor_fails_health_and_is_counted() {
    let (rec, snap) = recorder();
    let _guard = metrics::set_default_local_recorder(&rec);
    let mut s = setup(
        5,
        2,
        vec![("b_fast", Box::new(Counting(Default::default())))],
    );
    let id = |s: &str| ComponentId::parse(s).unwrap();
    let bug = FnSpanProcessor(|_: SpanBatch| -> SpanBatch { panic!("processor bug") });
    s.config.pipelines[0]
        .processors
        .push((id("buggy"), Processor::Span(Box::new(bug))));
    let health = s.config.health.clone();
    let mut during = None;
    let err = run_then_stop(s.config, Duration::from_secs(1), || {
        during = Some(health.report())
    })
    .await
    .unwrap_err()
    .to_string();
    let report = during.unwrap();
    assert_eq!(report.status, Health::Failed);
    assert_eq!(report.components[0].component, "pipeline/traces");
    assert_eq!(report.components[0].reason, "panicked: processor bug");
    assert!(
        err.contains("pipeline/traces: panicked: processor bug"),
        "{err}"
    );
    assert_eq!(
        Counters::read(&snap).get(
            names::COMPONENT_FAILURES,
            &[("component", "pipeline/traces")]
        ),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn issue_18_a_panicking_exporter_fails_health_and_is_counted() {
    let (rec, snap) = recorder();
    let _guard = metrics::set_default_local_recorder(&rec);
    let s = setup(
        5,
        2,
        vec![
            ("a_bug", Box::new(PanickingExporter)),
            ("b_fast", Box::new(Counting(Default::default()))),
        ],
    );
    let health = s.config.health.clone();
    let mut during = None;
    let _ = run_then_stop(s.config, Duration::from_secs(1), || {
        during = Some(health.report())
    })
    .await
    .unwrap_err();
    let report = during.unwrap();
    assert_eq!(report.status, Health::Failed);
    assert_eq!(report.components[0].component, "exporter/a_bug");
    assert_eq!(report.components[0].reason, "panicked: exporter bug");
    assert!(!report.ready || report.status == Health::Failed);
    assert_eq!(
        Counters::read(&snap).get(
            names::COMPONENT_FAILURES,
            &[("component", "exporter/a_bug")]
        ),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn readiness_follows_the_lifecycle() {
    let s = setup(
        0,
        1,
        vec![("b_fast", Box::new(Counting(Default::default())))],
    );
    let health = s.config.health.clone();
    assert!(!health.report().ready, "not ready before receivers serve");
    let mut during = None;
    run_then_stop(s.config, Duration::from_millis(10), || {
        during = Some(health.report().ready)
    })
    .await
    .unwrap();
    assert_eq!(during, Some(true));
    assert!(!health.report().ready, "not ready once shutdown starts");
}

#[tokio::test(start_paused = true)]
async fn issue_18_queues_hold_no_more_than_their_byte_bound() {
    // Batches of 5 spans; queues of 64 batches but only about 3 batches' bytes. The exporter
    // is stuck, so everything accepted stays queued: in the pipeline's queue, in delivery,
    // in the exporter's queue, in flight.
    let weight = SpanBatch {
        spans: (0..5).map(span).collect(),
    }
    .estimated_bytes();
    let mut s = setup(200, 5, vec![("stuck", Box::new(StuckExporter::default()))]);
    s.config.service.queue_size = 64;
    s.config.service.queue_max_bytes = crate::ByteSize((weight * 3 + weight / 2) as u64);
    s.config.service.exporter_stall_timeout = crate::Duration::from_secs(3600);
    let _ = run_then_stop(s.config, Duration::from_secs(1), || {}).await;
    let accepted_batches = s.accepted.lock().unwrap().len() / 5;
    // 3 in each of the two queues, one being delivered, one in flight: 8, not 64 + 64 + 2.
    assert_eq!(accepted_batches, 8);
}

/// An exporter that takes one payload per permit given to `gate`.
#[derive(Debug)]
struct Gated(Arc<tokio::sync::Semaphore>);

#[async_trait]
impl Exporter for Gated {
    async fn export(&mut self, _: Arc<Payload>) -> Result<(), ExportError> {
        if let Ok(p) = self.0.acquire().await {
            p.forget();
        }
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_stalled_exporter_recovers_once_its_queue_has_room() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mut s = setup(100, 1, vec![("gated", Box::new(Gated(gate.clone())))]);
    s.config.service.exporter_stall_timeout = crate::Duration::from_millis(100);
    s.config.service.refuse_after = crate::Duration::from_secs(5);
    let health = s.config.health.clone();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(s.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(health.report().status, Health::Degraded);
    // The destination is back. No new data arrives, yet the exporter taking what is queued
    // makes room, which ends the stall.
    gate.add_permits(1000);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(health.report().status, Health::Ok, "{:?}", health.report());
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
