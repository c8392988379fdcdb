//! Tests of the `redaction` processor.
//!
//! - config: the YAML fixture, defaults, and validation errors with key paths;
//! - processing: each mode, the content policy, key lists, events, resources, audit
//!   attributes, truncation, idempotency;
//! - properties: any JSON document stays valid, loses every injected value, and redaction is
//!   idempotent (the exact-output properties are in `properties.rs`, the place-by-place
//!   coverage in `coverage_tests.rs`);
//!
//! The evaluation corpora are scored in `corpus_tests.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValue, KeyValueList};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracegate_model::attr;
use tracegate_model::span::Event;
use tracegate_model::{Resource, Scope, Span, SpanBatch, SpanId, SpanKind, Status, TraceId};
use tracegate_pipeline::{
    BuildContext, ByteSize, ComponentId, Processor, ProcessorFactory, SpanProcessor, parse_section,
};
use tracegate_testkit::metrics::CapturedMetrics;

const KEY: &str = "0123456789abcdef-test-key";

fn span(attrs: Vec<KeyValue>) -> Span {
    Span {
        resource: Arc::new(Resource::with_service("chat")),
        scope: Arc::new(Scope::default()),
        trace_id: TraceId([1; 16]),
        span_id: SpanId([2; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "chat gpt-4o".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes: attrs,
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        facts: Default::default(),
        origin: Default::default(),
        status: Status::default(),
    }
}

fn processor(config: RedactionConfig) -> RedactionProcessor {
    RedactionProcessor::new("redaction", Redactor::new(&config, "").unwrap())
}

fn run(config: RedactionConfig, spans: Vec<Span>) -> Vec<Span> {
    processor(config).process(SpanBatch { spans }).spans
}

fn get<'a>(s: &'a Span, key: &str) -> Option<&'a Value> {
    attr::get(&s.attributes, key)
}

fn get_str<'a>(s: &'a Span, key: &str) -> &'a str {
    attr::get_str(&s.attributes, key).unwrap_or_else(|| panic!("no string {key}"))
}

// ---------------------------------------------------------------------------------------------
// Config

#[test]
fn yaml_fixture_parses_into_the_expected_config() {
    let text = include_str!("../../testdata/redaction/config.yaml");
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
    let config: RedactionConfig = parse_section("processors.redaction", value).unwrap();
    let expected = RedactionConfig {
        mode: Action::Hash,
        detectors: BTreeMap::from([
            ("ipv4".to_owned(), Action::Off),
            ("ipv6".to_owned(), Action::Off),
            ("credit_card".to_owned(), Action::Drop),
            ("email".to_owned(), Action::Hash),
        ]),
        hash_key: Some(KEY.to_owned()),
        content: ContentPolicy::Full,
        allow_keys: vec!["service.name".into(), "user.tier".into()],
        block_keys: vec!["http.request.header.authorization".into()],
        block_key_patterns: vec!["(?i)password$".into()],
        custom: vec![
            CustomDetector {
                name: "employee_id".into(),
                pattern: r"\bEMP-[0-9]{6}\b".into(),
                mode: Some(Action::Mask),
            },
            CustomDetector {
                name: "ticket".into(),
                pattern: r"\bTCK[0-9]{5}\b".into(),
                mode: None,
            },
        ],
        scan_resource: false,
        scan_events: false,
        max_attribute_bytes: ByteSize::kib(4),
    };
    assert_eq!(config, expected);
    assert!(Redactor::new(&config, "processors.redaction").is_ok());
}

#[test]
fn an_empty_section_is_the_default_and_builds() {
    let config: RedactionConfig =
        parse_section("processors.redaction", serde_yaml_ng::Value::Null).unwrap();
    assert_eq!(config, RedactionConfig::default());
    assert_eq!(config.mode, Action::Mask);
    assert_eq!(config.content, ContentPolicy::Redacted);
    assert_eq!(config.max_attribute_bytes, ByteSize::kib(64));
    let id = ComponentId::parse("redaction").unwrap();
    let ctx = BuildContext::new("test");
    let built = RedactionFactory
        .build(
            &id,
            serde_yaml_ng::from_str("{ mode: mask }").unwrap(),
            &ctx,
        )
        .unwrap();
    assert!(matches!(built, Processor::Span(_)));
    assert_eq!(RedactionFactory.type_name(), "redaction");
}

