//! Tests of `llm_logs`. Index:
//! - golden cases, one per shape the seed's logger (and Python's `logging`) gives a record:
//!   the request log as a JSON string body, the response log with nested `metrics`, a flat
//!   body map, `extra` attributes; each checked attribute by attribute, worked by hand;
//! - cost: by hand for gpt-4o-mini, and equal to `genai_normalize`'s cost of the same call as
//!   a span (golden over several models, and a property over tokens and shapes);
//! - what is not an LLM call: plain and structured non-LLM logs untouched, quality records
//!   (the seed's and `gen_ai.evaluation.result`) never tagged `LlmCall`;
//! - OTel GenAI inference events; canonical values win; severity from `level`; bounds;
//!   idempotence (property); unknown models and their counter;
//! - `tests/properties.rs`: cost equals the span cost and a second run changes nothing, over
//!   random tokens, models and shapes; records without a model are kept as they are;
//! - `tests/config.rs`: the YAML fixture, defaults, and the factory's errors with their key
//!   paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::normalize::{GenAiNormalize, GenAiNormalizeConfig, test_span};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value,
};
use serde_json::json;
use tracegate_model::log::{LogBatch, LogKind, LogRecord};
use tracegate_model::{attr, keys};
use tracegate_pipeline::LogProcessor;
use tracegate_testkit::metrics::CapturedMetrics;

/// 2026-01-01T00:00:00Z, the time of `test_span`'s start.
const T0: u64 = 1_767_225_600_000_000_000;
const MODEL: &str = "gpt-4o-mini";

fn processor() -> LlmLogs {
    LlmLogs::new(LlmLogsConfig::default()).unwrap()
}

/// Runs one shared processor (per test thread): building one per call would parse the price
/// table each time.
fn canonicalised(mut record: LogRecord) -> (LogRecord, Outcome) {
    thread_local! {
        static P: std::cell::RefCell<LlmLogs> = std::cell::RefCell::new(processor());
    }
    let outcome = P.with(|p| p.borrow_mut().canonicalise(&mut record));
    (record, outcome)
}

/// The cost `genai_normalize` gives a span of `model` with these tokens.
fn span_cost(provider: Option<&str>, model: &str, input: i64, output: i64) -> Option<f64> {
    thread_local! {
        static N: std::cell::RefCell<GenAiNormalize> =
            std::cell::RefCell::new(GenAiNormalize::new(GenAiNormalizeConfig::default()).unwrap());
    }
    let mut span = test_span();
    span.attributes = vec![
        attr::string(keys::GEN_AI_REQUEST_MODEL, model),
        attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, input),
        attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, output),
    ];
    if let Some(p) = provider {
        span.attributes
            .push(attr::string(keys::GEN_AI_PROVIDER_NAME, p));
    }
    N.with(|n| n.borrow_mut().normalize_span(&mut span));
    attr::get_f64(&span.attributes, keys::TRACEGATE_COST_USD)
}

/// A record as the SDK's logging bridge sends the seed's `StructuredLogger` output: the JSON
/// document as the body, INFO severity, at [`T0`].
fn json_record(doc: serde_json::Value) -> LogRecord {
    LogRecord {
        time_unix_nano: T0,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(attr::string_value(doc.to_string())),
        attributes: vec![
            attr::string("code.file.path", "/app/llm.py"),
            attr::int("code.line.number", 42),
        ],
        ..LogRecord::empty()
    }
}

fn request_log() -> serde_json::Value {
    json!({
        "event": "llm_request", "request_id": "req-1", "user_id": "u-42", "model": MODEL,
        "prompt": "Summarise my account", "system_prompt": "You are a banking assistant.",
        "config": {"temperature": 0.2, "max_tokens": 512},
        "metadata": {"route": "/v1/chat"},
        "timestamp": 1_767_225_600.5, "service": "rag-api", "level": "INFO",
    })
}

fn response_log() -> serde_json::Value {
    json!({
        "event": "llm_response", "request_id": "req-1", "model": MODEL,
        "response": "You have 2 accounts.", "stop_reason": "stop",
        "metrics": {"input_tokens": 1200, "output_tokens": 300, "latency_ms": 1850.5,
                    "first_token_latency_ms": 420.0},
        "timestamp": 1_767_225_602.0, "service": "rag-api", "level": "INFO",
    })
}

