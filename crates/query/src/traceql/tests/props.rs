//! Property tests: parsing never panics, printing and parsing round-trip, and the set
//! algebra of filters (negation partitions, `||` unions, `&&` needs both sides).

use super::support::{MS, span};
use crate::traceql::{
    AggFunc, Aggregate, AttrScope, Attribute, Cmp, CmpOp, Expr, Intrinsic, KindKw, Operand,
    SpansetExpr, Stage, StatusKw, Value, parse,
};
use proptest::prelude::*;
use std::collections::BTreeSet;
use tracegate_model::{Span, SpanId, SpanKind, StatusCode, attr};

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1e12f64..1e12).prop_map(Value::Float),
        any::<String>().prop_map(Value::Str),
        (0u64..u64::MAX / 2).prop_map(Value::Duration),
        prop_oneof![
            Just(StatusKw::Ok),
            Just(StatusKw::Error),
            Just(StatusKw::Unset)
        ]
        .prop_map(Value::Status),
        prop_oneof![
            Just(KindKw::Server),
            Just(KindKw::Client),
            Just(KindKw::Internal)
        ]
        .prop_map(Value::Kind),
    ]
}

fn ordered_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::Int),
        (-1e12f64..1e12).prop_map(Value::Float),
        "[a-z0-9 ]{0,6}".prop_map(Value::Str),
        (0u64..1u64 << 50).prop_map(Value::Duration),
    ]
}

fn named() -> impl Strategy<Value = Attribute> {
    let scope = prop_oneof![
        Just(AttrScope::Span),
        Just(AttrScope::Resource),
        Just(AttrScope::Unscoped),
        Just(AttrScope::Event),
        Just(AttrScope::Link),
        Just(AttrScope::Instrumentation),
    ];
    let name = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("http.status_code".to_owned()),
        "[a-z][a-z0-9_.]{0,8}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ];
    (scope, name).prop_map(|(scope, name)| Attribute::named(scope, name))
}

fn cmp(lhs: Operand, op: CmpOp, rhs: Operand) -> Expr {
    let pattern = match (&rhs, op) {
        (Operand::Lit(Value::Str(s)), CmpOp::Re | CmpOp::NotRe) => {
            Some(crate::traceql::ast::Pattern {
                source: s.clone(),
                regex: regex::Regex::new(&format!(r"\A(?:{s})\z")).unwrap(),
            })
        }
        _ => None,
    };
    Expr::Cmp(Box::new(Cmp {
        lhs,
        op,
        rhs,
        pattern,
    }))
}

/// Comparisons that pass the parser's type checks.
fn comparison() -> impl Strategy<Value = Expr> {
    let eq = prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)];
    let ord = prop_oneof![
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Lt),
        Just(CmpOp::Le)
    ];
    let re = prop_oneof![Just(CmpOp::Re), Just(CmpOp::NotRe)];
    let patterns = prop_oneof![Just("x|y"), Just(".*"), Just("[0-9]+"), Just(r"a\.b")];
    prop_oneof![
        (named(), eq, value()).prop_map(|(a, op, v)| cmp(Operand::Attr(a), op, Operand::Lit(v))),
        (named(), ord, ordered_value()).prop_map(|(a, op, v)| cmp(
            Operand::Attr(a),
            op,
            Operand::Lit(v)
        )),
        (named(), re, patterns).prop_map(|(a, op, p)| cmp(
            Operand::Attr(a),
            op,
            Operand::Lit(Value::Str(p.to_owned()))
        )),
        (0u64..10_000).prop_map(|d| cmp(
            Operand::Attr(Attribute::Intrinsic(Intrinsic::Duration)),
            CmpOp::Gt,
            Operand::Lit(Value::Duration(d * MS))
        )),
        prop_oneof![Just(StatusKw::Ok), Just(StatusKw::Error)].prop_map(|s| cmp(
            Operand::Attr(Attribute::Intrinsic(Intrinsic::Status)),
            CmpOp::Eq,
            Operand::Lit(Value::Status(s))
        )),
        "[a-z ]{0,5}".prop_map(|s| cmp(
            Operand::Attr(Attribute::Intrinsic(Intrinsic::Name)),
            CmpOp::Ne,
            Operand::Lit(Value::Str(s))
        )),
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        8 => comparison(),
        1 => any::<bool>().prop_map(Expr::Bool),
        1 => named().prop_map(Expr::Attr),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn spansets() -> impl Strategy<Value = SpansetExpr> {
    expr()
        .prop_map(SpansetExpr::Filter)
        .prop_recursive(2, 6, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| SpansetExpr::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| SpansetExpr::Or(Box::new(a), Box::new(b))),
                (inner, 0i64..5).prop_map(|(e, n)| SpansetExpr::Pipeline(
                    Box::new(e),
                    vec![Stage::Aggregate {
                        aggregate: Aggregate {
                            func: AggFunc::Count,
                            attr: None,
                        },
                        op: CmpOp::Gt,
                        value: Value::Int(n),
                    }]
                )),
            ]
        })
}

