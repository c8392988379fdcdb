//! Cases worked out by hand.

use super::*;
use tracegate_model::{Fragment, ReleaseReason, SpanBatch, keys};
use tracegate_pipeline::{Assembler, ByteSize};

fn batch(spans: Vec<Span>) -> SpanBatch {
    SpanBatch { spans }
}

/// A RAG request across five services, as (span, parent, service, name).
const RAG: [(u64, Option<u64>, usize, &str); 10] = [
    (1, None, 0, "POST /v1/chat"),
    (2, Some(1), 1, "rag_pipeline"),
    (3, Some(2), 1, "embeddings text-embedding-3-small"),
    (4, Some(2), 2, "retrieve"),
    (5, Some(4), 3, "vector_search documents"),
    (6, Some(4), 2, "rerank"),
    (7, Some(2), 1, "chat gpt-4o"),
    (8, Some(7), 4, "generate"),
    (9, Some(2), 1, "execute_tool search_web"),
    (10, Some(8), 4, "tokenize"),
];
const SERVICES: [&str; 5] = [
    "api-gateway",
    "rag-app",
    "retriever",
    "vector-db",
    "llm-server",
];

fn rag_span(trace: TraceId, n: u64) -> Span {
    let services: Vec<_> = SERVICES.iter().map(|s| service(s)).collect();
    let (id, parent, svc, name) = RAG[(n - 1) as usize];
    span(trace, id, parent, &services[svc], name, 100)
}

#[test]
fn rag_trace_arriving_child_first_in_seven_batches_is_released_whole_when_idle() {
    let mut shard = shard(&config());
    let trace = trace_id(1);
    // Deepest spans first; the root comes last.
    let batches: [&[u64]; 7] = [&[10], &[5, 6], &[8], &[3, 9], &[4], &[7, 2], &[1]];
    let mut out = Vec::new();
    for (i, ids) in batches.iter().enumerate() {
        let t = i as u64 * 150 * MS;
        shard.tick(t, &mut out);
        shard.ingest(
            batch(ids.iter().map(|&n| rag_span(trace, n)).collect()),
            t,
            &mut out,
        );
        assert!(
            out.is_empty(),
            "released before the root came and went idle"
        );
    }
    let last = 6 * 150 * MS;
    // Without the root the deadline was max_wait; now it is idle_after_root after the root.
    assert_eq!(shard.next_deadline(), Some(last + 2 * S));
    shard.tick(last + 2 * S - 1, &mut out);
    assert!(out.is_empty());
    shard.tick(last + 2 * S, &mut out);
    assert_eq!(out.len(), 1);
    let t = &out[0];
    assert_eq!(t.trace_id, trace);
    assert_eq!(t.release_reason, ReleaseReason::Complete);
    assert!(t.tree_whole && t.is_complete() && t.fragment.is_none());
    assert_eq!(t.spans.len(), 10);
    let names: Vec<&str> = t.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names[0], "tokenize", "spans keep their arrival order");
    assert_eq!(names[9], "POST /v1/chat");
    let mut services: Vec<&str> = t.spans.iter().map(|s| s.service_name()).collect();
    services.sort();
    services.dedup();
    assert_eq!(services.len(), 5);
    assert_eq!(shard.held().traces, 0);
    assert_eq!(shard.held().bytes, 0);
    assert_eq!(shard.bytes_held_total(), 0);
    assert_eq!(shard.stats().released_complete, 1);
}

#[test]
fn testkit_rag_traces_are_released_whole() {
    let mut generator =
        tracegate_testkit::Generator::new(tracegate_testkit::GeneratorConfig::default());
    let input = generator.batch_with_traces(50);
    let spans = input.len();
    let mut shard = shard(&config());
    let mut out = Vec::new();
    shard.ingest(input, 0, &mut out);
    shard.tick(2 * S, &mut out);
    assert_eq!(out.len(), 50);
    assert!(out.iter().all(Trace::is_complete));
    assert_eq!(out.iter().map(|t| t.spans.len()).sum::<usize>(), spans);
}

#[test]
fn orphan_without_root_is_released_incomplete_at_max_wait() {
    let mut shard = shard(&config());
    let trace = trace_id(2);
    let svc = service("retriever");
    let mut out = Vec::new();
    // Children of a root that never comes, over 20s.
    shard.ingest(
        batch(vec![span(trace, 4, Some(2), &svc, "retrieve", 0)]),
        5 * S,
        &mut out,
    );
    shard.ingest(
        batch(vec![span(trace, 5, Some(4), &svc, "vector_search", 0)]),
        15 * S,
        &mut out,
    );
    shard.ingest(
        batch(vec![span(trace, 6, Some(4), &svc, "rerank", 0)]),
        25 * S,
        &mut out,
    );
    assert_eq!(shard.next_deadline(), Some(35 * S));
    shard.tick(35 * S - 1, &mut out);
    assert!(out.is_empty(), "no idle release without a root");
    shard.tick(35 * S, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].release_reason, ReleaseReason::MaxWait);
    assert!(!out[0].tree_whole);
    assert!(!out[0].is_complete());
    assert_eq!(out[0].spans.len(), 3);
    assert_eq!(shard.stats().released_max_wait, 1);
}

