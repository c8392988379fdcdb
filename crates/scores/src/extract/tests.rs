//! Golden cases: one per shape [`from_log`] and [`from_span`] recognise, worked out by hand,
//! and the look-alikes they must leave alone.

use super::*;
use std::sync::Arc;
use tracegate_model::proto::common::v1::{AnyValue, KeyValueList};
use tracegate_model::span::{Event, Link};
use tracegate_model::{
    LogRecord, Resource, Score, ScoreJoin, ScoreSource, Span, SpanId, SpanKind, TraceId,
};

fn resource(service: &str) -> Arc<Resource> {
    Arc::new(Resource::with_service(service))
}

fn record(attributes: Vec<tracegate_model::proto::common::v1::KeyValue>) -> LogRecord {
    LogRecord {
        resource: resource("evaluator"),
        time_unix_nano: 42,
        attributes,
        ..LogRecord::empty()
    }
}

fn span(attributes: Vec<tracegate_model::proto::common::v1::KeyValue>) -> Span {
    Span {
        resource: resource("rag-api"),
        scope: Arc::default(),
        trace_id: TraceId([1; 16]),
        span_id: SpanId([2; 8]),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: "chat gpt-4o".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: 100,
        end_time_unix_nano: 200,
        attributes,
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Default::default(),
        facts: Default::default(),
        origin: Default::default(),
    }
}

fn event(attributes: Vec<tracegate_model::proto::common::v1::KeyValue>) -> Event {
    Event {
        time_unix_nano: 150,
        name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes,
        dropped_attributes_count: 0,
    }
}

fn link(trace: u8, span: u8) -> Link {
    Link {
        trace_id: vec![trace; 16],
        span_id: vec![span; 8],
        ..Default::default()
    }
}

fn evaluation_attributes() -> Vec<tracegate_model::proto::common::v1::KeyValue> {
    vec![
        attr::string(keys::GEN_AI_EVALUATION_NAME, "relevance"),
        attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, 0.25),
        attr::string(keys::GEN_AI_EVALUATION_SCORE_LABEL, "fail"),
        attr::string(keys::GEN_AI_EVALUATION_EXPLANATION, "off topic"),
        attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-9"),
    ]
}

#[test]
fn an_evaluation_event_record_with_trace_context() {
    let mut r = record(evaluation_attributes());
    r.event_name = keys::GEN_AI_EVALUATION_RESULT.into();
    r.trace_id = Some(TraceId([3; 16]));
    r.span_id = Some(SpanId([4; 8]));
    let score = from_log(&r).unwrap();
    assert_eq!(
        score,
        Score {
            name: "relevance".into(),
            value: Some(0.25),
            label: Some("fail".into()),
            explanation: Some("off topic".into()),
            response_id: Some("chatcmpl-9".into()),
            trace_id: Some(TraceId([3; 16])),
            span_id: Some(SpanId([4; 8])),
            joined_by: ScoreJoin::Unresolved,
            source: ScoreSource::Log,
            time_unix_nano: 42,
            service_name: "evaluator".into(),
            ..Default::default()
        }
    );
}

#[test]
fn an_evaluation_event_named_by_attribute_with_its_fields_in_the_body() {
    // `event.name` as an attribute, the rest in a structured body, value as a string,
    // an error type, no ids: the score has no trace.
    let body = vec![
        attr::string(keys::GEN_AI_EVALUATION_NAME, "faithfulness"),
        attr::string(keys::GEN_AI_EVALUATION_SCORE_VALUE, " 0.5 "),
        attr::string(keys::ERROR_TYPE, "timeout"),
        attr::string("request_id", "req-1"),
    ];
    let r = LogRecord {
        body: Some(AnyValue {
            value: Some(Value::KvlistValue(KeyValueList { values: body })),
        }),
        ..record(vec![attr::string(
            "event.name",
            keys::GEN_AI_EVALUATION_RESULT,
        )])
    };
    assert!(is_evaluation_event(&r));
    let score = from_log(&r).unwrap();
    assert_eq!(score.name, "faithfulness");
    assert_eq!(score.value, Some(0.5));
    assert_eq!(score.error_type.as_deref(), Some("timeout"));
    assert_eq!(score.request_id.as_deref(), Some("req-1"));
    assert_eq!(score.trace_id, None);
    assert_eq!(score.label, None);
}

