//! Golden cases: each policy type on hand-built traces, and the decision order.

mod common;

use common::*;
use tracegate_model::span::Event;
use tracegate_model::{StatusCode, attr};
use tracegate_sampling::ErrorClass;
use tracegate_sampling::policy::classify;

#[test]
fn always_sample_keeps_everything_with_probability_one() {
    let mut s = sampler("policies: [ { type: always_sample } ]");
    let d = s.sampling(&plain(1), 0);
    assert!(d.sampled);
    assert_eq!((&*d.policy, d.probability), ("always_sample", 1.0));
}

#[test]
fn status_code_matches_any_span_with_a_listed_status() {
    let mut s = one("status_code", "{ status_codes: [ERROR] }");
    assert!(!keeps(&mut s, &plain(1)));
    let err = trace(vec![
        span(1, 1, None, 0, 100),
        status(span(1, 2, Some(1), 0, 10), StatusCode::Error, "boom"),
    ]);
    assert!(keeps(&mut s, &err));
    let mut ok = one("status_code", "{ status_codes: [OK, UNSET] }");
    assert!(keeps(&mut ok, &plain(1)));
    assert!(!keeps(
        &mut ok,
        &trace(vec![status(span(1, 1, None, 0, 1), StatusCode::Error, "")])
    ));
}

#[test]
fn latency_uses_first_start_to_last_end_with_an_optional_upper_bound() {
    let mut s = one("latency", "{ threshold_ms: 10000 }");
    let t = |end_ms| {
        trace(vec![
            span(1, 1, None, 0, 100),
            span(1, 2, Some(1), 50, end_ms),
        ])
    };
    assert!(!keeps(&mut s, &t(9_999)));
    assert!(keeps(&mut s, &t(10_000)));
    let mut band = one(
        "latency",
        "{ threshold_ms: 1000, upper_threshold_ms: 2000 }",
    );
    assert!(!keeps(&mut band, &t(999)));
    assert!(keeps(&mut band, &t(2_000)));
    assert!(!keeps(&mut band, &t(2_001)));
}

#[test]
fn probabilistic_hashes_the_trace_id_as_the_collector_does() {
    // FNV-1a 64 of "default-hash-seed" then the 16 id bytes, kept when ≤ ratio × u64::MAX.
    let fnv = |salt: &str, id: &[u8; 16]| {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in salt.as_bytes().iter().chain(id) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    };
    let mut s = one("probabilistic", "{ sampling_percentage: 50 }");
    for b in 0..=255u8 {
        let t = plain(b);
        let expected = fnv("default-hash-seed", &[b; 16]) <= u64::MAX / 2;
        let d = s.evaluate(&t, 0);
        assert_eq!(d.sampled, expected, "trace byte {b}");
        assert_eq!(d.probability, 0.5);
    }
    let mut none = one("probabilistic", "{ sampling_percentage: 0 }");
    let mut all = one(
        "probabilistic",
        "{ sampling_percentage: 100, hash_salt: x }",
    );
    assert!((0..=255).all(|b| !keeps(&mut none, &plain(b)) && keeps(&mut all, &plain(b))));
}

#[test]
fn rate_limiting_keeps_up_to_the_spans_per_second_then_resets() {
    let mut s = one("rate_limiting", "{ spans_per_second: 5 }");
    let second = 1_000_000_000;
    // Two-span traces: 2 + 2 fit in 5, the third does not.
    let kept: Vec<bool> = (0..3).map(|i| s.evaluate(&plain(i), 0).sampled).collect();
    assert_eq!(kept, [true, true, false]);
    // Refusing makes the share below 1: 4 admitted of 6 offered.
    let d = s.evaluate(&plain(9), 10);
    assert!(!d.sampled);
    assert!(
        (d.probability - 4.0 / 8.0).abs() < 1e-9,
        "{}",
        d.probability
    );
    assert!(s.evaluate(&plain(3), second).sampled);
}

#[test]
fn bytes_limiting_is_a_token_bucket_over_span_bytes() {
    let bytes: u64 = plain(1)
        .spans
        .iter()
        .map(|s| s.estimated_bytes() as u64)
        .sum();
    let mut s = one(
        "bytes_limiting",
        &format!(
            "{{ bytes_per_second: {bytes}, burst_capacity: {} }}",
            bytes * 2
        ),
    );
    assert!(s.evaluate(&plain(1), 0).sampled);
    assert!(s.evaluate(&plain(2), 0).sampled);
    assert!(!s.evaluate(&plain(3), 0).sampled);
    // One second refills one trace's worth.
    assert!(s.evaluate(&plain(4), 1_000_000_000).sampled);
    assert!(!s.evaluate(&plain(5), 1_000_000_000).sampled);
}