#[test]
fn a_rooted_trace_that_never_goes_idle_is_released_at_max_wait() {
    let mut shard = shard(&config());
    let trace = trace_id(3);
    let svc = service("agent");
    let mut out = Vec::new();
    shard.ingest(
        batch(vec![span(trace, 1, None, &svc, "agent", 0)]),
        0,
        &mut out,
    );
    for i in 1..=30 {
        shard.tick(i * S, &mut out);
        shard.ingest(
            batch(vec![span(trace, 1 + i, Some(1), &svc, "step", 0)]),
            i * S,
            &mut out,
        );
    }
    assert_eq!(out.len(), 2);
    // The span at 30s came exactly at max_wait: the trace had gone, so it is late.
    assert_eq!(out[0].release_reason, ReleaseReason::MaxWait);
    assert_eq!(out[0].spans.len(), 30);
    assert!(out[0].tree_whole);
    assert_eq!(out[1].fragment, Some(Fragment::Late));
    assert_eq!(out[1].release_reason, ReleaseReason::MaxWait);
}

/// Ticks at every deadline up to `t`, then ingests at `t`, recording when each trace came out.
fn run_until(shard: &mut Shard, t: u64, spans: Vec<Span>, log: &mut Vec<(u64, Trace)>) {
    let mut out = Vec::new();
    while let Some(deadline) = shard.next_deadline().filter(|&d| d <= t) {
        shard.tick(deadline, &mut out);
        log.extend(out.drain(..).map(|tr| (deadline, tr)));
    }
    shard.ingest(batch(spans), t, &mut out);
    log.extend(out.drain(..).map(|tr| (t, tr)));
}

#[test]
fn a_100k_span_trace_beside_1000_normal_ones_does_not_delay_them() {
    let mut shard = shard(&config());
    let svc = service("batch-indexer");
    let other = service("rag-app");
    let giant = trace_id(1_000_000);
    let mut log = Vec::new();
    let mut expected_release = std::collections::HashMap::new();
    let mut giant_next = 0u64;
    // Every 100 ms for 10 s: 1,000 spans of the giant, and 10 normal traces, each sending its
    // children at once and its root 50 ms later.
    for step in 0..100u64 {
        let t = step * 100 * MS;
        let mut spans = Vec::with_capacity(1_100);
        for _ in 0..1_000 {
            let parent = giant_next.checked_sub(1).map(|p| p / 2);
            spans.push(span(giant, giant_next, parent, &svc, "index_chunk", 0));
            giant_next += 1;
        }
        for k in 0..10 {
            let trace = trace_id(step * 10 + k);
            for id in 2..=10 {
                spans.push(span(trace, id, Some(1), &other, "child", 0));
            }
        }
        run_until(&mut shard, t, spans, &mut log);
        let roots = (0..10)
            .map(|k| {
                let trace = trace_id(step * 10 + k);
                expected_release.insert(trace, t + 50 * MS + 2 * S);
                span(trace, 1, None, &other, "root", 0)
            })
            .collect();
        run_until(&mut shard, t + 50 * MS, roots, &mut log);
        assert!(shard.held().spans <= 20_000 + 10 * 30 * 10);
    }
    run_until(&mut shard, 60 * S, Vec::new(), &mut log);
    assert_eq!(shard.held().traces, 0);

    let mut normal = 0;
    let mut giant_held = 0;
    let mut over_cap = 0;
    for (at, t) in &log {
        if t.fragment == Some(Fragment::OverCap) {
            assert_eq!(t.trace_id, giant);
            assert!(
                t.spans
                    .iter()
                    .all(|s| has_attr(s, keys::TRACEGATE_OVER_CAP))
            );
            assert_eq!(at % (100 * MS), 0, "passed through when they arrived");
            over_cap += t.spans.len();
            continue;
        }
        assert_eq!(t.release_reason, ReleaseReason::Complete);
        assert!(t.fragment.is_none());
        if t.trace_id == giant {
            giant_held = t.spans.len();
            // Spans over the cap still keep it active: idle after the last of them.
            assert_eq!(*at, 9_900 * MS + 2 * S);
        } else {
            normal += 1;
            assert_eq!(t.spans.len(), 10);
            assert!(t.is_complete());
            assert_eq!(
                Some(at),
                expected_release.get(&t.trace_id),
                "released on time"
            );
        }
    }
    assert_eq!(normal, 1_000);
    assert_eq!(giant_held, 20_000);
    assert_eq!(over_cap, 80_000);
    assert_eq!(shard.stats().over_cap_spans, 80_000);
}

