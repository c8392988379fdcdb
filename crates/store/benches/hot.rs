//! The hot store's reads over a store of `HOT_BENCH_SPANS` spans (default 200 000) of
//! generated RAG traces, in blocks as the exporter cuts them (32 MiB heads):
//!
//! - `hot/find_trace`: one trace by id, a random one of those stored;
//! - `hot/search`: `{resource.service.name="llm-service" && duration>1s}` over the whole
//!   store: [`HotStore::scan`] with the query's hints, then the per-span condition on each
//!   trace visited, without a limit (the worst case); `hot/search_limit_20` stops at 20
//!   matches, Tempo's default search limit.
//!
//! Before the benches it prints the write path's throughput (export into the heads, then
//! encoding and writing every block), the time to reopen the store, and the p50/p99 of
//! 1 000 lookups by id.
//!
//! Run with `HOT_BENCH_SPANS=10000000 cargo bench -p tracegate-store --bench hot`;
//! `HOT_BENCH_ROW_GROUP_ROWS` overrides the blocks' `row_group_rows` (default 16384).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracegate_model::{DEFAULT_TENANT, ReleaseReason, Span, Trace, TraceId};
use tracegate_pipeline::{BuildContext, Exporter, Payload};
use tracegate_store::hot::{HotStoreExporter, SystemClock};
use tracegate_store::{HotStore, HotStoreConfig, ScanFilter};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

/// Traces per payload, about what one assembly shard releases at once.
const TRACES_PER_PAYLOAD: usize = 200;

fn spans_wanted() -> usize {
    std::env::var("HOT_BENCH_SPANS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(200_000)
}

/// Spans grouped into whole traces, in first-seen order.
fn group(spans: Vec<Span>) -> Vec<Trace> {
    let mut at: HashMap<TraceId, usize> = HashMap::new();
    let mut traces: Vec<Trace> = Vec::new();
    for span in spans {
        let i = *at.entry(span.trace_id).or_insert_with(|| {
            traces.push(Trace {
                trace_id: span.trace_id,
                spans: Vec::new(),
                release_reason: ReleaseReason::Complete,
                tree_whole: true,
                fragment: None,
                critical_path: None,
                sampling: None,
                scores: Vec::new(),
            });
            traces.len() - 1
        });
        traces[i].spans.push(span);
    }
    traces
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<HotStore>,
    ids: Vec<TraceId>,
}

fn build(runtime: &tokio::runtime::Runtime, spans: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = HotStoreConfig {
        path: dir.path().to_owned(),
        row_group_rows: std::env::var("HOT_BENCH_ROW_GROUP_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(HotStoreConfig::DEFAULT_ROW_GROUP_ROWS),
        ..HotStoreConfig::default()
    };
    let mut generator = Generator::new(GeneratorConfig {
        profile: Profile::Rag,
        ..Default::default()
    });
    let mut ids = Vec::new();
    let mut made = 0;
    let mut took = Duration::ZERO;
    let store = runtime.block_on(async {
        let mut exporter = HotStoreExporter::new(
            "bench",
            &config,
            &BuildContext::new("bench"),
            Arc::new(SystemClock),
        );
        exporter.start().await.unwrap();
        // Generated a slice at a time, so 10M spans never sit in memory at once; only the
        // exporting is timed.
        while made < spans {
            let mut payloads = Vec::new();
            while made < spans && payloads.len() < 100 {
                let traces = group(generator.batch_with_traces(TRACES_PER_PAYLOAD).spans);
                made += traces.iter().map(|t| t.spans.len()).sum::<usize>();
                ids.extend(traces.iter().map(|t| t.trace_id));
                payloads.push(Arc::new(Payload::Traces(traces)));
            }
            let started = Instant::now();
            for payload in payloads {
                exporter.export(payload).await.unwrap();
            }
            took += started.elapsed();
        }
        let started = Instant::now();
        exporter.flush().await;
        took += started.elapsed();
        exporter.store().clone()
    });
    let stats = store.stats();
    println!(
        "hot store: {made} spans, {} traces, {} blocks, {:.1} MiB on disk ({:.0} B/span); \
         written at {:.0} spans/s",
        ids.len(),
        stats.blocks,
        stats.bytes as f64 / 1_048_576.0,
        stats.bytes as f64 / made as f64,
        made as f64 / took.as_secs_f64(),
    );
    let reopening = Instant::now();
    let reopened = HotStore::open_read_only(dir.path()).unwrap();
    println!(
        "hot store: reopened {} blocks (index rebuilt from the Parquet columns) in {:?}",
        reopened.stats().blocks,
        reopening.elapsed()
    );
    Fixture {
        _dir: dir,
        store,
        ids,
    }
}

/// A cheap deterministic pick.
fn pick(ids: &[TraceId], i: usize) -> TraceId {
    ids[(i.wrapping_mul(2_654_435_761)) % ids.len()]
}

fn search_filter() -> ScanFilter {
    ScanFilter {
        service_names: Some(vec!["llm-service".to_owned()]),
        min_span_duration_ns: Some(1_000_000_000),
        ..ScanFilter::all()
    }
}

/// The search: the store's prefilter, then the span condition on each trace visited, until
/// `limit` traces matched.
fn search(store: &HotStore, limit: usize) -> usize {
    let mut matched = 0;
    store
        .scan(DEFAULT_TENANT, &search_filter(), &mut |spans| {
            if spans
                .iter()
                .any(|s| s.service_name() == "llm-service" && s.duration_ns() > 1_000_000_000)
            {
                matched += 1;
            }
            if matched >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    matched
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fixture = build(&runtime, spans_wanted());
    let store = &fixture.store;

    let mut latencies: Vec<Duration> = (0..1_000)
        .map(|i| {
            let id = pick(&fixture.ids, i);
            let t = Instant::now();
            let found = store.find_trace(DEFAULT_TENANT, &id).unwrap();
            let took = t.elapsed();
            assert!(found.is_some_and(|s| !s.is_empty()));
            took
        })
        .collect();
    latencies.sort();
    println!(
        "hot store: trace by id p50 {:?}, p99 {:?}, max {:?}",
        latencies[500], latencies[990], latencies[999]
    );
    for limit in [20, usize::MAX] {
        let t = Instant::now();
        let matched = search(store, limit);
        println!(
            "hot store: search (limit {limit}) matched {matched} traces in {:?}",
            t.elapsed()
        );
    }

    let mut group = c.benchmark_group("hot");
    group.sample_size(20);
    let mut i = 0;
    group.bench_function("find_trace", |b| {
        b.iter(|| {
            i += 1;
            black_box(
                store
                    .find_trace(DEFAULT_TENANT, &pick(&fixture.ids, i))
                    .unwrap(),
            )
        })
    });
    group.bench_function("search", |b| {
        b.iter(|| black_box(search(store, usize::MAX)))
    });
    group.bench_function("search_limit_20", |b| {
        b.iter(|| black_box(search(store, 20)))
    });
    group.finish();
}

criterion_group!(hot, benches);
criterion_main!(hot);
