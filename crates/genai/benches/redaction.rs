//! `redaction` throughput, in bytes of scanned text per second (criterion's `B/s`):
//!
//! - `prompts`: testkit's RAG prompts and completions (`gen_ai.input.messages`,
//!   `gen_ai.output.messages`: JSON, 1–2 KB, no personal data), through the JSON-aware
//!   redactor: the common case, where nothing is found;
//! - `prompts_plain`: the same text with the JSON taken apart, as plain strings;
//! - `corpus`: the evaluation corpus (`testdata/pii/corpus.jsonl`), where almost every text has
//!   something to redact; `faker_corpus`: the same for `testdata/pii/faker_corpus.jsonl`;
//! - `processor`: the whole processor on testkit RAG batches (spans, events, resources); the
//!   throughput counts the bytes of every string attribute value.
//!
//! - `adversarial/SHAPE/BYTES`: one attribute value of an adversarial shape (deep nesting,
//!   escapes, tiny elements, many findings, every token a phone candidate) at 16 KiB, 64 KiB and 256 KiB, with the bound at
//!   half the value so it is scanned and cut: the same B/s at every size shows the work is
//!   linear in the input (issue 18).
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

fn corpus(jsonl: &str) -> Vec<String> {
    jsonl
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

    for (name, jsonl) in [
        ("corpus", include_str!("../testdata/pii/corpus.jsonl")),
        (
            "faker_corpus",
            include_str!("../testdata/pii/faker_corpus.jsonl"),
        ),
    ] {
        let corpus = corpus(jsonl);
        let bytes: usize = corpus.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for t in &corpus {
                    black_box(redactor.redact_str(black_box(t)));
                }
            })
        });
    }

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

/// Adversarial values of `n` bytes, by shape.
fn adversarial_shapes(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("deep_nesting", "[".repeat(n)),
        ("deep_objects", "{\"a\":".repeat(n / 5)),
        ("escapes", format!("[\"{}\"]", "\\\"\\u00e9".repeat(n / 8))),
        ("tiny_elements", format!("[{}1]", "1,".repeat(n / 2))),
        ("many_emails", "a@b.co ".repeat(n / 7)),
        // Number-shaped text: every token a phone candidate, with and without a phone word.
        ("many_numbers", "4155550134 ".repeat(n / 11)),
        ("many_phones", "call 4155550134 ".repeat(n / 16)),
        (
            "json_emails",
            format!("[{}\"x\"]", "\"a@b.co\",".repeat(n / 9)),
        ),
    ]
}

fn adversarial(c: &mut Criterion) {
    let mut group = c.benchmark_group("adversarial");
    let one = Generator::new(GeneratorConfig::default()).batch_with_traces(1);
    // The request of issue 18: 100 values of 70,000 `[` (21 KB gzipped), default bound.
    let mut request = SpanBatch {
        spans: one.spans[..1].to_vec(),
    };
    let nested = "[".repeat(70_000);
    request.spans[0].attributes = (0..100)
        .map(|i| KeyValue {
            key: format!("app.payload.{i}"),
            value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(Value::StringValue(nested.clone())),
            }),
            ..Default::default()
        })
        .collect();
    let mut processor = RedactionProcessor::new(
        "redaction",
        Redactor::new(&RedactionConfig::default(), "").unwrap(),
    );
    group.throughput(Throughput::Bytes(70_000 * 100));
    group.sample_size(10);
    group.bench_function("issue_request", |b| {
        b.iter_batched(
            || request.clone(),
            |batch: SpanBatch| black_box(processor.process(batch)),
            BatchSize::LargeInput,
        )
    });
    for size in [16 * 1024, 64 * 1024, 256 * 1024] {
        let config = RedactionConfig {
            max_attribute_bytes: tracegate_pipeline::ByteSize(size as u64 / 2),
            ..RedactionConfig::default()
        };
        let mut processor =
            RedactionProcessor::new("redaction", Redactor::new(&config, "").unwrap());
        for (shape, value) in adversarial_shapes(size) {
            let mut batch = SpanBatch {
                spans: one.spans[..1].to_vec(),
            };
            batch.spans[0].attributes = vec![KeyValue {
                key: "app.payload".into(),
                value: Some(opentelemetry_proto::tonic::common::v1::AnyValue {
                    value: Some(Value::StringValue(value.clone())),
                }),
                ..Default::default()
            }];
            group.throughput(Throughput::Bytes(value.len() as u64));
            group.bench_function(format!("{shape}/{size}"), |b| {
                b.iter_batched(
                    || batch.clone(),
                    |batch: SpanBatch| black_box(processor.process(batch)),
                    BatchSize::SmallInput,
                )
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, adversarial);
criterion_main!(benches);
