//! What `max_bytes` counts (issue 18, item 4): the spans, and the resources and scopes they
//! keep alive; a shared resource once per trace, a span-per-request exporter's resource once
//! per span.

use super::*;
use tracegate_model::{ReleaseReason, SpanBatch};
use tracegate_pipeline::{Assembler, ByteSize};

/// A resource with a 4 KiB attribute, as a Lambda function's resource detector sends.
fn big_resource() -> Arc<Resource> {
    let mut resource = Resource::with_service("lambda");
    resource
        .attributes
        .push(attr::string("aws.lambda.env", "x".repeat(4096)));
    Arc::new(resource)
}

/// A flood of single-span requests, each bringing its own 4 KiB resource (a
/// SimpleSpanProcessor or Lambda exporter), trips `max_bytes` once the resources fill it.
/// Counting the spans alone, the 4,000 requests below (about 1 MB of spans) would all be held
/// under the 2 MiB bound while their resources took 17 MB.
#[test]
fn single_span_requests_with_their_own_4_kib_resource_trip_max_bytes() {
    let max_bytes = 2 * 1024 * 1024;
    let mut shard = shard_with(
        TraceAssemblyConfig {
            max_bytes: ByteSize(max_bytes as u64),
            ..config()
        }
        .limits(1),
    );
    let request = |n: u64| span(trace_id(n), 1, None, &big_resource(), "invoke", 100);
    let per_request = first_span_bytes(&request(0));
    assert!(
        per_request > 4096,
        "the resource is counted: {per_request} B"
    );
    let fits = max_bytes / per_request;
    let mut out = Vec::new();
    for n in 0..4_000u64 {
        shard.ingest(
            SpanBatch {
                spans: vec![request(n)],
            },
            n,
            &mut out,
        );
        assert!(shard.bytes_held_total() <= max_bytes);
        // Request n is the first that does not fit: the oldest trace goes.
        let expected_evictions = (n + 1).saturating_sub(fits as u64);
        assert_eq!(
            shard.stats().evicted_max_bytes,
            expected_evictions,
            "request {n}"
        );
    }
    assert_eq!(shard.held().traces, fits);
    assert_eq!(shard.held().bytes, fits * per_request);
    assert!(
        out.iter()
            .all(|t| t.release_reason == ReleaseReason::Evicted)
    );
    shard.drain(&mut out);
    assert_eq!(shard.bytes_held_total(), 0);
}

/// Spans sharing one resource and scope count them once per trace, however many spans; spans
/// that each bring their own count each one.
#[test]
fn a_shared_resource_counts_once_per_trace() {
    let resource = big_resource();
    let mut shard = shard(&config());
    let mut out = Vec::new();
    let shared: Vec<Span> = (0..100)
        .map(|i| span(trace_id(0), i, i.checked_sub(1), &resource, "op", 10))
        .collect();
    let own_bytes: usize = shared.iter().map(Span::estimated_bytes).sum();
    let context = resource.estimated_bytes() + SCOPE.estimated_bytes();
    // Half in one batch, half in another: the second batch's first span shares the resource
    // with the span held before it, so nothing more is counted.
    let mut spans = shared.into_iter();
    shard.ingest(
        SpanBatch {
            spans: spans.by_ref().take(50).collect(),
        },
        0,
        &mut out,
    );
    shard.ingest(
        SpanBatch {
            spans: spans.collect(),
        },
        1,
        &mut out,
    );
    assert_eq!(shard.held().bytes, own_bytes + context);

    // A second trace from the same resource is charged it too: it alone may keep it alive.
    let other = span(trace_id(1), 0, None, &resource, "op", 10);
    let other_bytes = first_span_bytes(&other);
    shard.ingest(SpanBatch { spans: vec![other] }, 2, &mut out);
    assert_eq!(shard.held().bytes, own_bytes + context + other_bytes);

    // A trace whose spans each bring an equal but separate resource is charged each one.
    let separate: Vec<Span> = (0..10)
        .map(|i| span(trace_id(2), i, i.checked_sub(1), &big_resource(), "op", 10))
        .collect();
    let separate_bytes: usize = separate
        .iter()
        .map(|s| s.estimated_bytes() + s.resource.estimated_bytes())
        .sum::<usize>()
        + SCOPE.estimated_bytes();
    shard.ingest(SpanBatch { spans: separate }, 3, &mut out);
    assert_eq!(
        shard.held().bytes,
        own_bytes + context + other_bytes + separate_bytes
    );
    assert!(out.is_empty());
    assert_eq!(shard.bytes_held_total(), shard.held().bytes);
    // Released, every byte charged is given back.
    shard.drain(&mut out);
    assert_eq!(shard.held().bytes, 0);
    assert_eq!(shard.bytes_held_total(), 0);
}

/// Interleaved traces from one resource: each trace's spans are compared with the span held
/// before them in their own trace, not with whatever came before in the batch.
#[test]
fn interleaved_traces_sharing_a_resource_count_it_once_each() {
    let resource = big_resource();
    let mut shard = shard(&config());
    let mut out = Vec::new();
    let spans: Vec<Span> = (0..40u64)
        .map(|i| span(trace_id(i % 4), i, None, &resource, "op", 10))
        .collect();
    let own: usize = spans.iter().map(Span::estimated_bytes).sum();
    shard.ingest(SpanBatch { spans }, 0, &mut out);
    let context = resource.estimated_bytes() + SCOPE.estimated_bytes();
    assert_eq!(shard.held().bytes, own + 4 * context);
}
