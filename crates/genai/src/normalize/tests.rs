//! Tests of `genai_normalize`. Index:
//! - `every_alias_maps_onto_its_canonical_name`: the issue's table, row by row, old and new;
//! - `canonical_values_win_and_pass_through`, `drop_aliases_removes_the_originals`;
//! - `operation_values`, `provider_values_are_normalised`, `llm_model_name_*`;
//! - `messages_from_*`: the five carriers;
//! - `exclusive_input_is_detected_and_converted`;
//! - `ttft_from_*`: each TTFT source, through the processor;
//! - `cost_*`: provided cost, price table cost, unknown model and its counter;
//! - `dialects_agree`: the same call in three dialects gives the same canonical facts (the
//!   attribute sets the Python integration test mirrors);
//! - `config_fixture_parses` and the factory;
//! - `properties` (in `tests/properties.rs`): idempotence and the exact result of the alias
//!   table on random mixes of dialects.

use super::aliases::{ALIASES, Conv, Field, normalize_provider};
use super::*;
use crate::normalize::processor::COST_UNKNOWN_MODEL_TOTAL;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use serde_json::json;
use tracegate_model::span::Event;
use tracegate_model::{Span, SpanBatch, attr, keys};
use tracegate_pipeline::SpanProcessor;
use tracegate_testkit::metrics::CapturedMetrics;

fn processor() -> GenAiNormalize {
    GenAiNormalize::new(GenAiNormalizeConfig::default()).unwrap()
}

fn normalized(attributes: Vec<KeyValue>) -> Span {
    normalized_with(attributes, vec![])
}

fn normalized_with(attributes: Vec<KeyValue>, events: Vec<Event>) -> Span {
    let mut span = test_span();
    span.attributes = attributes;
    span.events = events;
    renormalize(&mut span);
    span
}

/// Runs one shared processor (per test thread) on `span`: building one per call would parse
/// the price table each time.
fn renormalize(span: &mut Span) {
    thread_local! {
        static PROCESSOR: std::cell::RefCell<GenAiNormalize> = std::cell::RefCell::new(processor());
    }
    PROCESSOR.with(|p| p.borrow_mut().normalize_span(span));
}

fn get<'a>(span: &'a Span, key: &str) -> Option<&'a Value> {
    attr::get(&span.attributes, key)
}

fn str_of<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    attr::get_str(&span.attributes, key)
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

fn json_of(span: &Span, key: &str) -> serde_json::Value {
    serde_json::from_str(str_of(span, key).unwrap()).unwrap()
}

fn event(name: &str, t: u64, attributes: Vec<KeyValue>) -> Event {
    Event {
        name: name.into(),
        time_unix_nano: t,
        attributes,
        ..Default::default()
    }
}

/// A sample input value for an alias and the canonical value it must give.
fn sample(conv: Conv) -> (Value, Value) {
    let s = |v: &str| Value::StringValue(v.into());
    match conv {
        Conv::Str => (s("model-x"), s("model-x")),
        Conv::Int => (Value::IntValue(42), Value::IntValue(42)),
        Conv::Bool => (s("true"), Value::BoolValue(true)),
        Conv::Provider => (s("Anthropic"), s("anthropic")),
        Conv::VercelProvider => (s("openai.chat"), s("openai")),
        Conv::OpenInferenceKind => (s("LLM"), s("chat")),
        Conv::LlmRequestType => (s("completion"), s("text_completion")),
        Conv::TraceloopKind => (s("agent"), s("invoke_agent")),
        Conv::FinishReasons => (s("stop"), strings(&["stop"])),
    }
}

#[test]
fn every_alias_maps_onto_its_canonical_name() {
    let required = [
        "openinference.span.kind",
        "llm.request.type",
        "traceloop.span.kind",
        "gen_ai.system",
        "llm.provider",
        "llm.system",
        "llm.request.model_name",
        "llm.response.model_name",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
        "gen_ai.usage.cache_creation_input_tokens",
        "gen_ai.usage.cache_write.input_tokens",
        "llm.token_count.prompt_details.cache_write",
        "llm.usage.reasoning_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
        "llm.response.finish_reason",
        "llm.finish_reason",
        "llm.is_streaming",
        "gen_ai.is_streaming",
        "session.id",
    ];
    for key in required {
        assert!(
            ALIASES.iter().any(|a| a.key == key),
            "{key} missing from the table"
        );
    }
    for alias in ALIASES {
        let (input, expected) = sample(alias.conv);
        let span = normalized(vec![attr::kv(alias.key, input.clone())]);
        assert_eq!(
            get(&span, alias.field.canonical()),
            Some(&expected),
            "{}",
            alias.key
        );
        assert_eq!(get(&span, alias.key), Some(&input), "{} kept", alias.key);
        assert_eq!(
            span.attributes
                .iter()
                .filter(|kv| kv.key == alias.field.canonical())
                .count(),
            1,
            "{}",
            alias.key
        );
    }
}

