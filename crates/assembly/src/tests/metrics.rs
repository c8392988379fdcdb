//! The metrics a shard emits, read through a thread-local recorder.

use super::*;
use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tracegate_model::SpanBatch;
use tracegate_pipeline::Assembler;
use tracegate_pipeline::telemetry::names;

/// Counters and gauges (as f64 bits) by `name{label=value,...}`.
#[derive(Debug, Default)]
struct TestRecorder {
    values: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
}

impl TestRecorder {
    fn handle(&self, key: &Key) -> Arc<AtomicU64> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.values.lock().unwrap().entry(name).or_default().clone()
    }

    fn counter(&self, name: &str) -> u64 {
        let values = self.values.lock().unwrap();
        values.get(name).map_or(0, |v| v.load(Ordering::Relaxed))
    }

    fn gauge(&self, name: &str) -> f64 {
        f64::from_bits(self.counter(name))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[test]
fn emits_held_released_late_over_cap_and_eviction_metrics() {
    let recorder = TestRecorder::default();
    let svc = service("a");
    let mut shard = shard(&TraceAssemblyConfig {
        max_traces: 2,
        max_spans_per_trace: 2,
        ..config()
    });
    let mut out = Vec::new();
    ::metrics::with_local_recorder(&recorder, || {
        let spans = vec![
            span(trace_id(0), 1, None, &svc, "r", 0),
            span(trace_id(0), 2, Some(1), &svc, "c", 0),
            span(trace_id(0), 3, Some(1), &svc, "over", 0),
            span(trace_id(1), 1, None, &svc, "r", 0),
        ];
        shard.ingest(SpanBatch { spans }, 0, &mut out);
        assert_eq!(
            recorder.gauge(&format!("{}{{shard=0}}", names::ASSEMBLY_TRACES_HELD)),
            2.0
        );
        assert_eq!(
            recorder.gauge(&format!("{}{{shard=0}}", names::ASSEMBLY_SPANS_HELD)),
            3.0
        );
        assert_eq!(
            recorder.gauge(&format!("{}{{shard=0}}", names::ASSEMBLY_BYTES_HELD)),
            shard.held().bytes as f64
        );
        // A third trace evicts the oldest.
        shard.ingest(
            SpanBatch {
                spans: vec![span(trace_id(2), 1, None, &svc, "r", 0)],
            },
            S,
            &mut out,
        );
        // Late span of the evicted trace.
        shard.ingest(
            SpanBatch {
                spans: vec![span(trace_id(0), 4, Some(1), &svc, "late", 0)],
            },
            S,
            &mut out,
        );
        shard.tick(10 * S, &mut out);
        shard.ingest(
            SpanBatch {
                spans: vec![span(trace_id(3), 1, None, &svc, "r", 0)],
            },
            10 * S,
            &mut out,
        );
        shard.drain(&mut out);
    });
    let released = |reason: &str| {
        recorder.counter(&format!(
            "{}{{reason={reason}}}",
            names::ASSEMBLY_RELEASED_TRACES
        ))
    };
    assert_eq!(released("evicted"), 1);
    assert_eq!(released("complete"), 2);
    assert_eq!(released("shutdown"), 1);
    assert_eq!(released("max_wait"), 0);
    assert_eq!(
        recorder.counter(&format!(
            "{}{{bound=max_traces}}",
            names::ASSEMBLY_EVICTIONS
        )),
        1
    );
    assert_eq!(
        recorder.counter(&format!("{}{{}}", names::ASSEMBLY_LATE_SPANS)),
        1
    );
    assert_eq!(
        recorder.counter(&format!("{}{{}}", names::ASSEMBLY_OVER_CAP_SPANS)),
        1
    );
    assert_eq!(
        recorder.gauge(&format!("{}{{shard=0}}", names::ASSEMBLY_TRACES_HELD)),
        0.0
    );
}