#[test]
fn a_late_span_10s_after_release_goes_on_as_a_late_fragment_with_the_original_reason() {
    let mut shard = shard(&config());
    let trace = trace_id(4);
    let svc = service("tools");
    let mut out = Vec::new();
    shard.ingest(
        batch(vec![
            span(trace, 1, None, &svc, "root", 0),
            span(trace, 2, Some(1), &svc, "tool", 0),
        ]),
        0,
        &mut out,
    );
    shard.tick(2 * S, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].release_reason, ReleaseReason::Complete);
    shard.ingest(
        batch(vec![
            span(trace, 3, Some(2), &svc, "slow_child", 0),
            span(trace, 4, Some(2), &svc, "slow_child", 0),
        ]),
        12 * S,
        &mut out,
    );
    assert_eq!(out.len(), 2, "late spans of one call make one fragment");
    let late = &out[1];
    assert_eq!(late.trace_id, trace);
    assert_eq!(late.fragment, Some(Fragment::Late));
    assert_eq!(late.release_reason, ReleaseReason::Complete);
    assert!(!late.tree_whole);
    assert_eq!(late.spans.len(), 2);
    assert!(late.spans.iter().all(|s| has_attr(s, keys::TRACEGATE_LATE)));
    assert!(
        !out[0]
            .spans
            .iter()
            .any(|s| has_attr(s, keys::TRACEGATE_LATE))
    );
    assert_eq!(shard.held().traces, 0, "a late span is not held");
    assert_eq!(shard.next_deadline(), None);
    assert_eq!(shard.stats().late_spans, 2);

    // After the late window the id is forgotten: a new span starts a new trace.
    shard.ingest(
        batch(vec![span(trace, 5, Some(2), &svc, "x", 0)]),
        2 * S + 300 * S,
        &mut out,
    );
    assert_eq!(out.len(), 2);
    assert_eq!(shard.held().traces, 1);
}

#[test]
fn max_traces_evicts_the_oldest_trace() {
    let mut shard = shard(&TraceAssemblyConfig {
        max_traces: 2,
        ..config()
    });
    let svc = service("a");
    let mut out = Vec::new();
    for n in 0..3u64 {
        shard.ingest(
            batch(vec![span(trace_id(n), 1, None, &svc, "r", 0)]),
            n * MS,
            &mut out,
        );
    }
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].trace_id, trace_id(0));
    assert_eq!(out[0].release_reason, ReleaseReason::Evicted);
    assert_eq!(shard.held().traces, 2);
    assert_eq!(shard.stats().evicted_max_traces, 1);
    // A span of the evicted trace is late, with reason evicted.
    shard.ingest(
        batch(vec![span(trace_id(0), 2, Some(1), &svc, "c", 0)]),
        3 * MS,
        &mut out,
    );
    assert_eq!(out[1].fragment, Some(Fragment::Late));
    assert_eq!(out[1].release_reason, ReleaseReason::Evicted);
}

#[test]
fn max_bytes_is_shared_by_the_shards_and_evicts_the_oldest() {
    // Each trace is one span, charged with its resource and scope.
    let one = first_span_bytes(&span(trace_id(0), 1, None, &service("a"), "r", 1000));
    let config = TraceAssemblyConfig {
        shards: 2,
        max_bytes: ByteSize(one as u64 * 4),
        ..Default::default()
    };
    let mut shards = config.build_shards();
    let svc = service("a");
    let mut out = Vec::new();
    // Three traces in shard 0, one in shard 1: four spans, at the bound.
    for n in 0..3u64 {
        shards[0].ingest(
            batch(vec![span(trace_id(n), 1, None, &svc, "r", 1000)]),
            n,
            &mut out,
        );
    }
    shards[1].ingest(
        batch(vec![span(trace_id(9), 1, None, &svc, "r", 1000)]),
        3,
        &mut out,
    );
    assert!(out.is_empty());
    assert_eq!(shards[1].bytes_held_total(), 4 * one);
    // Shard 1 goes over the bound, but it holds less than its share: shard 0 must give way.
    shards[1].ingest(
        batch(vec![span(trace_id(8), 1, None, &svc, "r", 1000)]),
        4,
        &mut out,
    );
    assert!(out.is_empty());
    shards[0].tick(5, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].trace_id, trace_id(0));
    assert_eq!(out[0].release_reason, ReleaseReason::Evicted);
    assert_eq!(shards[0].stats().evicted_max_bytes, 1);
    assert_eq!(shards[0].bytes_held_total(), 4 * one);
    // A single trace bigger than the bound is held no longer than its call.
    let mut alone = shard_with(
        TraceAssemblyConfig {
            max_bytes: ByteSize(one as u64 / 2),
            ..config.clone()
        }
        .limits(1),
    );
    out.clear();
    alone.ingest(
        batch(vec![span(trace_id(7), 1, None, &svc, "r", 1000)]),
        0,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].release_reason, ReleaseReason::Evicted);
    assert_eq!(alone.bytes_held_total(), 0);
}