fn quality_log() -> serde_json::Value {
    json!({
        "event": "quality", "request_id": "req-1", "rating": 2, "feedback": "Wrong answer",
        "annotations": {"category": "accuracy"}, "reviewer_id": "rev-7",
        "timestamp": 1_767_225_700.0, "service": "rag-api", "level": "INFO",
    })
}

fn get<'a>(r: &'a LogRecord, key: &str) -> Option<&'a Value> {
    attr::get(&r.attributes, key)
}

fn json_attr(r: &LogRecord, key: &str) -> serde_json::Value {
    serde_json::from_str(attr::get_str(&r.attributes, key).unwrap()).unwrap()
}

fn strings(items: &[&str]) -> Value {
    Value::ArrayValue(ArrayValue {
        values: items
            .iter()
            .map(|s| AnyValue {
                value: Some(Value::StringValue((*s).into())),
            })
            .collect(),
    })
}

fn map(entries: Vec<KeyValue>) -> AnyValue {
    AnyValue {
        value: Some(Value::KvlistValue(KeyValueList { values: entries })),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

/// The attributes a record gained, by key.
fn added(before: &LogRecord, after: &LogRecord) -> Vec<(String, Value)> {
    assert_eq!(
        &after.attributes[..before.attributes.len()],
        &before.attributes[..],
        "existing attributes are kept as they were"
    );
    after.attributes[before.attributes.len()..]
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().unwrap().value.clone().unwrap(),
            )
        })
        .collect()
}

#[test]
fn golden_request_log_as_a_json_string_body() {
    let before = json_record(request_log());
    let (after, outcome) = canonicalised(before.clone());
    assert_eq!(
        outcome,
        Outcome::LlmCall {
            unknown_model: false
        }
    );
    assert_eq!(after.facts.kind, LogKind::LlmCall);
    // The body is now the equivalent map, every seed field still there.
    let body = after.body_map().unwrap();
    assert_eq!(attr::get_str(body, "prompt"), Some("Summarise my account"));
    assert_eq!(attr::get_str(body, "event"), Some("llm_request"));
    let s = |v: &str| Value::StringValue(v.into());
    let mut got = added(&before, &after);
    let input = got
        .iter()
        .position(|(k, _)| k == keys::GEN_AI_INPUT_MESSAGES);
    let system = got
        .iter()
        .position(|(k, _)| k == keys::GEN_AI_SYSTEM_INSTRUCTIONS);
    assert!(input.is_some() && system.is_some(), "{got:?}");
    got.retain(|(k, _)| k != keys::GEN_AI_INPUT_MESSAGES && k != keys::GEN_AI_SYSTEM_INSTRUCTIONS);
    assert_eq!(
        got,
        vec![
            (keys::GEN_AI_OPERATION_NAME.into(), s("chat")),
            (keys::GEN_AI_REQUEST_MODEL.into(), s(MODEL)),
            (
                keys::GEN_AI_REQUEST_TEMPERATURE.into(),
                Value::DoubleValue(0.2)
            ),
            (keys::GEN_AI_REQUEST_MAX_TOKENS.into(), Value::IntValue(512)),
            (keys::USER_ID.into(), s("u-42")),
            (keys::TRACEGATE_REQUEST_ID.into(), s("req-1")),
        ]
    );
    // The JSON forms genai_normalize gives spans.
    assert_eq!(
        json_attr(&after, keys::GEN_AI_INPUT_MESSAGES),
        json!([{"role": "user", "parts": [{"type": "text", "content": "Summarise my account"}]}])
    );
    assert_eq!(
        json_attr(&after, keys::GEN_AI_SYSTEM_INSTRUCTIONS),
        json!([{"type": "text", "content": "You are a banking assistant."}])
    );
    // No tokens, no cost question.
    assert_eq!(get(&after, keys::TRACEGATE_COST_USD), None);
    assert_eq!(get(&after, keys::TRACEGATE_COST_UNKNOWN_MODEL), None);
    assert_eq!(
        (after.severity_number, after.severity_text.as_str()),
        (9, "INFO")
    );
}

