use super::*;
use crate::attr;
use crate::ids::{SpanId, TraceId};
use crate::span::{Event, Link, SpanKind, Status};
use proptest::prelude::*;

fn resource(n: u8) -> Arc<Resource> {
    let mut r = Resource::with_service(&format!("svc-{n}"));
    r.schema_url = if n.is_multiple_of(2) {
        String::new()
    } else {
        format!("https://schema/{n}")
    };
    r.dropped_attributes_count = u32::from(n % 3);
    Arc::new(r)
}

fn scope(n: u8) -> Arc<Scope> {
    Arc::new(Scope {
        name: format!("scope-{n}"),
        version: if n.is_multiple_of(2) {
            String::new()
        } else {
            "1.2".into()
        },
        attributes: vec![attr::int("n", i64::from(n))],
        dropped_attributes_count: u32::from(n % 2),
        schema_url: String::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn span(
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
    id: u8,
    parent: bool,
    flags: u32,
    name: String,
    start: u64,
    len: u64,
    events: usize,
) -> Span {
    Span {
        resource: resource.clone(),
        scope: scope.clone(),
        trace_id: TraceId([id.wrapping_add(1) | 1; 16]),
        span_id: SpanId([id.wrapping_add(2) | 1; 8]),
        parent_span_id: parent.then_some(SpanId([9; 8])),
        trace_state: if id.is_multiple_of(3) {
            "k=v".into()
        } else {
            String::new()
        },
        flags,
        name,
        kind: SpanKind::try_from(i32::from(id % 6)).unwrap_or(SpanKind::Internal),
        start_time_unix_nano: start,
        end_time_unix_nano: start.saturating_add(len),
        attributes: vec![
            attr::string("gen_ai.system", "openai"),
            attr::int("k", i64::from(id)),
        ],
        dropped_attributes_count: u32::from(id % 2),
        events: (0..events)
            .map(|e| Event {
                name: format!("event-{e}"),
                time_unix_nano: start + e as u64,
                ..Default::default()
            })
            .collect(),
        dropped_events_count: 0,
        links: if id.is_multiple_of(4) {
            vec![Link {
                trace_id: vec![3; 16],
                span_id: vec![4; 8],
                ..Default::default()
            }]
        } else {
            Vec::new()
        },
        dropped_links_count: u32::from(id % 5),
        status: Status {
            message: if id.is_multiple_of(2) {
                String::new()
            } else {
                "boom".into()
            },
            code: i32::from(id % 3),
        },
        facts: Default::default(),
        origin: Default::default(),
    }
}

fn encode(batch: &SpanBatch) -> Vec<u8> {
    let mut out = Vec::new();
    encode_spans(&batch.spans, &mut out);
    out
}

#[test]
fn empty_batch_is_empty_bytes() {
    assert!(encode(&SpanBatch::default()).is_empty());
    assert!(decode_spans(&[]).unwrap().is_empty());
}

#[test]
fn golden_single_span_matches_prost_byte_for_byte() {
    let r = resource(1);
    let s = scope(1);
    let batch = SpanBatch {
        spans: vec![span(
            &r,
            &s,
            3,
            true,
            0x301,
            "chat gpt-4o".into(),
            1_700_000_000_000_000_000,
            5,
            1,
        )],
    };
    assert_eq!(encode(&batch), batch.to_request().encode_to_vec());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert!(decode_spans(&[0xff, 0xff, 0xff]).is_err());
    // A span with a 3-byte trace id decodes as protobuf but is refused.
    let bad = crate::proto::collector::trace::v1::ExportTraceServiceRequest {
        resource_spans: vec![crate::proto::trace::v1::ResourceSpans {
            scope_spans: vec![crate::proto::trace::v1::ScopeSpans {
                spans: vec![crate::proto::trace::v1::Span {
                    trace_id: vec![1, 2, 3],
                    span_id: vec![1; 8],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert!(matches!(
        decode_spans(&bad.encode_to_vec()),
        Err(WireError::InvalidSpans(1))
    ));
}

proptest! {
    /// Whatever the grouping of resources and scopes, the bytes are prost's, and decoding
    /// gives the same spans back.
    #[test]
    fn same_bytes_as_prost_and_round_trips(
        shape in prop::collection::vec(
            (0u8..3, 0u8..3, any::<u8>(), any::<bool>(), any::<u32>(), ".{0,12}", any::<u64>(), 0u64..1000, 0usize..3),
            0..40,
        )
    ) {
        let resources: Vec<_> = (0..3).map(resource).collect();
        let scopes: Vec<_> = (0..3).map(scope).collect();
        let spans: Vec<Span> = shape
            .into_iter()
            .map(|(r, s, id, parent, flags, name, start, len, events)| {
                span(&resources[r as usize], &scopes[s as usize], id, parent, flags, name, start, len, events)
            })
            .collect();
        let batch = SpanBatch { spans };
        let bytes = encode(&batch);
        prop_assert_eq!(&bytes, &batch.to_request().encode_to_vec());
        let back = decode_spans(&bytes).unwrap();
        prop_assert_eq!(back.to_request(), batch.to_request());
    }
}
