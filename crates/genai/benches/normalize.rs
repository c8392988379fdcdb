//! `genai_normalize` throughput on a mixed RAG stream: testkit's RAG traces (current GenAI
//! attributes), with a third of the LLM spans rewritten into OpenInference attributes and a
//! third into old OpenLLMetry attributes, so alias mapping, provider normalisation, TTFT and
//! pricing all run. Reports spans/s (criterion's `elem/s`).
//!
//! Run with `cargo bench -p tracegate-genai`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tracegate_genai::normalize::{GenAiNormalize, GenAiNormalizeConfig};
use tracegate_model::SpanBatch;
use tracegate_pipeline::SpanProcessor;
use tracegate_testkit::{Generator, GeneratorConfig};

/// Traces per iteration (about 10 spans each).
const TRACES: usize = 2_000;

fn rename(key: &str, dialect: usize) -> Option<&'static str> {
    Some(match (dialect, key) {
        (1, "gen_ai.operation.name") => "llm.request.type",
        (1, "gen_ai.provider.name") => "gen_ai.system",
        (1, "gen_ai.usage.input_tokens") => "gen_ai.usage.prompt_tokens",
        (1, "gen_ai.usage.output_tokens") => "gen_ai.usage.completion_tokens",
        (1, "gen_ai.usage.cache_read.input_tokens") => "gen_ai.usage.cache_read_input_tokens",
        (2, "gen_ai.provider.name") => "llm.provider",
        (2, "gen_ai.request.model") => "llm.model_name",
        (2, "gen_ai.usage.input_tokens") => "llm.token_count.prompt",
        (2, "gen_ai.usage.output_tokens") => "llm.token_count.completion",
        (2, "gen_ai.usage.cache_read.input_tokens") => "llm.token_count.prompt_details.cache_read",
        _ => return None,
    })
}

fn mixed_batch() -> SpanBatch {
    let mut batch = Generator::new(GeneratorConfig::default()).batch_with_traces(TRACES);
    let mut llm = 0usize;
    for span in &mut batch.spans {
        if !span
            .attributes
            .iter()
            .any(|kv| kv.key == "gen_ai.request.model")
        {
            continue;
        }
        let dialect = llm % 3;
        llm += 1;
        for kv in &mut span.attributes {
            if let Some(k) = rename(&kv.key, dialect) {
                kv.key = k.to_owned();
            }
        }
        if dialect == 2 {
            span.attributes.push(tracegate_model::attr::string(
                "openinference.span.kind",
                "LLM",
            ));
        }
    }
    batch
}

fn bench(c: &mut Criterion) {
    let batch = mixed_batch();
    let mut group = c.benchmark_group("genai_normalize");
    group.throughput(Throughput::Elements(batch.len() as u64));
    let mut p = GenAiNormalize::new(GenAiNormalizeConfig::default()).unwrap();
    group.bench_function("mixed_rag", |b| {
        b.iter_batched(
            || batch.clone(),
            |batch| black_box(p.process(batch)),
            BatchSize::LargeInput,
        )
    });
    // The same stream once normalised: the scan alone, nothing left to write.
    let normalised = GenAiNormalize::new(GenAiNormalizeConfig::default())
        .unwrap()
        .process(batch.clone());
    group.bench_function("already_normalised", |b| {
        b.iter_batched(
            || normalised.clone(),
            |batch| black_box(p.process(batch)),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
