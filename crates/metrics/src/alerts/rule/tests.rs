//! Golden cases of the rule language: the seed's rules parse to their exact AST; invalid
//! rules fail at the byte they should, saying what was expected.

use super::*;

fn cond(key: Key, equal: bool, value: Literal) -> Condition {
    Condition { key, equal, value }
}

#[test]
fn seed_error_rate_rule() {
    assert_eq!(
        parse("error_ratio > 0.05 over 5m").unwrap(),
        Rule {
            func: Func::ErrorRatio,
            value: None,
            filter: None,
            by: vec![],
            op: CmpOp::Gt,
            threshold: 0.05,
            window_secs: 300.0,
        }
    );
}

#[test]
fn seed_slow_inference_rule() {
    let rule = parse("p95(duration of category=llm) > 10s over 10m").unwrap();
    assert_eq!(
        rule,
        Rule {
            func: Func::Quantile(950),
            value: Some(ValueKind::Duration),
            filter: Some(vec![cond(
                Key::Category,
                true,
                Literal::Category(Category::Llm)
            )]),
            by: vec![],
            op: CmpOp::Gt,
            threshold: 10.0,
            window_secs: 600.0,
        }
    );
    assert_eq!(rule.func.quantile(), Some(0.95));
    assert!(rule.over_spans());
}

#[test]
fn every_construct() {
    let rule = parse(
        r#"p99.9(ttft of model="gpt-4o" and kind!=internal and status=error and attr.http.route="/chat" and resource.deployment.environment=prod and provider=openai) by (service, attr.gen_ai.request.model) <= 500ms over 1h"#,
    )
    .unwrap();
    assert_eq!(rule.func, Func::Quantile(999));
    assert_eq!(rule.value, Some(ValueKind::Ttft));
    assert_eq!(
        rule.filter.unwrap(),
        vec![
            cond(Key::Model, true, Literal::Text("gpt-4o".into())),
            cond(Key::Kind, false, Literal::Kind(SpanKind::Internal)),
            cond(Key::Status, true, Literal::Status(StatusCode::Error)),
            cond(
                Key::Attr("http.route".into()),
                true,
                Literal::Text("/chat".into())
            ),
            cond(
                Key::Resource("deployment.environment".into()),
                true,
                Literal::Text("prod".into())
            ),
            cond(Key::Provider, true, Literal::Text("openai".into())),
        ]
    );
    assert_eq!(
        rule.by,
        vec![Key::Service, Key::Attr("gen_ai.request.model".into())]
    );
    assert_eq!(rule.by[1].label(), "gen_ai_request_model");
    assert_eq!(rule.op, CmpOp::Le);
    assert_eq!(rule.threshold, 0.5);
    assert_eq!(rule.window_secs, 3600.0);
}

#[test]
fn counts_rates_and_value_aggregates() {
    let r = parse("count of service=llm-service and name=chat >= 100 over 1m").unwrap();
    assert_eq!(
        (r.func, r.value, r.op, r.threshold),
        (Func::Count, None, CmpOp::Ge, 100.0)
    );
    assert_eq!(
        r.filter.unwrap(),
        vec![
            cond(Key::Service, true, Literal::Text("llm-service".into())),
            cond(Key::Name, true, Literal::Text("chat".into())),
        ]
    );
    let r = parse("rate < 1 over 30s").unwrap();
    assert_eq!((r.func, r.filter, r.window_secs), (Func::Rate, None, 30.0));
    let r = parse("error_ratio of attr.http.response.status_code=503 by (service) != 0 over 5m")
        .unwrap();
    assert_eq!(
        r.filter.unwrap(),
        vec![cond(
            Key::Attr("http.response.status_code".into()),
            true,
            Literal::Text("503".into())
        )]
    );
    assert_eq!((r.by, r.op), (vec![Key::Service], CmpOp::Ne));
    for (text, func, value, threshold) in [
        ("avg(cost) > 0.5 over 1h", Func::Avg, ValueKind::Cost, 0.5),
        ("min(tokens) < 1 over 1h", Func::Min, ValueKind::Tokens, 1.0),
        (
            "max(input_tokens) > 100000 over 1h",
            Func::Max,
            ValueKind::InputTokens,
            1e5,
        ),
        (
            "sum(output_tokens) == 0 over 1h",
            Func::Sum,
            ValueKind::OutputTokens,
            0.0,
        ),
        (
            "p1(duration) > 2 over 1h",
            Func::Quantile(10),
            ValueKind::Duration,
            2.0,
        ),
        (
            "p50(ttft) > 1.5s over 1h",
            Func::Quantile(500),
            ValueKind::Ttft,
            1.5,
        ),
    ] {
        let r = parse(text).unwrap();
        assert_eq!(
            (r.func, r.value, r.threshold, r.filter),
            (func, Some(value), threshold, None),
            "{text}"
        );
    }
}

