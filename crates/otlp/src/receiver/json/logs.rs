//! The OTLP/JSON mirrors of `ExportLogsServiceRequest`: resource logs, scope logs and log
//! records, with `severityNumber` as an integer or its name (`"SEVERITY_NUMBER_INFO"`).
//!
//! A record's `body` is an `AnyValue` like an attribute's (string, number, `kvlistValue`,
//! `arrayValue`, ...), read by the same mirror, under the same nesting bound. `traceId` and
//! `spanId` are hex; an empty or missing one is "no id", and a wrong length decodes so the
//! record alone is rejected (see `LogBatch::from_request_for`).

use super::{
    EnumVisitor, FromJson, JsonAnyValue, JsonResource, JsonScope, decode, from_json, hex_id,
    repeated, string, uint32, uint64,
};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use serde::Deserialize;
use serde::de::Deserializer;

/// Decodes one OTLP/JSON `ExportLogsServiceRequest`. The error says what was wrong and
/// where, such as `invalid OTLP/JSON at resourceLogs[0].scopeLogs[0].logRecords[1].traceId: ...`.
pub fn decode_logs_request(body: &[u8]) -> Result<ExportLogsServiceRequest, String> {
    decode::<JsonLogsRequest, _>(body)
}

from_json!(
    ResourceLogs => JsonResourceLogs,
    ScopeLogs => JsonScopeLogs,
    LogRecord => JsonLogRecord,
);

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonLogsRequest {
    #[serde(alias = "resource_logs", deserialize_with = "repeated")]
    resource_logs: Vec<ResourceLogs>,
}

