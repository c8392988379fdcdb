//! What writing a hot-store block costs per span, stage by stage, for generated RAG (or
//! tiny) spans sorted as a block is: the encoder (spans → Arrow, sized like the last block
//! as the store does), then Parquet (Arrow → bytes) with the hot block's properties and,
//! for comparison, with an archive file's (all statistics and the bloom filter).
//!
//! ```text
//! cargo run --release -p tracegate-store --example block_write -- [SPANS] [rag|tiny] [ROUNDS]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;
use tracegate_store::writer::write_hot_block_to;
use tracegate_store::{SpanEncoder, WriterOptions, write_spans};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

fn main() {
    let mut args = std::env::args().skip(1);
    let spans: usize = args
        .next()
        .map_or(200_000, |a| a.parse().expect("SPANS: a number"));
    let profile = match args.next().as_deref() {
        Some("tiny") => Profile::Tiny,
        _ => Profile::Rag,
    };
    let rounds: usize = args
        .next()
        .map_or(5, |a| a.parse().expect("ROUNDS: a number"))
        .max(1);
    let mut generator = Generator::new(GeneratorConfig {
        profile,
        ..Default::default()
    });
    let mut all = Vec::with_capacity(spans);
    while all.len() < spans {
        all.extend(generator.batch_with_traces(100).spans);
    }
    all.truncate(spans);
    all.sort_by_key(|s| (s.trace_id, s.start_time_unix_nano));
    // The hot store's default row groups.
    let options = WriterOptions {
        row_group_rows: 16_384,
        ..WriterOptions::default()
    };
    let mut hint = SpanEncoder::new().size_hint();
    let (mut encode_s, mut hot_s, mut archive_s) = (0.0, 0.0, 0.0);
    let (mut hot_bytes, mut archive_bytes) = (0, 0);
    for _ in 0..rounds {
        let t = Instant::now();
        let mut encoder = SpanEncoder::with_size_hint(&hint);
        for span in &all {
            encoder.push(span);
        }
        hint = encoder.size_hint();
        let encoded = encoder.finish().unwrap();
        encode_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        hot_bytes = write_hot_block_to(Vec::new(), &encoded.batch, Some(&encoded.order), &options)
            .unwrap()
            .len();
        hot_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        archive_bytes = write_spans(&encoded.batch, Some(&encoded.order), &options)
            .unwrap()
            .len();
        archive_s += t.elapsed().as_secs_f64();
    }
    let n = (spans * rounds) as f64;
    let us = |s: f64| s / n * 1e6;
    let per = |b: usize| b as f64 / spans as f64;
    println!("{spans} spans x {rounds} rounds, us per span:");
    println!("  encoder (spans -> Arrow)           {:>6.2}", us(encode_s));
    println!(
        "  Parquet, hot block properties      {:>6.2}   {:>5.1} B/span",
        us(hot_s),
        per(hot_bytes)
    );
    println!(
        "  Parquet, archive file properties   {:>6.2}   {:>5.1} B/span",
        us(archive_s),
        per(archive_bytes)
    );
    println!(
        "  a hot block in all                 {:>6.2}   ({:.0} spans/s)",
        us(encode_s + hot_s),
        n / (encode_s + hot_s)
    );
}
