//! From OTLP bytes to Parquet bytes, stage by stage, against the decode-only reference
//! (DESIGN.md §5):
//!
//! - `decode`: prost decodes the requests, nothing more;
//! - `decode_to_arrow`: decode, `SpanBatch::from_request`, then one Arrow batch of the
//!   `spans` table for all of them;
//! - `decode_to_parquet`: the same, then sorted Parquet bytes (zstd), as the archive writes.
//!
//! Each reports spans/s. Before the benches, it prints the archived bytes per span against
//! the OTLP protobuf bytes per span, for the Rag and Tiny profiles.
//!
//! Run with `cargo bench -p tracegate-store`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::hint::black_box;
use std::time::Duration;
use tracegate_model::SpanBatch;
use tracegate_store::{SpanEncoder, WriterOptions, write_spans};
use tracegate_testkit::{Generator, GeneratorConfig, Profile, span_count};

/// Spans per benchmark iteration.
const SPANS: usize = 20_000;
/// Spans per OTLP request, as an SDK's batch processor sends them.
const SPANS_PER_REQUEST: usize = 200;
/// Spans for the size report: a file of a realistic size compresses better than a small one.
const SIZE_REPORT_SPANS: usize = 100_000;

fn encoded_requests(profile: Profile, spans: usize) -> Vec<Vec<u8>> {
    let config = GeneratorConfig {
        profile,
        ..Default::default()
    };
    let requests = Generator::new(config).requests(spans, SPANS_PER_REQUEST);
    assert_eq!(requests.iter().map(span_count).sum::<usize>(), spans);
    requests.iter().map(Message::encode_to_vec).collect()
}

fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(bytes).expect("valid OTLP")
}

fn to_arrow(requests: &[Vec<u8>]) -> SpanEncoder {
    let mut encoder = SpanEncoder::new();
    for bytes in requests {
        let (batch, rejected) = SpanBatch::from_request(decode(bytes));
        debug_assert!(rejected.is_empty());
        for span in &batch.spans {
            encoder.push(span);
        }
    }
    encoder
}

fn to_parquet(requests: &[Vec<u8>]) -> bytes::Bytes {
    let encoded = to_arrow(requests).finish().unwrap();
    write_spans(
        &encoded.batch,
        Some(&encoded.order),
        &WriterOptions::default(),
    )
    .unwrap()
}

fn report_sizes() {
    println!();
    println!("bytes per span, {SIZE_REPORT_SPANS} spans, one file, zstd:");
    for (name, profile) in [("rag", Profile::Rag), ("tiny", Profile::Tiny)] {
        let requests = encoded_requests(profile, SIZE_REPORT_SPANS);
        let otlp: usize = requests.iter().map(Vec::len).sum();
        let encoder = to_arrow(&requests);
        let arrow = encoder.estimated_bytes();
        let parquet = to_parquet(&requests).len();
        let per = |b: usize| b as f64 / SIZE_REPORT_SPANS as f64;
        println!(
            "  {name:<4}  OTLP protobuf {:>6.1} B/span   Arrow (in memory, est.) {:>6.1} B/span   \
             Parquet {:>6.1} B/span   ({:.1}x smaller than OTLP)",
            per(otlp),
            per(arrow),
            per(parquet),
            otlp as f64 / parquet as f64
        );
    }
    println!();
}

fn benches(c: &mut Criterion) {
    report_sizes();
    for (name, profile) in [("rag", Profile::Rag), ("tiny", Profile::Tiny)] {
        let requests = encoded_requests(profile, SPANS);
        let mut group = c.benchmark_group(format!("decode_to_parquet/{name}"));
        group.throughput(Throughput::Elements(SPANS as u64));
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));
        group.bench_function("decode", |b| {
            b.iter(|| {
                for bytes in &requests {
                    black_box(decode(black_box(bytes)));
                }
            })
        });
        group.bench_function("decode_to_arrow", |b| {
            b.iter(|| black_box(to_arrow(black_box(&requests)).finish().unwrap()))
        });
        group.bench_function("decode_to_parquet", |b| {
            b.iter(|| black_box(to_parquet(black_box(&requests))))
        });
        group.finish();
    }
}

criterion_group!(decode_to_parquet, benches);
criterion_main!(decode_to_parquet);