#[test]
fn special_aliases_llm_model_name_and_completion_finish_reasons() {
    // llm.model_name alone: both request and response model.
    let span = normalized(vec![attr::string("llm.model_name", "gpt-4o")]);
    assert_eq!(str_of(&span, keys::GEN_AI_REQUEST_MODEL), Some("gpt-4o"));
    assert_eq!(str_of(&span, keys::GEN_AI_RESPONSE_MODEL), Some("gpt-4o"));
    // With a request model given otherwise, llm.model_name is not the response model.
    let span = normalized(vec![
        attr::string("llm.request.model_name", "gpt-4o"),
        attr::string("llm.model_name", "gpt-4o-2024-08-06"),
    ]);
    assert_eq!(str_of(&span, keys::GEN_AI_REQUEST_MODEL), Some("gpt-4o"));
    assert_eq!(str_of(&span, keys::GEN_AI_RESPONSE_MODEL), None);
    let span = normalized(vec![
        attr::string("gen_ai.request.model", "gpt-4o"),
        attr::string("llm.model_name", "gpt-4o-2024-08-06"),
    ]);
    assert_eq!(str_of(&span, keys::GEN_AI_REQUEST_MODEL), Some("gpt-4o"));
    assert_eq!(str_of(&span, keys::GEN_AI_RESPONSE_MODEL), None);
    // gen_ai.completion.N.finish_reason, in index order.
    let span = normalized(vec![
        attr::string("gen_ai.completion.1.finish_reason", "length"),
        attr::string("gen_ai.completion.0.finish_reason", "stop"),
    ]);
    assert_eq!(
        get(&span, keys::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&strings(&["stop", "length"]))
    );
    // llm.response.finish_reason is preferred to the completion attributes.
    let span = normalized(vec![
        attr::string("gen_ai.completion.0.finish_reason", "stop"),
        attr::string("llm.response.finish_reason", "tool_calls"),
    ]);
    assert_eq!(
        get(&span, keys::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&strings(&["tool_calls"]))
    );
}

#[test]
fn canonical_values_win_and_pass_through() {
    for field in Field::ALL {
        let canonical = match field {
            Field::InputTokens
            | Field::OutputTokens
            | Field::CacheRead
            | Field::CacheWrite
            | Field::Reasoning => Value::IntValue(7),
            Field::Stream => Value::BoolValue(false),
            Field::FinishReasons => strings(&["length"]),
            Field::Provider => Value::StringValue("openai".into()),
            _ => Value::StringValue("explicit".into()),
        };
        for alias in ALIASES.iter().filter(|a| a.field == field) {
            let (input, _) = sample(alias.conv);
            let span = normalized(vec![
                attr::kv(alias.key, input),
                attr::kv(field.canonical(), canonical.clone()),
            ]);
            assert_eq!(
                get(&span, field.canonical()),
                Some(&canonical),
                "{}",
                alias.key
            );
        }
    }
    // Already-current spans (testkit's dialect) keep every attribute as it was.
    let attrs = vec![
        attr::string("gen_ai.operation.name", "chat"),
        attr::string("gen_ai.provider.name", "openai"),
        attr::string("gen_ai.request.model", "gpt-4o"),
        attr::int("gen_ai.usage.input_tokens", 10),
    ];
    let span = normalized(attrs.clone());
    assert_eq!(&span.attributes[..4], &attrs[..]);
}

#[test]
fn non_llm_spans_are_untouched() {
    let attrs = vec![
        attr::string("http.request.method", "GET"),
        attr::int("http.response.status_code", 200),
        attr::string("db.system.name", "postgresql"),
    ];
    let span = normalized(attrs.clone());
    assert_eq!(span.attributes, attrs);
}

