//! The property: encode → decode → encode is the identity on batches, for generated spans
//! with every kind of value, canonical keys with odd types, facts, events and links.

use super::{decode, encode};
use crate::read::decode::*;
use proptest::prelude::*;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::proto::common::v1::{ArrayValue, KeyValueList};
use tracegate_model::{Category, LlmStages, SpanFacts, TreeTimes, attr, keys};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z./_ -]{0,12}",
        // Texts that look like rendered values, or almost do.
        Just("200".to_owned()),
        Just("true".to_owned()),
        Just("0.5".to_owned()),
        Just("[\"stop\"]".to_owned()),
        Just("\"ab01\"".to_owned()),
        Just("\"NaN\"".to_owned()),
        Just("-0".to_owned()),
        Just(" 300 ".to_owned()),
        Just("100000000000000000000".to_owned()),
        Just("{\"a\":1}".to_owned()),
        Just(String::new()),
        any::<String>(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::StringValue),
        any::<bool>().prop_map(Value::BoolValue),
        any::<i64>().prop_map(Value::IntValue),
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            Just(1e20),
            Just(f64::INFINITY),
            Just(100.0),
            any::<f64>()
        ]
        .prop_map(|d| Value::DoubleValue(if d.is_nan() { 0.25 } else { d })),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Value::BytesValue),
    ]
}

fn value() -> impl Strategy<Value = Option<Value>> {
    let nested = leaf().prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(|vs| Value::ArrayValue(
                ArrayValue {
                    values: vs
                        .into_iter()
                        .map(|v| AnyValue { value: Some(v) })
                        .collect()
                }
            )),
            proptest::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|kvs| {
                Value::KvlistValue(KeyValueList {
                    values: kvs.into_iter().map(|(k, v)| attr::kv(k, v)).collect(),
                })
            }),
        ]
    });
    prop_oneof![8 => nested.prop_map(Some), 1 => Just(None)]
}

fn key() -> impl Strategy<Value = String> {
    let canonical = [
        keys::TRACEGATE_CATEGORY,
        keys::GEN_AI_OPERATION_NAME,
        keys::GEN_AI_PROVIDER_NAME,
        keys::GEN_AI_SYSTEM,
        keys::GEN_AI_REQUEST_MODEL,
        keys::GEN_AI_RESPONSE_MODEL,
        keys::GEN_AI_USAGE_INPUT_TOKENS,
        keys::GEN_AI_USAGE_OUTPUT_TOKENS,
        keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        keys::TRACEGATE_COST_USD,
        keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
        keys::TRACEGATE_DECODE_NS,
        keys::TRACEGATE_OUTPUT_TOKENS_PER_S,
        keys::GEN_AI_RESPONSE_FINISH_REASONS,
        keys::TRACEGATE_SELF_TIME_NS,
        keys::TRACEGATE_CRITICAL_PATH_NS,
        keys::TRACEGATE_NETWORK_NS,
        keys::TRACEGATE_ORPHAN,
        keys::TRACEGATE_TTFT_SOURCE,
        keys::TRACEGATE_SKEW_ADJUSTED_NS,
    ];
    prop_oneof![
        2 => proptest::sample::select(canonical.to_vec()).prop_map(str::to_owned),
        1 => "[a-z.]{1,10}",
    ]
}

fn attributes() -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec(
        (key(), value()).prop_map(|(key, v)| KeyValue {
            key,
            value: v.map(|v| AnyValue { value: Some(v) }),
            ..Default::default()
        }),
        0..6,
    )
}

fn facts() -> impl Strategy<Value = SpanFacts> {
    let ns = || prop_oneof![0u64..5_000_000_000, 0u64..(1 << 53)];
    (
        proptest::option::of(proptest::sample::select(Category::ALL.to_vec())),
        proptest::option::of((ns(), prop_oneof![ns(), Just(u64::MAX)])),
        proptest::option::of((ns(), ns())),
        proptest::option::of(proptest::sample::select(vec!["none", "event"])),
        proptest::option::of(prop_oneof![ns(), Just(u64::MAX)]),
        prop_oneof![Just(0i64), any::<i64>()],
        any::<[bool; 3]>(),
    )
        .prop_map(
            |(category, tree, llm, ttft_source, network_ns, skew, marks)| SpanFacts {
                category,
                tree: tree.map(|(s, c)| TreeTimes {
                    self_time_ns: s,
                    critical_path_ns: c,
                }),
                llm: llm.map(|(p, d)| LlmStages {
                    prefill_ns: p,
                    decode_ns: d,
                }),
                ttft_source,
                network_ns,
                skew_adjusted_ns: skew,
                orphan: marks[0],
                cycle_broken: marks[1],
                duplicate_span_id: marks[2],
            },
        )
}

