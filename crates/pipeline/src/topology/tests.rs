//! The topology end to end, with in-memory components.

mod durable;
mod logs;
mod runtime;
mod sampling;

use super::*;
use crate::component::{ComponentError, ExportError, Exporter, Payload, Processor, Receiver};
use crate::config::{Pipeline, ServiceConfig};
use crate::helper::FnSpanProcessor;
use crate::sender::Refused;
use async_trait::async_trait;
use std::sync::Mutex;
use std::time::Duration;
use tracegate_model::{Span, SpanBatch, TraceId};

use crate::test_support::span;

/// Sends `batches` batches of `per` spans as fast as accepted, counting refusals, then waits.
#[derive(Debug)]
struct BurstReceiver {
    batches: u64,
    per: u64,
    accepted: Arc<Mutex<Vec<u64>>>,
    refused: Arc<Mutex<u64>>,
}

#[async_trait]
impl Receiver for BurstReceiver {
    async fn bind(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
    async fn run(self: Box<Self>, ctx: ReceiverContext) -> Result<(), ComponentError> {
        for b in 0..self.batches {
            let ids: Vec<u64> = (b * self.per..(b + 1) * self.per).collect();
            let batch = SpanBatch {
                spans: ids.iter().map(|&n| span(n)).collect(),
            };
            match ctx.output.send(batch).await {
                Ok(()) => self.accepted.lock().unwrap().extend(ids),
                Err(Refused::ShuttingDown) => break,
                Err(_) => *self.refused.lock().unwrap() += 1,
            }
        }
        ctx.shutdown.cancelled().await;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Record {
    spans: Vec<String>,
    /// Spans that arrived with a log origin.
    logged: usize,
    shut_down: bool,
    exported_after_shutdown: bool,
}

#[derive(Debug)]
struct RecordingExporter {
    record: Arc<Mutex<Record>>,
    delay: Duration,
}

#[async_trait]
impl Exporter for RecordingExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        tokio::time::sleep(self.delay).await;
        let mut r = self.record.lock().unwrap();
        if r.shut_down {
            r.exported_after_shutdown = true;
        }
        r.spans.extend(payload.spans().map(|s| s.name.clone()));
        r.logged += payload.spans().filter(|s| s.origin.lsn().is_some()).count();
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        self.record.lock().unwrap().shut_down = true;
        Ok(())
    }
}

struct Harness {
    config: Config,
    accepted: Arc<Mutex<Vec<u64>>>,
    refused: Arc<Mutex<u64>>,
    fast: Arc<Mutex<Record>>,
    slow: Arc<Mutex<Record>>,
}

fn harness(batches: u64, per: u64, slow_delay: Duration, queue_size: usize) -> Harness {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0));
    let fast = Arc::new(Mutex::new(Record::default()));
    let slow = Arc::new(Mutex::new(Record::default()));
    let id = |s: &str| ComponentId::parse(s).unwrap();
    let receiver = BurstReceiver {
        batches,
        per,
        accepted: accepted.clone(),
        refused: refused.clone(),
    };
    // A processor that drops every span whose number ends in 9, to show processors run.
    let drop_nines = FnSpanProcessor(|mut b: SpanBatch| {
        b.spans.retain(|s| !s.name.ends_with('9'));
        b
    });
    let config = Config {
        receivers: BTreeMap::from([(id("burst"), Box::new(receiver) as Box<dyn Receiver>)]),
        exporters: BTreeMap::from([
            (
                id("rec/fast"),
                Box::new(RecordingExporter {
                    record: fast.clone(),
                    delay: Duration::ZERO,
                }) as Box<dyn Exporter>,
            ),
            (
                id("rec/slow"),
                Box::new(RecordingExporter {
                    record: slow.clone(),
                    delay: slow_delay,
                }) as Box<dyn Exporter>,
            ),
        ]),
        pipelines: vec![Pipeline {
            signal: tracegate_model::Signal::Traces,
            id: "traces".into(),
            receivers: vec![id("burst")],
            processors: vec![(id("drop_nines"), Processor::Span(Box::new(drop_nines)))],
            exporters: vec![id("rec/fast"), id("rec/slow")],
        }],
        service: ServiceConfig {
            queue_size,
            refuse_after: crate::Duration::from_millis(20),
            shutdown_timeout: crate::Duration::from_secs(30),
            ..ServiceConfig::default()
        },
        health: Default::default(),
        durability: None,
        query: Default::default(),
    };
    Harness {
        config,
        accepted,
        refused,
        fast,
        slow,
    }
}

fn expected_names(accepted: &[u64]) -> Vec<String> {
    let mut v: Vec<String> = accepted
        .iter()
        .map(|n| format!("span-{n}"))
        .filter(|n| !n.ends_with('9'))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn fans_out_every_accepted_span_to_every_exporter_and_flushes_last() {
    let h = harness(20, 10, Duration::ZERO, 64);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let accepted = h.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 200);
    assert_eq!(*h.refused.lock().unwrap(), 0);
    for rec in [&h.fast, &h.slow] {
        let r = rec.lock().unwrap();
        let mut got = r.spans.clone();
        got.sort();
        assert_eq!(got, expected_names(&accepted));
        assert!(r.shut_down);
        assert!(!r.exported_after_shutdown);
    }
}

