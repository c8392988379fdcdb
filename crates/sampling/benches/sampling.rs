//! Tail-sampling throughput: the default policy set (errors, `llm_finish_reason` [length,
//! content_filter], latency ≥ 10 s, probabilistic 10 %) on realistic 10-span RAG traces
//! that the latency breakdown has annotated, as in the pipeline; spans/s on one core.
//!
//! - `decide/default_set`: each trace decided and remembered in the decision cache;
//! - `decide/default_set_no_cache`: the policies alone;
//! - `decide/late_fragments`: fragments answered from the cache.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tracegate_breakdown::{LatencyBreakdownConfig, LatencyBreakdownProcessor};
use tracegate_model::{Fragment, SpanBatch, Trace};
use tracegate_pipeline::TraceProcessor;
use tracegate_sampling::{Sampler, TailSamplingConfig};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

const DEFAULT_SET: &str = "
decision_cache: { late_window: 5m, max_bytes: 16MiB }
policies:
  - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
  - { name: llm-finish-reason, type: llm_finish_reason, llm_finish_reason: { values: [length, content_filter] } }
  - { name: slow, type: latency, latency: { threshold_ms: 10000 } }
  - { name: baseline, type: probabilistic, probabilistic: { sampling_percentage: 10 } }
";

fn rag_traces(count: usize) -> Vec<Trace> {
    let config = GeneratorConfig {
        profile: Profile::Rag,
        ..Default::default()
    };
    let SpanBatch { spans } = Generator::new(config).batch_with_traces(count);
    let traces = tracegate_testkit::whole_traces(spans);
    LatencyBreakdownProcessor::new(&LatencyBreakdownConfig::default()).process(traces)
}

#[allow(clippy::unwrap_used)]
fn sampler(yaml: &str) -> Sampler {
    let config: TailSamplingConfig = serde_yaml_ng::from_str(yaml).unwrap();
    Sampler::new(&config, "processors.tail_sampling").unwrap()
}

fn bench(c: &mut Criterion) {
    let traces = rag_traces(10_000);
    let spans: usize = traces.iter().map(|t| t.spans.len()).sum();
    let mut group = c.benchmark_group("decide");
    group.throughput(Throughput::Elements(spans as u64));

    let mut s = sampler(DEFAULT_SET);
    let mut now = 0u64;
    group.bench_function("default_set", |b| {
        b.iter(|| {
            now += 1_000_000;
            for t in &traces {
                black_box(s.decide(t, now));
            }
        })
    });

    let mut s = sampler(&DEFAULT_SET.replace("16MiB", "0"));
    group.bench_function("default_set_no_cache", |b| {
        b.iter(|| {
            for t in &traces {
                black_box(s.evaluate(t, 0));
            }
        })
    });

    let mut s = sampler(DEFAULT_SET);
    for t in &traces {
        s.decide(t, 0);
    }
    let fragments: Vec<Trace> = traces
        .iter()
        .map(|t| Trace {
            spans: t.spans.clone(),
            fragment: Some(Fragment::Late),
            ..t.clone()
        })
        .collect();
    group.bench_function("late_fragments", |b| {
        b.iter(|| {
            for t in &fragments {
                black_box(s.decide(t, 1_000_000_000));
            }
        })
    });
    group.finish();

    let cache = s.cache();
    eprintln!(
        "decision cache: {} traces in {} B allocated = {:.1} B per remembered trace; {spans} spans in {} traces",
        cache.capacity(),
        cache.bytes(),
        cache.bytes() as f64 / cache.capacity() as f64,
        traces.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