/// Conditions over the attributes [`trace`] sets, as text.
fn condition() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        (0i64..6).prop_map(|n| format!(".a = {n}")),
        (0i64..6).prop_map(|n| format!(".a > {n}")),
        (0i64..6).prop_map(|n| format!("span.a <= \"{n}\"")),
        Just(".b = \"x\"".to_owned()),
        Just(".b != \"y\"".to_owned()),
        Just(".b =~ \"x|z\"".to_owned()),
        Just(".b !~ \"x\"".to_owned()),
        Just(".a = nil".to_owned()),
        Just(".b != nil".to_owned()),
        Just("status = error".to_owned()),
        Just("kind = server".to_owned()),
        (0u64..40).prop_map(|d| format!("duration > {d}ms")),
        Just("nestedSetParent < 0".to_owned()),
        Just("resource.service.name = \"a\"".to_owned()),
        Just("resource.service.name =~ \"a|b\"".to_owned()),
        Just("rootServiceName = \"b\"".to_owned()),
        (0u64..60).prop_map(|d| format!("traceDuration >= {d}ms")),
        Just("true".to_owned()),
    ];
    atom.prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| format!("!({e})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("({a} || {b})")),
        ]
    })
}

/// A trace of 0..12 spans with random `a` (int, string of digits, or missing), `b`, status,
/// kind, duration and parent.
fn trace() -> impl Strategy<Value = Vec<Span>> {
    let one = (
        prop::option::of(prop_oneof![
            (0i64..6).prop_map(|n| attr::int("a", n)),
            (0i64..6).prop_map(|n| attr::string("a", n.to_string())),
        ]),
        prop::option::of(prop_oneof![Just("x"), Just("y"), Just("z")]),
        any::<bool>(),
        any::<bool>(),
        0u64..50,
        0u64..50,
        any::<prop::sample::Index>(),
        prop_oneof![Just("svc"), Just("a"), Just("b")],
    );
    prop::collection::vec(one, 0..12).prop_map(|specs| {
        let n = specs.len();
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (a, b, err, server, start, len, parent, service))| {
                let mut s = span(i as u8 + 1, "op", service, start, start + len);
                s.span_id = SpanId([i as u8 + 1; 8]);
                if let Some(a) = a {
                    s.attributes.push(a);
                }
                if let Some(b) = b {
                    s.attributes.push(attr::string("b", b));
                }
                if err {
                    s.status.code = StatusCode::Error as i32;
                }
                if server {
                    s.kind = SpanKind::Server;
                }
                let p = parent.index(n + 1);
                if p < i {
                    s.parent_span_id = Some(SpanId([p as u8 + 1; 8]));
                }
                s
            })
            .collect()
    })
}

