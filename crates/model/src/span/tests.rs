use super::*;

fn proto_span(trace: Vec<u8>, span: Vec<u8>, parent: Vec<u8>) -> proto::Span {
    proto::Span {
        trace_id: trace,
        span_id: span,
        parent_span_id: parent,
        name: "op".into(),
        kind: SpanKind::Server as i32,
        start_time_unix_nano: 10,
        end_time_unix_nano: 25,
        attributes: vec![attr::string("k", "v")],
        ..Default::default()
    }
}

fn request(spans: Vec<proto::Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            resource: Some(ProtoResource {
                attributes: vec![attr::string("service.name", "api")],
                ..Default::default()
            }),
            scope_spans: vec![proto::ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn keeps_valid_spans_and_explains_rejected_ones() {
    let req = request(vec![
        proto_span(vec![1; 16], vec![2; 8], vec![]),
        proto_span(vec![1; 17], vec![3; 8], vec![]),
        proto_span(vec![1; 16], vec![4; 8], vec![2; 8]),
        proto_span(vec![1; 16], vec![5; 7], vec![]),
        proto_span(vec![1; 16], vec![6; 8], vec![9; 3]),
    ]);
    let (batch, rejected) = SpanBatch::from_request(req);
    assert_eq!(batch.len(), 2);
    assert_eq!(batch.spans[0].span_id, SpanId([2; 8]));
    assert_eq!(batch.spans[1].parent_span_id, Some(SpanId([2; 8])));
    assert_eq!(batch.spans[0].service_name(), "api");
    assert_eq!(rejected.count, 3);
    assert_eq!(
        rejected.message(),
        "3 span(s) rejected: resource_spans[0].scope_spans[0].spans[1]: trace_id is 17 bytes, \
         expected 16; resource_spans[0].scope_spans[0].spans[3]: span_id is 7 bytes, expected 8; \
         resource_spans[0].scope_spans[0].spans[4]: parent_span_id is 3 bytes, expected 8"
    );
}

#[test]
fn round_trips_through_otlp() {
    let req = request(vec![
        proto_span(vec![1; 16], vec![2; 8], vec![]),
        proto_span(vec![1; 16], vec![4; 8], vec![2; 8]),
    ]);
    let (batch, rejected) = SpanBatch::from_request(req.clone());
    assert!(rejected.is_empty());
    let mut expected = req;
    for s in &mut expected.resource_spans[0].scope_spans[0].spans {
        s.status = Some(Status::default());
    }
    assert_eq!(batch.to_request(), expected);
    assert_eq!(batch.into_request(), expected);
}

#[test]
fn derived_facts_are_exported_as_attributes_after_the_sent_ones() {
    let req = request(vec![proto_span(vec![1; 16], vec![2; 8], vec![])]);
    let (mut batch, _) = SpanBatch::from_request(req);
    batch.spans[0].facts = SpanFacts {
        category: Some(crate::Category::Http),
        tree: Some(crate::TreeTimes {
            self_time_ns: 5,
            critical_path_ns: 15,
        }),
        ..SpanFacts::default()
    };
    let shared = batch.to_request();
    let moved = batch.into_request();
    assert_eq!(shared, moved);
    let attrs = &moved.resource_spans[0].scope_spans[0].spans[0].attributes;
    let keys: Vec<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "k",
            keys::TRACEGATE_CATEGORY,
            keys::TRACEGATE_SELF_TIME_NS,
            keys::TRACEGATE_CRITICAL_PATH_NS
        ]
    );
    assert_eq!(attr::get_str(attrs, keys::TRACEGATE_CATEGORY), Some("http"));
    assert_eq!(
        attr::get_i64(attrs, keys::TRACEGATE_CRITICAL_PATH_NS),
        Some(15)
    );
}

#[test]
fn missing_service_name_is_unknown_service() {
    let mut req = request(vec![proto_span(vec![1; 16], vec![2; 8], vec![])]);
    req.resource_spans[0].resource = None;
    let (batch, _) = SpanBatch::from_request(req);
    assert_eq!(batch.spans[0].service_name(), "unknown_service");
}

#[test]
fn resource_and_scope_bytes_count_their_strings_and_attributes() {
    // 16 for the Arc's counts; "svc" twice (attribute value and service name);
    // the attribute: key "service.name" (12) + value (3) + 16.
    let resource = Resource::with_service("svc");
    let fixed = 16 + std::mem::size_of::<Resource>();
    assert_eq!(resource.estimated_bytes(), fixed + 3 + 12 + 3 + 16);
    let mut big = resource.clone();
    big.attributes.push(attr::string("host", "x".repeat(4096)));
    assert_eq!(
        big.estimated_bytes(),
        resource.estimated_bytes() + 4 + 4096 + 16
    );
    let scope = Scope {
        name: "lib".into(),
        version: "1.0".into(),
        ..Default::default()
    };
    assert_eq!(
        scope.estimated_bytes(),
        16 + std::mem::size_of::<Scope>() + 6
    );
}