#[test]
fn golden_response_log_with_nested_metrics() {
    let before = json_record(response_log());
    let (after, _) = canonicalised(before.clone());
    assert_eq!(after.facts.kind, LogKind::LlmCall);
    let got = added(&before, &after);
    let keys_written: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys_written,
        [
            keys::GEN_AI_OPERATION_NAME,
            keys::GEN_AI_REQUEST_MODEL,
            keys::GEN_AI_USAGE_INPUT_TOKENS,
            keys::GEN_AI_USAGE_OUTPUT_TOKENS,
            keys::GEN_AI_RESPONSE_FINISH_REASONS,
            keys::TRACEGATE_REQUEST_ID,
            keys::TRACEGATE_LATENCY_MS,
            keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
            keys::GEN_AI_OUTPUT_MESSAGES,
            keys::TRACEGATE_COST_USD,
            keys::TRACEGATE_COST_SOURCE,
        ]
    );
    assert_eq!(
        get(&after, keys::GEN_AI_USAGE_INPUT_TOKENS),
        Some(&Value::IntValue(1200))
    );
    assert_eq!(
        get(&after, keys::GEN_AI_USAGE_OUTPUT_TOKENS),
        Some(&Value::IntValue(300))
    );
    assert_eq!(
        get(&after, keys::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&strings(&["stop"]))
    );
    assert_eq!(
        get(&after, keys::TRACEGATE_LATENCY_MS),
        Some(&Value::DoubleValue(1850.5))
    );
    // 420 ms, in seconds.
    assert_eq!(
        get(&after, keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK),
        Some(&Value::DoubleValue(0.42))
    );
    assert_eq!(
        json_attr(&after, keys::GEN_AI_OUTPUT_MESSAGES),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "You have 2 accounts."}],
                "finish_reason": "stop"}])
    );
    // gpt-4o-mini: $0.15 per Mtok in, $0.60 out: 1200 × 0.15e-6 + 300 × 0.6e-6.
    let usd = attr::get_f64(&after.attributes, keys::TRACEGATE_COST_USD).unwrap();
    assert!(close(usd, 0.000_36), "{usd}");
    assert_eq!(
        attr::get_str(&after.attributes, keys::TRACEGATE_COST_SOURCE),
        Some("price_table")
    );
    assert_eq!(span_cost(None, MODEL, 1200, 300), Some(usd));
}

#[test]
fn golden_flat_body_map() {
    let before = LogRecord {
        time_unix_nano: T0,
        body: Some(map(vec![
            attr::string("model_name", "claude-3-5-haiku-20241022"),
            attr::string("prompt", "Hi"),
            attr::string("response", "Hello!"),
            attr::int("input_tokens", 1000),
            attr::int("output_tokens", 100),
            attr::string("stop_reason", "end_turn"),
            attr::string("response_id", "msg_01"),
            attr::double("ttft_ms", 250.0),
            attr::double("queue_wait_ms", 12.5),
            attr::string("level", "warning"),
        ])),
        ..LogRecord::empty()
    };
    let (after, _) = canonicalised(before.clone());
    assert_eq!(after.facts.kind, LogKind::LlmCall);
    assert_eq!(after.body, before.body, "a map body is kept as it is");
    let a = &after.attributes;
    assert_eq!(
        attr::get_str(a, keys::GEN_AI_REQUEST_MODEL),
        Some("claude-3-5-haiku-20241022")
    );
    assert_eq!(attr::get_str(a, keys::GEN_AI_RESPONSE_ID), Some("msg_01"));
    assert_eq!(
        attr::get_f64(a, keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK),
        Some(0.25)
    );
    assert_eq!(attr::get_f64(a, keys::TRACEGATE_QUEUE_WAIT_MS), Some(12.5));
    assert_eq!(
        json_attr(&after, keys::GEN_AI_OUTPUT_MESSAGES)[0]["finish_reason"],
        "end_turn"
    );
    // Severity from `level`, as the record had none.
    assert_eq!(
        (after.severity_number, after.severity_text.as_str()),
        (13, "WARNING")
    );
    // claude-3-5-haiku: $0.80 in, $4 out per Mtok: 1000 × 0.8e-6 + 100 × 4e-6 = 0.0012.
    let usd = attr::get_f64(a, keys::TRACEGATE_COST_USD).unwrap();
    assert!(close(usd, 0.0012), "{usd}");
    assert_eq!(
        span_cost(None, "claude-3-5-haiku-20241022", 1000, 100),
        Some(usd)
    );
}