#[test]
fn the_seeds_quality_log_from_a_json_body() {
    let mut r = LogRecord {
        resource: resource("unknown_service"),
        time_unix_nano: 7,
        body: Some(attr::string_value(
            r#"{"event":"quality","request_id":"req-7","rating":2,"feedback":"Wrong answer","annotations":{"topic":"billing","flags":["x"]},"reviewer_id":"rev-7","service":"feedback","timestamp":1.5,"level":"INFO"}"#,
        )),
        ..LogRecord::empty()
    };
    assert!(r.structure_body());
    assert!(is_quality_log(&r));
    let score = from_log(&r).unwrap();
    assert_eq!(
        score,
        Score {
            name: USER_FEEDBACK.into(),
            value: Some(2.0),
            explanation: Some("Wrong answer".into()),
            reviewer_id: Some("rev-7".into()),
            // serde_json's map (as `structure_body` parses it) orders keys.
            annotations: Some(r#"{"flags":["x"],"topic":"billing"}"#.into()),
            request_id: Some("req-7".into()),
            source: ScoreSource::Log,
            time_unix_nano: 7,
            // The resource named no service: the record's own `service` field.
            service_name: "feedback".into(),
            ..Default::default()
        }
    );
}

#[test]
fn the_seeds_quality_log_in_attributes_with_a_null_reviewer_and_a_label_rating() {
    // Attributes only; `reviewer_id` null (None in JSON), annotations empty, rating a word,
    // an evaluation name given.
    let mut r = LogRecord {
        body: Some(attr::string_value(
            r#"{"event":"quality","rating":"thumbs_down","annotations":{},"reviewer_id":null}"#,
        )),
        ..record(vec![
            attr::string("request_id", "req-8"),
            attr::string("evaluation_name", "helpfulness"),
        ])
    };
    r.structure_body();
    let score = from_log(&r).unwrap();
    assert_eq!(score.name, "helpfulness");
    assert_eq!(score.value, None);
    assert_eq!(score.label.as_deref(), Some("thumbs_down"));
    assert_eq!(score.reviewer_id, None);
    assert_eq!(score.annotations, None);
    assert_eq!(score.request_id.as_deref(), Some("req-8"));
    assert_eq!(score.service_name, "evaluator");

    // A boolean rating is 1 or 0; an integer request id is written in decimal.
    let r = record(vec![
        attr::boolean("rating", false),
        attr::int("request_id", 12345),
    ]);
    let score = from_log(&r).unwrap();
    assert_eq!(
        (score.value, score.request_id.as_deref()),
        (Some(0.0), Some("12345"))
    );
}

#[test]
fn other_logs_are_not_scores() {
    // An LLM response log, a plain log, a `rating` with nothing to say what it rates, a
    // different event.
    let mut llm = record(vec![]);
    llm.body = Some(attr::string_value(
        r#"{"event":"llm_response","request_id":"r","metrics":{"input_tokens":3}}"#,
    ));
    llm.structure_body();
    assert_eq!(from_log(&llm), None);
    assert_eq!(
        from_log(&LogRecord {
            body: Some(attr::string_value("GET /health 200")),
            ..LogRecord::empty()
        }),
        None
    );
    assert_eq!(from_log(&record(vec![attr::int("rating", 5)])), None);
    let mut other = record(evaluation_attributes());
    other.event_name = "gen_ai.client.inference.operation.details".into();
    assert_eq!(from_log(&other), None);
}

#[test]
fn a_span_event_rates_the_span_it_is_on() {
    let mut s = span(vec![attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-9")]);
    s.events = vec![
        Event {
            name: "gen_ai.content.prompt".into(),
            ..event(vec![])
        },
        event(evaluation_attributes()),
    ];
    let scores = from_span(&s);
    assert_eq!(scores.len(), 1);
    assert_eq!(
        scores[0],
        Score {
            name: "relevance".into(),
            value: Some(0.25),
            label: Some("fail".into()),
            explanation: Some("off topic".into()),
            response_id: Some("chatcmpl-9".into()),
            trace_id: Some(TraceId([1; 16])),
            span_id: Some(SpanId([2; 8])),
            joined_by: ScoreJoin::TraceContext,
            source: ScoreSource::SpanEvent,
            time_unix_nano: 150,
            service_name: "rag-api".into(),
            ..Default::default()
        }
    );
}

#[test]
fn a_span_event_naming_another_response_is_left_for_the_join() {
    let mut s = span(vec![]);
    s.events = vec![event(evaluation_attributes())];
    let scores = from_span(&s);
    assert_eq!(scores.len(), 1);
    assert_eq!(
        (scores[0].trace_id, scores[0].span_id, scores[0].joined_by),
        (None, None, ScoreJoin::Unresolved)
    );
    assert_eq!(scores[0].response_id.as_deref(), Some("chatcmpl-9"));
}

#[test]
fn a_feedback_span_rates_its_first_valid_link() {
    let mut s = span(vec![
        attr::string(OPENINFERENCE_SPAN_KIND, "evaluator"),
        attr::string("annotation.name", "correctness"),
        attr::int("annotation.score", 1),
        attr::string("annotation.label", "correct"),
        attr::string("annotation.explanation", "matches the docs"),
        attr::string("feedback.reviewer_id", "rev-3"),
        attr::kv(
            "annotation.metadata",
            Value::KvlistValue(KeyValueList {
                values: vec![attr::string("model", "judge-1")],
            }),
        ),
    ]);
    s.name = "evaluate".into();
    // An all-zero link is not a span context; the next one is.
    s.links = vec![
        Link {
            trace_id: vec![0; 16],
            span_id: vec![0; 8],
            ..Default::default()
        },
        link(8, 9),
    ];
    let scores = from_span(&s);
    assert_eq!(
        scores,
        vec![Score {
            name: "correctness".into(),
            value: Some(1.0),
            label: Some("correct".into()),
            explanation: Some("matches the docs".into()),
            reviewer_id: Some("rev-3".into()),
            annotations: Some(r#"{"model":"judge-1"}"#.into()),
            trace_id: Some(TraceId([8; 16])),
            span_id: Some(SpanId([9; 8])),
            joined_by: ScoreJoin::TraceContext,
            source: ScoreSource::FeedbackSpan,
            time_unix_nano: 200,
            service_name: "rag-api".into(),
            ..Default::default()
        }]
    );
}

#[test]
fn a_feedback_span_by_its_attributes_alone_named_after_the_span() {
    let mut s = span(vec![
        attr::double("feedback.score", 0.0),
        attr::string(keys::USER_ID, "u-1"),
    ]);
    s.name = "thumbs".into();
    s.links = vec![link(5, 6)];
    let scores = from_span(&s);
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0].name, "thumbs");
    assert_eq!(scores[0].value, Some(0.0));
    assert_eq!(scores[0].reviewer_id.as_deref(), Some("u-1"));
    assert_eq!(scores[0].trace_id, Some(TraceId([5; 16])));
}

#[test]
fn spans_that_only_look_like_feedback_give_nothing() {
    // Score attributes without a link; a link without score attributes or evaluator kind;
    // an evaluator whose only link is invalid; a plain LLM span.
    let mut unlinked = span(vec![attr::double("feedback.score", 1.0)]);
    assert!(from_span(&unlinked).is_empty());
    unlinked.attributes = vec![attr::string("feedback.id", "x")];
    unlinked.links = vec![link(5, 6)];
    assert!(from_span(&unlinked).is_empty());
    let mut bad_link = span(vec![attr::string(OPENINFERENCE_SPAN_KIND, "EVALUATOR")]);
    bad_link.links = vec![Link {
        trace_id: vec![1; 15],
        span_id: vec![1; 8],
        ..Default::default()
    }];
    assert!(from_span(&bad_link).is_empty());
    assert!(from_span(&span(evaluation_attributes())).is_empty());
}