fn resource() -> impl Strategy<Value = Arc<Resource>> {
    ("[a-z]{0,6}", attributes()).prop_map(|(service_name, attributes)| {
        Arc::new(Resource {
            attributes,
            service_name,
            ..Default::default()
        })
    })
}

fn scope() -> impl Strategy<Value = Arc<Scope>> {
    ("[a-z]{0,4}", "[0-9.]{0,3}").prop_map(|(name, version)| {
        Arc::new(Scope {
            name,
            version,
            ..Default::default()
        })
    })
}

fn event() -> impl Strategy<Value = Event> {
    (0u64..i64::MAX as u64, text(), attributes()).prop_map(|(time_unix_nano, name, attributes)| {
        Event {
            time_unix_nano,
            name,
            attributes,
            dropped_attributes_count: 0,
        }
    })
}

fn link() -> impl Strategy<Value = Link> {
    (
        proptest::collection::vec(any::<u8>(), 0..17),
        proptest::collection::vec(any::<u8>(), 0..9),
        "[a-z=,]{0,5}",
        attributes(),
    )
        .prop_map(|(trace_id, span_id, trace_state, attributes)| Link {
            trace_id,
            span_id,
            trace_state,
            attributes,
            ..Default::default()
        })
}

fn arb_spans() -> impl Strategy<Value = Vec<Span>> {
    let span = (
        (
            any::<[u8; 16]>(),
            any::<[u8; 8]>(),
            proptest::option::of(any::<[u8; 8]>()),
        ),
        ("[a-z=,]{0,6}", text(), 0i32..6, 0i32..4, text()),
        (0u64..i64::MAX as u64, 0u64..i64::MAX as u64),
        (
            attributes(),
            proptest::collection::vec(event(), 0..3),
            proptest::collection::vec(link(), 0..3),
        ),
        facts(),
        (0usize..3, 0usize..3),
    );
    (
        proptest::collection::vec(resource(), 3),
        proptest::collection::vec(scope(), 3),
        proptest::collection::vec(span, 1..12),
    )
        .prop_map(|(resources, scopes, spans)| {
            spans
                .into_iter()
                .map(
                    |(
                        ids,
                        (trace_state, name, kind, status, message),
                        (start, end),
                        (attributes, events, links),
                        facts,
                        (r, s),
                    )| Span {
                        resource: resources[r].clone(),
                        scope: scopes[s].clone(),
                        trace_id: TraceId(ids.0),
                        span_id: SpanId(ids.1),
                        parent_span_id: ids.2.map(SpanId),
                        trace_state,
                        flags: 0,
                        name,
                        kind: SpanKind::try_from(kind).unwrap_or(SpanKind::Unspecified),
                        start_time_unix_nano: start,
                        end_time_unix_nano: end,
                        attributes,
                        dropped_attributes_count: 0,
                        events,
                        dropped_events_count: 0,
                        links,
                        dropped_links_count: 0,
                        status: Status {
                            code: status,
                            message,
                        },
                        facts,
                        origin: Default::default(),
                    },
                )
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_decode_encode_is_the_identity(spans in arb_spans()) {
        let batch = encode(&spans);
        let decoded = decode(&batch);
        prop_assert_eq!(decoded.len(), spans.len());
        let again = encode(&decoded);
        for (i, (a, b)) in again.columns().iter().zip(batch.columns()).enumerate() {
            prop_assert_eq!(a, b, "column {}", batch.schema().field(i).name());
        }
        // Decoding is a function of the batch: a second pass gives the same spans (compared
        // as text, since a NaN attribute is not equal to itself).
        prop_assert_eq!(format!("{:?}", decode(&again)), format!("{:?}", decoded));
    }
}
