use super::*;
use crate::testing::{self, LEAP_NIGHT};
use crate::{SpanEncoder, WriterOptions, write_spans};
use tracegate_model::proto::common::v1::ArrayValue;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::{Category, LlmStages, SpanFacts, TreeTimes, attr, keys, schema};
use tracegate_testkit::Profile;

fn encode(spans: &[Span]) -> RecordBatch {
    SpanEncoder::encode(spans).unwrap()
}

fn decode(batch: &RecordBatch) -> Vec<Span> {
    spans_from_batch(batch, None).unwrap()
}

/// A span as OTLP exports it, with its resource's and scope's exported fields.
fn exported(
    span: &Span,
) -> (
    tracegate_model::proto::trace::v1::Span,
    Vec<KeyValue>,
    String,
    String,
) {
    (
        span.clone().into_proto(),
        span.resource.attributes.clone(),
        span.scope.name.clone(),
        span.scope.version.clone(),
    )
}

/// What the archive keeps of a span: everything but flags, dropped counts, schema URLs,
/// scope attributes, link flags and the WAL origin.
fn kept(span: &Span) -> Span {
    let mut s = span.clone();
    s.flags = 0;
    s.dropped_attributes_count = 0;
    s.dropped_events_count = 0;
    s.dropped_links_count = 0;
    s.origin = Default::default();
    for e in &mut s.events {
        e.dropped_attributes_count = 0;
    }
    for l in &mut s.links {
        l.flags = 0;
        l.dropped_attributes_count = 0;
    }
    s.resource = Arc::new(Resource {
        dropped_attributes_count: 0,
        schema_url: String::new(),
        ..(*s.resource).clone()
    });
    s.scope = Arc::new(Scope {
        name: s.scope.name.clone(),
        version: s.scope.version.clone(),
        ..Default::default()
    });
    s
}

#[test]
fn edge_cases_re_encode_to_the_same_batch() {
    let spans = testing::edge_case_spans();
    let batch = encode(&spans);
    let decoded = decode(&batch);
    assert_eq!(decoded.len(), spans.len());
    assert_eq!(encode(&decoded), batch);
}

#[test]
fn ids_names_kinds_status_and_times() {
    let spans = testing::edge_case_spans();
    let decoded = decode(&encode(&spans));
    let llm = &decoded[0];
    assert_eq!(llm.trace_id, TraceId([0xab; 16]));
    assert_eq!(llm.span_id, SpanId([1; 8]));
    assert_eq!(llm.parent_span_id, Some(SpanId([9; 8])));
    assert_eq!(llm.trace_state, "vendor=1");
    assert_eq!(llm.name, "op-1");
    assert_eq!(llm.kind, SpanKind::Client);
    assert_eq!(llm.start_time_unix_nano, LEAP_NIGHT);
    assert_eq!(llm.end_time_unix_nano, LEAP_NIGHT + 2_000_000_000);
    assert_eq!(
        llm.status,
        Status {
            code: 2,
            message: "rate limited".into()
        }
    );
    let bare = &decoded[2];
    assert_eq!(bare.parent_span_id, None);
    assert_eq!(bare.kind, SpanKind::Unspecified);
    assert_eq!(bare.status.code, 1);
    assert_eq!(bare.trace_state, "");
    assert_eq!(decoded[4].kind, SpanKind::Internal);
    assert_eq!(decoded[3].kind, SpanKind::Server);
}

#[test]
fn resources_and_scopes_are_shared_per_distinct_value_and_get_the_tenant() {
    let spans = testing::edge_case_spans();
    let decoded = spans_from_batch(&encode(&spans), Some("acme".into())).unwrap();
    // Spans 0 and 3 share the llm-service resource; 1, 2 and 4 the plain "api" one.
    assert!(Arc::ptr_eq(&decoded[0].resource, &decoded[3].resource));
    assert!(Arc::ptr_eq(&decoded[1].resource, &decoded[4].resource));
    assert!(!Arc::ptr_eq(&decoded[0].resource, &decoded[1].resource));
    assert_eq!(decoded[0].resource.service_name, "llm-service");
    assert_eq!(
        decoded[0].resource.attributes,
        vec![
            attr::string(keys::SERVICE_NAME, "llm-service"),
            attr::int("process.pid", 42)
        ]
    );
    assert!(decoded.iter().all(|s| s.tenant() == "acme"));
    // The bare span has the empty scope; the others share lib 1.0.
    assert!(Arc::ptr_eq(&decoded[0].scope, &decoded[1].scope));
    assert_eq!(
        (
            decoded[0].scope.name.as_str(),
            decoded[0].scope.version.as_str()
        ),
        ("lib", "1.0")
    );
    assert_eq!(*decoded[2].scope, Scope::default());

    // Thousands of generated spans: as many resources as the generator made distinct ones.
    let spans = testing::testkit_spans(50, Profile::Rag);
    let decoded = decode(&encode(&spans));
    let distinct = |spans: &[Span]| {
        let mut seen: Vec<&Resource> = Vec::new();
        for s in spans {
            if !seen.contains(&&*s.resource) {
                seen.push(&s.resource);
            }
        }
        seen.len()
    };
    let mut ptrs: Vec<_> = decoded.iter().map(|s| Arc::as_ptr(&s.resource)).collect();
    ptrs.sort();
    ptrs.dedup();
    assert_eq!(ptrs.len(), distinct(&decoded));
    assert!(ptrs.len() < decoded.len() / 2, "{} resources", ptrs.len());
}

