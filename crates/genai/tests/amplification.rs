//! Regression tests for issue 18 item 2: a small request must not cost seconds of CPU.
//!
//! A value of 70,000 `[` used to cost tens of milliseconds in JSON truncation (the stack of
//! open containers was copied at every element), and values were scanned up to 64 times
//! before they were cut: 100 such values, 21 KB gzipped, kept the pipeline busy for 2.6
//! CPU-seconds. Time is not a stable measure in a test, so these count what the work
//! allocates instead: every copy, every rescan's output and every rebuilt string is an
//! allocation, so work that grows faster than the input shows up as bytes allocated that grow
//! faster than the input. The global allocator is wrapped to count them; all cases run in one
//! test so no other test's allocations are counted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use tracegate_genai::GenAiNormalizeConfig;
use tracegate_genai::normalize::GenAiNormalize;
use tracegate_genai::redaction::{RedactionConfig, RedactionProcessor, Redactor};
use tracegate_model::SpanBatch;
use tracegate_pipeline::{ByteSize, SpanProcessor};
use tracegate_testkit::{Generator, GeneratorConfig};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Adversarial values of about `n` bytes, by shape.
fn shapes(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("deep nesting", "[".repeat(n)),
        ("deep objects", "{\"a\":".repeat(n / 5)),
        ("escapes", format!("[\"{}\"]", "\\\"\\u00e9".repeat(n / 8))),
        ("tiny elements", format!("[{}1]", "1,".repeat(n / 2))),
        ("tiny strings", format!("[{}\"a\"]", "\"a\",".repeat(n / 4))),
        ("many emails", "a@b.co ".repeat(n / 7)),
        (
            "glued findings",
            "ana@example.com+44 20 7946 0958 ".repeat(n / 32),
        ),
        (
            "json emails",
            format!("[{}\"x\"]", "\"a@b.co\",".repeat(n / 9)),
        ),
    ]
}

/// A span batch whose first span carries `copies` attributes with `value`, under a plain key
/// and under the GenAI message keys that normalisation and redaction treat as content.
fn batch(value: &str, copies: usize) -> SpanBatch {
    let mut batch = Generator::new(GeneratorConfig::default()).batch_with_traces(1);
    let span = &mut batch.spans[0];
    for i in 0..copies {
        let key = match i % 3 {
            0 => format!("app.payload.{i}"),
            1 => "gen_ai.input.messages".to_owned(),
            _ => "gen_ai.output.messages".to_owned(),
        };
        span.attributes.push(KeyValue {
            key,
            value: Some(AnyValue {
                value: Some(Value::StringValue(value.to_owned())),
            }),
            ..Default::default()
        });
    }
    batch
}

/// Bytes allocated while the default span stage (normalisation, then redaction) processes
/// `batch`.
fn allocated(batch: SpanBatch, max_attribute_bytes: u64) -> usize {
    let mut normalize = GenAiNormalize::new(GenAiNormalizeConfig::default()).unwrap();
    let config = RedactionConfig {
        max_attribute_bytes: ByteSize(max_attribute_bytes),
        ..RedactionConfig::default()
    };
    let mut redact = RedactionProcessor::new("redaction", Redactor::new(&config, "").unwrap());
    let region = Region::new(GLOBAL);
    let out = redact.process(normalize.process(batch));
    let stats = region.change();
    drop(out);
    stats.bytes_allocated
}

#[test]
fn span_stage_work_is_linear_in_the_request() {
    // The request of the report: 100 values of 70,000 bytes, with the default bound (64 KiB).
    for (shape, value) in shapes(70_000) {
        let decoded = value.len() * 100;
        let bytes = allocated(batch(&value, 100), 64 * 1024);
        assert!(
            bytes <= 32 * decoded,
            "{shape}: {bytes} bytes allocated for a {decoded}-byte request (limit 32x)"
        );
    }
    // A value far over the bound is cut before it is scanned: the work follows the bound (64
    // KiB, plus the margin kept for secrets that straddle the cut), not what was sent.
    let huge = "a@b.co ".repeat(4 * 1024 * 1024 / 7);
    let bytes = allocated(batch(&huge, 1), 64 * 1024);
    assert!(
        bytes <= 32 * 128 * 1024,
        "a 4 MiB value cost {bytes} bytes of allocation under a 64 KiB bound"
    );
    // Work grows linearly with the value whatever the bound: values four times as long cost at
    // most about four times as much, with the bound raised so nothing is cut before the scan.
    for ((shape, small), (_, large)) in shapes(20_000).into_iter().zip(shapes(80_000)) {
        let a = allocated(batch(&small, 10), 40_000);
        let b = allocated(batch(&large, 10), 160_000);
        assert!(
            b <= 5 * a.max(small.len() * 10),
            "{shape}: {a} bytes for 20 kB values but {b} bytes for 80 kB values"
        );
    }
}