fn build_error(yaml: &str) -> String {
    let id = ComponentId::parse("redaction/strict").unwrap();
    let ctx = BuildContext::new("test");
    match RedactionFactory.build(&id, serde_yaml_ng::from_str(yaml).unwrap(), &ctx) {
        Ok(_) => panic!("{yaml} should not build"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn validation_errors_name_the_key_path() {
    let cases = [
        (
            "custom: [{name: ok, pattern: 'a'}, {name: bad, pattern: '(unclosed'}]",
            "processors.redaction/strict.custom[1].pattern: invalid regular expression",
        ),
        (
            "custom: [{name: Bad-Name, pattern: 'x'}]",
            "processors.redaction/strict.custom[0].name: invalid name",
        ),
        (
            "custom: [{name: email, pattern: 'x'}]",
            "processors.redaction/strict.custom[0].name: name \"email\" is already taken",
        ),
        (
            "custom: [{name: empty, pattern: 'a*'}]",
            "processors.redaction/strict.custom[0].pattern: matches the empty string",
        ),
        (
            "mode: hash",
            "processors.redaction/strict.hash_key: required by `hash` mode",
        ),
        (
            "{detectors: {email: hash}, hash_key: short}",
            "processors.redaction/strict.hash_key: too short",
        ),
        (
            "detectors: {emial: off}",
            "processors.redaction/strict.detectors.emial: unknown detector \"emial\"",
        ),
        (
            "block_key_patterns: ['ok', '[']",
            "processors.redaction/strict.block_key_patterns[1]: invalid regular expression",
        ),
        (
            "max_attribute_bytes: 10",
            "processors.redaction/strict.max_attribute_bytes: too small",
        ),
        (
            "mode: shred",
            "processors.redaction/strict.mode: unknown variant",
        ),
        ("scan_everything: true", "unknown field `scan_everything`"),
        (
            "content: partial",
            "processors.redaction/strict.content: unknown variant",
        ),
    ];
    for (yaml, expected) in cases {
        let err = build_error(yaml);
        assert!(err.contains(expected), "{yaml}: got {err}");
    }
}

#[test]
fn hash_key_comes_from_the_environment_through_interpolation() {
    let raw = tracegate_pipeline::config::RawConfig::parse_with_env(
        "receivers: { otlp: {} }\n\
         processors: { redaction: { mode: hash, hash_key: '${env:REDACTION_KEY}' } }\n\
         exporters: { archive: { url: ./data } }\n\
         service: { pipelines: { traces: { receivers: [otlp], processors: [redaction], exporters: [archive] } } }",
        &|name| (name == "REDACTION_KEY").then(|| KEY.to_owned()),
    )
    .unwrap();
    let config: RedactionConfig =
        parse_section("processors.redaction", raw.processors["redaction"].clone()).unwrap();
    assert_eq!(config.hash_key.as_deref(), Some(KEY));
}

// ---------------------------------------------------------------------------------------------
// Processing

const MESSAGES: &str = r#"[{"role":"system","parts":[{"type":"text","content":"Be brief."}]},{"role":"user","parts":[{"type":"text","content":"I'm Ana (ana.okafor@example.com, +1 415 555 0134).\nCard: 4111 1111 1111 1111, SSN 123-45-6789."}]}]"#;

#[test]
fn masks_inside_json_messages_and_writes_the_audit() {
    let out = run(
        RedactionConfig::default(),
        vec![span(vec![
            attr::string("gen_ai.input.messages", MESSAGES),
            attr::string("user.note", "reach me on ana@example.org from 203.0.113.9"),
            attr::int("user.phone", 4155550134),
            attr::int("gen_ai.usage.input_tokens", 1234567),
            attr::string("gen_ai.request.model", "gpt-4o"),
        ])],
    );
    let s = &out[0];
    let messages = get_str(s, "gen_ai.input.messages");
    let v: serde_json::Value = serde_json::from_str(messages).unwrap();
    assert_eq!(
        v[1]["parts"][0]["content"],
        "I'm Ana (<EMAIL>, <PHONE>).\nCard: <CREDIT_CARD>, SSN <SSN>."
    );
    assert_eq!(v[0]["parts"][0]["content"], "Be brief.");
    assert_eq!(get_str(s, "user.note"), "reach me on <EMAIL> from <IPV4>");
    // A long integer is not a phone number unless it is formatted like one.
    assert_eq!(get(s, "user.phone"), Some(&Value::IntValue(4155550134)));
    assert_eq!(
        get(s, "gen_ai.usage.input_tokens"),
        Some(&Value::IntValue(1234567))
    );
    assert_eq!(
        get(s, "tracegate.redacted.count"),
        Some(&Value::IntValue(6))
    );
    assert_eq!(
        get(s, "tracegate.redacted.email"),
        Some(&Value::IntValue(2))
    );
    assert_eq!(
        get(s, "tracegate.redacted.phone"),
        Some(&Value::IntValue(1))
    );
    assert_eq!(
        get(s, "tracegate.redacted.credit_card"),
        Some(&Value::IntValue(1))
    );
    assert_eq!(get(s, "tracegate.redacted.ssn"), Some(&Value::IntValue(1)));
    assert_eq!(get(s, "tracegate.redacted.ipv4"), Some(&Value::IntValue(1)));
    assert_eq!(get(s, "tracegate.redacted.iban"), None);
    assert_eq!(get(s, "tracegate.truncated"), None);
}

#[test]
fn hashes_with_the_key_so_equal_values_join() {
    let config = RedactionConfig {
        mode: Action::Hash,
        hash_key: Some(KEY.to_owned()),
        ..Default::default()
    };
    let out = run(
        config.clone(),
        vec![span(vec![
            attr::string("a", "ana@example.com"),
            attr::string("b", "write to ANA@example.com"),
            attr::string("c", "card 4111-1111-1111-1111 or 4111111111111111"),
        ])],
    );
    let a = get_str(&out[0], "a");
    assert!(
        a.starts_with("<EMAIL:") && a.ends_with('>') && a.len() == 24,
        "{a}"
    );
    assert_eq!(get_str(&out[0], "b"), format!("write to {a}"));
    let c = get_str(&out[0], "c");
    let hashes: Vec<&str> = c.split(' ').filter(|w| w.starts_with('<')).collect();
    assert_eq!(hashes.len(), 2);
    assert_eq!(hashes[0], hashes[1]);
    // Another key, another hash.
    let other = run(
        RedactionConfig {
            hash_key: Some("another-key-of-16-bytes".into()),
            ..config
        },
        vec![span(vec![attr::string("a", "ana@example.com")])],
    );
    assert_ne!(get_str(&other[0], "a"), a);
}

#[test]
fn drop_mode_removes_the_attribute() {
    let config = RedactionConfig {
        detectors: BTreeMap::from([("credit_card".to_owned(), Action::Drop)]),
        ..Default::default()
    };
    let out = run(
        config,
        vec![span(vec![
            attr::string("payment.note", "card 4111 1111 1111 1111"),
            attr::string("contact", "ana@example.com"),
        ])],
    );
    assert_eq!(get(&out[0], "payment.note"), None);
    assert_eq!(get_str(&out[0], "contact"), "<EMAIL>");
    assert_eq!(
        get(&out[0], "tracegate.redacted.credit_card"),
        Some(&Value::IntValue(1))
    );
}

#[test]
fn off_detectors_and_custom_detectors() {
    let config = RedactionConfig {
        detectors: BTreeMap::from([("ipv4".to_owned(), Action::Off)]),
        custom: vec![CustomDetector {
            name: "employee_id".into(),
            pattern: r"\bEMP-[0-9]{6}\b".into(),
            mode: None,
        }],
        ..Default::default()
    };
    let out = run(
        config,
        vec![span(vec![attr::string(
            "note",
            "EMP-004217 logged in from 10.0.0.7",
        )])],
    );
    assert_eq!(
        get_str(&out[0], "note"),
        "<EMPLOYEE_ID> logged in from 10.0.0.7"
    );
    assert_eq!(
        get(&out[0], "tracegate.redacted.employee_id"),
        Some(&Value::IntValue(1))
    );
}

fn content_span() -> Span {
    let mut s = span(vec![
        attr::string("gen_ai.input.messages", MESSAGES),
        attr::string("gen_ai.prompt.0.content", "I'm ana@example.com"),
        attr::string(
            "llm.output_messages.0.message.content",
            "Hi ana@example.com",
        ),
        attr::string("gen_ai.system_instructions", "Never reveal bob@example.com"),
        attr::string("user.email", "ana@example.com"),
    ]);
    s.events = vec![
        Event {
            name: "gen_ai.content.prompt".into(),
            attributes: vec![attr::string("gen_ai.prompt", "from ana@example.com")],
            ..Default::default()
        },
        Event {
            name: "exception".into(),
            attributes: vec![attr::string("exception.message", "no user ana@example.com")],
            ..Default::default()
        },
    ];
    s
}

#[test]
fn content_off_removes_prompts_and_completions() {
    let out = run(
        RedactionConfig {
            content: ContentPolicy::Off,
            ..Default::default()
        },
        vec![content_span()],
    );
    let s = &out[0];
    let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "user.email",
            "tracegate.redacted.count",
            "tracegate.redacted.email"
        ]
    );
    assert_eq!(get_str(s, "user.email"), "<EMAIL>");
    // The content event is kept (its time matters) without its content.
    assert_eq!(s.events[0].name, "gen_ai.content.prompt");
    assert!(s.events[0].attributes.is_empty());
    assert_eq!(
        attr::get_str(&s.events[1].attributes, "exception.message"),
        Some("no user <EMAIL>")
    );
    assert_eq!(
        get(s, "tracegate.redacted.count"),
        Some(&Value::IntValue(2))
    );
}

#[test]
fn content_full_keeps_prompts_but_redacts_the_rest() {
    let out = run(
        RedactionConfig {
            content: ContentPolicy::Full,
            ..Default::default()
        },
        vec![content_span()],
    );
    let s = &out[0];
    assert_eq!(get_str(s, "gen_ai.input.messages"), MESSAGES);
    assert_eq!(get_str(s, "gen_ai.prompt.0.content"), "I'm ana@example.com");
    assert_eq!(
        attr::get_str(&s.events[0].attributes, "gen_ai.prompt"),
        Some("from ana@example.com")
    );
    assert_eq!(get_str(s, "user.email"), "<EMAIL>");
}

#[test]
fn content_redacted_is_the_default() {
    let out = run(RedactionConfig::default(), vec![content_span()]);
    let s = &out[0];
    assert_eq!(get_str(s, "gen_ai.prompt.0.content"), "I'm <EMAIL>");
    assert_eq!(
        get_str(s, "llm.output_messages.0.message.content"),
        "Hi <EMAIL>"
    );
    assert_eq!(
        get_str(s, "gen_ai.system_instructions"),
        "Never reveal <EMAIL>"
    );
    assert_eq!(
        attr::get_str(&s.events[0].attributes, "gen_ai.prompt"),
        Some("from <EMAIL>")
    );
    assert_eq!(
        get(s, "tracegate.redacted.count"),
        Some(&Value::IntValue(10))
    );
}

#[test]
fn scan_events_false_leaves_events_alone() {
    let out = run(
        RedactionConfig {
            scan_events: false,
            ..Default::default()
        },
        vec![content_span()],
    );
    assert_eq!(
        attr::get_str(&out[0].events[1].attributes, "exception.message"),
        Some("no user ana@example.com")
    );
}

#[test]
fn key_allow_and_block_lists() {
    let config = RedactionConfig {
        allow_keys: vec!["debug.raw".into()],
        block_keys: vec!["http.request.header.authorization".into()],
        ..Default::default()
    };
    let nested = Value::KvlistValue(KeyValueList {
        values: vec![
            attr::string("db_password", "hunter2"),
            attr::string("owner", "ana@example.com"),
        ],
    });
    let out = run(
        config,
        vec![span(vec![
            attr::string("debug.raw", "ana@example.com"),
            attr::string(
                "http.request.header.authorization",
                "Basic YW5hOmh1bnRlcjI=",
            ),
            attr::string("app.client_secret", "s3cr3t"),
            attr::string("app.api_key", "whatever"),
            attr::kv("settings", nested),
            attr::int("gen_ai.usage.input_tokens", 12),
        ])],
    );
    let s = &out[0];
    assert_eq!(get_str(s, "debug.raw"), "ana@example.com");
    assert_eq!(get(s, "http.request.header.authorization"), None);
    assert_eq!(get(s, "app.client_secret"), None);
    assert_eq!(get(s, "app.api_key"), None);
    assert_eq!(
        get(s, "gen_ai.usage.input_tokens"),
        Some(&Value::IntValue(12))
    );
    let Some(Value::KvlistValue(list)) = get(s, "settings") else {
        panic!("settings is a kvlist")
    };
    assert_eq!(list.values.len(), 1);
    assert_eq!(attr::get_str(&list.values, "owner"), Some("<EMAIL>"));
    assert_eq!(
        get(s, "tracegate.redacted.blocked_key"),
        Some(&Value::IntValue(4))
    );
    assert_eq!(
        get(s, "tracegate.redacted.count"),
        Some(&Value::IntValue(5))
    );
}

#[test]
fn arrays_are_scanned() {
    let arr = Value::ArrayValue(ArrayValue {
        values: vec![
            opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(Value::StringValue("ana@example.com".into())),
            },
            opentelemetry_proto::tonic::common::v1::AnyValue {
                value: Some(Value::StringValue("plain".into())),
            },
        ],
    });
    let out = run(
        RedactionConfig::default(),
        vec![span(vec![attr::kv("user.emails", arr)])],
    );
    let Some(Value::ArrayValue(a)) = get(&out[0], "user.emails") else {
        panic!("array")
    };
    assert_eq!(
        a.values[0].value,
        Some(Value::StringValue("<EMAIL>".into()))
    );
}

