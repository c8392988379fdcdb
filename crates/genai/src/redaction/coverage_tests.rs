//! Issue 18, item 1: every client string of a span goes through the redactor.
//!
//! Each kind of data in `testdata/redaction/secrets.json` (the integration test reads the same
//! file) is written into each place a span carries text; the processor's output must equal the
//! same span with only that text replaced by its placeholder and the audit attributes added.
//! Nothing else may change. Then golden cases for what the table cannot express (drop on a
//! key, non-UTF-8 bytes, `content: off` without event scanning, shared scopes, the key cache).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use std::sync::Arc;
use tracegate_model::attr;
use tracegate_model::span::{Event, Link};
use tracegate_model::{Resource, Scope, Span, SpanBatch, SpanId, SpanKind, Status, TraceId};
use tracegate_pipeline::SpanProcessor;

/// One entry of `secrets.json`.
#[derive(serde::Deserialize, Debug, Clone)]
pub(super) struct Secret {
    pub kind: String,
    pub value: String,
    pub placeholder: String,
}

pub(super) fn secrets() -> Vec<Secret> {
    serde_json::from_str(include_str!("../../testdata/redaction/secrets.json")).unwrap()
}

/// A span with clean text in every place the table below writes to.
fn base() -> Span {
    let mut resource = Resource::with_service("chat");
    resource.attributes.push(attr::string("host.name", "web-1"));
    Span {
        resource: Arc::new(resource),
        scope: Arc::new(Scope {
            name: "opentelemetry.instrumentation.openai".into(),
            version: "0.48.1".into(),
            attributes: vec![attr::string("scope.note", "ok")],
            ..Default::default()
        }),
        trace_id: TraceId([1; 16]),
        span_id: SpanId([2; 8]),
        parent_span_id: None,
        trace_state: "vendor=clean".into(),
        flags: 0,
        name: "lookup user".into(),
        kind: SpanKind::Server,
        start_time_unix_nano: 1,
        end_time_unix_nano: 2,
        attributes: vec![
            attr::string("http.route", "/users"),
            attr::int("http.status_code", 401),
        ],
        dropped_attributes_count: 0,
        events: vec![Event {
            time_unix_nano: 1,
            name: "retry".into(),
            attributes: vec![attr::string("retry.reason", "timeout")],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![Link {
            trace_id: vec![3; 16],
            span_id: vec![4; 8],
            trace_state: "vendor=link".into(),
            attributes: vec![attr::string("link.note", "follows")],
            ..Default::default()
        }],
        dropped_links_count: 0,
        facts: Default::default(),
        origin: Default::default(),
        status: Status {
            message: "unauthorized".into(),
            code: 2,
        },
    }
}

fn any(value: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(value) })
}

fn kvlist(key: &str, value: &str) -> Value {
    Value::KvlistValue(KeyValueList {
        values: vec![attr::string(key, value)],
    })
}

/// Where the audit of a finding goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Audit {
    Span,
    Resource,
    Scope,
}

