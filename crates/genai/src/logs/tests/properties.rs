//! Properties of `llm_logs` over random tokens, models and the shapes the seed's logger gives
//! a record.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use proptest::prelude::*;

/// One seed shape of an LLM call, with random tokens and model: where the fields sit.
#[derive(Debug, Clone, Copy)]
enum Where {
    JsonBody,
    MapBody,
    Attributes,
}

fn call_record(model: &str, input: i64, output: i64, place: Where) -> LogRecord {
    let fields = vec![
        attr::string("model", model),
        attr::string("response", "ok"),
        attr::int("input_tokens", input),
        attr::int("output_tokens", output),
    ];
    let mut record = LogRecord {
        time_unix_nano: T0,
        ..LogRecord::empty()
    };
    match place {
        Where::JsonBody => {
            let doc = json!({"model": model, "response": "ok",
                             "metrics": {"input_tokens": input, "output_tokens": output}});
            record.body = Some(attr::string_value(doc.to_string()));
        }
        Where::MapBody => record.body = Some(map(fields)),
        Where::Attributes => record.attributes = fields,
    }
    record
}

const MODELS: [&str; 6] = [
    "gpt-4o-mini",
    "gpt-4o",
    "claude-3-5-haiku-20241022",
    "claude-sonnet-4-20250514",
    "gemini-2.0-flash",
    "o3-mini",
];

fn place() -> impl Strategy<Value = Where> {
    prop_oneof![
        Just(Where::JsonBody),
        Just(Where::MapBody),
        Just(Where::Attributes)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn cost_is_the_span_cost(
        model in 0..MODELS.len(),
        input in 0i64..5_000_000,
        output in 0i64..200_000,
        place in place(),
    ) {
        let model = MODELS[model];
        let (after, _) = canonicalised(call_record(model, input, output, place));
        prop_assert_eq!(after.facts.kind, LogKind::LlmCall);
        let expected = span_cost(None, model, input, output);
        prop_assert!(expected.is_some(), "{} has a price", model);
        prop_assert_eq!(attr::get_f64(&after.attributes, keys::TRACEGATE_COST_USD), expected);
        prop_assert_eq!(attr::get_i64(&after.attributes, keys::GEN_AI_USAGE_INPUT_TOKENS), Some(input));
    }

    #[test]
    fn running_twice_changes_nothing_more(
        which in 0..3usize,
        place in place(),
        drop_severity in any::<bool>(),
    ) {
        let mut record = match which {
            0 => json_record(request_log()),
            1 => json_record(response_log()),
            _ => call_record("gpt-4o", 10, 20, place),
        };
        if drop_severity {
            record.severity_number = 0;
            record.severity_text.clear();
        }
        let (once, _) = canonicalised(record);
        let (twice, _) = canonicalised(once.clone());
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn records_without_a_model_are_kept_as_they_are(
        keys_values in proptest::collection::vec(
            (prop_oneof![Just("prompt"), Just("response"), Just("latency_ms"),
                         Just("input_tokens"), Just("route"), Just("level"), Just("msg")],
             "[a-z0-9 ]{0,12}"),
            0..8),
        in_body in any::<bool>(),
    ) {
        let fields: Vec<KeyValue> =
            keys_values.iter().map(|(k, v)| attr::string(*k, v.clone())).collect();
        let record = if in_body {
            LogRecord { body: Some(map(fields)), ..LogRecord::empty() }
        } else {
            LogRecord { attributes: fields, ..LogRecord::empty() }
        };
        let (after, outcome) = canonicalised(record.clone());
        prop_assert_eq!(outcome, Outcome::Other);
        prop_assert_eq!(after, record);
    }
}