#[test]
fn resources_are_redacted_once_per_batch_and_shared() {
    let mut resource = Resource::with_service("chat");
    resource
        .attributes
        .push(attr::string("host.ip", "198.51.100.7"));
    let resource = Arc::new(resource);
    let clean = Arc::new(Resource::with_service("retriever"));
    let mut spans = Vec::new();
    for i in 0..3 {
        let mut s = span(vec![]);
        s.resource = Arc::clone(if i == 1 { &clean } else { &resource });
        spans.push(s);
    }
    let out = run(RedactionConfig::default(), spans);
    assert!(Arc::ptr_eq(&out[0].resource, &out[2].resource));
    assert!(!Arc::ptr_eq(&out[0].resource, &resource));
    assert!(Arc::ptr_eq(&out[1].resource, &clean));
    assert_eq!(
        attr::get_str(&out[0].resource.attributes, "host.ip"),
        Some("<IPV4>")
    );
    assert_eq!(out[0].resource.service_name, "chat");
    assert_eq!(
        attr::get(&out[0].resource.attributes, "tracegate.redacted.count"),
        Some(&Value::IntValue(1))
    );
    // Resource findings are counted on the resource, not on each span.
    assert_eq!(get(&out[0], "tracegate.redacted.count"), None);

    let skip = run(
        RedactionConfig {
            scan_resource: false,
            ..Default::default()
        },
        vec![{
            let mut s = span(vec![]);
            s.resource = Arc::clone(&resource);
            s
        }],
    );
    assert!(Arc::ptr_eq(&skip[0].resource, &resource));
}