#[test]
fn string_attribute_matches_spans_and_resources_exactly_or_by_regex() {
    let t = |route: &str| {
        trace(vec![with(
            span(1, 1, None, 0, 1),
            vec![attr::string("http.route", route)],
        )])
    };
    let mut exact = one("string_attribute", "{ key: http.route, values: [/chat] }");
    assert!(keeps(&mut exact, &t("/chat")));
    assert!(!keeps(&mut exact, &t("/chat/v2")));
    let mut re = one(
        "string_attribute",
        "{ key: http.route, values: ['^/chat(/v\\d+)?$'], enabled_regex_matching: true }",
    );
    assert!(keeps(&mut re, &t("/chat/v2")));
    assert!(!keeps(&mut re, &t("/health")));
    let mut inv = one(
        "string_attribute",
        "{ key: http.route, values: [/health], invert_match: true }",
    );
    assert!(keeps(&mut inv, &t("/chat")));
    assert!(!keeps(&mut inv, &t("/health")));
    // Resource attributes count too.
    let mut svc = one("string_attribute", "{ key: service.name, values: [rag] }");
    assert!(keeps(&mut svc, &plain(1)));
}

#[test]
fn numeric_and_boolean_attributes() {
    let t = |kv| trace(vec![with(span(1, 1, None, 0, 1), vec![kv])]);
    let mut num = one(
        "numeric_attribute",
        "{ key: http.response.status_code, min_value: 500, max_value: 599 }",
    );
    assert!(keeps(
        &mut num,
        &t(attr::int("http.response.status_code", 503))
    ));
    assert!(!keeps(
        &mut num,
        &t(attr::int("http.response.status_code", 200))
    ));
    assert!(keeps(
        &mut num,
        &t(attr::double("http.response.status_code", 500.0))
    ));
    let mut b = one("boolean_attribute", "{ key: cache.hit, value: false }");
    assert!(keeps(&mut b, &t(attr::boolean("cache.hit", false))));
    assert!(!keeps(&mut b, &t(attr::boolean("cache.hit", true))));
    assert!(!keeps(&mut b, &plain(1)));
}

#[test]
fn span_count_and_trace_state() {
    let mut sc = one("span_count", "{ min_spans: 2, max_spans: 3 }");
    assert!(keeps(&mut sc, &plain(1)));
    assert!(!keeps(&mut sc, &trace(vec![span(1, 1, None, 0, 1)])));
    let mut ts = one("trace_state", "{ key: tenant, values: [gold] }");
    let mut s = span(1, 1, None, 0, 1);
    s.trace_state = "rojo=00f067aa0ba902b7, tenant=gold".into();
    assert!(keeps(&mut ts, &trace(vec![s.clone()])));
    s.trace_state = "tenant=silver".into();
    assert!(!keeps(&mut ts, &trace(vec![s])));
}

#[test]
fn and_needs_every_sub_policy_and_multiplies_probabilities() {
    let mut s = sampler(
        "policies:
           - name: slow-errors
             type: and
             and:
               and_sub_policy:
                 - { name: e, type: status_code, status_code: { status_codes: [ERROR] } }
                 - { name: half, type: probabilistic, probabilistic: { sampling_percentage: 100 } }",
    );
    let err = trace(vec![status(span(1, 1, None, 0, 1), StatusCode::Error, "")]);
    let d = s.sampling(&err, 0);
    assert!(d.sampled);
    assert_eq!((&*d.policy, d.probability), ("slow-errors", 1.0));
    assert!(!keeps(&mut s, &plain(1)));
}

#[test]
fn drop_wins_over_any_keep_wherever_it_is_listed() {
    let mut s = sampler(
        "policies:
           - { name: all, type: always_sample }
           - name: no-health
             type: drop
             drop:
               drop_sub_policy:
                 - { name: h, type: string_attribute, string_attribute: { key: http.route, values: [/health] } }",
    );
    let health = trace(vec![with(
        span(1, 1, None, 0, 1),
        vec![attr::string("http.route", "/health")],
    )]);
    let d = s.sampling(&health, 0);
    assert!(!d.sampled);
    assert_eq!((&*d.policy, d.probability), ("no-health", 0.0));
    assert_eq!(&*s.sampling(&plain(2), 0).policy, "all");
}

