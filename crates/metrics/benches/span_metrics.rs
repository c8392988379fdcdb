//! `span_metrics` throughput on realistic 10-span RAG traces (testkit's generator, after
//! `genai_normalize` and `latency_breakdown`, as in the pipeline), in calls of 100 traces;
//! spans/s on one core, and the memory of a series.
//!
//! - `observe/red_genai/{hot,cold}`: RED and GenAI families only (no service graph, no
//!   critical-path summaries): the figure the ≥ 5M spans/s goal is about;
//! - `observe/red_only/{hot,cold}`: RED alone;
//! - `observe/all/{hot,cold}`: the default config, with the service graph and critical-path
//!   histograms.
//!
//! `hot` observes one batch of 100 traces (about 1000 spans) over and over, in cache as it is
//! right after the previous processor; `cold` streams 10 000 traces (about 73 MB of spans)
//! from memory, where cache misses on the spans, their resources and attribute keys dominate.
//! `observe/touch/{hot,cold}` only reads each span's name, service name and attribute keys:
//! the memory floor under any consumer of them. After the criterion runs, each case prints
//! its spans/s, its series and their memory (bytes per series).
//!
//! Quick run on a shared machine: `cargo bench -p tracegate-metrics --bench span_metrics --
//! --warm-up-time 1 --measurement-time 3`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;
use tracegate_breakdown::{LatencyBreakdownConfig, LatencyBreakdownProcessor};
use tracegate_genai::normalize::{GenAiNormalize, GenAiNormalizeConfig};
use tracegate_metrics::snapshot::MetricSource;
use tracegate_metrics::span_metrics::{SpanMetrics, SpanMetricsConfig};
use tracegate_model::{SpanBatch, Trace};
use tracegate_pipeline::{SpanProcessor, TraceProcessor};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

const TRACES_PER_CALL: usize = 100;
/// Traces of the hot case: one call's worth.
const HOT_TRACES: usize = 100;

#[allow(clippy::unwrap_used)]
fn rag_traces(count: usize) -> Vec<Trace> {
    let config = GeneratorConfig {
        profile: Profile::Rag,
        ..Default::default()
    };
    let batch = Generator::new(config).batch_with_traces(count);
    let SpanBatch { spans } = GenAiNormalize::new(GenAiNormalizeConfig::default())
        .unwrap()
        .process(batch);
    let traces = tracegate_testkit::whole_traces(spans);
    LatencyBreakdownProcessor::new(&LatencyBreakdownConfig::default()).process(traces)
}

/// Reads the first byte of every span's name, service name and attribute keys.
fn touch(traces: &[Trace]) -> u64 {
    let mut sum = 0u64;
    for t in traces {
        for s in &t.spans {
            sum += u64::from(s.name.as_bytes().first().copied().unwrap_or(0));
            sum += u64::from(s.service_name().as_bytes().first().copied().unwrap_or(0));
            for kv in &s.attributes {
                sum += u64::from(kv.key.as_bytes().first().copied().unwrap_or(0));
            }
        }
    }
    sum
}

fn run(m: &SpanMetrics, traces: &[Trace], now: u64) {
    for chunk in traces.chunks(TRACES_PER_CALL) {
        m.observe(chunk, now);
    }
}

fn report(name: &str, config: &SpanMetricsConfig, traces: &[Trace], spans: usize) {
    let m = SpanMetrics::new(config);
    run(&m, traces, 1);
    let rounds = (2_000_000 / spans.max(1)).max(3) as u64;
    let start = Instant::now();
    for r in 0..rounds {
        run(&m, traces, 2 + r);
    }
    let rate = (spans as u64 * rounds) as f64 / start.elapsed().as_secs_f64();
    let stats = m.stats();
    let families = m.collect(100);
    let series: usize = families.iter().map(|f| f.series.len()).sum();
    eprintln!(
        "{name}: {:.2}M spans/s on one core; {} series ({series} across families) in {} B = {:.0} B per series",
        rate / 1e6,
        stats.series,
        stats.heap_bytes,
        stats.heap_bytes as f64 / stats.series.max(1) as f64,
    );
}

fn bench(c: &mut Criterion) {
    let traces = rag_traces(10_000);
    let bare: Vec<Trace> = traces
        .iter()
        .map(|t| Trace {
            critical_path: None,
            ..t.clone()
        })
        .collect();
    let spans = |t: &[Trace]| t.iter().map(|t| t.spans.len()).sum::<usize>();
    let bytes: usize = traces
        .iter()
        .flat_map(|t| &t.spans)
        .map(|s| s.estimated_bytes())
        .sum();
    eprintln!(
        "{} spans in {} traces ({:.1} per trace), about {} MB",
        spans(&traces),
        traces.len(),
        spans(&traces) as f64 / traces.len() as f64,
        bytes >> 20
    );
    let red_genai = SpanMetricsConfig {
        service_graph: false,
        ..Default::default()
    };
    let red_only = SpanMetricsConfig {
        service_graph: false,
        gen_ai: false,
        ..Default::default()
    };
    let all = SpanMetricsConfig::default();
    // Hot: one batch of 100 traces observed again and again, in cache as it is when the
    // previous processor has just handed it over. Cold: 10 000 traces (about 100 MB of
    // spans), streamed from memory.
    let hot_bare = &bare[..HOT_TRACES];
    let hot_all = &traces[..HOT_TRACES];
    let cases: [(&str, &SpanMetricsConfig, &[Trace]); 6] = [
        ("red_genai/hot", &red_genai, hot_bare),
        ("red_genai/cold", &red_genai, &bare),
        ("red_only/hot", &red_only, hot_bare),
        ("red_only/cold", &red_only, &bare),
        ("all/hot", &all, hot_all),
        ("all/cold", &all, &traces),
    ];

    let mut group = c.benchmark_group("observe");
    for (name, config, input) in cases {
        group.throughput(Throughput::Elements(spans(input) as u64));
        let m = SpanMetrics::new(config);
        let mut now = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                now += 1_000_000;
                run(&m, input, now);
            })
        });
    }
    // The memory floor: reading what the RED and GenAI families must read (each span's name,
    // its resource's service name and its attribute keys) and nothing else.
    for (name, input) in [("touch/hot", hot_bare), ("touch/cold", &bare[..])] {
        group.throughput(Throughput::Elements(spans(input) as u64));
        group.bench_function(name, |b| b.iter(|| black_box(touch(input))));
    }
    group.finish();

    for (name, config, input) in cases {
        report(name, config, input, spans(input));
    }
    let no_exemplars = SpanMetricsConfig {
        exemplars: false,
        ..all.clone()
    };
    report(
        "all/hot, no exemplars",
        &no_exemplars,
        hot_all,
        spans(hot_all),
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