#[test]
fn oversized_values_are_truncated_and_json_stays_valid() {
    let mut messages = String::from("[");
    for i in 0..400 {
        if i > 0 {
            messages.push(',');
        }
        messages.push_str(&format!(
            r#"{{"role":"user","parts":[{{"type":"text","content":"message {i} from ana@example.com with some padding text"}}]}}"#
        ));
    }
    messages.push(']');
    let config = RedactionConfig {
        max_attribute_bytes: ByteSize::kib(4),
        ..Default::default()
    };
    let out = run(
        config.clone(),
        vec![span(vec![
            attr::string("gen_ai.input.messages", messages.clone()),
            attr::string("plain", "é".repeat(5000)),
            attr::string("short", "ok"),
        ])],
    );
    let s = &out[0];
    let cut = get_str(s, "gen_ai.input.messages");
    assert!(cut.len() <= 4096, "{}", cut.len());
    let v: serde_json::Value = serde_json::from_str(cut).unwrap();
    assert!(v.as_array().unwrap().len() > 10);
    assert!(!cut.contains("ana@example.com"));
    let plain = get_str(s, "plain");
    assert!(plain.len() <= 4096 && plain.len() > 4090);
    assert_eq!(get(s, "tracegate.truncated"), Some(&Value::BoolValue(true)));
    // The same with content `full`: bounded, not redacted.
    let full = run(
        RedactionConfig {
            content: ContentPolicy::Full,
            ..config
        },
        vec![span(vec![attr::string("gen_ai.input.messages", messages)])],
    );
    let cut = get_str(&full[0], "gen_ai.input.messages");
    assert!(cut.len() <= 4096);
    assert!(cut.contains("ana@example.com"));
    let _: serde_json::Value = serde_json::from_str(cut).unwrap();
}