#[test]
fn first_matching_policy_decides_else_none_with_the_chance_it_had() {
    let mut s = sampler(
        "policies:
           - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
           - { name: baseline, type: probabilistic, probabilistic: { sampling_percentage: 10 } }",
    );
    let err = trace(vec![status(span(3, 1, None, 0, 1), StatusCode::Error, "")]);
    assert_eq!(&*s.sampling(&err, 0).policy, "errors");
    let mut nones = 0;
    for b in 0..=255u8 {
        let d = s.sampling(&plain(b), 0);
        if !d.sampled {
            nones += 1;
            assert_eq!((&*d.policy, d.probability), ("none", 0.1));
        } else {
            assert_eq!((&*d.policy, d.probability), ("baseline", 0.1));
        }
    }
    assert!(nones > 200, "{nones}");
    let mut rules = one("status_code", "{ status_codes: [ERROR] }");
    assert_eq!(rules.sampling(&plain(1), 0).probability, 0.0);
}

#[test]
fn composite_first_matching_sub_policy_spends_its_share() {
    let mut s = sampler(
        "policies:
           - name: budget
             type: composite
             composite:
               max_total_spans_per_second: 10
               policy_order: [errors, rest]
               composite_sub_policy:
                 - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
                 - { name: rest, type: always_sample }
               rate_allocation:
                 - { policy: errors, percent: 60 }
                 - { policy: rest, percent: 40 }",
    );
    let err = |b| {
        trace(vec![
            status(span(b, 1, None, 0, 1), StatusCode::Error, ""),
            span(b, 2, Some(1), 0, 1),
        ])
    };
    // errors: 6 spans a second (three 2-span traces); rest: 4 (two).
    let e: Vec<bool> = (0..4).map(|b| s.evaluate(&err(b), 0).sampled).collect();
    assert_eq!(e, [true, true, true, false]);
    let r: Vec<bool> = (10..13).map(|b| s.evaluate(&plain(b), 0).sampled).collect();
    assert_eq!(r, [true, true, false]);
    let d = s.evaluate(&plain(20), 1_000_000_000);
    assert!(d.sampled);
}

#[test]
fn llm_cost_sums_the_trace_exactly() {
    let mut s = one("llm_cost", "{ threshold_usd: 0.3 }");
    let cost = |id, usd| {
        with(
            span(1, id, Some(1), 0, 1),
            vec![attr::double("tracegate.cost_usd", usd)],
        )
    };
    // 0.1 + 0.2 is not ≥ 0.3 in f64; in picodollars it is.
    assert!(keeps(
        &mut s,
        &trace(vec![span(1, 1, None, 0, 1), cost(2, 0.1), cost(3, 0.2)])
    ));
    assert!(!keeps(
        &mut s,
        &trace(vec![span(1, 1, None, 0, 1), cost(2, 0.1), cost(3, 0.19)])
    ));
}

#[test]
fn llm_tokens_per_call_and_in_total_over_llm_calls_only() {
    let tokens = |id, i, o| {
        with(
            chat(1, id, Some(1), "gpt-4o", "openai"),
            vec![
                attr::int("gen_ai.usage.input_tokens", i),
                attr::int("gen_ai.usage.output_tokens", o),
            ],
        )
    };
    let t = trace(vec![
        span(1, 1, None, 0, 100),
        tokens(2, 3000, 500),
        tokens(3, 4000, 600),
    ]);
    assert!(keeps(
        &mut one("llm_tokens", "{ total_threshold: 8000 }"),
        &t
    ));
    assert!(!keeps(
        &mut one("llm_tokens", "{ total_threshold: 8101 }"),
        &t
    ));
    assert!(keeps(
        &mut one("llm_tokens", "{ per_call_threshold: 4600 }"),
        &t
    ));
    assert!(!keeps(
        &mut one("llm_tokens", "{ per_call_threshold: 4601 }"),
        &t
    ));
    // A chain span carrying the same totals is not an LLM call.
    let chain = with(
        span(1, 4, Some(1), 0, 1),
        vec![
            attr::string("openinference.span.kind", "CHAIN"),
            attr::int("gen_ai.usage.input_tokens", 9000),
        ],
    );
    assert!(!keeps(
        &mut one("llm_tokens", "{ per_call_threshold: 5000 }"),
        &trace(vec![span(1, 1, None, 0, 1), chain])
    ));
}