#[tokio::test]
async fn a_slow_exporter_pushes_back_to_the_receiver_and_nothing_accepted_is_lost() {
    // Queues of 1, an exporter taking 50 ms per batch and receivers that wait 20 ms for room:
    // the burst must be partly refused.
    let h = harness(40, 5, Duration::from_millis(50), 1);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let accepted = h.accepted.lock().unwrap().clone();
    let refused = *h.refused.lock().unwrap();
    assert!(refused > 0, "expected back-pressure to refuse some batches");
    assert_eq!(accepted.len() as u64 + refused * 5, 200);
    let slow = h.slow.lock().unwrap();
    let mut got = slow.spans.clone();
    got.sort();
    assert_eq!(
        got,
        expected_names(&accepted),
        "every accepted span reaches the slow exporter"
    );
}

/// Groups spans by trace id and releases a trace 10 ms after its first span.
#[derive(Debug, Default)]
struct GroupingAssembler {
    held: BTreeMap<TraceId, (u64, Vec<Span>)>,
}

impl crate::component::Assembler for GroupingAssembler {
    fn ingest(&mut self, batch: SpanBatch, now_ns: u64, _: &mut Vec<tracegate_model::Trace>) {
        for span in batch.spans {
            self.held
                .entry(span.trace_id)
                .or_insert_with(|| (now_ns + 10_000_000, Vec::new()))
                .1
                .push(span);
        }
    }
    fn tick(&mut self, now_ns: u64, released: &mut Vec<tracegate_model::Trace>) {
        let due: Vec<TraceId> = self
            .held
            .iter()
            .filter(|(_, (d, _))| *d <= now_ns)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some((_, spans)) = self.held.remove(&id) {
                released.push(trace(id, spans, tracegate_model::ReleaseReason::Complete));
            }
        }
    }
    fn next_deadline(&self) -> Option<u64> {
        self.held.values().map(|(d, _)| *d).min()
    }
    fn drain(&mut self, released: &mut Vec<tracegate_model::Trace>) {
        for (id, (_, spans)) in std::mem::take(&mut self.held) {
            released.push(trace(id, spans, tracegate_model::ReleaseReason::Shutdown));
        }
    }
}

fn trace(
    trace_id: TraceId,
    spans: Vec<Span>,
    reason: tracegate_model::ReleaseReason,
) -> tracegate_model::Trace {
    tracegate_model::Trace {
        trace_id,
        spans,
        release_reason: reason,
        tree_whole: true,
        fragment: None,
        critical_path: None,
        sampling: None,
        scores: Vec::new(),
    }
}

type Released = Vec<(TraceId, Vec<String>, tracegate_model::ReleaseReason)>;

#[derive(Debug)]
struct TraceRecorder(Arc<Mutex<Released>>);

#[async_trait]
impl Exporter for TraceRecorder {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        let Payload::Traces(traces) = payload.as_ref() else {
            panic!("expected traces")
        };
        let mut r = self.0.lock().unwrap();
        for t in traces {
            r.push((
                t.trace_id,
                t.spans.iter().map(|s| s.name.clone()).collect(),
                t.release_reason,
            ));
        }
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

#[tokio::test]
async fn sharded_assembly_releases_whole_traces_on_time_and_at_shutdown() {
    let mut h = harness(50, 8, Duration::ZERO, 8);
    let got = Arc::new(Mutex::new(Vec::new()));
    let id = |s: &str| ComponentId::parse(s).unwrap();
    h.config.exporters = BTreeMap::from([(
        id("rec/traces"),
        Box::new(TraceRecorder(got.clone())) as Box<dyn Exporter>,
    )]);
    let pipeline = &mut h.config.pipelines[0];
    pipeline.exporters = vec![id("rec/traces")];
    let shards: Vec<Box<dyn crate::component::Assembler>> = (0..3)
        .map(|_| Box::new(GroupingAssembler::default()) as Box<dyn crate::component::Assembler>)
        .collect();
    pipeline
        .processors
        .push((id("trace_assembly"), Processor::Assemble(shards)));

    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let on_time = got.lock().unwrap().len();
    shutdown.cancel();
    task.await.unwrap().unwrap();

    // 400 spans numbered n belong to trace n/4 + 1: 100 traces, minus the spans ending in 9.
    let accepted = h.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 400);
    let got = got.lock().unwrap();
    assert_eq!(
        on_time, 100,
        "every trace is released by its deadline, before shutdown"
    );
    let mut names: Vec<String> = got.iter().flat_map(|(_, n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        expected_names(&accepted),
        "no span lost or duplicated"
    );
    let mut ids: Vec<TraceId> = got.iter().map(|(id, _, _)| *id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "each trace comes out whole, once");
}