#[test]
fn drop_aliases_removes_the_originals() {
    let mut p = GenAiNormalize::new(GenAiNormalizeConfig {
        drop_aliases: true,
        ..Default::default()
    })
    .unwrap();
    let mut span = test_span();
    span.attributes = vec![
        attr::string("gen_ai.system", "openai"),
        attr::string("llm.model_name", "gpt-4o"),
        attr::int("llm.token_count.prompt", 10),
        attr::string("gen_ai.prompt.0.role", "user"),
        attr::string("gen_ai.prompt.0.content", "hi"),
        attr::string("http.route", "/chat"),
    ];
    p.normalize_span(&mut span);
    for gone in [
        "gen_ai.system",
        "llm.model_name",
        "llm.token_count.prompt",
        "gen_ai.prompt.0.role",
        "gen_ai.prompt.0.content",
    ] {
        assert!(get(&span, gone).is_none(), "{gone}");
    }
    assert_eq!(str_of(&span, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(str_of(&span, "http.route"), Some("/chat"));
    assert!(str_of(&span, "gen_ai.input.messages").is_some());
}

#[test]
fn operation_values() {
    let cases = [
        ("openinference.span.kind", "LLM", Some("chat")),
        ("openinference.span.kind", "EMBEDDING", Some("embeddings")),
        ("openinference.span.kind", "RETRIEVER", Some("retrieval")),
        ("openinference.span.kind", "TOOL", Some("execute_tool")),
        ("openinference.span.kind", "AGENT", Some("invoke_agent")),
        ("openinference.span.kind", "RERANKER", None),
        ("openinference.span.kind", "CHAIN", None),
        ("openinference.span.kind", "GUARDRAIL", None),
        ("llm.request.type", "chat", Some("chat")),
        ("llm.request.type", "completion", Some("text_completion")),
        ("llm.request.type", "embedding", Some("embeddings")),
        ("llm.request.type", "rerank", Some("rerank")),
        ("traceloop.span.kind", "agent", Some("invoke_agent")),
        ("traceloop.span.kind", "tool", Some("execute_tool")),
        ("traceloop.span.kind", "workflow", None),
        ("traceloop.span.kind", "task", None),
    ];
    for (key, value, expected) in cases {
        let span = normalized(vec![attr::string(key, value)]);
        assert_eq!(
            str_of(&span, keys::GEN_AI_OPERATION_NAME),
            expected,
            "{key}={value}"
        );
    }
}

#[test]
fn provider_values_are_normalised() {
    let cases = [
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("az.ai.inference", "azure.ai.inference"),
        ("az.ai.openai", "azure.ai.openai"),
        ("xai", "x_ai"),
        ("Anthropic", "anthropic"),
        ("AWS", "aws.bedrock"),
        ("OpenAI", "openai"),
        ("MistralAI", "mistral_ai"),
        ("Cohere", "cohere"),
        ("Vertex AI", "gcp.vertex_ai"),
        ("openai", "openai"),
        ("SomeNewLab", "somenewlab"),
    ];
    for (value, expected) in cases {
        assert_eq!(normalize_provider(value), expected, "{value}");
        // Through every provider alias, and in place on the canonical attribute.
        for key in [
            "gen_ai.system",
            "llm.provider",
            "llm.system",
            "gen_ai.provider.name",
        ] {
            let span = normalized(vec![attr::string(key, value)]);
            assert_eq!(
                str_of(&span, "gen_ai.provider.name"),
                Some(expected),
                "{key}={value}"
            );
        }
    }
}

#[test]
fn messages_from_flattened_openllmetry_attributes() {
    let span = normalized(vec![
        attr::string("gen_ai.prompt.0.role", "system"),
        attr::string("gen_ai.prompt.0.content", "Be brief."),
        attr::string("gen_ai.prompt.1.role", "user"),
        attr::string("gen_ai.prompt.1.content", "Weather in Paris?"),
        attr::string("gen_ai.prompt.2.role", "tool"),
        attr::string("gen_ai.prompt.2.tool_call_id", "call_1"),
        attr::string("gen_ai.prompt.2.content", "18C"),
        attr::string("gen_ai.completion.0.role", "assistant"),
        attr::string("gen_ai.completion.0.content", "Sunny."),
        attr::string("gen_ai.completion.0.finish_reason", "stop"),
        attr::string("gen_ai.completion.0.tool_calls.0.id", "call_2"),
        attr::string("gen_ai.completion.0.tool_calls.0.name", "get_time"),
        attr::string(
            "gen_ai.completion.0.tool_calls.0.arguments",
            "{\"city\":\"Paris\"}",
        ),
    ]);
    assert_eq!(
        json_of(&span, "gen_ai.input.messages"),
        json!([
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18C"}]},
        ])
    );
    assert_eq!(
        json_of(&span, "gen_ai.output.messages"),
        json!([{"role": "assistant", "finish_reason": "stop", "parts": [
            {"type": "text", "content": "Sunny."},
            {"type": "tool_call", "id": "call_2", "name": "get_time", "arguments": {"city": "Paris"}},
        ]}])
    );
    assert_eq!(
        get(&span, keys::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&strings(&["stop"]))
    );
}

#[test]
fn messages_from_flattened_openinference_attributes() {
    let span = normalized(vec![
        attr::string("llm.input_messages.0.message.role", "system"),
        attr::string("llm.input_messages.0.message.content", "Be brief."),
        attr::string("llm.input_messages.1.message.role", "user"),
        attr::string(
            "llm.input_messages.1.message.contents.0.message_content.type",
            "text",
        ),
        attr::string(
            "llm.input_messages.1.message.contents.0.message_content.text",
            "Hi",
        ),
        attr::string("llm.output_messages.0.message.role", "assistant"),
        attr::string("llm.output_messages.0.message.content", "Hello."),
        attr::string(
            "llm.output_messages.0.message.tool_calls.0.tool_call.id",
            "c1",
        ),
        attr::string(
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name",
            "f",
        ),
        attr::string(
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
            "{}",
        ),
    ]);
    assert_eq!(
        json_of(&span, "gen_ai.input.messages"),
        json!([
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        ])
    );
    assert_eq!(
        json_of(&span, "gen_ai.output.messages"),
        json!([{"role": "assistant", "parts": [
            {"type": "text", "content": "Hello."},
            {"type": "tool_call", "id": "c1", "name": "f", "arguments": {}},
        ]}])
    );
}

#[test]
fn messages_from_content_events() {
    let span = normalized_with(
        vec![attr::string("gen_ai.system", "openai")],
        vec![
            event(
                "gen_ai.content.prompt",
                0,
                vec![attr::string(
                    "gen_ai.prompt",
                    r#"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]"#,
                )],
            ),
            event(
                "gen_ai.content.completion",
                0,
                vec![attr::string("gen_ai.completion", "Hello.")],
            ),
        ],
    );
    assert_eq!(
        json_of(&span, "gen_ai.input.messages"),
        json!([
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        ])
    );
    assert_eq!(
        json_of(&span, "gen_ai.output.messages"),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "Hello."}]}])
    );
}