#[test]
fn spans_over_the_cap_pass_through_marked() {
    let mut shard = shard(&TraceAssemblyConfig {
        max_spans_per_trace: 3,
        ..config()
    });
    let trace = trace_id(5);
    let svc = service("a");
    let mut out = Vec::new();
    let spans = (1..=5)
        .map(|i| span(trace, i, (i > 1).then_some(1), &svc, "s", 0))
        .collect();
    shard.ingest(batch(spans), 0, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].fragment, Some(Fragment::OverCap));
    assert_eq!(ids(&out[0]), [span_id(4), span_id(5)]);
    assert!(!out[0].tree_whole, "their parent is held");
    shard.tick(2 * S, &mut out);
    assert_eq!(out[1].spans.len(), 3);
    assert!(out[1].is_complete());
}

#[test]
fn drain_releases_everything_as_shutdown() {
    let mut shard = shard(&config());
    let svc = service("a");
    let mut out = Vec::new();
    for n in 0..5u64 {
        shard.ingest(
            batch(vec![span(trace_id(n), 1, None, &svc, "r", 0)]),
            n,
            &mut out,
        );
    }
    shard.drain(&mut out);
    assert_eq!(out.len(), 5);
    assert!(
        out.iter()
            .all(|t| t.release_reason == ReleaseReason::Shutdown)
    );
    let order: Vec<TraceId> = out.iter().map(|t| t.trace_id).collect();
    assert_eq!(
        order,
        (0..5).map(trace_id).collect::<Vec<_>>(),
        "oldest first"
    );
    assert_eq!(shard.next_deadline(), None);
    assert_eq!(shard.bytes_held_total(), 0);
    shard.drain(&mut out);
    assert_eq!(out.len(), 5, "drain is idempotent");
}

#[test]
fn time_never_goes_back() {
    let mut shard = shard(&config());
    let svc = service("a");
    let mut out = Vec::new();
    shard.ingest(
        batch(vec![span(trace_id(0), 1, None, &svc, "r", 0)]),
        10 * S,
        &mut out,
    );
    // An earlier time is taken as the latest seen.
    shard.ingest(
        batch(vec![span(trace_id(0), 2, Some(1), &svc, "c", 0)]),
        5 * S,
        &mut out,
    );
    assert_eq!(shard.next_deadline(), Some(12 * S));
}

#[test]
fn regression_spans_of_a_trace_evicted_mid_batch_start_afresh() {
    let mut shard = shard(&TraceAssemblyConfig {
        max_traces: 1,
        max_spans_per_trace: 1,
        max_remembered: 0,
        ..config()
    });
    let svc = service("a");
    let a = trace_id(1);
    let b = trace_id(2);
    let mut out = Vec::new();
    shard.ingest(
        batch(vec![
            span(a, 3, Some(1), &svc, "c", 0),
            span(a, 1, None, &svc, "root", 0),
            span(b, 1, None, &svc, "root", 0),
            span(a, 2, Some(1), &svc, "c", 0),
        ]),
        0,
        &mut out,
    );
    // The root passed over the cap; then `b` evicted `a`, which, not remembered, started
    // again with span 2 and evicted `b` in turn.
    let got: Vec<_> = out
        .iter()
        .map(|t| (t.trace_id, t.fragment, t.release_reason, ids(t)))
        .collect();
    assert_eq!(
        got,
        [
            (
                a,
                Some(Fragment::OverCap),
                ReleaseReason::Evicted,
                vec![span_id(1)]
            ),
            (a, None, ReleaseReason::Evicted, vec![span_id(3)]),
            (b, None, ReleaseReason::Evicted, vec![span_id(1)]),
        ]
    );
    assert_eq!(shard.held().traces, 1);
    // The second incarnation of `a` has no root: it waits for max_wait.
    assert_eq!(shard.next_deadline(), Some(30 * S));
}