/// A place in a span: its name, how to write text into it, and where its audit goes.
type Place = (&'static str, fn(&mut Span, &str), Audit);

fn places() -> Vec<Place> {
    vec![
        ("span name", |s, t| s.name = t.into(), Audit::Span),
        (
            "status message",
            |s, t| s.status.message = t.into(),
            Audit::Span,
        ),
        (
            "span trace_state",
            |s, t| s.trace_state = t.into(),
            Audit::Span,
        ),
        (
            "attribute value",
            |s, t| s.attributes.push(attr::string("user.note", t)),
            Audit::Span,
        ),
        (
            "attribute key",
            |s, t| s.attributes.push(attr::string(t, "value")),
            Audit::Span,
        ),
        (
            "attribute key without a value",
            |s, t| {
                s.attributes.push(KeyValue {
                    key: t.into(),
                    ..Default::default()
                })
            },
            Audit::Span,
        ),
        (
            "JSON attribute",
            |s, t| {
                let doc = serde_json::json!({"role": "user", "content": t}).to_string();
                s.attributes.push(attr::string("app.payload", doc));
            },
            Audit::Span,
        ),
        (
            "array element",
            |s, t| {
                let array = Value::ArrayValue(ArrayValue {
                    values: vec![
                        AnyValue {
                            value: Some(Value::StringValue("clean".into())),
                        },
                        AnyValue {
                            value: Some(Value::StringValue(t.into())),
                        },
                    ],
                });
                s.attributes.push(attr::kv("user.list", array));
            },
            Audit::Span,
        ),
        (
            "kvlist value",
            |s, t| s.attributes.push(attr::kv("user.map", kvlist("inner", t))),
            Audit::Span,
        ),
        (
            "kvlist key",
            |s, t| s.attributes.push(attr::kv("user.map", kvlist(t, "v"))),
            Audit::Span,
        ),
        (
            "array of kvlists",
            |s, t| {
                let array = Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(kvlist("inner", t)),
                    }],
                });
                s.attributes.push(attr::kv("user.nested", array));
            },
            Audit::Span,
        ),
        (
            "bytes value",
            |s, t| {
                let bytes = Value::BytesValue(t.as_bytes().to_vec());
                s.attributes.push(attr::kv("user.blob", bytes));
            },
            Audit::Span,
        ),
        (
            "bytes value, not UTF-8",
            |s, t| {
                let mut b = vec![0xff, 0x00];
                b.extend_from_slice(t.as_bytes());
                b.extend_from_slice(&[0xfe, 0x80]);
                s.attributes
                    .push(attr::kv("user.blob", Value::BytesValue(b)));
            },
            Audit::Span,
        ),
        (
            "event name",
            |s, t| s.events[0].name = t.into(),
            Audit::Span,
        ),
        (
            "event attribute value",
            |s, t| {
                s.events[0]
                    .attributes
                    .push(attr::string("exception.message", t))
            },
            Audit::Span,
        ),
        (
            "event attribute key",
            |s, t| s.events[0].attributes.push(attr::string(t, "v")),
            Audit::Span,
        ),
        (
            "link trace_state",
            |s, t| s.links[0].trace_state = t.into(),
            Audit::Span,
        ),
        (
            "link attribute value",
            |s, t| s.links[0].attributes.push(attr::string("link.reason", t)),
            Audit::Span,
        ),
        (
            "link attribute key",
            |s, t| s.links[0].attributes.push(attr::string(t, "v")),
            Audit::Span,
        ),
        (
            "scope name",
            |s, t| Arc::make_mut(&mut s.scope).name = t.into(),
            Audit::Scope,
        ),
        (
            "scope attribute",
            |s, t| {
                Arc::make_mut(&mut s.scope)
                    .attributes
                    .push(attr::string("scope.owner", t))
            },
            Audit::Scope,
        ),
        (
            "resource attribute",
            |s, t| {
                Arc::make_mut(&mut s.resource)
                    .attributes
                    .push(attr::string("host.owner", t))
            },
            Audit::Resource,
        ),
        (
            "resource attribute key",
            |s, t| {
                Arc::make_mut(&mut s.resource)
                    .attributes
                    .push(attr::string(t, "v"))
            },
            Audit::Resource,
        ),
    ]
}

fn audit(kind: &str) -> [KeyValue; 2] {
    [
        attr::int("tracegate.redacted.count", 1),
        attr::int(format!("tracegate.redacted.{kind}"), 1),
    ]
}

fn processor(config: RedactionConfig) -> RedactionProcessor {
    RedactionProcessor::new("redaction", Redactor::new(&config, "").unwrap())
}

#[test]
fn issue_18_every_kind_is_redacted_in_every_place_and_nothing_else_changes() {
    let mut p = processor(RedactionConfig::default());
    // The clean span goes through untouched.
    let clean = p.process(SpanBatch {
        spans: vec![base()],
    });
    assert_eq!(clean.spans, vec![base()]);
    let mut cases = 0;
    for secret in secrets() {
        for (place, write, audit_on) in places() {
            let mut dirty = base();
            write(&mut dirty, &format!("before {} after", secret.value));
            let mut expected = base();
            write(
                &mut expected,
                &format!("before {} after", secret.placeholder),
            );
            let audit = audit(&secret.kind);
            match audit_on {
                Audit::Span => expected.attributes.extend(audit),
                Audit::Resource => Arc::make_mut(&mut expected.resource)
                    .attributes
                    .extend(audit),
                Audit::Scope => Arc::make_mut(&mut expected.scope).attributes.extend(audit),
            }
            let out = p.process(SpanBatch { spans: vec![dirty] });
            assert_eq!(
                out.spans,
                vec![expected],
                "{} ({:?}) in the {place}",
                secret.kind,
                secret.value
            );
            cases += 1;
        }
    }
    assert!(cases >= 17 * 23, "{cases}");
}

