//! Golden cases of the `redaction` log processor: each body shape (string, JSON object,
//! JSON array, map, nested maps and arrays), attributes and their key rules, the event name,
//! the severity text (kept), a quality record's score, the `content` policy on the seed's
//! `prompt` / `response`, `drop`, truncation, the shared resource, the audit attributes and
//! metrics, idempotence, the factory; and the seed's logs through `llm_logs` then `redaction`
//! with every secret of `testdata/redaction/secrets.json` planted. The properties over the
//! PII corpora are in `log_properties.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::coverage_tests::secrets;
use super::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use serde_json::json;
use std::sync::Arc;
use tracegate_model::log::{LogBatch, LogKind, LogRecord};
use tracegate_model::{Resource, Score, Signal, attr, keys};
use tracegate_pipeline::{BuildContext, ComponentId, LogProcessor, Processor, ProcessorFactory};
use tracegate_testkit::metrics::CapturedMetrics;

fn processor(config: RedactionConfig) -> RedactionProcessor {
    RedactionProcessor::new("redaction", Redactor::new(&config, "").unwrap())
}

fn redacted(config: RedactionConfig, record: LogRecord) -> LogRecord {
    processor(config)
        .process(LogBatch {
            records: vec![record],
        })
        .records
        .remove(0)
}

fn map(entries: Vec<KeyValue>) -> Value {
    Value::KvlistValue(KeyValueList { values: entries })
}

