//! `redaction` throughput, in bytes of scanned text per second (criterion's `B/s`):
//!
//! - `prompts`: testkit's RAG prompts and completions (`gen_ai.input.messages`,
//!   `gen_ai.output.messages`: JSON, 1–2 KB, no personal data), through the JSON-aware
//!   redactor: the common case, where nothing is found;
//! - `prompts_plain`: the same text with the JSON taken apart, as plain strings;
//! - `corpus`: the evaluation corpus (`testdata/pii/corpus.jsonl`), where almost every text has
//!   something to redact;
//! - `processor`: the whole processor on testkit RAG batches (spans, events, resources); the
//!   throughput counts the bytes of every string attribute value.
//!
//! Run with `cargo bench -p tracegate-genai --bench redaction`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use std::hint::black_box;
use tracegate_genai::redaction::{RedactionConfig, RedactionProcessor, Redactor};
use tracegate_model::SpanBatch;
use tracegate_pipeline::SpanProcessor;
use tracegate_testkit::{Generator, GeneratorConfig};

/// Traces per processor iteration (about 10 spans each).
const TRACES: usize = 500;

fn prompts() -> Vec<String> {
    let batch = Generator::new(GeneratorConfig::default()).batch_with_traces(TRACES);
    batch
        .spans
        .iter()
        .flat_map(|s| s.attributes.iter())
        .filter(|kv| kv.key.starts_with("gen_ai.input") || kv.key.starts_with("gen_ai.output"))
        .filter_map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => Some(s.clone()),
                _ => None,
            },
        )
        .collect()
}

fn corpus() -> Vec<String> {
    include_str!("../testdata/pii/corpus.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["text"].as_str().map(str::to_owned))
        .collect()
}

fn string_bytes(attrs: &[KeyValue]) -> usize {
    attrs
        .iter()
        .map(
            |kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.len(),
                _ => 0,
            },
        )
        .sum()
}

fn bench(c: &mut Criterion) {
    let redactor = Redactor::new(&RedactionConfig::default(), "").unwrap();
    let mut group = c.benchmark_group("redaction");

    let texts = prompts();
    let bytes: usize = texts.iter().map(String::len).sum();
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("prompts", |b| {
        b.iter(|| {
            for t in &texts {
                black_box(redactor.redact_str(black_box(t)));
            }
        })
    });

    let plain: Vec<String> = texts
        .iter()
        .map(|t| t.replace(['{', '[', '"'], " "))
        .collect();
    let bytes: usize = plain.iter().map(String::len).sum();
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("prompts_plain", |b| {
        b.iter(|| {
            for t in &plain {
                black_box(redactor.redact_str(black_box(t)));
            }
        })
    });

    let corpus = corpus();
    let bytes: usize = corpus.iter().map(String::len).sum();
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("corpus", |b| {
        b.iter(|| {
            for t in &corpus {
                black_box(redactor.redact_str(black_box(t)));
            }
        })
    });

    let batch = Generator::new(GeneratorConfig::default()).batch_with_traces(TRACES);
    let bytes: usize = batch
        .spans
        .iter()
        .map(|s| {
            string_bytes(&s.attributes)
                + s.events
                    .iter()
                    .map(|e| string_bytes(&e.attributes))
                    .sum::<usize>()
        })
        .sum();
    println!(
        "processor input: {} spans, {} bytes of string attribute values",
        batch.len(),
        bytes
    );
    let mut processor = RedactionProcessor::new("redaction", redactor);
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("processor", |b| {
        b.iter_batched(
            || batch.clone(),
            |batch: SpanBatch| black_box(processor.process(batch)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