#[test]
fn llm_ttft_with_per_model_thresholds() {
    let call = |model, ttft_s| {
        with(
            chat(1, 2, Some(1), model, "openai"),
            vec![attr::double("gen_ai.response.time_to_first_chunk", ttft_s)],
        )
    };
    let mut s = one("llm_ttft", "{ threshold_ms: 2000, models: { o3: 20000 } }");
    let t = |c| trace(vec![span(1, 1, None, 0, 100_000), c]);
    assert!(!keeps(&mut s, &t(call("gpt-4o", 0.030))));
    // The chat span lasts 50 ms, so TTFT is clamped to it: use a longer span.
    let mut long = call("gpt-4o", 3.0);
    long.end_time_unix_nano = long.start_time_unix_nano + 30_000 * MS;
    assert!(keeps(&mut s, &t(long.clone())));
    long.attributes[1] = attr::string("gen_ai.request.model", "o3");
    assert!(!keeps(&mut s, &t(long)));
}

#[test]
fn llm_finish_reason_length_and_provider_spellings() {
    let mut s = one("llm_finish_reason", "{ values: [length, content_filter] }");
    let reason = |v| {
        trace(vec![with(
            chat(1, 1, None, "m", "p"),
            vec![attr::kv(
                "gen_ai.response.finish_reasons",
                tracegate_model::proto::common::v1::any_value::Value::ArrayValue(
                    tracegate_model::proto::common::v1::ArrayValue {
                        values: vec![tracegate_model::proto::common::v1::AnyValue {
                            value: Some(
                                tracegate_model::proto::common::v1::any_value::Value::StringValue(
                                    String::from(v),
                                ),
                            ),
                        }],
                    },
                ),
            )],
        )])
    };
    assert!(keeps(&mut s, &reason("length")));
    assert!(keeps(&mut s, &reason("max_tokens"))); // Anthropic
    assert!(keeps(&mut s, &reason("SAFETY"))); // Gemini
    assert!(keeps(&mut s, &reason("content_filter")));
    assert!(!keeps(&mut s, &reason("stop")));
    assert!(!keeps(&mut s, &reason("end_turn")));
    // A plain string value works too.
    let t = trace(vec![with(
        chat(1, 1, None, "m", "p"),
        vec![attr::string("gen_ai.response.finish_reasons", "length")],
    )]);
    assert!(keeps(&mut s, &t));
}

#[test]
fn llm_error_classes_from_error_type_status_message_and_http_status() {
    // OpenAI 429: error.type from the SDK's exception class.
    let openai = with(
        status(
            chat(1, 1, None, "gpt-4o", "openai"),
            StatusCode::Error,
            "Error code: 429 - Rate limit reached for gpt-4o",
        ),
        vec![
            attr::string("error.type", "RateLimitError"),
            attr::int("http.response.status_code", 429),
        ],
    );
    assert_eq!(classify(&openai), Some(ErrorClass::RateLimited));
    // Only the status code.
    let bare = with(
        span(1, 2, None, 0, 1),
        vec![attr::string("error.type", "429")],
    );
    assert_eq!(classify(&bare), Some(ErrorClass::RateLimited));
    // Anthropic 400 "prompt is too long": not just an invalid request.
    let anthropic = with(
        status(
            chat(1, 3, None, "claude-sonnet-4", "anthropic"),
            StatusCode::Error,
            "prompt is too long: 208310 tokens > 200000 maximum",
        ),
        vec![
            attr::string("error.type", "invalid_request_error"),
            attr::int("http.response.status_code", 400),
        ],
    );
    assert_eq!(
        classify(&anthropic),
        Some(ErrorClass::ContextLengthExceeded)
    );
    let openai_ctx = with(
        span(1, 4, None, 0, 1),
        vec![attr::string("error.type", "context_length_exceeded")],
    );
    assert_eq!(
        classify(&openai_ctx),
        Some(ErrorClass::ContextLengthExceeded)
    );
    // Azure's content filter, from an exception event.
    let mut azure = status(span(1, 5, None, 0, 1), StatusCode::Error, "");
    azure.events.push(Event {
        time_unix_nano: 0,
        name: "exception".into(),
        attributes: vec![
            attr::string("exception.type", "BadRequestError"),
            attr::string("exception.message", "The response was filtered due to the prompt triggering Azure OpenAI's content management policy"),
        ],
        dropped_attributes_count: 0,
    });
    assert_eq!(classify(&azure), Some(ErrorClass::ContentFiltered));
    let timeout = with(
        span(1, 6, None, 0, 1),
        vec![attr::string("error.type", "APITimeoutError")],
    );
    assert_eq!(classify(&timeout), Some(ErrorClass::Timeout));
    let overloaded = with(
        span(1, 7, None, 0, 1),
        vec![attr::int("http.response.status_code", 529)],
    );
    assert_eq!(classify(&overloaded), Some(ErrorClass::Overloaded));
    assert_eq!(classify(&span(1, 8, None, 0, 1)), None);
    assert_eq!(
        classify(&status(span(1, 9, None, 0, 1), StatusCode::Error, "boom")),
        Some(ErrorClass::Other)
    );

    let mut s = one(
        "llm_error",
        "{ classes: [rate_limited, context_length_exceeded] }",
    );
    assert!(keeps(&mut s, &trace(vec![span(1, 10, None, 0, 1), openai])));
    assert!(keeps(&mut s, &trace(vec![anthropic])));
    assert!(!keeps(&mut s, &trace(vec![timeout])));
    assert!(!keeps(&mut s, &plain(1)));
}