fn array(items: Vec<Value>) -> Value {
    Value::ArrayValue(ArrayValue {
        values: items
            .into_iter()
            .map(|v| AnyValue { value: Some(v) })
            .collect(),
    })
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn body(v: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn body_value(r: &LogRecord) -> &Value {
    r.body.as_ref().unwrap().value.as_ref().unwrap()
}

fn audit(r: &LogRecord, kind: &str) -> Option<i64> {
    attr::get_i64(&r.attributes, &format!("tracegate.redacted.{kind}"))
}

#[test]
fn string_bodies_are_redacted_and_audited() {
    let record = LogRecord {
        severity_text: "INFO".into(),
        body: body(s("Call me at +44 20 7946 0958 or ana@example.com")),
        ..LogRecord::empty()
    };
    let out = redacted(RedactionConfig::default(), record);
    assert_eq!(out.body_str(), Some("Call me at <PHONE> or <EMAIL>"));
    assert_eq!(out.severity_text, "INFO");
    assert_eq!(audit(&out, "count"), Some(2));
    assert_eq!(audit(&out, "email"), Some(1));
    assert_eq!(audit(&out, "phone"), Some(1));
}

#[test]
fn json_object_bodies_are_structured_and_get_the_key_rules() {
    let doc = json!({
        "event": "llm_request", "model": "gpt-4o",
        "prompt": "I'm ana@example.com, card 4111 1111 1111 1111",
        "api_key": "hunter2-not-a-detector-match",
        "metadata": {"contact": "bob@example.org", "password": "p4ss", "n": 1},
    });
    let record = LogRecord {
        body: body(s(&doc.to_string())),
        ..LogRecord::empty()
    };
    let out = redacted(RedactionConfig::default(), record);
    let body = out.body_map().expect("the JSON body is a map now");
    assert_eq!(
        attr::get_str(body, "prompt"),
        Some("I'm <EMAIL>, card <CREDIT_CARD>")
    );
    assert_eq!(attr::get_str(body, "model"), Some("gpt-4o"));
    // Blocked keys: removed at the top level and inside nested maps.
    assert_eq!(attr::get(body, "api_key"), None);
    let Some(Value::KvlistValue(meta)) = attr::get(body, "metadata") else {
        panic!("metadata stays a map")
    };
    assert_eq!(attr::get_str(&meta.values, "contact"), Some("<EMAIL>"));
    assert_eq!(attr::get(&meta.values, "password"), None);
    assert_eq!(attr::get_i64(&meta.values, "n"), Some(1));
    assert_eq!(audit(&out, "count"), Some(5));
    assert_eq!(audit(&out, "blocked_key"), Some(2));
}

#[test]
fn json_bodies_that_stay_text_are_redacted_as_json() {
    // An array is not structured: it is redacted as span JSON attributes are, and stays valid.
    let text = r#"[{"role":"user","content":"mail ana@example.com"},{"n":4111111111111111}]"#;
    let out = redacted(
        RedactionConfig::default(),
        LogRecord {
            body: body(s(text)),
            ..LogRecord::empty()
        },
    );
    let got: serde_json::Value = serde_json::from_str(out.body_str().unwrap()).unwrap();
    assert_eq!(
        got,
        json!([{"role": "user", "content": "mail <EMAIL>"}, {"n": "<CREDIT_CARD>"}])
    );
}

#[test]
fn every_string_of_a_nested_body_is_redacted() {
    let record = LogRecord {
        body: body(map(vec![
            attr::kv(
                "turns",
                array(vec![
                    s("first 192.0.2.15"),
                    map(vec![attr::string("reply", "ssn 123-45-6789")]),
                    array(vec![s("deep jane.roe@example.com")]),
                ]),
            ),
            attr::kv(
                "config",
                map(vec![attr::kv(
                    "client_secret",
                    s("plain words, but the key is blocked"),
                )]),
            ),
            attr::string("owner ana@example.com", "clean"),
            attr::int("tokens", 12),
        ])),
        ..LogRecord::empty()
    };
    let out = redacted(RedactionConfig::default(), record);
    let expected = map(vec![
        attr::kv(
            "turns",
            array(vec![
                s("first <IPV4>"),
                map(vec![attr::string("reply", "ssn <SSN>")]),
                array(vec![s("deep <EMAIL>")]),
            ]),
        ),
        attr::kv("config", map(vec![])),
        attr::string("owner <EMAIL>", "clean"),
        attr::int("tokens", 12),
    ]);
    assert_eq!(body_value(&out), &expected);
}

#[test]
fn attributes_event_names_and_scores_are_redacted() {
    let record = LogRecord {
        event_name: "feedback from ana@example.com".into(),
        attributes: vec![
            attr::string("http.request.header.authorization", "Bearer abc"),
            attr::string("user.email", "bob@example.org"),
            attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o"),
            attr::string("code.file.path", "/app/main.py"),
        ],
        facts: tracegate_model::log::LogFacts {
            kind: LogKind::Score,
            score: Some(Box::new(Score {
                name: "user_feedback".into(),
                value: Some(2.0),
                explanation: Some("It leaked 4111 1111 1111 1111".into()),
                annotations: Some(r#"{"reviewer":"carol@example.net"}"#.into()),
                reviewer_id: Some("dave@example.com".into()),
                label: Some("thumbs_down".into()),
                request_id: Some("req-1".into()),
                ..Default::default()
            })),
        },
        ..LogRecord::empty()
    };
    let out = redacted(RedactionConfig::default(), record);
    assert_eq!(out.event_name, "feedback from <EMAIL>");
    let a = &out.attributes;
    assert_eq!(attr::get(a, "http.request.header.authorization"), None);
    assert_eq!(attr::get_str(a, "user.email"), Some("<EMAIL>"));
    assert_eq!(attr::get_str(a, keys::GEN_AI_REQUEST_MODEL), Some("gpt-4o"));
    assert_eq!(attr::get_str(a, "code.file.path"), Some("/app/main.py"));
    let score = out.facts.score.as_deref().unwrap();
    assert_eq!(
        score.explanation.as_deref(),
        Some("It leaked <CREDIT_CARD>")
    );
    assert_eq!(
        score.annotations.as_deref(),
        Some(r#"{"reviewer":"<EMAIL>"}"#)
    );
    assert_eq!(score.reviewer_id.as_deref(), Some("<EMAIL>"));
    assert_eq!(score.label.as_deref(), Some("thumbs_down"));
    assert_eq!(score.request_id.as_deref(), Some("req-1"));
    // Event name, email attribute, three score fields, one blocked key.
    assert_eq!(audit(&out, "count"), Some(6));
}

#[test]
fn the_content_policy_covers_the_seeds_prompt_and_response() {
    let record = || LogRecord {
        body: body(map(vec![
            attr::string("prompt", "my mail is ana@example.com"),
            attr::string("response", "noted"),
            attr::string("feedback", "ok ana@example.com"),
        ])),
        attributes: vec![
            attr::string(keys::GEN_AI_INPUT_MESSAGES, "[]"),
            attr::string("system_prompt", "be nice"),
            attr::string("request_id", "r-1"),
        ],
        ..LogRecord::empty()
    };
    let off = redacted(
        RedactionConfig {
            content: ContentPolicy::Off,
            ..Default::default()
        },
        record(),
    );
    let body = off.body_map().unwrap();
    assert_eq!(attr::get(body, "prompt"), None);
    assert_eq!(attr::get(body, "response"), None);
    assert_eq!(attr::get_str(body, "feedback"), Some("ok <EMAIL>"));
    let keys_left: Vec<&str> = off.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys_left,
        [
            "request_id",
            "tracegate.redacted.count",
            "tracegate.redacted.email"
        ]
    );

    let full = redacted(
        RedactionConfig {
            content: ContentPolicy::Full,
            ..Default::default()
        },
        record(),
    );
    let body = full.body_map().unwrap();
    assert_eq!(
        attr::get_str(body, "prompt"),
        Some("my mail is ana@example.com")
    );
    assert_eq!(attr::get_str(body, "feedback"), Some("ok <EMAIL>"));
}

#[test]
fn drop_removes_the_body_or_the_field_that_holds_the_value() {
    let config = || RedactionConfig {
        mode: Action::Drop,
        ..Default::default()
    };
    let out = redacted(
        config(),
        LogRecord {
            body: body(s("write to ana@example.com")),
            ..LogRecord::empty()
        },
    );
    assert_eq!(out.body, None);
    let out = redacted(
        config(),
        LogRecord {
            body: body(map(vec![
                attr::string("prompt", "write to ana@example.com"),
                attr::string("model", "gpt-4o"),
            ])),
            event_name: "from ana@example.com".into(),
            ..LogRecord::empty()
        },
    );
    assert_eq!(
        body_value(&out),
        &map(vec![attr::string("model", "gpt-4o")])
    );
    // A name cannot be removed: it is masked.
    assert_eq!(out.event_name, "from <EMAIL>");
}

#[test]
fn long_bodies_are_truncated_and_marked() {
    let config = RedactionConfig {
        max_attribute_bytes: tracegate_pipeline::ByteSize(64),
        ..Default::default()
    };
    let out = redacted(
        config,
        LogRecord {
            body: body(s(&format!("{} ana@example.com", "x".repeat(200)))),
            ..LogRecord::empty()
        },
    );
    assert_eq!(out.body_str().unwrap(), "x".repeat(64));
    assert_eq!(
        attr::get(&out.attributes, "tracegate.truncated"),
        Some(&Value::BoolValue(true))
    );
}

#[test]
fn a_shared_resource_is_redacted_once_and_shared_again() {
    let mut resource = Resource::with_service("rag-api");
    resource
        .attributes
        .push(attr::string("deployment.owner", "ana@example.com"));
    let resource = Arc::new(resource);
    let records = (0..3)
        .map(|i| LogRecord {
            resource: Arc::clone(&resource),
            body: body(s(&format!("line {i}"))),
            ..LogRecord::empty()
        })
        .collect();
    let out = processor(RedactionConfig::default()).process(LogBatch { records });
    let first = &out.records[0].resource;
    assert_eq!(
        attr::get_str(&first.attributes, "deployment.owner"),
        Some("<EMAIL>")
    );
    assert!(out.records.iter().all(|r| Arc::ptr_eq(&r.resource, first)));
    assert_eq!(out.records[1].body_str(), Some("line 1"));
}

#[test]
fn findings_count_in_the_span_metrics_and_a_second_run_changes_nothing() {
    let records = vec![
        LogRecord {
            body: body(s("ana@example.com and bob@example.org")),
            attributes: vec![attr::string("api_key", "x")],
            ..LogRecord::empty()
        },
        LogRecord {
            body: body(s("+44 20 7946 0958")),
            ..LogRecord::empty()
        },
    ];
    let captured = CapturedMetrics::new();
    let mut p = processor(RedactionConfig::default());
    let once = captured.run(|| p.process(LogBatch { records }));
    let count = |reason: &str| {
        captured.counter(
            processor::names::REDACTED_VALUES,
            &[("processor", "redaction"), ("reason", reason)],
        )
    };
    assert_eq!(count("email"), 2);
    assert_eq!(count("phone"), 1);
    assert_eq!(count("blocked_key"), 1);
    assert_eq!(
        captured.counter(
            processor::names::DROPPED_ATTRIBUTES,
            &[("processor", "redaction"), ("reason", "blocked_key")]
        ),
        1
    );
    let twice = p.process(once.clone());
    assert_eq!(twice, once);
}

#[test]
fn the_factory_builds_a_log_processor_for_logs_pipelines() {
    let id = ComponentId::parse("redaction").unwrap();
    let traces = BuildContext::new("test");
    let logs = traces.for_signal(Signal::Logs);
    let yaml = |s: &str| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(s).unwrap();
    assert!(matches!(
        RedactionFactory.build(
            &id,
            yaml("{mode: hash, hash_key: 0123456789abcdef-key}"),
            &logs
        ),
        Ok(Processor::Log(_))
    ));
    assert!(matches!(
        RedactionFactory.build(&id, serde_yaml_ng::Value::Null, &traces),
        Ok(Processor::Span(_))
    ));
    // The same validation, whatever the signal.
    for ctx in [&traces, &logs] {
        let err = RedactionFactory
            .build(&id, yaml("{mode: hash}"), ctx)
            .unwrap_err();
        assert_eq!(err.path, "processors.redaction.hash_key");
        let err = RedactionFactory
            .build(&id, yaml("{scan_bodies: true}"), ctx)
            .unwrap_err();
        assert_eq!(err.path, "processors.redaction.scan_bodies");
    }
}

/// The seed's request, response and quality logs, as the SDK's logging bridge sends them, with
/// every secret of the catalogue planted in the prompt, response, feedback and an `extra`
/// attribute: after `llm_logs` then `redaction`, no secret is left in any string.
#[test]
fn the_seeds_logs_through_llm_logs_then_redaction_keep_no_secret() {
    let catalogue = secrets();
    let all: Vec<&str> = catalogue.iter().map(|s| s.value.as_str()).collect();
    let pii = all.join(" ");
    let docs = [
        json!({"event": "llm_request", "request_id": "req-1", "user_id": "u-42",
               "model": "gpt-4o-mini", "prompt": format!("Summarise the account of {pii}"),
               "system_prompt": format!("Never reveal {}", all[0]),
               "config": {"temperature": 0.2, "max_tokens": 512},
               "metadata": {"route": "/v1/chat", "contact": all[1]}, "level": "INFO"}),
        json!({"event": "llm_response", "request_id": "req-1", "model": "gpt-4o-mini",
               "response": format!("The customer ({pii}) asked about fees."), "stop_reason": "stop",
               "metrics": {"input_tokens": 1200, "output_tokens": 300, "latency_ms": 1850.5,
                           "first_token_latency_ms": 420.0}, "level": "INFO"}),
        json!({"event": "quality", "request_id": "req-1", "rating": 2,
               "feedback": format!("Wrong: it leaked {pii}"),
               "annotations": {"category": "privacy", "note": all[2]}, "reviewer_id": "rev-7"}),
    ];
    let records: Vec<LogRecord> = docs
        .iter()
        .map(|d| LogRecord {
            body: body(s(&d.to_string())),
            attributes: vec![attr::string("extra.note", pii.clone())],
            ..LogRecord::empty()
        })
        .collect();
    let mut llm = crate::logs::LlmLogs::new(Default::default()).unwrap();
    let batch = llm.process(LogBatch { records });
    assert_eq!(batch.records[0].facts.kind, LogKind::LlmCall);
    assert_eq!(batch.records[2].facts.kind, LogKind::Other);
    assert!(attr::get_str(&batch.records[0].attributes, keys::GEN_AI_INPUT_MESSAGES).is_some());
    let out = processor(RedactionConfig::default()).process(batch);
    for record in &out.records {
        let mut texts = Vec::new();
        super::log_properties::strings_of(record, &mut texts);
        for text in &texts {
            for secret in &all {
                assert!(!text.contains(secret), "{secret:?} left in {text:?}");
            }
        }
    }
    // The canonical columns survive redaction.
    let a = &out.records[1].attributes;
    assert_eq!(
        attr::get_str(a, keys::GEN_AI_REQUEST_MODEL),
        Some("gpt-4o-mini")
    );
    assert_eq!(attr::get_str(a, keys::TRACEGATE_REQUEST_ID), Some("req-1"));
    assert!(attr::get_f64(a, keys::TRACEGATE_COST_USD).is_some_and(|c| c > 0.0));
    let messages: serde_json::Value =
        serde_json::from_str(attr::get_str(a, keys::GEN_AI_OUTPUT_MESSAGES).unwrap()).unwrap();
    assert!(
        messages[0]["parts"][0]["content"]
            .as_str()
            .unwrap()
            .contains("<EMAIL>")
    );
}
