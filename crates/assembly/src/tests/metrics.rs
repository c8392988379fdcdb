//! The metrics a shard emits, read through a thread-local recorder.

use super::*;
use tracegate_model::SpanBatch;
use tracegate_pipeline::Assembler;
use tracegate_pipeline::telemetry::names;
use tracegate_testkit::metrics::CapturedMetrics;

#[test]
fn emits_held_released_late_over_cap_and_eviction_metrics() {
    let captured = CapturedMetrics::new();
    let svc = service("a");
    let mut shard = shard(&TraceAssemblyConfig {
        max_traces: 2,
        max_spans_per_trace: 2,
        ..config()
    });
    let mut out = Vec::new();
    captured.run(|| {
        let spans = vec![
            span(trace_id(0), 1, None, &svc, "r", 0),
            span(trace_id(0), 2, Some(1), &svc, "c", 0),
            span(trace_id(0), 3, Some(1), &svc, "over", 0),
            span(trace_id(1), 1, None, &svc, "r", 0),
        ];
        shard.ingest(SpanBatch { spans }, 0, &mut out);
        assert_eq!(
            captured.gauge(names::ASSEMBLY_TRACES_HELD, &[("shard", "0")]),
            2.0
        );
        assert_eq!(
            captured.gauge(names::ASSEMBLY_SPANS_HELD, &[("shard", "0")]),
            3.0
        );
        assert_eq!(
            captured.gauge(names::ASSEMBLY_BYTES_HELD, &[("shard", "0")]),
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
    let released =
        |reason: &str| captured.counter(names::ASSEMBLY_RELEASED_TRACES, &[("reason", reason)]);
    assert_eq!(released("evicted"), 1);
    assert_eq!(released("complete"), 2);
    assert_eq!(released("shutdown"), 1);
    assert_eq!(released("max_wait"), 0);
    assert_eq!(
        captured.counter(names::ASSEMBLY_EVICTIONS, &[("bound", "max_traces")]),
        1
    );
    assert_eq!(captured.counter(names::ASSEMBLY_LATE_SPANS, &[]), 1);
    assert_eq!(captured.counter(names::ASSEMBLY_OVER_CAP_SPANS, &[]), 1);
    assert_eq!(
        captured.gauge(names::ASSEMBLY_TRACES_HELD, &[("shard", "0")]),
        0.0
    );
}
