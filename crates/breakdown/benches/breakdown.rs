//! Latency breakdown throughput: realistic 10-span RAG traces (spans/s on one core), and
//! one 100,000-span trace (time per trace), wide and deep.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use tracegate_breakdown::{Options, analyze, annotate};
use tracegate_model::{Resource, Scope, Span, SpanBatch, SpanId, SpanKind, Status, TraceId};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

fn rag_traces(count: usize) -> Vec<Vec<Span>> {
    let config = GeneratorConfig {
        profile: Profile::Rag,
        ..Default::default()
    };
    let SpanBatch { spans } = Generator::new(config).batch_with_traces(count);
    let mut by_id: BTreeMap<TraceId, Vec<Span>> = BTreeMap::new();
    for s in spans {
        by_id.entry(s.trace_id).or_default().push(s);
    }
    by_id.into_values().collect()
}

/// A trace of `n` spans: span i's parent is span (i - 1) / `fanout`, each child inside its
/// parent, siblings overlapping. `fanout == 1` is a chain n deep.
fn big_trace(n: usize, fanout: usize) -> Vec<Span> {
    let resource = Arc::new(Resource::with_service("svc"));
    let scope = Arc::new(Scope::default());
    let mut times: Vec<(u64, u64)> = Vec::with_capacity(n);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut spans = Vec::with_capacity(n);
    for i in 0..n {
        let (parent, (ps, pe)) = if i == 0 {
            (None, (0, 1_000_000_000_000))
        } else {
            let p = (i - 1) / fanout;
            (Some(p), times[p])
        };
        let len = pe - ps;
        let a = ps + rand() % (len / 2 + 1);
        let b = (a + rand() % (len / 2 + 1)).min(pe);
        let (s, e) = if i == 0 { (ps, pe) } else { (a, b) };
        times.push((s, e));
        spans.push(Span {
            resource: resource.clone(),
            scope: scope.clone(),
            trace_id: TraceId([7; 16]),
            span_id: SpanId((i as u64 + 1).to_be_bytes()),
            parent_span_id: parent.map(|p: usize| SpanId((p as u64 + 1).to_be_bytes())),
            trace_state: String::new(),
            flags: 0,
            name: "op".into(),
            kind: SpanKind::Internal,
            start_time_unix_nano: s,
            end_time_unix_nano: e,
            attributes: vec![],
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            facts: Default::default(),
            origin: Default::default(),
            status: Status::default(),
        });
    }
    spans
}

fn bench(c: &mut Criterion) {
    let options = Options::default();
    // 10 traces stay in the CPU cache across iterations; 1,000 (about 10 MB with their
    // prompts) do not, as in a gateway where traces wait seconds in assembly first.
    for count in [10, 1000] {
        let traces = rag_traces(count);
        let span_count: usize = traces.iter().map(Vec::len).sum();
        let mut group = c.benchmark_group(format!("rag_10_span_traces/{count}_traces"));
        group.throughput(Throughput::Elements(span_count as u64));
        group.bench_function("analyze", |b| {
            b.iter(|| {
                for t in &traces {
                    black_box(analyze(black_box(t), &options));
                }
            })
        });
        group.bench_function("analyze_and_annotate", |b| {
            b.iter_batched(
                || traces.clone(),
                |mut traces| {
                    for t in &mut traces {
                        let breakdown = analyze(t, &options);
                        annotate(t, &breakdown);
                    }
                    traces
                },
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }

    let mut group = c.benchmark_group("one_100k_span_trace");
    group.sample_size(20);
    for (name, fanout) in [("fanout_4", 4), ("fanout_50", 50), ("chain", 1)] {
        let trace = big_trace(100_000, fanout);
        group.throughput(Throughput::Elements(trace.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(analyze(black_box(&trace), &options)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