#[test]
fn processing_twice_changes_nothing_more() {
    let config = RedactionConfig {
        mode: Action::Hash,
        hash_key: Some(KEY.to_owned()),
        ..Default::default()
    };
    let mut p = processor(config);
    let once = p.process(SpanBatch {
        spans: vec![content_span()],
    });
    let twice = p.process(once.clone());
    assert_eq!(once, twice);
}

#[test]
fn secrets_are_masked() {
    let redactor = Redactor::new(&RedactionConfig::default(), "").unwrap();
    let text = "curl -H 'Authorization: Bearer abcDEF123456ghiJKL789mno' and \
                AKIAIOSFODNN7EXAMPLE and sk-proj-abcDEFghiJKL123mnoPQR456stuVWX and \
                -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc+/=\n-----END RSA PRIVATE KEY----- done";
    assert_eq!(
        redactor.redact_str(text).unwrap(),
        "curl -H 'Authorization: <BEARER_TOKEN>' and <AWS_ACCESS_KEY> and <API_KEY> and \
         <PRIVATE_KEY> done"
    );
}

#[test]
fn metrics_count_what_the_audit_counts() {
    let captured = CapturedMetrics::new();
    let config = RedactionConfig {
        content: ContentPolicy::Off,
        max_attribute_bytes: ByteSize(64),
        ..Default::default()
    };
    captured.run(|| {
        run(
            config,
            vec![
                content_span(),
                span(vec![
                    attr::string("note", "call +1 415 555 0134"),
                    attr::string("app.password", "hunter2"),
                    attr::string("long", "x".repeat(100)),
                ]),
            ],
        )
    });
    let counts = captured.counters();
    let expected: BTreeMap<String, u64> = [
        (
            "tracegate_redaction_redacted_values_total{processor=redaction,reason=email}",
            2,
        ),
        (
            "tracegate_redaction_redacted_values_total{processor=redaction,reason=phone}",
            1,
        ),
        (
            "tracegate_redaction_redacted_values_total{processor=redaction,reason=blocked_key}",
            1,
        ),
        (
            "tracegate_redaction_dropped_attributes_total{processor=redaction,reason=blocked_key}",
            1,
        ),
        (
            "tracegate_redaction_dropped_attributes_total{processor=redaction,reason=content_off}",
            5,
        ),
        (
            "tracegate_redaction_truncated_values_total{processor=redaction}",
            1,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(counts, expected);
}

// ---------------------------------------------------------------------------------------------
// Properties

/// The personal data [`text_strategy`] injects.
const INJECTED: [&str; 8] = [
    "ana.okafor@example.com",
    "+44 20 7946 0958",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "2001:db8::8a2e:370:7334",
    "192.0.2.15",
    "AKIAIOSFODNN7EXAMPLE",
];

/// Strings that mix ordinary text with personal data and JSON's awkward characters.
fn text_strategy() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        // No word that makes a following IPv4 address a version number.
        "[a-zA-Z0-9 .,:;!?/_-]{0,12}".prop_filter("no version words", |w| {
            let w = w.to_ascii_lowercase();
            !["ver", "build", "release", "firmware"]
                .iter()
                .any(|v| w.contains(v))
        }),
        Just("ana.okafor@example.com".to_owned()),
        Just("+44 20 7946 0958".to_owned()),
        Just("4111 1111 1111 1111".to_owned()),
        Just("GB82 WEST 1234 5698 7654 32".to_owned()),
        Just("123-45-6789".to_owned()),
        Just("2001:db8::8a2e:370:7334".to_owned()),
        Just("192.0.2.15".to_owned()),
        Just("AKIAIOSFODNN7EXAMPLE".to_owned()),
        Just("\"quoted\"\\ \n\t\u{1}".to_owned()),
        Just("é中文🦀".to_owned()),
        Just("<EMAIL>".to_owned()),
    ];
    // Separated, so random text never glues onto a value and changes what it is.
    prop::collection::vec(piece, 0..6).prop_map(|p| p.join(" "))
}

