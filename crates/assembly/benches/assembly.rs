//! The trace assembler alone, on one core (issue 3's performance targets):
//!
//! - `assembly/10_span_traces`: batches of 100 testkit RAG traces (about 10 spans each) go in
//!   20 ms of simulated time apart, so about 100,000 spans are held and every call releases
//!   about as many traces as it takes in. Measures ingest + tick + release; reports spans/s
//!   (target: at least 3M).
//! - `assembly/10_span_traces_beside_100k_span_trace`: the same, while a giant trace is in
//!   flight, growing by 100 spans per batch up to 100,000 (past the 20,000-span cap, they pass
//!   through), then starting over with a new id. The normal traces' throughput and release
//!   times should not change.
//!
//! Before the benches it replays the giant-trace scenario and prints how late the normal
//! traces were released against their deadlines (the state machine releases at the exact
//! deadline, so this is zero).
//!
//! Run with `cargo bench -p tracegate-assembly`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use tracegate_assembly::{Shard, TraceAssemblyConfig};
use tracegate_model::{Span, SpanBatch, SpanId, Trace, TraceId};
use tracegate_pipeline::Assembler;
use tracegate_testkit::{Generator, GeneratorConfig};

const TRACES_PER_BATCH: usize = 100;
const STEP_NS: u64 = 20_000_000;
const GIANT_SPANS_PER_BATCH: u64 = 100;
const GIANT_SPANS: u64 = 100_000;

fn one_shard() -> Shard {
    TraceAssemblyConfig {
        shards: 1,
        ..Default::default()
    }
    .build_shards()
    .pop()
    .unwrap()
}

/// Gives the batch's traces ids no earlier batch used, keeping their low (shard) bytes.
fn renumber(mut batch: SpanBatch, round: u64) -> SpanBatch {
    for span in &mut batch.spans {
        let high = u64::from_be_bytes(span.trace_id.0[..8].try_into().unwrap()) ^ round;
        span.trace_id.0[..8].copy_from_slice(&high.to_be_bytes());
    }
    batch
}

/// `GIANT_SPANS_PER_BATCH` more spans of the giant trace of `round`.
fn giant_spans(template: &Span, round: u64) -> Vec<Span> {
    let giant = round / (GIANT_SPANS / GIANT_SPANS_PER_BATCH);
    let first = (round % (GIANT_SPANS / GIANT_SPANS_PER_BATCH)) * GIANT_SPANS_PER_BATCH;
    let mut id = [0xAB; 16];
    id[..8].copy_from_slice(&giant.to_be_bytes());
    (first..first + GIANT_SPANS_PER_BATCH)
        .map(|n| {
            let mut span = template.clone();
            span.trace_id = TraceId(id);
            span.span_id = SpanId((n + 1).to_be_bytes());
            span.parent_span_id = (n > 0).then(|| SpanId(((n - 1) / 2 + 1).to_be_bytes()));
            span
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let template = Generator::new(GeneratorConfig::default()).batch_with_traces(TRACES_PER_BATCH);
    let spans = template.len() as u64;
    let giant_template = template.spans[0].clone();
    report_release_delays(&template, &giant_template);

    let mut group = c.benchmark_group("assembly");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.throughput(Throughput::Elements(spans));
    let mut shard = one_shard();
    let mut round = 0u64;
    group.bench_function("10_span_traces", |b| {
        b.iter_batched(
            || {
                round += 1;
                (renumber(template.clone(), round), round * STEP_NS)
            },
            |(batch, now)| {
                let mut released = Vec::new();
                shard.ingest(batch, now, &mut released);
                shard.tick(now, &mut released);
                released
            },
            BatchSize::LargeInput,
        )
    });
    println!("held at the end: {:?}", shard.held());

    group.throughput(Throughput::Elements(spans + GIANT_SPANS_PER_BATCH));
    let mut shard = one_shard();
    let mut round = 0u64;
    group.bench_function("10_span_traces_beside_100k_span_trace", |b| {
        b.iter_batched(
            || {
                round += 1;
                let mut batch = renumber(template.clone(), round);
                batch.spans.extend(giant_spans(&giant_template, round));
                (batch, round * STEP_NS)
            },
            |(batch, now)| {
                let mut released = Vec::new();
                shard.ingest(batch, now, &mut released);
                shard.tick(now, &mut released);
                released
            },
            BatchSize::LargeInput,
        )
    });
    println!(
        "held at the end: {:?}; spans passed over the cap: {}",
        shard.held(),
        shard.stats().over_cap_spans
    );
    group.finish();
}

/// Runs 3,000 batches (60 s simulated) with and without the giant trace, ticking at every
/// deadline, and prints the normal traces' worst release delay past `last span + 2s`.
fn report_release_delays(template: &SpanBatch, giant_template: &Span) {
    for with_giant in [false, true] {
        let mut shard = one_shard();
        let mut last_arrival = std::collections::HashMap::<TraceId, u64>::new();
        let mut worst = 0u64;
        let mut released_traces = 0usize;
        let mut check =
            |out: &mut Vec<Trace>, at: u64, last: &std::collections::HashMap<TraceId, u64>| {
                for t in out.drain(..) {
                    if t.fragment.is_none() && t.spans.len() < 1_000 {
                        released_traces += 1;
                        worst = worst.max(at - (last[&t.trace_id] + 2_000_000_000));
                    }
                }
            };
        let mut out = Vec::new();
        for round in 1..=3_000u64 {
            let now = round * STEP_NS;
            while let Some(d) = shard.next_deadline().filter(|&d| d <= now) {
                shard.tick(d, &mut out);
                check(&mut out, d, &last_arrival);
            }
            let mut batch = renumber(template.clone(), round);
            for s in &batch.spans {
                last_arrival.insert(s.trace_id, now);
            }
            if with_giant {
                batch.spans.extend(giant_spans(giant_template, round));
            }
            shard.ingest(batch, now, &mut out);
            check(&mut out, now, &last_arrival);
        }
        println!(
            "release delay past deadline, {} giant trace: worst {} ns over {} normal traces",
            if with_giant { "with" } else { "without" },
            worst,
            released_traces
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