fn matched(query: &str, trace: &[Span]) -> BTreeSet<[u8; 8]> {
    parse(query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .evaluate(trace)
        .iter()
        .flat_map(|s| s.spans.iter().map(|sp| sp.span_id.0))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let _ = parse(&text);
    }

    #[test]
    fn parse_never_panics_on_near_traceql(
        parts in prop::collection::vec(prop_oneof![
            Just("{"), Just("}"), Just("("), Just(")"), Just("|"), Just("||"), Just("&&"),
            Just("!"), Just("="), Just("!="), Just("=~"), Just(">"), Just(">>"), Just("-"),
            Just(".a"), Just("span."), Just("resource.x"), Just("name"), Just("status"),
            Just("error"), Just("1"), Just("1.5s"), Just("\"s\""), Just("\""), Just("count()"),
            Just("avg("), Just("by("), Just("select("), Just("with("), Just(","), Just("nil"),
            Just("trace:id"), Just("span:"), Just("\\"), Just("µ"), Just(" "),
        ], 0..24)
    ) {
        let text: String = parts.concat();
        if let Ok(q) = parse(&text) {
            // Whatever parses prints as text that parses to the same query.
            let printed = q.to_string();
            prop_assert_eq!(parse(&printed).ok(), Some(q), "{} printed as {}", text, printed);
        }
    }

    #[test]
    fn printing_and_parsing_round_trip(e in spansets()) {
        let text = e.to_string();
        let parsed = parse(&text).map_err(|err| TestCaseError::fail(format!("{text}: {err}")))?;
        prop_assert_eq!(parsed.spanset_expr(), &e, "{}", text);
    }

    #[test]
    fn a_filter_and_its_negation_partition_the_spans(c in condition(), t in trace()) {
        let yes = matched(&format!("{{ {c} }}"), &t);
        let no = matched(&format!("{{ !({c}) }}"), &t);
        prop_assert!(yes.is_disjoint(&no), "{}", c);
        prop_assert_eq!(yes.len() + no.len(), t.len(), "{}", c);
    }

    #[test]
    fn spanset_or_is_the_union_and_and_needs_both(a in condition(), b in condition(), t in trace()) {
        let sa = matched(&format!("{{ {a} }}"), &t);
        let sb = matched(&format!("{{ {b} }}"), &t);
        let union: BTreeSet<_> = sa.union(&sb).copied().collect();
        prop_assert_eq!(&matched(&format!("{{ {a} }} || {{ {b} }}"), &t), &union);
        let both = if sa.is_empty() || sb.is_empty() { BTreeSet::new() } else { union };
        prop_assert_eq!(matched(&format!("{{ {a} }} && {{ {b} }}"), &t), both);
        // Inside one filter, && and || are per span.
        let inter: BTreeSet<_> = sa.intersection(&sb).copied().collect();
        prop_assert_eq!(matched(&format!("{{ ({a}) && ({b}) }}"), &t), inter);
    }

    #[test]
    fn hints_never_exclude_a_matching_trace(c in condition(), t in trace()) {
        let q = parse(&format!("{{ {c} }}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if q.evaluate(&t).is_empty() {
            return Ok(());
        }
        let h = q.hints();
        if let Some(min) = h.min_span_duration_ns {
            prop_assert!(t.iter().any(|s| s.duration_ns() >= min), "{}", c);
        }
        if let Some(min) = h.min_trace_duration_ns {
            let start = t.iter().map(|s| s.start_time_unix_nano).min().unwrap_or(0);
            let end = t.iter().map(|s| s.end_time_unix_nano).max().unwrap_or(0);
            prop_assert!(end - start >= min, "{}", c);
        }
        if let Some(names) = &h.service_names {
            prop_assert!(t.iter().any(|s| names.iter().any(|n| n == s.service_name())), "{}", c);
        }
        if h.same_span {
            let (names, min) = (h.service_names.unwrap_or_default(), h.min_span_duration_ns.unwrap_or(0));
            prop_assert!(
                t.iter().any(|s| names.iter().any(|n| n == s.service_name()) && s.duration_ns() >= min),
                "{}", c
            );
        }
    }

    #[test]
    fn count_is_the_number_of_matching_spans(c in condition(), t in trace(), n in 0usize..6) {
        let plain = matched(&format!("{{ {c} }}"), &t);
        let counted = matched(&format!("{{ {c} }} | count() > {n}"), &t);
        if plain.len() > n {
            prop_assert_eq!(counted, plain);
        } else {
            prop_assert!(counted.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// When the query says it does not need the whole trace, evaluating fragments and
    /// joining the matches is the same as evaluating the trace.
    #[test]
    fn fragments_match_as_the_whole_trace_when_the_query_says_so(
        c in condition(),
        t in trace(),
        cut in any::<prop::sample::Index>(),
    ) {
        let q = parse(&format!("{{ {c} }}")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if q.needs_whole_trace() {
            return Ok(());
        }
        let at = cut.index(t.len() + 1);
        let (head, tail) = t.split_at(at);
        let mut joined: BTreeSet<[u8; 8]> = BTreeSet::new();
        for part in [head, tail] {
            for set in q.evaluate(part) {
                joined.extend(set.spans.iter().map(|s| s.span_id.0));
            }
        }
        prop_assert_eq!(joined, matched(&format!("{{ {c} }}"), &t), "{}", c);
    }
}