#[test]
fn messages_from_per_role_events() {
    let span = normalized_with(
        vec![],
        vec![
            event(
                "gen_ai.system.message",
                0,
                vec![attr::string("content", "Be brief.")],
            ),
            event(
                "gen_ai.user.message",
                0,
                vec![attr::string("content", "Time?")],
            ),
            event(
                "gen_ai.assistant.message",
                0,
                vec![attr::string(
                    "tool_calls",
                    r#"[{"id":"c1","type":"function","function":{"name":"now","arguments":"{}"}}]"#,
                )],
            ),
            event(
                "gen_ai.tool.message",
                0,
                vec![attr::string("id", "c1"), attr::string("content", "12:00")],
            ),
        ],
    );
    assert_eq!(
        json_of(&span, "gen_ai.input.messages"),
        json!([
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Time?"}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "c1", "name": "now", "arguments": {}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": "12:00"}]},
        ])
    );
}

#[test]
fn messages_from_choice_events() {
    let span = normalized_with(
        vec![],
        vec![
            event(
                "gen_ai.choice",
                0,
                vec![
                    attr::int("index", 1),
                    attr::string("finish_reason", "length"),
                    attr::string("message", r#"{"role":"assistant","content":"B"}"#),
                ],
            ),
            event(
                "gen_ai.choice",
                0,
                vec![
                    attr::int("index", 0),
                    attr::string("finish_reason", "stop"),
                    attr::string("message", r#"{"content":"A"}"#),
                ],
            ),
        ],
    );
    assert_eq!(
        json_of(&span, "gen_ai.output.messages"),
        json!([
            {"role": "assistant", "finish_reason": "stop", "parts": [{"type": "text", "content": "A"}]},
            {"role": "assistant", "finish_reason": "length", "parts": [{"type": "text", "content": "B"}]},
        ])
    );
    assert_eq!(
        get(&span, keys::GEN_AI_RESPONSE_FINISH_REASONS),
        Some(&strings(&["stop", "length"]))
    );
}

#[test]
fn existing_messages_are_not_rebuilt() {
    let span = normalized(vec![
        attr::string("gen_ai.input.messages", "[]"),
        attr::string("gen_ai.prompt.0.content", "Hi"),
    ]);
    assert_eq!(str_of(&span, "gen_ai.input.messages"), Some("[]"));
    assert_eq!(
        span.attributes
            .iter()
            .filter(|kv| kv.key == "gen_ai.input.messages")
            .count(),
        1
    );
}

#[test]
fn exclusive_input_is_detected_and_converted() {
    // Exclusive: 100 uncached + 1_000 read + 200 written = 1_300 inclusive.
    let span = normalized(vec![
        attr::int("gen_ai.usage.input_tokens", 100),
        attr::int("gen_ai.usage.cache_read_input_tokens", 1_000),
        attr::int("gen_ai.usage.cache_creation_input_tokens", 200),
    ]);
    assert_eq!(
        attr::get_i64(&span.attributes, keys::GEN_AI_USAGE_INPUT_TOKENS),
        Some(1_300)
    );
    assert_eq!(
        get(&span, keys::TRACEGATE_USAGE_EXCLUSIVE_INPUT),
        Some(&Value::BoolValue(true))
    );
    // Through an alias too.
    let span = normalized(vec![
        attr::int("llm.token_count.prompt", 10),
        attr::int("llm.token_count.prompt_details.cache_read", 90),
    ]);
    assert_eq!(
        attr::get_i64(&span.attributes, keys::GEN_AI_USAGE_INPUT_TOKENS),
        Some(100)
    );
    assert!(get(&span, keys::TRACEGATE_USAGE_EXCLUSIVE_INPUT).is_some());
    // Inclusive (cached ≤ input): left alone, not marked; and running again changes nothing.
    let mut span = normalized(vec![
        attr::int("gen_ai.usage.input_tokens", 1_300),
        attr::int("gen_ai.usage.cache_read.input_tokens", 1_000),
        attr::int("gen_ai.usage.cache_creation.input_tokens", 300),
    ]);
    assert_eq!(
        attr::get_i64(&span.attributes, keys::GEN_AI_USAGE_INPUT_TOKENS),
        Some(1_300)
    );
    assert!(get(&span, keys::TRACEGATE_USAGE_EXCLUSIVE_INPUT).is_none());
    let before = span.attributes.clone();
    processor().normalize_span(&mut span);
    assert_eq!(span.attributes, before);
}

/// TTFT (s), its source, decode, time per output token (ns), output tokens per second.
type Timing<'a> = (
    Option<f64>,
    Option<&'a str>,
    Option<i64>,
    Option<i64>,
    Option<f64>,
);

/// The test span lasts 2 s.
fn timing(span: &Span) -> Timing<'_> {
    (
        attr::get_f64(&span.attributes, keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK),
        str_of(span, keys::TRACEGATE_TTFT_SOURCE),
        attr::get_i64(&span.attributes, keys::TRACEGATE_DECODE_NS),
        attr::get_i64(&span.attributes, keys::TRACEGATE_TIME_PER_OUTPUT_TOKEN_NS),
        attr::get_f64(&span.attributes, keys::TRACEGATE_OUTPUT_TOKENS_PER_S),
    )
}