fn json_strategy() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(4111111111111111_u64)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        text_strategy().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(text_strategy(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn redacted_json_still_parses_and_redaction_is_idempotent(
        doc in json_strategy(),
        pretty in any::<bool>(),
    ) {
        let redactor = Redactor::new(&RedactionConfig::default(), "").unwrap();
        // Attribute values are treated as JSON when they are an object or an array; a bare
        // scalar is plain text.
        let doc = match doc {
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => doc,
            other => serde_json::Value::Array(vec![other]),
        };
        let text = if pretty {
            serde_json::to_string_pretty(&doc).unwrap()
        } else {
            serde_json::to_string(&doc).unwrap()
        };
        let once = redactor.redact_str(&text).unwrap_or_else(|| text.clone());
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&once);
        prop_assert!(parsed.is_ok(), "{once}");
        // Every kind injected is gone, not only the email. (What else may change depends on
        // the random numbers around it; `properties.rs` checks the exact output.)
        let decoded = format!("{:?}", parsed.unwrap());
        for value in INJECTED {
            prop_assert!(!once.contains(value) && !decoded.contains(value), "{value} in {once}");
        }
        prop_assert_eq!(redactor.redact_str(&once), None);
    }

    #[test]
    fn truncated_json_still_parses(doc in json_strategy(), max in 2usize..400) {
        let text = serde_json::to_string(&doc).unwrap();
        if matches!(doc, serde_json::Value::Array(_) | serde_json::Value::Object(_)) {
            let cut = super::json::truncate(&text, max).unwrap();
            prop_assert!(cut.len() <= max.max(text.len().min(2)), "{cut}");
            let parsed: Result<serde_json::Value, _> = serde_json::from_str(&cut);
            prop_assert!(parsed.is_ok(), "{cut}");
        }
    }
}

#[test]
fn audit_attributes_whose_type_matches_a_blocked_pattern_survive_a_second_run() {
    // `tracegate.redacted.api_key` ends in `.api_key`, which the default block pattern
    // matches: the audit must still be kept, and a client's string under such a key is not.
    let mut p = processor(RedactionConfig::default());
    let once = p.process(SpanBatch {
        spans: vec![span(vec![attr::string(
            "cmd",
            "export KEY=sk-proj-abcdefghijklmnopqrstuvwx0123456789",
        )])],
    });
    assert_eq!(
        attr::get_i64(&once.spans[0].attributes, "tracegate.redacted.api_key"),
        Some(1)
    );
    let twice = p.process(once.clone());
    assert_eq!(twice, once);
    let forged = run(
        RedactionConfig::default(),
        vec![span(vec![attr::string(
            "tracegate.redacted.api_key",
            "hunter2",
        )])],
    );
    assert_eq!(
        attr::get(&forged[0].attributes, "tracegate.redacted.api_key").map(|_| ()),
        None
    );
}