#[test]
fn golden_python_logging_extra_attributes() {
    // `logger.info("llm call done", extra={...})`: the message is the body, `extra` the
    // attributes; numbers may arrive as strings from some formatters.
    let before = LogRecord {
        time_unix_nano: T0,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: Some(attr::string_value("llm call done")),
        attributes: vec![
            attr::string("code.function.name", "answer"),
            attr::string("model", "gpt-4o"),
            attr::int("input_tokens", 2000),
            attr::string("output_tokens", "150"),
            attr::double("latency_ms", 900.0),
            attr::int("request_id", 7781),
            attr::string("level", "ERROR"),
        ],
        ..LogRecord::empty()
    };
    let (after, _) = canonicalised(before.clone());
    assert_eq!(after.facts.kind, LogKind::LlmCall);
    assert_eq!(after.body, before.body);
    let a = &after.attributes;
    assert_eq!(
        attr::get_i64(a, keys::GEN_AI_USAGE_INPUT_TOKENS),
        Some(2000)
    );
    assert_eq!(
        attr::get(a, keys::GEN_AI_USAGE_OUTPUT_TOKENS),
        Some(&Value::IntValue(150))
    );
    assert_eq!(attr::get_str(a, keys::TRACEGATE_REQUEST_ID), Some("7781"));
    assert_eq!(attr::get(a, keys::GEN_AI_INPUT_MESSAGES), None);
    // The record had a severity: `level` does not override it.
    assert_eq!(
        (after.severity_number, after.severity_text.as_str()),
        (9, "INFO")
    );
    let usd = attr::get_f64(a, keys::TRACEGATE_COST_USD).unwrap();
    // gpt-4o: $2.50 in, $10 out per Mtok.
    assert!(close(usd, 2000.0 * 2.5e-6 + 150.0 * 10e-6), "{usd}");
    assert_eq!(span_cost(None, "gpt-4o", 2000, 150), Some(usd));
}

#[test]
fn cost_equals_the_span_cost_for_every_shape_and_provider() {
    for (provider, model) in [
        (None, "gpt-4o-mini"),
        (Some("openai"), "gpt-4o"),
        (Some("anthropic"), "claude-3-5-haiku-20241022"),
        (None, "openai/gpt-4o-mini"),
        (Some("gcp.gemini"), "gemini-2.0-flash"),
    ] {
        let mut doc = response_log();
        doc["model"] = json!(model);
        if let Some(p) = provider {
            doc["provider"] = json!(p);
        }
        let (after, _) = canonicalised(json_record(doc));
        let expected = span_cost(provider, model, 1200, 300);
        assert!(expected.is_some(), "{model} has a price");
        assert_eq!(
            attr::get_f64(&after.attributes, keys::TRACEGATE_COST_USD),
            expected,
            "{provider:?} {model}"
        );
    }
}

#[test]
fn non_llm_logs_are_untouched() {
    let plain = LogRecord {
        body: Some(attr::string_value("cache warmed for tenant acme")),
        attributes: vec![attr::string("code.function.name", "warm")],
        ..LogRecord::empty()
    };
    // A model but nothing of a call (a config dump), and a call's numbers but no model.
    let no_call = LogRecord {
        attributes: vec![attr::string("model", "gpt-4o"), attr::string("route", "/")],
        ..LogRecord::empty()
    };
    let no_model = LogRecord {
        body: Some(map(vec![attr::double("latency_ms", 3.0)])),
        ..LogRecord::empty()
    };
    for record in [plain, no_call, no_model] {
        let (after, outcome) = canonicalised(record.clone());
        assert_eq!(outcome, Outcome::Other);
        assert_eq!(after, record);
    }
    // A JSON body is structured (as the contract says), and nothing else changes.
    let json_body = json_record(json!({"event": "startup", "latency_ms": 5, "level": "DEBUG"}));
    let (after, outcome) = canonicalised(json_body.clone());
    assert_eq!(outcome, Outcome::Other);
    assert_eq!(after.attributes, json_body.attributes);
    assert_eq!(after.facts.kind, LogKind::Other);
    assert_eq!(after.severity_number, 9);
    assert_eq!(
        attr::get_str(after.body_map().unwrap(), "event"),
        Some("startup")
    );
}