impl From<JsonLogsRequest> for ExportLogsServiceRequest {
    fn from(r: JsonLogsRequest) -> Self {
        Self {
            resource_logs: r.resource_logs,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonResourceLogs {
    resource: Option<JsonResource>,
    #[serde(alias = "scope_logs", deserialize_with = "repeated")]
    scope_logs: Vec<ScopeLogs>,
    #[serde(alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

impl From<JsonResourceLogs> for ResourceLogs {
    fn from(r: JsonResourceLogs) -> Self {
        Self {
            resource: r.resource.map(Into::into),
            scope_logs: r.scope_logs,
            schema_url: r.schema_url,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonScopeLogs {
    scope: Option<JsonScope>,
    #[serde(alias = "log_records", deserialize_with = "repeated")]
    log_records: Vec<LogRecord>,
    #[serde(alias = "schema_url", deserialize_with = "string")]
    schema_url: String,
}

impl From<JsonScopeLogs> for ScopeLogs {
    fn from(s: JsonScopeLogs) -> Self {
        Self {
            scope: s.scope.map(Into::into),
            log_records: s.log_records,
            schema_url: s.schema_url,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct JsonLogRecord {
    #[serde(alias = "time_unix_nano", deserialize_with = "uint64")]
    time_unix_nano: u64,
    #[serde(alias = "observed_time_unix_nano", deserialize_with = "uint64")]
    observed_time_unix_nano: u64,
    #[serde(alias = "severity_number", deserialize_with = "severity_number")]
    severity_number: i32,
    #[serde(alias = "severity_text", deserialize_with = "string")]
    severity_text: String,
    body: Option<JsonAnyValue>,
    #[serde(deserialize_with = "repeated")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", deserialize_with = "uint32")]
    dropped_attributes_count: u32,
    #[serde(deserialize_with = "uint32")]
    flags: u32,
    #[serde(alias = "trace_id", deserialize_with = "hex_id")]
    trace_id: Vec<u8>,
    #[serde(alias = "span_id", deserialize_with = "hex_id")]
    span_id: Vec<u8>,
    #[serde(alias = "event_name", deserialize_with = "string")]
    event_name: String,
}

impl From<JsonLogRecord> for LogRecord {
    fn from(r: JsonLogRecord) -> Self {
        Self {
            time_unix_nano: r.time_unix_nano,
            observed_time_unix_nano: r.observed_time_unix_nano,
            severity_number: r.severity_number,
            severity_text: r.severity_text,
            // `"body": null` and `"body": {}` are both "no body".
            body: r.body.and_then(|b| b.0.is_some().then(|| b.into())),
            attributes: r.attributes,
            dropped_attributes_count: r.dropped_attributes_count,
            flags: r.flags,
            trace_id: r.trace_id,
            span_id: r.span_id,
            event_name: r.event_name,
        }
    }
}

fn severity_number<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    d.deserialize_any(EnumVisitor {
        what: "severity number",
        example: "SEVERITY_NUMBER_INFO",
        by_name: |s| SeverityNumber::from_str_name(s).map(|n| n as i32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValueList};

    fn string(s: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(V::StringValue(s.into())),
        })
    }

    /// A hand-worked golden case: a structured LLM log with a kvlist body, in camelCase, with
    /// int64 as a string and a number, the severity as a number, and hex ids.
    #[test]
    fn decodes_a_log_record_with_a_kvlist_body() {
        let body = br#"{"resourceLogs":[{
            "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"rag"}}]},
            "scopeLogs":[{"scope":{"name":"llm","version":"1"},"logRecords":[{
                "timeUnixNano":"1700000000000000001",
                "observedTimeUnixNano":1700000000000000002,
                "severityNumber":9,
                "severityText":"INFO",
                "eventName":"llm.call",
                "traceId":"5B8EFFF798038103D269B633813FC60C",
                "spanId":"eee19b7ec3c1b174",
                "flags":1,
                "attributes":[{"key":"request_id","value":{"stringValue":"r-1"}}],
                "body":{"kvlistValue":{"values":[
                    {"key":"model","value":{"stringValue":"gpt-4o"}},
                    {"key":"metrics","value":{"kvlistValue":{"values":[
                        {"key":"input_tokens","value":{"intValue":"12"}},
                        {"key":"latency_ms","value":{"doubleValue":350.5}}]}}},
                    {"key":"stop","value":{"arrayValue":{"values":[{"stringValue":"eos"}]}}}
                ]}}
            }]}]
        }]}"#;
        let request = decode_logs_request(body).unwrap();
        let rl = &request.resource_logs[0];
        assert_eq!(
            rl.resource.as_ref().unwrap().attributes[0].value,
            string("rag")
        );
        let sl = &rl.scope_logs[0];
        assert_eq!(sl.scope.as_ref().unwrap().name, "llm");
        let expected = LogRecord {
            time_unix_nano: 1_700_000_000_000_000_001,
            observed_time_unix_nano: 1_700_000_000_000_000_002,
            severity_number: SeverityNumber::Info as i32,
            severity_text: "INFO".into(),
            event_name: "llm.call".into(),
            trace_id: vec![
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
                0xc6, 0x0c,
            ],
            span_id: vec![0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74],
            flags: 1,
            attributes: vec![KeyValue {
                key: "request_id".into(),
                value: string("r-1"),
                ..Default::default()
            }],
            body: Some(AnyValue {
                value: Some(V::KvlistValue(KeyValueList {
                    values: vec![
                        KeyValue {
                            key: "model".into(),
                            value: string("gpt-4o"),
                            ..Default::default()
                        },
                        KeyValue {
                            key: "metrics".into(),
                            value: Some(AnyValue {
                                value: Some(V::KvlistValue(KeyValueList {
                                    values: vec![
                                        KeyValue {
                                            key: "input_tokens".into(),
                                            value: Some(AnyValue {
                                                value: Some(V::IntValue(12)),
                                            }),
                                            ..Default::default()
                                        },
                                        KeyValue {
                                            key: "latency_ms".into(),
                                            value: Some(AnyValue {
                                                value: Some(V::DoubleValue(350.5)),
                                            }),
                                            ..Default::default()
                                        },
                                    ],
                                })),
                            }),
                            ..Default::default()
                        },
                        KeyValue {
                            key: "stop".into(),
                            value: Some(AnyValue {
                                value: Some(V::ArrayValue(ArrayValue {
                                    values: vec![string("eos").unwrap()],
                                })),
                            }),
                            ..Default::default()
                        },
                    ],
                })),
            }),
            dropped_attributes_count: 0,
        };
        assert_eq!(sl.log_records, vec![expected]);
    }

    #[test]
    fn accepts_snake_case_enum_names_and_null_bodies() {
        let body = br#"{"resource_logs":[{"scope_logs":[{"log_records":[
            {"time_unix_nano":5,"severity_number":"SEVERITY_NUMBER_ERROR","body":{"stringValue":"boom"},
             "trace_id":"","span_id":null,"event_name":"e"},
            {"body":null},
            {"body":{}}
        ]}]}]}"#;
        let request = decode_logs_request(body).unwrap();
        let records = &request.resource_logs[0].scope_logs[0].log_records;
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].time_unix_nano, 5);
        assert_eq!(records[0].severity_number, SeverityNumber::Error as i32);
        assert_eq!(records[0].body, string("boom"));
        assert_eq!(records[0].event_name, "e");
        assert!(records[0].trace_id.is_empty() && records[0].span_id.is_empty());
        assert_eq!(
            (records[1].body.as_ref(), records[2].body.as_ref()),
            (None, None)
        );
    }

    #[test]
    fn errors_name_the_record_and_the_position() {
        let err = decode_logs_request(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"severityNumber":"LOUD"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(
            err.starts_with(
                "invalid OTLP/JSON at resourceLogs[0].scopeLogs[0].logRecords[1].severityNumber: \
                 unknown severity number \"LOUD\""
            ),
            "{err}"
        );
        assert!(err.contains("line 1 column"), "{err}");
        let err = decode_logs_request(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"spanId":"zz"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(
            err.starts_with("invalid OTLP/JSON at resourceLogs[0].scopeLogs[0].logRecords[0].spanId: id \"zz\" is not hex"),
            "{err}"
        );
    }

    fn key_values(pairs: Vec<(String, AnyValue)>) -> Vec<KeyValue> {
        pairs
            .into_iter()
            .map(|(key, v)| KeyValue {
                key,
                value: Some(v),
                ..Default::default()
            })
            .collect()
    }

    fn any_value() -> impl proptest::strategy::Strategy<Value = AnyValue> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            ".{0,12}".prop_map(V::StringValue),
            any::<i64>().prop_map(V::IntValue),
            // Eighths print and parse exactly; serde_json's default float parsing can be one
            // ulp off for other doubles (its `float_roundtrip` feature is off).
            (-1_000_000i64..1_000_000).prop_map(|n| V::DoubleValue(n as f64 / 8.0)),
            any::<bool>().prop_map(V::BoolValue),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(V::BytesValue),
        ];
        leaf.prop_map(|v| AnyValue { value: Some(v) })
            .prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(|values| V::ArrayValue(ArrayValue { values })),
                    proptest::collection::vec(("[a-z]{1,6}", inner), 0..4).prop_map(|kvs| {
                        V::KvlistValue(KeyValueList {
                            values: key_values(kvs),
                        })
                    }),
                ]
                .prop_map(|v| AnyValue { value: Some(v) })
            })
    }

    fn log_record() -> impl proptest::strategy::Strategy<Value = LogRecord> {
        use proptest::prelude::*;
        (
            (any::<u64>(), any::<u64>(), 0i32..25, "[A-Z]{0,5}"),
            (
                proptest::option::of(any_value()),
                proptest::collection::vec(("[a-z.]{1,8}", any_value()), 0..3),
            ),
            (
                any::<u32>(),
                prop_oneof![Just(Vec::new()), proptest::collection::vec(any::<u8>(), 16)],
                prop_oneof![Just(Vec::new()), proptest::collection::vec(any::<u8>(), 8)],
                "[a-z.]{0,10}",
            ),
        )
            .prop_map(
                |((time, observed, severity, text), (body, attrs), (flags, trace, span, event))| {
                    LogRecord {
                        time_unix_nano: time,
                        observed_time_unix_nano: observed,
                        severity_number: severity,
                        severity_text: text,
                        body,
                        attributes: key_values(attrs),
                        dropped_attributes_count: 0,
                        flags,
                        trace_id: trace,
                        span_id: span,
                        event_name: event,
                    }
                },
            )
    }

    proptest::proptest! {
        /// Whatever opentelemetry-proto's `with-serde` writes as OTLP/JSON (hex ids, int64 as
        /// strings, enums as integers, any body) decodes back to the same request.
        #[test]
        fn decodes_what_opentelemetry_proto_serializes(
            records in proptest::collection::vec(log_record(), 0..5)
        ) {
            let request = ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    scope_logs: vec![ScopeLogs {
                        log_records: records,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            let json = serde_json::to_vec(&request).unwrap();
            proptest::prop_assert_eq!(decode_logs_request(&json).unwrap(), request);
        }
    }
}