#[test]
fn issue_18_hash_mode_covers_every_place_too() {
    let config = RedactionConfig {
        mode: Action::Hash,
        hash_key: Some("0123456789abcdef-test-key".into()),
        ..Default::default()
    };
    let mut p = processor(config);
    let email = "jane.roe@example.com";
    for (place, write, _) in places() {
        let mut dirty = base();
        write(&mut dirty, &format!("before {email} after"));
        let out = p.process(SpanBatch { spans: vec![dirty] });
        let mut text = format!("{:?}", out.spans[0]);
        for kv in &out.spans[0].attributes {
            if let Some(Value::BytesValue(b)) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                text.push_str(&String::from_utf8_lossy(b));
            }
        }
        assert!(!text.contains(email), "{place}: {text}");
        assert!(text.contains("<EMAIL:"), "{place}: {text}");
        // And a second run leaves the hash alone.
        let again = p.process(out.clone());
        assert_eq!(again.spans, out.spans, "{place}");
    }
}

#[test]
fn a_drop_finding_in_a_key_removes_the_attribute() {
    let config = RedactionConfig {
        detectors: [("email".to_owned(), Action::Drop)].into(),
        ..Default::default()
    };
    let mut span = base();
    span.attributes
        .push(attr::string("user.jane@example.com.score", "7"));
    let out = processor(config).process(SpanBatch { spans: vec![span] });
    let mut expected = base();
    expected.attributes.extend(audit("email"));
    assert_eq!(out.spans, vec![expected]);
}

#[test]
fn a_dotted_key_with_an_email_is_masked() {
    let mut span = base();
    span.attributes
        .push(attr::string("user.jane@x.com.score", "7"));
    let out = processor(RedactionConfig::default()).process(SpanBatch { spans: vec![span] });
    // The email pattern takes the dotted words on either side: the whole key is the finding.
    assert_eq!(
        attr::get_str(&out.spans[0].attributes, "<EMAIL>"),
        Some("7"),
        "{:?}",
        out.spans[0].attributes
    );
}

#[test]
fn non_utf8_bytes_keep_their_invalid_bytes_and_lose_the_secret() {
    let mut p = processor(RedactionConfig::default());
    let mut span = base();
    let mut blob = vec![0xc3, 0x28, b' '];
    blob.extend_from_slice(b"AKIAIOSFODNN7EXAMPLE");
    blob.extend_from_slice(&[b' ', 0xa0, 0xa1, b'o', b'k']);
    span.attributes
        .push(attr::kv("user.blob", Value::BytesValue(blob)));
    let out = p.process(SpanBatch { spans: vec![span] });
    let mut want = vec![0xc3, 0x28, b' '];
    want.extend_from_slice(b"<AWS_ACCESS_KEY>");
    want.extend_from_slice(&[b' ', 0xa0, 0xa1, b'o', b'k']);
    assert_eq!(
        attr::get(&out.spans[0].attributes, "user.blob"),
        Some(&Value::BytesValue(want))
    );
}

/// A span with a GenAI message event, a content attribute on an ordinary event, a blocked key
/// and an email on an ordinary event.
fn content_events_span() -> Span {
    let mut span = base();
    span.events = vec![
        Event {
            name: "gen_ai.user.message".into(),
            attributes: vec![attr::string("content", "I'm jane.roe@example.com")],
            ..Default::default()
        },
        Event {
            name: "log".into(),
            attributes: vec![
                attr::string("gen_ai.prompt", "hello from jane.roe@example.com"),
                attr::string("app.password", "hunter2"),
                attr::string("message", "jane.roe@example.com logged in"),
            ],
            ..Default::default()
        },
    ];
    span
}

#[test]
fn issue_18_content_off_removes_message_content_even_without_event_scanning() {
    let config = RedactionConfig {
        content: ContentPolicy::Off,
        scan_events: false,
        ..Default::default()
    };
    let out = processor(config).process(SpanBatch {
        spans: vec![content_events_span()],
    });
    let s = &out.spans[0];
    // The message event is kept (its time matters) without its content.
    assert_eq!(s.events[0].name, "gen_ai.user.message");
    assert!(s.events[0].attributes.is_empty());
    // Event attributes are not scanned, but content and blocked keys are removed.
    assert_eq!(
        s.events[1].attributes,
        vec![attr::string("message", "jane.roe@example.com logged in")]
    );
    assert_eq!(
        attr::get(&s.attributes, "tracegate.redacted.blocked_key"),
        Some(&Value::IntValue(1))
    );
}