#[test]
fn a_decoder_shares_resources_across_batches() {
    let spans = testing::testkit_spans(10, Profile::Rag);
    let (a, b) = spans.split_at(spans.len() / 2);
    let mut decoder = SpanDecoder::new(None);
    let first = decoder.decode(&encode(a)).unwrap();
    let second = decoder.decode(&encode(b)).unwrap();
    let same_service = second
        .iter()
        .find(|s| s.service_name() == first[0].service_name() && *s.resource == *first[0].resource)
        .expect("the generator repeats its resources");
    assert!(Arc::ptr_eq(&same_service.resource, &first[0].resource));
    assert!(Arc::ptr_eq(
        &second[0].scope,
        &first
            .iter()
            .find(|s| s.scope == second[0].scope)
            .unwrap()
            .scope
    ));
}

#[test]
fn attributes_come_back_typed() {
    let decoded = decode(&encode(&testing::edge_case_spans()));
    let llm = &decoded[0];
    let any = |v: Value| AnyValue { value: Some(v) };
    assert_eq!(
        llm.attr(keys::GEN_AI_USAGE_INPUT_TOKENS),
        Some(&Value::IntValue(1200))
    );
    // " 300 " renders as no number does: it stays a string.
    assert_eq!(
        llm.attr(keys::GEN_AI_USAGE_OUTPUT_TOKENS),
        Some(&Value::StringValue(" 300 ".into()))
    );
    // 100.0 renders as "100": it comes back an integer.
    assert_eq!(
        llm.attr(keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        Some(&Value::IntValue(100))
    );
    assert_eq!(
        llm.attr(keys::TRACEGATE_COST_USD),
        Some(&Value::DoubleValue(0.0123))
    );
    assert_eq!(llm.attr("stream"), Some(&Value::BoolValue(true)));
    assert_eq!(
        llm.attr("payload"),
        Some(&Value::BytesValue(vec![0xde, 0xad]))
    );
    assert_eq!(
        llm.attr(keys::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&Value::ArrayValue(ArrayValue {
            values: vec![any(Value::StringValue("stop".into()))]
        }))
    );
    // A key-value list is not a span attribute type by the spec: it comes back as its JSON.
    assert_eq!(
        llm.attr("tags"),
        Some(&Value::StringValue(r#"{"a":"x\"y","b":2}"#.into()))
    );
    let valueless = llm
        .attributes
        .iter()
        .find(|kv| kv.key == "valueless")
        .unwrap();
    assert_eq!(valueless.value, None);
    // Both occurrences of a repeated key stay, in order.
    let models: Vec<_> = llm
        .attributes
        .iter()
        .filter(|kv| kv.key == keys::GEN_AI_REQUEST_MODEL)
        .map(|kv| attr::get_str(std::slice::from_ref(kv), &kv.key).unwrap())
        .collect();
    assert_eq!(models, ["gpt-4o", "gpt-4o-mini"]);
    assert_eq!(
        llm.attributes.len(),
        testing::edge_case_spans()[0].attributes.len()
    );
}

#[test]
fn a_canonical_string_that_looks_like_a_number_is_settled_by_its_column() {
    let mut s = testing::span(1, 1, 1_000);
    s.attributes = vec![
        attr::string(keys::GEN_AI_REQUEST_MODEL, "4"),
        attr::int(keys::GEN_AI_RESPONSE_MODEL, 4),
        attr::string(keys::GEN_AI_PROVIDER_NAME, "true"),
        attr::string(keys::GEN_AI_RESPONSE_FINISH_REASONS, "[\"stop\"]"),
        attr::string(keys::GEN_AI_USAGE_INPUT_TOKENS, "100000000000000000000"),
        attr::string(keys::TRACEGATE_CATEGORY, "7"),
        // Not canonical: nothing to settle it by, so it comes back typed.
        attr::string("http.status_code", "200"),
    ];
    let decoded = decode(&encode(std::slice::from_ref(&s)));
    let d = &decoded[0];
    assert_eq!(
        d.attr(keys::GEN_AI_REQUEST_MODEL),
        Some(&Value::StringValue("4".into()))
    );
    assert_eq!(
        d.attr(keys::GEN_AI_RESPONSE_MODEL),
        Some(&Value::IntValue(4))
    );
    assert_eq!(
        d.attr(keys::GEN_AI_PROVIDER_NAME),
        Some(&Value::StringValue("true".into()))
    );
    assert_eq!(
        d.attr(keys::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&Value::StringValue("[\"stop\"]".into()))
    );
    assert_eq!(
        d.attr(keys::GEN_AI_USAGE_INPUT_TOKENS),
        Some(&Value::StringValue("100000000000000000000".into()))
    );
    assert_eq!(
        d.attr(keys::TRACEGATE_CATEGORY),
        Some(&Value::StringValue("7".into()))
    );
    assert_eq!(d.facts, SpanFacts::default());
    assert_eq!(d.attr("http.status_code"), Some(&Value::IntValue(200)));
}

#[test]
fn events_and_links() {
    let decoded = decode(&encode(&testing::edge_case_spans()));
    let llm = &decoded[0];
    assert_eq!(llm.events.len(), 2);
    assert_eq!(llm.events[0].time_unix_nano, LEAP_NIGHT + 250_000_000);
    assert_eq!(llm.events[0].name, "gen_ai.content.first_token");
    assert_eq!(llm.events[0].attributes, vec![attr::int("index", 0)]);
    assert!(llm.events[1].attributes.is_empty());
    assert_eq!(llm.links.len(), 2);
    assert_eq!(llm.links[0].trace_id, vec![0x11; 16]);
    assert_eq!(llm.links[0].span_id, vec![0x22; 8]);
    assert_eq!(llm.links[0].trace_state, "k=v");
    assert_eq!(
        llm.links[0].attributes,
        vec![attr::string("link.kind", "follows")]
    );
    assert_eq!(llm.links[1].trace_id, vec![1, 2, 3]);
    assert!(llm.links[1].span_id.is_empty());
    assert!(decoded[1].events.is_empty() && decoded[1].links.is_empty());
}

#[test]
fn facts_come_back_from_their_columns_and_export_as_the_live_span() {
    let spans = testing::edge_case_spans();
    let decoded = decode(&encode(&spans));
    // The server span's facts were all derived: every one comes back typed (a network gap
    // past i64::MAX ns is written, and exported, saturated).
    assert_eq!(
        decoded[3].facts,
        SpanFacts {
            network_ns: Some(i64::MAX as u64),
            ..spans[3].facts
        }
    );
    assert_eq!(decoded[3].attributes, spans[3].attributes);
    assert_eq!(exported(&decoded[3]), exported(&spans[3]));
    // The llm span carries tracegate.* attributes as sent, and no facts.
    assert_eq!(decoded[0].facts, SpanFacts::default());
    assert_eq!(
        decoded[0].attr(keys::TRACEGATE_SELF_TIME_NS),
        Some(&Value::IntValue(1_900_000_000))
    );

    // Generated RAG traces with facts like the breakdown's, over attributes that do not
    // look like rendered values: decoded, they export exactly what the live spans do.
    let mut spans = testing::testkit_spans(20, Profile::Rag);
    for (i, s) in spans.iter_mut().enumerate() {
        let i = i as u64;
        s.facts = SpanFacts {
            category: Some(Category::ALL[i as usize % Category::ALL.len()]),
            tree: (!i.is_multiple_of(3)).then_some(TreeTimes {
                self_time_ns: i * 1_000,
                critical_path_ns: i * 700,
            }),
            llm: (i.is_multiple_of(4)).then_some(LlmStages {
                prefill_ns: 123_456_789 + i,
                decode_ns: 2_000_000_001 * i,
            }),
            ttft_source: (i.is_multiple_of(4)).then_some("event"),
            network_ns: (i.is_multiple_of(5)).then_some(i * 11),
            skew_adjusted_ns: if i.is_multiple_of(7) { -(i as i64) } else { 0 },
            orphan: i.is_multiple_of(2),
            cycle_broken: i.is_multiple_of(9),
            duplicate_span_id: i.is_multiple_of(11),
        };
    }
    let batch = encode(&spans);
    let decoded = decode(&batch);
    assert_eq!(encode(&decoded), batch);
    let mut typed_mismatch = 0;
    for (d, s) in decoded.iter().zip(&spans) {
        assert_eq!(d.facts, s.facts);
        if kept(d) != kept(s) {
            // Only a string that reads as a rendered value may come back otherwise.
            typed_mismatch += 1;
            let (dp, sp) = (d.to_proto(), s.to_proto());
            for (a, b) in dp.attributes.iter().zip(&sp.attributes) {
                if a != b {
                    let Some(Value::StringValue(text)) =
                        b.value.as_ref().and_then(|v| v.value.as_ref())
                    else {
                        panic!("{} came back {:?}, was {:?}", a.key, a.value, b.value)
                    };
                    let mut scratch = String::new();
                    assert!(
                        super::super::value::typed(text, &mut scratch).is_some(),
                        "{text:?}"
                    );
                }
            }
        }
    }
    // The generator's strings (compact JSON messages and queries included) all stay strings.
    assert_eq!(typed_mismatch, 0);
}

#[test]
fn a_file_the_writer_produced_decodes_to_the_same_spans() {
    let mut spans = testing::edge_case_spans();
    spans.extend(testing::testkit_spans(30, Profile::Rag));
    let encoded = {
        let mut e = SpanEncoder::new();
        spans.iter().for_each(|s| e.push(s));
        e.finish().unwrap()
    };
    let options = WriterOptions {
        row_group_rows: 64,
        ..Default::default()
    };
    let file = write_spans(&encoded.batch, Some(&encoded.order), &options).unwrap();
    let (read, metadata) = testing::read_parquet(file);
    assert!(metadata.num_row_groups() > 2);
    let from_file = decode(&read);
    let in_memory = decode(&encoded.batch);
    let sorted: Vec<Span> = encoded
        .order
        .iter()
        .map(|&i| in_memory[i as usize].clone())
        .collect();
    assert_eq!(from_file.len(), spans.len());
    for (i, (f, m)) in from_file.iter().zip(&sorted).enumerate() {
        assert_eq!(f, m, "row {i}");
    }
}

#[test]
fn projected_batches_decode_with_defaults() {
    let spans = testing::edge_case_spans();
    let batch = encode(&spans);
    let projection: Vec<usize> = [col::TRACE_ID, col::SPAN_ID, col::NAME, col::ATTRIBUTES]
        .iter()
        .map(|c| batch.schema().index_of(c).unwrap())
        .collect();
    let projected = batch.project(&projection).unwrap();
    let decoded = decode(&projected);
    assert_eq!(decoded[0].name, "op-1");
    assert_eq!(decoded[0].trace_id, spans[0].trace_id);
    assert_eq!(decoded[0].start_time_unix_nano, 0);
    assert_eq!(decoded[0].attributes.len(), spans[0].attributes.len());
    // No LLM columns: no facts, and the server span's column-less facts stay attributes.
    assert_eq!(decoded[3].facts, SpanFacts::default());
    assert_eq!(
        decoded[3].attr(keys::TRACEGATE_ORPHAN),
        Some(&Value::BoolValue(true))
    );

    let no_ids = batch
        .project(&[batch.schema().index_of(col::NAME).unwrap()])
        .unwrap();
    let e = spans_from_batch(&no_ids, None).unwrap_err();
    assert!(e.to_string().contains("trace_id"), "{e}");
}

#[test]
fn bad_ids_are_reported_with_the_row() {
    let spans = [testing::span(1, 1, 1), testing::span(2, 2, 2)];
    let batch = encode(&spans);
    let idx = batch.schema().index_of(col::SPAN_ID).unwrap();
    let mut columns = batch.columns().to_vec();
    columns[idx] = Arc::new(StringArray::from(vec!["0101010101010101", "xyz"]));
    let bad = RecordBatch::try_new(schema::spans_schema(), columns).unwrap();
    let e = spans_from_batch(&bad, None).unwrap_err().to_string();
    assert!(e.contains("row 1") && e.contains("xyz"), "{e}");
}

#[test]
fn trailing_fact_keys_match_the_model() {
    assert!(canonical::trailing_keys_match_the_model());
}

#[test]
fn ns_of_ms_inverts_the_encoders_division() {
    for ns in [
        0u64,
        1,
        999,
        1_000_001,
        123_456_789,
        2_000_000_001 * 19,
        1 << 52,
    ] {
        let ms = ns as f64 / 1e6;
        let back = canonical::ns_of_ms(ms).unwrap();
        assert_eq!((back as f64 / 1e6).to_bits(), ms.to_bits(), "{ns}");
    }
    assert_eq!(canonical::ns_of_ms(-1.0), None);
    assert_eq!(canonical::ns_of_ms(f64::NAN), None);
}

mod property;