#[test]
fn ttft_from_time_to_first_chunk() {
    // TTFT 0.5 s; decode 1.5 s over 301 tokens: 300 decoded, 5 ms each, 200 tokens/s.
    let span = normalized(vec![
        attr::double(keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 0.5),
        attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, 301),
    ]);
    assert_eq!(
        timing(&span),
        (
            Some(0.5),
            Some("gen_ai.response.time_to_first_chunk"),
            Some(1_500_000_000),
            Some(5_000_000),
            Some(200.0)
        )
    );
}

#[test]
fn ttft_from_first_chunk_event() {
    let start = test_span().start_time_unix_nano;
    let span = normalized_with(
        vec![attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, 101)],
        vec![
            event(
                "gen_ai.content.completion.chunk",
                start + 400_000_000,
                vec![],
            ),
            event(
                "gen_ai.content.completion.chunk",
                start + 900_000_000,
                vec![],
            ),
        ],
    );
    // TTFT 0.4 s; decode 1.6 s over 100 tokens: 16 ms each, 62.5 tokens/s.
    assert_eq!(
        timing(&span),
        (
            Some(0.4),
            Some("event"),
            Some(1_600_000_000),
            Some(16_000_000),
            Some(62.5)
        )
    );
}

#[test]
fn ttft_from_vercel_ms_to_first_chunk() {
    let span = normalized(vec![
        attr::int("ai.response.msToFirstChunk", 250),
        attr::int("ai.usage.completionTokens", 1),
    ]);
    // One output token: nothing decoded after the first, so no per-token figures.
    assert_eq!(
        timing(&span),
        (
            Some(0.25),
            Some("ai.response.msToFirstChunk"),
            Some(1_750_000_000),
            None,
            None
        )
    );
}