#[test]
fn quality_records_are_never_llm_calls() {
    let mut with_model = quality_log();
    with_model["model"] = json!(MODEL);
    with_model["latency_ms"] = json!(10);
    let evaluation = LogRecord {
        event_name: keys::GEN_AI_EVALUATION_RESULT.into(),
        attributes: vec![
            attr::string(keys::GEN_AI_EVALUATION_NAME, "relevance"),
            attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, 0.9),
            attr::string(keys::GEN_AI_REQUEST_MODEL, MODEL),
            attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 10),
        ],
        ..LogRecord::empty()
    };
    let old_sdk = LogRecord {
        attributes: vec![
            attr::string("event.name", keys::GEN_AI_EVALUATION_RESULT),
            attr::string(keys::GEN_AI_REQUEST_MODEL, MODEL),
            attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 10),
        ],
        ..LogRecord::empty()
    };
    let mut scored = json_record(response_log());
    scored.facts.kind = LogKind::Score;
    for record in [
        json_record(quality_log()),
        json_record(with_model),
        evaluation,
        old_sdk,
        scored,
    ] {
        let (after, outcome) = canonicalised(record.clone());
        assert_eq!(outcome, Outcome::Other, "{record:?}");
        assert_ne!(after.facts.kind, LogKind::LlmCall);
        assert_eq!(after.attributes, record.attributes);
    }
}

#[test]
fn genai_inference_events_are_llm_calls_and_priced() {
    let event = LogRecord {
        time_unix_nano: T0,
        event_name: recognise::INFERENCE_DETAILS_EVENT.into(),
        attributes: vec![
            attr::string(keys::GEN_AI_OPERATION_NAME, "chat"),
            attr::string(keys::GEN_AI_PROVIDER_NAME, "openai"),
            attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o"),
            attr::string(keys::GEN_AI_RESPONSE_MODEL, "gpt-4o-mini"),
            attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 500),
            attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, 50),
        ],
        ..LogRecord::empty()
    };
    let (after, outcome) = canonicalised(event.clone());
    assert_eq!(
        outcome,
        Outcome::LlmCall {
            unknown_model: false
        }
    );
    // Only the cost was missing; it is priced on the response model, as spans are.
    let got = added(&event, &after);
    assert_eq!(got.len(), 2, "{got:?}");
    let usd = attr::get_f64(&after.attributes, keys::TRACEGATE_COST_USD).unwrap();
    assert_eq!(span_cost(Some("openai"), "gpt-4o-mini", 500, 50), Some(usd));
    // A record that already carries a model and usage, with no event name.
    let bare = LogRecord {
        attributes: event.attributes[2..].to_vec(),
        ..LogRecord::empty()
    };
    let (after, _) = canonicalised(bare);
    assert_eq!(after.facts.kind, LogKind::LlmCall);
    assert_eq!(
        attr::get_str(&after.attributes, keys::GEN_AI_OPERATION_NAME),
        Some("chat")
    );
    assert!(attr::get_f64(&after.attributes, keys::TRACEGATE_COST_USD).is_some());
    // The details event with no model or tokens is still an LLM call, with nothing to price.
    let (after, _) = canonicalised(LogRecord {
        event_name: recognise::INFERENCE_DETAILS_EVENT.into(),
        ..LogRecord::empty()
    });
    assert_eq!(after.facts.kind, LogKind::LlmCall);
    assert_eq!(after.attributes.len(), 1);
}

#[test]
fn canonical_values_win_and_provided_cost_is_kept() {
    let mut record = json_record(response_log());
    record.attributes = vec![
        attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o"),
        attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, 1),
        attr::double(keys::TRACEGATE_COST_USD, 0.5),
    ];
    let (after, _) = canonicalised(record);
    let a = &after.attributes;
    let count = |k: &str| a.iter().filter(|kv| kv.key == k).count();
    assert_eq!(count(keys::GEN_AI_REQUEST_MODEL), 1);
    assert_eq!(attr::get_str(a, keys::GEN_AI_REQUEST_MODEL), Some("gpt-4o"));
    assert_eq!(attr::get_i64(a, keys::GEN_AI_USAGE_OUTPUT_TOKENS), Some(1));
    assert_eq!(attr::get_f64(a, keys::TRACEGATE_COST_USD), Some(0.5));
    assert_eq!(
        attr::get_str(a, keys::TRACEGATE_COST_SOURCE),
        Some("provided")
    );
}