/// (rule, byte, message)
const INVALID: &[(&str, usize, &str)] = &[
    (
        "",
        0,
        "expected an aggregate (error_ratio, count, rate, avg, min, max, sum or p1…p99, p99.9), found the end of the rule",
    ),
    (
        "errors > 0.05 over 5m",
        0,
        "expected an aggregate (error_ratio, count, rate, avg, min, max, sum or p1…p99, p99.9), found `errors`",
    ),
    (
        "error_ratio > 0.05",
        18,
        "expected `over` and the window (such as `over 5m`), found the end of the rule",
    ),
    (
        "error_ratio > 0.05 over 5",
        24,
        "expected the window as a duration with a unit (such as `5m`), found `5`",
    ),
    (
        "error_ratio > 0.05 over 5d",
        25,
        "unknown unit `d`; expected ms, s, m or h",
    ),
    (
        "error_ratio > 0.05 over 500ms",
        24,
        "the window `500ms` is too short: it must be at least 1s",
    ),
    (
        "error_ratio = 0.05 over 5m",
        12,
        "expected a comparison (>, >=, <, <=, == or !=; `==` tests equality), found `=`",
    ),
    (
        "error_ratio > 5 over 5m",
        14,
        "an error ratio is between 0 and 1, found `5` (5 % is 0.05)",
    ),
    (
        "error_ratio > 0.05 over 5m for 1m",
        27,
        "expected the end of the rule, found `for`",
    ),
    (
        "error_ratio >> 0.05 over 5m",
        13,
        "expected a threshold (a number or a duration such as 10s), found `>`",
    ),
    (
        "p100(duration) > 1s over 1m",
        0,
        "`p100` is not a percentile: write p1 to p99, or p99.9",
    ),
    (
        "p95 duration > 1s over 1m",
        4,
        "expected `(` after `p95`, found `duration`",
    ),
    (
        "p95(latency) > 1s over 1m",
        4,
        "expected a value (duration, ttft, cost, tokens, input_tokens or output_tokens), found `latency`",
    ),
    (
        "p95(duration of category=gpu) > 1s over 1m",
        25,
        "unknown category `gpu`; expected one of llm, embedding, retrieval, rerank, tool, agent, chain, guardrail, http, db, messaging, network, other",
    ),
    (
        "p95(duration of category=llm > 1s over 1m",
        29,
        "expected `and` or `)`, found `>`",
    ),
    (
        "p95(duration category=llm) > 1s over 1m",
        13,
        "expected `of` or `)`, found `category`",
    ),
    (
        "p95(duration of category==llm) > 1s over 1m",
        24,
        "expected `=` or `!=` (a filter compares with a single `=`), found `==`",
    ),
    (
        "avg(cost) > 1s over 1m",
        12,
        "`1s` is a duration, but `cost` is not a time: a duration threshold goes with duration or ttft",
    ),
    (
        "count of host=a > 1 over 1m",
        9,
        "unknown key `host`; expected one of category, service, name, kind, status, model, provider, attr.KEY, resource.KEY",
    ),
    (
        "count of attr.=a > 1 over 1m",
        14,
        "expected an attribute key after `attr.`",
    ),
    (
        "count of kind=sideways > 1 over 1m",
        14,
        "unknown kind `sideways`; expected one of server, client, producer, consumer, internal, unspecified",
    ),
    (
        "count of status=failed > 1 over 1m",
        16,
        "unknown status `failed`; expected one of ok, error, unset",
    ),
    (
        "count of name=\"chat > 1 over 1m",
        14,
        "unterminated string: expected a closing `\"`",
    ),
    (
        "error_ratio by (service > 0.05 over 5m",
        24,
        "expected `,` or `)`, found `>`",
    ),
    (
        "error_ratio by (service, service) > 0.05 over 5m",
        25,
        "`service` is already in `by`",
    ),
    (
        "error_ratio > 0.05 over 5m & x",
        27,
        "unexpected character `&`",
    ),
    (
        "count of name=a and > 1 over 1m",
        20,
        "expected a key (category, service, name, kind, status, model, provider, attr.KEY or resource.KEY), found `>`",
    ),
];