#[test]
fn ttft_from_server_time_to_first_token() {
    let span = normalized(vec![attr::double("gen_ai.server.time_to_first_token", 1.0)]);
    assert_eq!(
        timing(&span),
        (
            Some(1.0),
            Some("gen_ai.server.time_to_first_token"),
            Some(1_000_000_000),
            None,
            None
        )
    );
}

#[test]
fn no_ttft_for_a_call_that_did_not_stream() {
    let span = normalized(vec![attr::int(keys::GEN_AI_USAGE_OUTPUT_TOKENS, 10)]);
    assert_eq!(timing(&span), (None, None, None, None, None));
}

fn cost(span: &Span) -> (Option<f64>, Option<&str>, bool) {
    (
        attr::get_f64(&span.attributes, keys::TRACEGATE_COST_USD),
        str_of(span, keys::TRACEGATE_COST_SOURCE),
        get(span, keys::TRACEGATE_COST_UNKNOWN_MODEL).is_some(),
    )
}

#[test]
fn cost_provided_is_kept() {
    for key in ["llm.cost.total", "gen_ai.usage.cost"] {
        let span = normalized(vec![
            attr::string("gen_ai.request.model", "gpt-4o"),
            attr::int("gen_ai.usage.input_tokens", 1_000),
            attr::double(key, 0.125),
        ]);
        assert_eq!(cost(&span), (Some(0.125), Some("provided"), false), "{key}");
    }
}

#[test]
fn cost_from_the_price_table_with_exclusive_cached_tokens() {
    // claude-3-5-haiku: 0.8 in, 4 out, 0.08 cache read, 1 cache write per Mtok. An exclusive
    // emitter: 200 uncached + 5_000 read + 1_000 written = 6_200 inclusive, 300 out.
    // 200 × 0.8 + 5_000 × 0.08 + 1_000 × 1 + 300 × 4 = 160 + 400 + 1_000 + 1_200 = 2_760 µ$.
    let span = normalized(vec![
        attr::string("gen_ai.system", "Anthropic"),
        attr::string("gen_ai.request.model", "claude-3-5-haiku-20241022"),
        attr::int("gen_ai.usage.input_tokens", 200),
        attr::int("gen_ai.usage.cache_read_input_tokens", 5_000),
        attr::int("gen_ai.usage.cache_creation_input_tokens", 1_000),
        attr::int("gen_ai.usage.output_tokens", 300),
    ]);
    let (usd, source, unknown) = cost(&span);
    assert!((usd.unwrap() - 0.00276).abs() < 1e-12, "{usd:?}");
    assert_eq!((source, unknown), (Some("price_table"), false));
}

#[test]
fn cost_with_reasoning_and_tiers_through_config_prices() {
    let yaml = include_str!("../../testdata/normalize/config.yaml");
    let config: GenAiNormalizeConfig = serde_yaml_ng::from_str(yaml).unwrap();
    let mut p = GenAiNormalize::new(config).unwrap();
    let run = |p: &mut GenAiNormalize, start: u64, input: i64, output: i64, reasoning: i64| {
        let mut span = test_span();
        span.start_time_unix_nano = start;
        span.end_time_unix_nano = start + 1;
        span.attributes = vec![
            attr::string("gen_ai.provider.name", "anthropic"),
            attr::string("gen_ai.request.model", "claude-tiered"),
            attr::int("gen_ai.usage.input_tokens", input),
            attr::int("gen_ai.usage.output_tokens", output),
            attr::int("gen_ai.usage.reasoning.output_tokens", reasoning),
        ];
        p.normalize_span(&mut span);
        attr::get_f64(&span.attributes, keys::TRACEGATE_COST_USD).unwrap()
    };
    let jan = crate::cost::prices::parse_date_ns("2026-01-01").unwrap();
    let apr = crate::cost::prices::parse_date_ns("2026-04-01").unwrap();
    // January, below the tier: 100_000 × 3 + 1_000 × 15 (reasoning at the output price)
    // = 315_000 µ$.
    assert!((run(&mut p, jan, 100_000, 1_000, 400) - 0.315).abs() < 1e-12);
    // January, above the tier: 300_000 × 6 + 1_000 × 15 = 1_815_000 µ$.
    assert!((run(&mut p, jan, 300_000, 1_000, 400) - 1.815).abs() < 1e-12);
    // April: 100_000 × 2 + 600 × 10 + 400 × 20 = 200_000 + 6_000 + 8_000 = 214_000 µ$.
    assert!((run(&mut p, apr, 100_000, 1_000, 400) - 0.214).abs() < 1e-12);
}