#[test]
fn llm_retry_a_failed_call_falling_back_to_another_model() {
    let prompt = attr::string(
        "gen_ai.input.messages",
        r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#,
    );
    let first = with(
        status(
            chat(1, 2, Some(1), "gpt-4o", "openai"),
            StatusCode::Error,
            "429",
        ),
        vec![prompt.clone()],
    );
    let fallback = with(
        chat(1, 3, Some(1), "claude-sonnet-4", "anthropic"),
        vec![prompt.clone()],
    );
    let mut s = sampler("policies: [ { type: llm_retry } ]");
    assert!(keeps(
        &mut s,
        &trace(vec![span(1, 1, None, 0, 100), first.clone(), fallback])
    ));
    // The same model twice with the same prompt is not a fallback; two different prompts
    // to two models are two calls.
    let again = with(chat(1, 3, Some(1), "gpt-4o", "openai"), vec![prompt]);
    assert!(!keeps(
        &mut s,
        &trace(vec![span(1, 1, None, 0, 100), first.clone(), again])
    ));
    let other = with(
        chat(1, 3, Some(1), "claude-sonnet-4", "anthropic"),
        vec![attr::string("gen_ai.input.messages", "[]")],
    );
    assert!(!keeps(
        &mut s,
        &trace(vec![span(1, 1, None, 0, 100), first, other])
    ));
    // Without recorded prompts: the same operation under the same parent.
    let a = chat(1, 2, Some(1), "gpt-4o", "openai");
    let b = chat(1, 3, Some(1), "gpt-4o", "azure.ai.openai");
    assert!(keeps(&mut s, &trace(vec![span(1, 1, None, 0, 100), a, b])));
}