#[test]
fn invalid_rules_fail_where_they_should() {
    for (text, pos, message) in INVALID {
        let err = parse(text).expect_err(text);
        assert_eq!(
            (err.pos, err.message.as_str()),
            (*pos, *message),
            "for rule {text:?}"
        );
        assert_eq!(err.to_string(), format!("at byte {pos}: {message}"));
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = Key> {
        prop_oneof![
            Just(Key::Category),
            Just(Key::Service),
            Just(Key::Name),
            Just(Key::Kind),
            Just(Key::Status),
            Just(Key::Model),
            Just(Key::Provider),
            "[a-z_][a-z0-9_.]{0,12}".prop_map(Key::Attr),
            "[a-z_][a-z0-9_.:/-]{0,12}".prop_map(Key::Resource),
        ]
    }

    fn condition() -> impl Strategy<Value = Condition> {
        (
            key(),
            any::<bool>(),
            any::<String>(),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(key, equal, text, i)| {
                let value = match key {
                    Key::Category => Literal::Category(Category::ALL[i.index(Category::COUNT)]),
                    Key::Kind => Literal::Kind(
                        [
                            SpanKind::Server,
                            SpanKind::Client,
                            SpanKind::Producer,
                            SpanKind::Consumer,
                            SpanKind::Internal,
                            SpanKind::Unspecified,
                        ][i.index(6)],
                    ),
                    Key::Status => Literal::Status(
                        [StatusCode::Ok, StatusCode::Error, StatusCode::Unset][i.index(3)],
                    ),
                    _ => Literal::Text(text),
                };
                Condition { key, equal, value }
            })
    }

    fn rule() -> impl Strategy<Value = Rule> {
        let func = prop_oneof![
            Just(Func::ErrorRatio),
            Just(Func::Count),
            Just(Func::Rate),
            Just(Func::Avg),
            Just(Func::Min),
            Just(Func::Max),
            Just(Func::Sum),
            (1u16..=99).prop_map(|p| Func::Quantile(p * 10)),
            Just(Func::Quantile(999)),
        ];
        let op = prop_oneof![
            Just(CmpOp::Gt),
            Just(CmpOp::Ge),
            Just(CmpOp::Lt),
            Just(CmpOp::Le),
            Just(CmpOp::Eq),
            Just(CmpOp::Ne),
        ];
        (
            func,
            any::<prop::sample::Index>(),
            prop::option::of(prop::collection::vec(condition(), 1..4)),
            prop::collection::hash_set(key(), 0..4),
            op,
            0.0f64..1e6,
            1.0f64..1e5,
        )
            .prop_map(|(func, vi, filter, by, op, threshold, window_secs)| {
                let value = match func {
                    Func::ErrorRatio | Func::Count | Func::Rate => None,
                    _ => Some(ValueKind::ALL[vi.index(ValueKind::ALL.len())]),
                };
                let threshold = if func == Func::ErrorRatio {
                    threshold / 1e6
                } else {
                    threshold
                };
                Rule {
                    func,
                    value,
                    filter,
                    by: by.into_iter().collect(),
                    op,
                    threshold,
                    window_secs,
                }
            })
    }

    proptest! {
        #[test]
        fn the_canonical_text_parses_back_to_the_rule(rule in rule()) {
            let text = rule.to_string();
            prop_assert_eq!(parse(&text), Ok(rule), "{}", text);
        }

        #[test]
        fn any_text_parses_or_fails_at_a_position_inside_it(text in any::<String>()) {
            if let Err(e) = parse(&text) {
                prop_assert!(e.pos <= text.len());
                prop_assert!(text.is_char_boundary(e.pos));
            }
        }

    }
}

#[test]
fn every_proper_prefix_of_a_seed_rule_fails_inside_it() {
    let rule = "p95(duration of category=llm) > 10s over 10m";
    for cut in 0..rule.len() {
        let err = parse(&rule[..cut]).unwrap_err();
        assert!(err.pos <= cut, "{cut}: {err}");
    }
    assert!(parse(rule).is_ok());
}