#[test]
fn cost_unknown_model_is_null_marked_and_counted() {
    let unknown = |model: &str| {
        let mut span = test_span();
        span.attributes = vec![
            attr::string("gen_ai.provider.name", "openai"),
            attr::string("gen_ai.request.model", model),
            attr::int("gen_ai.usage.input_tokens", 10),
        ];
        span
    };
    let batch = SpanBatch {
        spans: vec![
            unknown("no-such-model-xyz"),
            unknown("gpt-4o"),
            unknown("another-unknown"),
        ],
    };
    let captured = CapturedMetrics::new();
    let out = captured.run(|| processor().process(batch));
    assert_eq!(cost(&out.spans[0]), (None, None, true));
    assert_eq!(cost(&out.spans[1]).1, Some("price_table"));
    assert_eq!(cost(&out.spans[2]), (None, None, true));
    assert_eq!(captured.counter(COST_UNKNOWN_MODEL_TOTAL, &[]), 2);
    // No tokens, no cost question.
    let span = normalized(vec![attr::string("gen_ai.request.model", "no-such-model")]);
    assert_eq!(cost(&span), (None, None, false));
}

/// The attribute sets of one LLM call (gpt-4o-mini, 1_200 in of which 200 cached, 80 out,
/// finish `stop`, streamed, TTFT 0.3 s) in three dialects. The Python integration test mirrors
/// these.
fn dialects() -> [(&'static str, Vec<KeyValue>); 3] {
    [
        (
            "genai-current",
            vec![
                attr::string("gen_ai.operation.name", "chat"),
                attr::string("gen_ai.provider.name", "openai"),
                attr::string("gen_ai.request.model", "gpt-4o-mini"),
                attr::string("gen_ai.response.model", "gpt-4o-mini"),
                attr::int("gen_ai.usage.input_tokens", 1_200),
                attr::int("gen_ai.usage.output_tokens", 80),
                attr::int("gen_ai.usage.cache_read.input_tokens", 200),
                attr::kv("gen_ai.response.finish_reasons", strings(&["stop"])),
                attr::boolean("gen_ai.request.stream", true),
                attr::double("gen_ai.response.time_to_first_chunk", 0.3),
            ],
        ),
        (
            "openllmetry-old",
            vec![
                attr::string("llm.request.type", "chat"),
                attr::string("gen_ai.system", "OpenAI"),
                attr::string("gen_ai.request.model", "gpt-4o-mini"),
                attr::string("gen_ai.response.model", "gpt-4o-mini"),
                attr::int("gen_ai.usage.prompt_tokens", 1_200),
                attr::int("gen_ai.usage.completion_tokens", 80),
                attr::int("gen_ai.usage.cache_read_input_tokens", 200),
                attr::string("gen_ai.completion.0.finish_reason", "stop"),
                attr::boolean("llm.is_streaming", true),
                attr::double("gen_ai.server.time_to_first_token", 0.3),
            ],
        ),
        (
            "openinference",
            vec![
                attr::string("openinference.span.kind", "LLM"),
                attr::string("llm.provider", "openai"),
                attr::string("llm.model_name", "gpt-4o-mini"),
                attr::int("llm.token_count.prompt", 1_200),
                attr::int("llm.token_count.completion", 80),
                attr::int("llm.token_count.prompt_details.cache_read", 200),
                attr::string("llm.response.finish_reason", "stop"),
                attr::boolean("llm.is_streaming", true),
                attr::double("gen_ai.response.time_to_first_chunk", 0.3),
            ],
        ),
    ]
}

#[test]
fn dialects_agree() {
    let columns = [
        keys::GEN_AI_OPERATION_NAME,
        keys::GEN_AI_PROVIDER_NAME,
        keys::GEN_AI_REQUEST_MODEL,
        keys::GEN_AI_RESPONSE_MODEL,
        keys::GEN_AI_USAGE_INPUT_TOKENS,
        keys::GEN_AI_USAGE_OUTPUT_TOKENS,
        keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        keys::GEN_AI_RESPONSE_FINISH_REASONS,
        "gen_ai.request.stream",
        keys::TRACEGATE_COST_USD,
        keys::TRACEGATE_COST_SOURCE,
        keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
        keys::TRACEGATE_DECODE_NS,
        keys::TRACEGATE_TIME_PER_OUTPUT_TOKEN_NS,
        keys::TRACEGATE_OUTPUT_TOKENS_PER_S,
    ];
    let facts: Vec<(&str, Vec<Option<Value>>)> = dialects()
        .into_iter()
        .map(|(name, attrs)| {
            let span = normalized(attrs);
            (
                name,
                columns.iter().map(|k| get(&span, k).cloned()).collect(),
            )
        })
        .collect();
    for (name, values) in &facts[1..] {
        for ((column, a), b) in columns.iter().zip(values).zip(&facts[0].1) {
            assert_eq!(a, b, "{name}: {column}");
        }
    }
    assert!(facts[0].1.iter().all(Option::is_some), "{:?}", facts[0].1);
}

#[test]
fn config_fixture_parses() {
    let yaml = include_str!("../../testdata/normalize/config.yaml");
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let config: GenAiNormalizeConfig =
        tracegate_pipeline::parse_section("processors.genai_normalize", value).unwrap();
    assert!(config.drop_aliases);
    assert!(!config.messages);
    assert!(config.timing && config.cost);
    assert!(!config.builtin_prices);
    assert_eq!(config.prices.len(), 2);
    assert_eq!(config.prices[0].model, "acme-ft-1");
    assert_eq!(
        config.prices[0].matches,
        Some(crate::cost::prices::Match::StartsWith(
            "ft:acme-ft-1".into()
        ))
    );
    // Defaults, and unknown keys refused with their path.
    let config: GenAiNormalizeConfig =
        tracegate_pipeline::parse_section("p", serde_yaml_ng::Value::Null).unwrap();
    assert_eq!(config, GenAiNormalizeConfig::default());
    assert!(config.messages && config.timing && config.cost && config.builtin_prices);
    let err = tracegate_pipeline::parse_section::<GenAiNormalizeConfig>(
        "processors.genai_normalize",
        serde_yaml_ng::from_str("{drop_alias: true}").unwrap(),
    )
    .unwrap_err();
    assert_eq!(err.path, "processors.genai_normalize.drop_alias");
    assert!(err.message.contains("unknown field"), "{err}");
}

#[test]
fn factory_builds_and_reports_bad_prices() {
    use tracegate_pipeline::{BuildContext, ComponentId, Processor, ProcessorFactory};
    let ctx = BuildContext::new("test");
    let id = ComponentId::parse("genai_normalize").unwrap();
    assert_eq!(GenAiNormalizeFactory.type_name(), "genai_normalize");
    let built = GenAiNormalizeFactory
        .build(&id, serde_yaml_ng::Value::Null, &ctx)
        .unwrap();
    assert!(matches!(built, Processor::Span(_)));
    let bad = serde_yaml_ng::from_str(
        "prices: [{provider: x, model: m, prices: {input_mtok: 1, since: never}}]",
    )
    .unwrap();
    let err = GenAiNormalizeFactory.build(&id, bad, &ctx).unwrap_err();
    assert_eq!(err.path, "processors.genai_normalize.prices");
    assert!(err.message.contains("since"), "{err}");
}

#[test]
fn testkit_stream_is_processed_and_llm_spans_priced() {
    let batch = tracegate_testkit::Generator::new(Default::default()).batch_with_traces(50);
    let before = batch.clone();
    let out = processor().process(batch);
    assert_eq!(out.len(), before.len());
    let mut priced = 0;
    for (a, b) in out.spans.iter().zip(&before.spans) {
        // Nothing already present changes.
        assert_eq!(&a.attributes[..b.attributes.len()], &b.attributes[..]);
        if get(a, keys::TRACEGATE_COST_SOURCE).is_some() {
            priced += 1;
        }
        // Every model testkit uses has a price.
        assert!(
            get(a, keys::TRACEGATE_COST_UNKNOWN_MODEL).is_none(),
            "{:?}",
            str_of(a, keys::GEN_AI_RESPONSE_MODEL)
        );
    }
    assert!(priced > 0);
}

mod properties;
