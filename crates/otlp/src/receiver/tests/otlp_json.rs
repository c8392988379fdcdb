//! OTLP/JSON: the spec's example (as `testdata/trace.json`, extended), key styles, nulls,
//! errors and nesting limits.

use super::*;

// ---------------------------------------------------------------------------------------------
// OTLP/JSON

fn string_kv(key: &str, value: &str) -> KeyValue {
    kv(key, V::StringValue(value.into()))
}

fn kv(key: &str, value: V) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

#[test]
fn json_decodes_the_spec_example_and_its_extensions() {
    let text = std::fs::read(format!(
        "{}/testdata/trace.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let request = decode_request(&text).unwrap();
    let rs = &request.resource_spans[0];
    assert_eq!(
        rs.resource.as_ref().unwrap().attributes,
        [string_kv("service.name", "my.service")]
    );
    let ss = &rs.scope_spans[0];
    let scope = ss.scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("my.library", "1.0.0")
    );
    assert_eq!(
        scope.attributes,
        [string_kv("my.scope.attribute", "some scope attribute")]
    );

    // The spec's own span: upper-case hex ids, times as strings, kind as an integer.
    let s = &ss.spans[0];
    assert_eq!(
        s.trace_id,
        hex::decode("5b8efff798038103d269b633813fc60c").unwrap()
    );
    assert_eq!(s.span_id, hex::decode("eee19b7ec3c1b174").unwrap());
    assert_eq!(s.parent_span_id, hex::decode("eee19b7ec3c1b173").unwrap());
    assert_eq!(s.name, "I'm a server span");
    assert_eq!(s.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(s.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(s.kind, 2);
    assert_eq!(s.attributes, [string_kv("my.span.attr", "some value")]);
    assert_eq!(s.status, None);

    // Enum names, int64 as string or number, every value kind, nesting, unknown keys.
    let s = &ss.spans[1];
    assert_eq!(s.kind, 3, "SPAN_KIND_CLIENT");
    assert_eq!(s.start_time_unix_nano, 1_544_712_660_100_000_000);
    assert_eq!((s.flags, s.trace_state.as_str()), (257, "vendor=x"));
    let a = &s.attributes;
    assert_eq!(a[0], kv("gen_ai.usage.input_tokens", V::IntValue(1234)));
    assert_eq!(a[1], kv("gen_ai.usage.output_tokens", V::IntValue(56)));
    assert_eq!(a[2], kv("gen_ai.request.temperature", V::DoubleValue(0.5)));
    assert!(matches!(a[3].value.as_ref().unwrap().value, Some(V::DoubleValue(d)) if d.is_nan()));
    assert_eq!(a[4], kv("stream", V::BoolValue(true)));
    assert_eq!(a[5], kv("payload", V::BytesValue(b"hello".to_vec())));
    let str_value = |s: &str| AnyValue {
        value: Some(V::StringValue(s.into())),
    };
    assert_eq!(
        a[6],
        kv(
            "gen_ai.request.stop_sequences",
            V::ArrayValue(ArrayValue {
                values: vec![
                    str_value("END"),
                    AnyValue {
                        value: Some(V::IntValue(7))
                    }
                ]
            })
        )
    );
    let deep = kv(
        "deep",
        V::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(V::BoolValue(false)),
            }],
        }),
    );
    assert_eq!(
        a[7],
        kv(
            "gen_ai.request.options",
            V::KvlistValue(KeyValueList {
                values: vec![
                    kv("top_p", V::DoubleValue(1.0)),
                    kv(
                        "nested",
                        V::KvlistValue(KeyValueList { values: vec![deep] })
                    ),
                ]
            })
        )
    );
    assert_eq!(
        a[8],
        KeyValue {
            key: "empty".into(),
            value: Some(AnyValue { value: None }),
            ..Default::default()
        }
    );
    assert_eq!(a[9], string_kv("future", "kept"));
    assert_eq!(s.dropped_attributes_count, 2);
    assert_eq!(s.events[0].name, "gen_ai.content.prompt");
    assert_eq!(s.events[0].time_unix_nano, 1_544_712_660_500_000_000);
    assert_eq!(s.events[0].attributes, [string_kv("gen_ai.prompt", "hi")]);
    assert_eq!(
        s.links[0].trace_id,
        hex::decode("00000000000000000000000000000abc").unwrap()
    );
    assert_eq!(s.links[0].span_id, hex::decode("0000000000000def").unwrap());
    assert_eq!(s.links[0].flags, 1);
    let status = s.status.as_ref().unwrap();
    assert_eq!((status.code, status.message.as_str()), (2, "rate limited"));

    // snake_case keys and nulls.
    let s = &ss.spans[2];
    assert_eq!(s.span_id, hex::decode("eee19b7ec3c1b176").unwrap());
    assert!(s.parent_span_id.is_empty());
    assert_eq!(
        (s.kind, s.start_time_unix_nano),
        (1, 1_544_712_660_200_000_000)
    );
    assert_eq!(s.status.as_ref().unwrap().code, 1);

    // And the model takes all three spans.
    let (batch, rejected) = SpanBatch::from_request(request);
    assert!(rejected.is_empty(), "{}", rejected.message());
    assert_eq!(batch.len(), 3);
    assert_eq!(batch.spans[0].service_name(), "my.service");
}

#[test]
fn json_decodes_generated_rag_traces_as_opentelemetry_proto_serializes_them() {
    // opentelemetry-proto's `with-serde` writes OTLP/JSON (hex ids, int64 as strings, enums
    // as integers); every generated request must come back unchanged.
    let mut generator = Generator::new(GeneratorConfig {
        seed: 11,
        ..Default::default()
    });
    for _ in 0..5 {
        let request = generator.request_with_traces(3);
        let json = serde_json::to_vec(&request).unwrap();
        assert_eq!(decode_request(&json).unwrap(), request);
    }
}

#[test]
fn json_errors_say_where_and_what() {
    let err = |json: &str| decode_request(json.as_bytes()).unwrap_err();
    let e = err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#);
    assert!(
        e.starts_with("invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[0].traceId: id \"xyz\" is not hex"),
        "{e}"
    );
    let e = err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SERVER"}]}]}]}"#);
    assert!(
        e.contains("spans[0].kind: unknown span kind \"SERVER\""),
        "{e}"
    );
    let e = err(r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#);
    assert!(
        e.contains("spans[0].startTimeUnixNano: \"soon\" is not an integer"),
        "{e}"
    );
    let e = err(r#"{"resourceSpans": 5}"#);
    assert!(
        e.starts_with("invalid OTLP/JSON at resourceSpans: invalid type"),
        "{e}"
    );
    let e = err("{\"resourceSpans\": [");
    assert!(
        e.starts_with("invalid OTLP/JSON at resourceSpans: EOF while parsing a list"),
        "{e}"
    );
    // Empty objects and nulls are empty requests.
    assert_eq!(
        decode_request(b"{}").unwrap(),
        ExportTraceServiceRequest::default()
    );
    assert_eq!(
        decode_request(br#"{"resourceSpans":null}"#).unwrap(),
        ExportTraceServiceRequest::default()
    );
}

#[test]
fn json_nesting_is_bounded_by_serde_jsons_recursion_limit() {
    let depth = 200;
    let mut value = String::from(r#"{"stringValue":"x"}"#);
    for _ in 0..depth {
        value = format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#);
    }
    let json = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"attributes":[{{"key":"k","value":{value}}}]}}]}}]}}]}}"#
    );
    let e = decode_request(json.as_bytes()).unwrap_err();
    assert!(e.contains("recursion limit exceeded"), "{e}");
}