#[test]
fn unknown_models_are_marked_and_counted() {
    let mut doc = response_log();
    doc["model"] = json!("acme-private-7b");
    let batch = LogBatch {
        records: vec![
            json_record(doc),
            json_record(response_log()),
            json_record(quality_log()),
        ],
    };
    let captured = CapturedMetrics::new();
    let out = captured.run(|| processor().process(batch));
    let unknown = |r: &LogRecord| get(r, keys::TRACEGATE_COST_UNKNOWN_MODEL).is_some();
    assert!(unknown(&out.records[0]));
    assert_eq!(get(&out.records[0], keys::TRACEGATE_COST_USD), None);
    assert!(!unknown(&out.records[1]));
    assert_eq!(
        captured.counter(processor::COST_UNKNOWN_MODEL_TOTAL, &[]),
        1
    );
    // Prices from config reach it, as genai_normalize's do.
    let config: LlmLogsConfig = tracegate_pipeline::parse_section(
        "p",
        serde_yaml_ng::from_str(
            "prices: [{provider: acme, model: acme-private-7b, prices: {input_mtok: 1, output_mtok: 2}}]",
        )
        .unwrap(),
    )
    .unwrap();
    let mut p = LlmLogs::new(config).unwrap();
    let mut doc = response_log();
    doc["model"] = json!("acme-private-7b");
    let mut record = json_record(doc);
    p.canonicalise(&mut record);
    let usd = attr::get_f64(&record.attributes, keys::TRACEGATE_COST_USD).unwrap();
    assert!(close(usd, 1200.0 * 1e-6 + 300.0 * 2e-6), "{usd}");
}

#[test]
fn copies_into_the_messages_are_bounded() {
    let config = LlmLogsConfig {
        max_message_bytes: tracegate_pipeline::ByteSize(100),
        ..LlmLogsConfig::default()
    };
    let mut p = LlmLogs::new(config).unwrap();
    let prompt = "é".repeat(1000);
    let mut record = LogRecord {
        attributes: vec![
            attr::string("model", MODEL),
            attr::string("prompt", prompt.clone()),
            attr::string("system_prompt", "s".repeat(500)),
        ],
        body: Some(map(vec![attr::kv(
            "response",
            strings(&[&"r".repeat(200)]),
        )])),
        ..LogRecord::empty()
    };
    p.canonicalise(&mut record);
    let messages = json_attr(&record, keys::GEN_AI_INPUT_MESSAGES);
    let content = messages[0]["parts"][0]["content"].as_str().unwrap();
    // Cut at a character boundary at most 100 bytes in; the original is whole.
    assert_eq!(content, "é".repeat(50));
    assert_eq!(
        attr::get_str(&record.attributes, "prompt"),
        Some(prompt.as_str())
    );
    let system = json_attr(&record, keys::GEN_AI_SYSTEM_INSTRUCTIONS);
    assert_eq!(system[0]["content"].as_str().unwrap().len(), 100);
    // A structured payload over the bound is not rebuilt.
    assert_eq!(get(&record, keys::GEN_AI_OUTPUT_MESSAGES), None);
    // `messages: false` writes none.
    let mut p = LlmLogs::new(LlmLogsConfig {
        messages: false,
        ..LlmLogsConfig::default()
    })
    .unwrap();
    let mut record = json_record(request_log());
    p.canonicalise(&mut record);
    assert_eq!(get(&record, keys::GEN_AI_INPUT_MESSAGES), None);
    assert_eq!(get(&record, keys::GEN_AI_SYSTEM_INSTRUCTIONS), None);
    assert!(get(&record, keys::GEN_AI_REQUEST_MODEL).is_some());
}

#[test]
fn prompts_that_are_message_lists_keep_their_roles() {
    let doc = json!({
        "model": MODEL,
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
    });
    let (after, _) = canonicalised(json_record(doc));
    assert_eq!(
        json_attr(&after, keys::GEN_AI_INPUT_MESSAGES),
        json!([
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        ])
    );
}

#[test]
fn severity_names() {
    for (level, n) in [
        ("DEBUG", 5),
        ("info", 9),
        ("Warning", 13),
        ("WARN", 13),
        ("ERROR", 17),
        ("CRITICAL", 21),
    ] {
        assert_eq!(processor::severity_number(level), Some(n), "{level}");
    }
    assert_eq!(processor::severity_number("LOUD"), None);
    let mut doc = response_log();
    doc["level"] = json!("LOUD");
    let mut record = json_record(doc);
    record.severity_number = 0;
    record.severity_text.clear();
    let (after, _) = canonicalised(record);
    assert_eq!(
        (after.severity_number, after.severity_text.as_str()),
        (0, "")
    );
}

mod config;
mod properties;