#[test]
fn agent_loop_the_same_tool_with_the_same_arguments() {
    let tool = |id, args: &str| {
        with(
            span(1, id, Some(1), 0, 1),
            vec![
                attr::string("gen_ai.operation.name", "execute_tool"),
                attr::string("gen_ai.tool.name", "search"),
                attr::string("gen_ai.tool.call.arguments", args),
            ],
        )
    };
    let mut s = sampler("policies: [ { type: agent_loop } ]");
    let looped = trace(vec![
        span(1, 1, None, 0, 9),
        tool(2, r#"{"q":"x"}"#),
        tool(3, r#"{"q":"x"}"#),
        tool(4, r#"{"q":"x"}"#),
    ]);
    assert!(keeps(&mut s, &looped));
    let varied = trace(vec![
        span(1, 1, None, 0, 9),
        tool(2, r#"{"q":"x"}"#),
        tool(3, r#"{"q":"y"}"#),
        tool(4, r#"{"q":"x"}"#),
    ]);
    assert!(!keeps(&mut s, &varied));
    let mut two = one("agent_loop", "{ min_repeats: 2 }");
    assert!(keeps(&mut two, &varied));
}

#[test]
fn first_per_slice_keeps_the_first_k_per_model_and_provider_each_hour() {
    let mut s = one("first_per_slice", "{ per_hour: 2, by: [model, provider] }");
    let t = |b, model| {
        trace(vec![
            span(b, 1, None, 0, 100),
            chat(b, 2, Some(1), model, "openai"),
        ])
    };
    let hour = 3_600 * 1_000_000_000u64;
    let kept: Vec<bool> = (0..3)
        .map(|b| s.evaluate(&t(b, "gpt-4o"), 0).sampled)
        .collect();
    assert_eq!(kept, [true, true, false]);
    assert!(
        s.evaluate(&t(4, "gpt-4.1"), 0).sampled,
        "a new model is a new slice"
    );
    assert!(
        s.evaluate(&t(5, "gpt-4o"), hour).sampled,
        "a new hour starts again"
    );
    assert!(!s.evaluate(&plain(6), 0).sampled, "no LLM call, no slice");
}

#[test]
fn first_per_slice_table_is_bounded() {
    let mut s = one(
        "first_per_slice",
        "{ per_hour: 1, by: [model], max_slices: 2 }",
    );
    let t = |b, model: &str| trace(vec![chat(b, 2, None, model, "openai")]);
    assert!(s.evaluate(&t(1, "a"), 0).sampled);
    assert!(s.evaluate(&t(2, "b"), 0).sampled);
    assert!(
        !s.evaluate(&t(3, "c"), 0).sampled,
        "full: a new slice finds no room"
    );
    // Next hour, old slices make way.
    assert!(s.evaluate(&t(4, "c"), 3_600_000_000_000).sampled);
}

fn scored(b: u8, scores: Vec<tracegate_model::Score>) -> tracegate_model::Trace {
    let mut t = plain(b);
    t.scores = scores;
    t
}

fn score(name: &str, value: Option<f64>, label: Option<&str>) -> tracegate_model::Score {
    tracegate_model::Score {
        name: name.to_owned(),
        value,
        label: label.map(str::to_owned),
        ..Default::default()
    }
}

#[test]
fn evaluation_score_keeps_a_low_value_or_a_listed_label_of_the_named_evaluation() {
    let mut s = one(
        "evaluation_score",
        "{ name: relevance, max_value: 0.3, labels: [fail] }",
    );
    // At the bound (inclusive), below, above.
    assert!(keeps(
        &mut s,
        &scored(1, vec![score("relevance", Some(0.3), None)])
    ));
    assert!(keeps(
        &mut s,
        &scored(2, vec![score("relevance", Some(-1.0), None)])
    ));
    assert!(!keeps(
        &mut s,
        &scored(3, vec![score("relevance", Some(0.31), None)])
    ));
    // A label in the list, in any case and with spaces; one not in it.
    assert!(keeps(
        &mut s,
        &scored(4, vec![score("relevance", Some(0.9), Some(" FAIL "))])
    ));
    assert!(!keeps(
        &mut s,
        &scored(5, vec![score("relevance", Some(0.9), Some("pass"))])
    ));
    // Another evaluation's low score does not count; any matching score among several does.
    assert!(!keeps(
        &mut s,
        &scored(6, vec![score("toxicity", Some(0.0), Some("fail"))])
    ));
    assert!(keeps(
        &mut s,
        &scored(
            7,
            vec![
                score("toxicity", Some(0.0), None),
                score("relevance", Some(0.1), None)
            ]
        )
    ));
    // No scores, or a score with neither value nor label.
    assert!(!keeps(&mut s, &plain(8)));
    assert!(!keeps(
        &mut s,
        &scored(9, vec![score("relevance", None, None)])
    ));

    // Without a name every evaluation counts; labels alone.
    let mut any = one("evaluation_score", "{ labels: [thumbs_down] }");
    assert!(keeps(
        &mut any,
        &scored(
            10,
            vec![score("user_feedback", Some(0.0), Some("thumbs_down"))]
        )
    ));
    assert!(!keeps(
        &mut any,
        &scored(11, vec![score("user_feedback", Some(0.0), None)])
    ));
    let d = any.sampling(&scored(12, vec![score("x", None, Some("thumbs_down"))]), 0);
    assert_eq!((&*d.policy, d.probability), ("p", 1.0));
}

#[test]
fn evaluation_score_needs_a_value_or_labels() {
    let (path, message) = config_error(
        "policies: [ { type: evaluation_score, evaluation_score: { name: relevance } } ]",
    );
    assert_eq!(
        path,
        "processors.tail_sampling.policies[0].evaluation_score"
    );
    assert!(
        message.contains("`max_value`") && message.contains("`labels`"),
        "{message}"
    );
}
