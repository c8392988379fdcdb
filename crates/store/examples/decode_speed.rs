//! How fast `spans_from_batch` turns archived rows back into spans: encodes generated RAG
//! (or tiny) spans into one batch, then decodes it a few times and prints spans/s.
//!
//! ```text
//! cargo run --release -p tracegate-store --example decode_speed -- [SPANS] [rag|tiny]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;
use tracegate_store::{SpanEncoder, spans_from_batch};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

fn main() {
    let mut args = std::env::args().skip(1);
    let spans: usize = args
        .next()
        .map_or(100_000, |a| a.parse().expect("SPANS: a number"));
    let profile = match args.next().as_deref() {
        Some("tiny") => Profile::Tiny,
        _ => Profile::Rag,
    };
    let mut generator = Generator::new(GeneratorConfig {
        profile,
        ..Default::default()
    });
    let mut all = Vec::with_capacity(spans);
    while all.len() < spans {
        all.extend(generator.batch_with_traces(100).spans);
    }
    all.truncate(spans);
    let batch = SpanEncoder::encode(&all).unwrap();
    let started = Instant::now();
    let encoded_again = SpanEncoder::encode(&all).unwrap();
    let encode_s = started.elapsed().as_secs_f64();
    drop(encoded_again);
    let mut best = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        let decoded = spans_from_batch(&batch, None).unwrap();
        best = best.min(started.elapsed().as_secs_f64());
        assert_eq!(decoded.len(), spans);
    }
    println!(
        "{profile:?}: {spans} spans, {:.1} MB in Arrow; decode {:.0} spans/s ({:.2} us/span), encode {:.0} spans/s",
        batch.get_array_memory_size() as f64 / 1e6,
        spans as f64 / best,
        best * 1e6 / spans as f64,
        spans as f64 / encode_s,
    );
}