#[test]
fn shared_scopes_are_redacted_once_per_batch_and_stay_shared() {
    let mut first = base();
    Arc::make_mut(&mut first.scope).name = "lib for jane.roe@example.com".into();
    let mut second = base();
    second.scope = Arc::clone(&first.scope);
    let clean = base();
    let clean_scope = Arc::clone(&clean.scope);
    let out = processor(RedactionConfig::default()).process(SpanBatch {
        spans: vec![first, second, clean],
    });
    assert!(Arc::ptr_eq(&out.spans[0].scope, &out.spans[1].scope));
    assert_eq!(out.spans[0].scope.name, "lib for <EMAIL>");
    // Counted once, on the scope.
    assert_eq!(
        attr::get(&out.spans[0].scope.attributes, "tracegate.redacted.count"),
        Some(&Value::IntValue(1))
    );
    assert!(Arc::ptr_eq(&out.spans[2].scope, &clean_scope));
}

#[test]
fn clean_names_are_kept_in_place() {
    let span = base();
    let (name, status) = (span.name.as_ptr(), span.status.message.as_ptr());
    let out = processor(RedactionConfig::default()).process(SpanBatch { spans: vec![span] });
    // The same buffers: nothing was rewritten or copied.
    assert_eq!(out.spans[0].name.as_ptr(), name);
    assert_eq!(out.spans[0].status.message.as_ptr(), status);
}

#[test]
fn issue_18_the_key_cache_is_bounded_by_bytes_as_well_as_entries() {
    use super::keys::{KEY_CACHE_BYTES, KEY_CACHE_LIMIT, KEY_CACHE_MAX_KEY};
    let redactor = Redactor::new(&RedactionConfig::default(), "").unwrap();
    let mut tally = redactor.new_tally();
    // Keys of 200 bytes: far fewer than the entry bound fill the byte bound.
    let n = 2 * KEY_CACHE_BYTES / 200;
    assert!(n < KEY_CACHE_LIMIT);
    let mut peak = 0;
    for i in 0..n {
        let key = format!("{i:0>200}");
        let mut attrs = vec![attr::string(&key, "v")];
        redactor.redact_attributes(&mut attrs, false, &mut tally);
        let (entries, bytes) = redactor.key_cache_usage();
        assert!(entries <= KEY_CACHE_LIMIT && bytes <= KEY_CACHE_BYTES);
        peak = peak.max(bytes);
    }
    assert!(peak > KEY_CACHE_BYTES / 2, "the cache was used: {peak}");
    // A key over the per-key bound is classified (here: blocked) but not cached.
    let before = redactor.key_cache_usage();
    let long = format!("{}.password", "x".repeat(KEY_CACHE_MAX_KEY));
    let mut attrs = vec![attr::string(&long, "hunter2")];
    redactor.redact_attributes(&mut attrs, false, &mut tally);
    assert!(attrs.is_empty());
    assert_eq!(redactor.key_cache_usage(), before);
}

#[test]
fn clean_keys_are_cached_and_keys_with_findings_are_not() {
    let redactor = Redactor::new(&RedactionConfig::default(), "").unwrap();
    let mut tally = redactor.new_tally();
    let mut attrs = vec![
        attr::string("http.route", "/a"),
        attr::string("user.jane@example.com.score", "1"),
    ];
    redactor.redact_attributes(&mut attrs, false, &mut tally);
    assert_eq!(redactor.key_cache_usage(), (1, "http.route".len()));
    assert_eq!(attrs[1].key, "<EMAIL>");
}

#[test]
fn attribute_values_reach_any_nesting() {
    // An array of kvlists of arrays: a finding at the bottom is still redacted.
    let inner = Value::ArrayValue(ArrayValue {
        values: vec![AnyValue {
            value: Some(Value::StringValue("call +44 20 7946 0958".into())),
        }],
    });
    let kv = Value::KvlistValue(KeyValueList {
        values: vec![KeyValue {
            key: "deep".into(),
            value: any(inner),
            ..Default::default()
        }],
    });
    let outer = Value::ArrayValue(ArrayValue {
        values: vec![AnyValue { value: Some(kv) }],
    });
    let mut span = base();
    span.attributes.push(attr::kv("user.tree", outer));
    let out = processor(RedactionConfig::default()).process(SpanBatch { spans: vec![span] });
    let text = format!("{:?}", out.spans[0].attributes);
    assert!(
        !text.contains("7946") && text.contains("call <PHONE>"),
        "{text}"
    );
}
