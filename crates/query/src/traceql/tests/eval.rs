//! The evaluator, one construct at a time, on hand-built traces.

use super::support::*;
use crate::traceql::{Attribute, Intrinsic, Value, parse, parse_identifier};
use tracegate_model::proto::common::v1::{AnyValue, ArrayValue, any_value};
use tracegate_model::proto::trace::v1::span::{Event, Link};
use tracegate_model::{Span, SpanId, SpanKind, attr};

#[test]
fn empty_and_true_filters_match_every_span() {
    let t = rag_trace();
    for q in ["{}", "{ }", "{ true }", "{true && true}"] {
        assert_eq!(one(q, &t), [1, 2, 3, 4, 5], "{q}");
    }
    assert!(ids("{ false }", &t).is_empty());
    assert!(ids("{}", &[]).is_empty());
}

#[test]
fn resource_span_and_unscoped_attributes() {
    let t = rag_trace();
    assert_eq!(one(r#"{resource.service.name="rag"}"#, &t), [2, 3, 4, 5]);
    assert_eq!(one(r#"{span.db.system="qdrant"}"#, &t), [3]);
    // Unscoped: the span's attribute, else the resource's.
    assert_eq!(one(r#"{.service.name="frontend"}"#, &t), [1]);
    assert_eq!(one(r#"{.db.system="qdrant"}"#, &t), [3]);
    // A resource attribute is not a span attribute.
    assert!(ids(r#"{span.service.name="rag"}"#, &t).is_empty());
    // Spans are by start time whatever the input order.
    let mut rev = t.clone();
    rev.reverse();
    assert_eq!(one(r#"{resource.service.name="rag"}"#, &rev), [2, 3, 4, 5]);
}

#[test]
fn quoted_attribute_names() {
    let t = vec![span(1, "a", "s", 0, 1).with(attr::string("a b\"c", "x"))];
    assert_eq!(one(r#"{span."a b\"c"="x"}"#, &t), [1]);
    assert_eq!(one(r#"{."a b\"c"="x"}"#, &t), [1]);
}

#[test]
fn boolean_operators_and_parentheses() {
    let t = rag_trace();
    assert_eq!(
        one(
            r#"{(resource.service.name="frontend" || name="query")}"#,
            &t
        ),
        [1, 3]
    );
    assert_eq!(
        one(
            r#"{resource.service.name="rag" && kind=client && !(status=error)}"#,
            &t
        ),
        [4, 5]
    );
    assert_eq!(
        one(r#"{(span.foo!="bar" && span.foo!="baz")}"#, &t),
        Vec::<u8>::new()
    );
    assert_eq!(one(r#"{ !(name="query") }"#, &t), [1, 2, 4, 5]);
    assert_eq!(
        one(r#"{ name="a" || name="retrieve" && kind=internal }"#, &t),
        [2]
    );
}

#[test]
fn intrinsics_of_the_span() {
    let t = rag_trace();
    assert_eq!(one(r#"{name="POST /chat"}"#, &t), [1]);
    assert_eq!(one(r#"{span:name="POST /chat"}"#, &t), [1]);
    assert_eq!(one("{status=error}", &t), [3]);
    assert_eq!(one("{span:status=ok}", &t), [1]);
    assert_eq!(one("{status=unset}", &t), [2, 4, 5]);
    assert_eq!(one("{status!=unset}", &t), [1, 3]);
    assert_eq!(one(r#"{statusMessage="timeout"}"#, &t), [3]);
    assert_eq!(one(r#"{span:statusMessage=~"time.*"}"#, &t), [3]);
    assert_eq!(one("{kind=server}", &t), [1]);
    assert_eq!(one("{span:kind=client}", &t), [3, 4, 5]);
    assert_eq!(one("{kind=internal}", &t), [2]);
    assert_eq!(one("{duration>1s}", &t), [1, 4]);
    assert_eq!(one("{span:duration<=50ms}", &t), [5]);
    assert_eq!(one("{duration>100ms && duration<=500ms}", &t), [2, 3]);
    assert_eq!(one("{duration>100ms && duration<500ms}", &t), [3]);
    assert_eq!(one(r#"{span:id="0303030303030303"}"#, &t), [3]);
    assert_eq!(one(r#"{span:parentID="0101010101010101"}"#, &t), [2, 4, 5]);
    assert_eq!(one("{span:parentID=nil}", &t), [1]);
    assert_eq!(
        one(
            r#"{instrumentation:name="lib" && instrumentation:version="1.2"}"#,
            &t
        )
        .len(),
        5
    );
}

#[test]
fn intrinsics_of_the_trace() {
    let t = rag_trace();
    assert_eq!(one(r#"{rootName="POST /chat" && name="query"}"#, &t), [3]);
    assert_eq!(one(r#"{trace:rootName="POST /chat"}"#, &t).len(), 5);
    assert_eq!(one(r#"{rootServiceName="frontend"}"#, &t).len(), 5);
    assert_eq!(one(r#"{rootService="frontend"}"#, &t).len(), 5);
    assert_eq!(one(r#"{trace:rootService="rag"}"#, &t).len(), 0);
    assert_eq!(one("{traceDuration>=2s}", &t).len(), 5);
    assert_eq!(one("{trace:duration>2s}", &t).len(), 0);
    assert_eq!(
        one(r#"{trace:id="07070707070707070707070707070707"}"#, &t).len(),
        5
    );
    assert_eq!(
        one(r#"{trace:id="0707070707070707070707070707070"}"#, &t).len(),
        0
    );
    // Upper case and trimmed leading zeros name the same id.
    let mut short = rag_trace();
    for s in &mut short {
        s.trace_id.0 = [0; 16];
        s.trace_id.0[15] = 0xab;
    }
    assert_eq!(one(r#"{trace:id="AB"}"#, &short).len(), 5);
    // Without a root, root intrinsics are nil.
    let orphans: Vec<Span> = rag_trace().into_iter().skip(1).collect();
    assert!(ids(r#"{rootName="POST /chat"}"#, &orphans).is_empty());
    assert_eq!(one("{rootName=nil}", &orphans).len(), 4);
    // The trace's duration spans the earliest start to the latest end.
    assert_eq!(one("{traceDuration=1850ms}", &orphans).len(), 4);
}

#[test]
fn the_root_is_the_earliest_span_without_a_parent() {
    let t = vec![
        span(1, "late root", "s", 50, 60),
        span(2, "early root", "s", 10, 20),
        span(3, "child", "s", 0, 5).child_of(2),
    ];
    assert_eq!(one(r#"{rootName="early root"}"#, &t), [3, 2, 1]);
}

#[test]
fn nested_set_parent_is_minus_one_on_roots() {
    let t = rag_trace();
    assert_eq!(one("{nestedSetParent<0}", &t), [1]);
    assert_eq!(one("{nestedSetParent<0 && true}", &t), [1]);
    assert_eq!(one("{nestedSetParent=1}", &t), [2, 4, 5]);
    assert_eq!(one("{nestedSetLeft=1 && nestedSetRight=10}", &t), [1]);
    assert_eq!(one("{childCount=3}", &t), [1]);
    assert_eq!(one("{span:childCount=0}", &t), [3, 4, 5]);
    // A span whose parent is missing has no nested-set parent.
    let orphan = vec![span(9, "x", "s", 0, 1).child_of(8)];
    assert!(ids("{nestedSetParent<0}", &orphan).is_empty());
    assert_eq!(one("{nestedSetParent=nil}", &orphan), [9]);
    // A parent cycle neither loops nor panics.
    let cycle = vec![
        span(1, "a", "s", 0, 1).child_of(2),
        span(2, "b", "s", 0, 1).child_of(1),
    ];
    assert!(ids("{nestedSetLeft>0}", &cycle).is_empty());
}

#[test]
fn regex_is_anchored_at_both_ends() {
    let t = rag_trace();
    assert_eq!(
        one(r#"{resource.service.name=~"rag|frontend"}"#, &t).len(),
        5
    );
    assert!(ids(r#"{resource.service.name=~"ra"}"#, &t).is_empty());
    assert!(ids(r#"{resource.service.name=~"ag"}"#, &t).is_empty());
    assert_eq!(one(r#"{span.gen_ai.request.model=~"gpt-4o"}"#, &t), [4]);
    assert_eq!(
        one(r#"{span.gen_ai.request.model=~"gpt-4o.*"}"#, &t),
        [4, 5]
    );
    assert_eq!(one(r#"{span.gen_ai.request.model!~"gpt-4o"}"#, &t), [5]);
    assert_eq!(one(r#"{span.db.system=~".+"}"#, &t), [3]);
    // Escaped dots are literal dots.
    let dotted = vec![span(1, "a.b", "s", 0, 1), span(2, "axb", "s", 0, 1)];
    assert_eq!(one(r#"{name=~"a\\.b|c\\.d"}"#, &dotted), [1]);
    // A missing attribute matches neither =~ nor !~.
    assert!(ids(r#"{span.nope!~"x"}"#, &t).is_empty());
}

#[test]
fn type_aware_comparisons() {
    let t = rag_trace();
    // Int attribute against int literal; a string of digits as the number it spells.
    assert_eq!(one("{span.gen_ai.usage.input_tokens>1000}", &t), [4]);
    assert_eq!(one("{span.gen_ai.usage.input_tokens<1000}", &t), [5]);
    assert_eq!(one("{span.gen_ai.usage.input_tokens=800}", &t), [5]);
    assert_eq!(one("{span.gen_ai.usage.input_tokens>=799.5}", &t), [4, 5]);
    assert_eq!(
        one(
            "{span.http.status_code>=200 && span.http.status_code<300}",
            &t
        ),
        [1]
    );
    // A number compared with a string that is not one: no operator holds, != included.
    assert!(ids(r#"{span.http.status_code="abc"}"#, &t).is_empty());
    assert!(ids(r#"{span.http.status_code!="abc"}"#, &t).is_empty());
    assert_eq!(one(r#"{span.http.status_code="200"}"#, &t), [1]);
    // Strings order lexicographically.
    assert_eq!(one(r#"{name>"query"}"#, &t), [2]);
    // Missing attributes satisfy no comparison but `= nil`.
    assert!(ids("{span.nope!=1}", &t).is_empty());
    assert_eq!(one("{span.db.system!=nil}", &t), [3]);
    assert_eq!(one("{span.db.system=nil}", &t), [1, 2, 4, 5]);
    // Floats, negative numbers, booleans.
    let nums = vec![
        span(1, "a", "s", 0, 1)
            .with(attr::double("f", 0.5))
            .with(attr::int("i", -3))
            .with(attr::boolean("b", true)),
        span(2, "b", "s", 0, 1)
            .with(attr::double("f", 2.0))
            .with(attr::string("b", "false")),
    ];
    assert_eq!(one("{.f<1}", &nums), [1]);
    assert_eq!(one("{.f=2}", &nums), [2]);
    assert_eq!(one("{.i=-3}", &nums), [1]);
    assert_eq!(one("{.i<-2.5}", &nums), [1]);
    assert_eq!(one("{.b=true}", &nums), [1]);
    assert_eq!(one("{.b}", &nums), [1]);
    assert_eq!(one("{.b=false}", &nums), [2]);
    // A duration compares with a string attribute holding a Go duration or a number of ns.
    let d = vec![
        span(1, "a", "s", 0, 1).with(attr::string("lat", "1.5s")),
        span(2, "b", "s", 0, 1).with(attr::int("lat", 2_000_000_000)),
    ];
    assert_eq!(one("{.lat>1s}", &d), [1, 2]);
    assert_eq!(one("{.lat>1.6s}", &d), [2]);
}

#[test]
fn arrays_and_events_match_when_any_element_does() {
    let arr = AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue {
            values: ["stop", "length"]
                .iter()
                .map(|s| AnyValue {
                    value: Some(any_value::Value::StringValue((*s).into())),
                })
                .collect(),
        })),
    };
    let mut a = span(1, "a", "s", 0, 1);
    a.attributes.push(attr::kv(
        "gen_ai.response.finish_reasons",
        arr.value
            .clone()
            .unwrap_or(any_value::Value::BoolValue(false)),
    ));
    a.events.push(Event {
        name: "exception".into(),
        time_unix_nano: a.start_time_unix_nano + 250_000,
        attributes: vec![attr::string("exception.type", "Timeout")],
        ..Default::default()
    });
    a.links.push(Link {
        trace_id: vec![0xab; 16],
        span_id: vec![0xcd; 8],
        attributes: vec![attr::string("rel", "retry")],
        ..Default::default()
    });
    let t = vec![a, span(2, "b", "s", 0, 1)];
    assert_eq!(
        one(r#"{span.gen_ai.response.finish_reasons="length"}"#, &t),
        [1]
    );
    assert_eq!(one(r#"{event:name="exception"}"#, &t), [1]);
    assert_eq!(one("{event:timeSinceStart=250us}", &t), [1]);
    assert!(ids("{event:timeSinceStart>250us}", &t).is_empty());
    assert_eq!(one(r#"{event.exception.type="Timeout"}"#, &t), [1]);
    assert_eq!(one(r#"{link.rel="retry"}"#, &t), [1]);
    assert_eq!(one(r#"{link:spanID="cdcdcdcdcdcdcdcd"}"#, &t), [1]);
    assert_eq!(one(r#"{link:traceID=~"(ab)+"}"#, &t), [1]);
    assert_eq!(one("{event:name=nil}", &t), [2]);
}

#[test]
fn derived_facts_are_attributes_live_and_decoded() {
    let t = rag_trace();
    // Span 2 holds the category as a typed fact, span 4 as an attribute (decoded form).
    assert_eq!(one(r#"{span.tracegate.category="retrieval"}"#, &t), [2]);
    assert_eq!(one(r#"{.tracegate.category="llm"}"#, &t), [4]);
    assert_eq!(
        one(
            r#"{span.tracegate.category="retrieval" && duration>400ms}"#,
            &t
        ),
        [2]
    );
    assert!(
        ids(
            r#"{span.tracegate.category="retrieval" && duration>500ms}"#,
            &t
        )
        .is_empty()
    );
    let mut live = t[1].clone();
    live.facts.tree = Some(tracegate_model::TreeTimes {
        self_time_ns: 100 * MS,
        critical_path_ns: 5,
    });
    assert_eq!(
        one("{span.tracegate.self_time_ns>=100000000}", &[live.clone()]),
        [2]
    );
    // Materialized, the same query sees the same value.
    live.materialize_facts();
    assert_eq!(
        one("{span.tracegate.self_time_ns>=100000000}", &[live]),
        [2]
    );
}

#[test]
fn the_llm_queries() {
    let t = rag_trace();
    assert_eq!(
        one(
            r#"{span.gen_ai.request.model="gpt-4o" && span.gen_ai.usage.input_tokens>1000}"#,
            &t
        ),
        [4]
    );
    assert_eq!(
        one(
            r#"{span.tracegate.category="retrieval" && duration>400ms}"#,
            &t
        ),
        [2]
    );
    assert!(ids("{trace:duration>5s && status=error}", &t).is_empty());
    assert_eq!(one("{trace:duration>1s && status=error}", &t), [3]);
}

#[test]
fn spanset_and_needs_both_sides_and_unions_them() {
    let t = rag_trace();
    assert_eq!(one(r#"{name="query"} && {kind=server}"#, &t), [1, 3]);
    assert!(ids(r#"{name="query"} && {name="nope"}"#, &t).is_empty());
    assert_eq!(one(r#"{name="query"} || {name="nope"}"#, &t), [3]);
    assert_eq!(one(r#"{name="query"} || {kind=server}"#, &t), [1, 3]);
    assert_eq!(
        one(r#"({name="query"} || {name="x"}) && {status=ok}"#, &t),
        [1, 3]
    );
}

#[test]
fn count_and_aggregates_filter_spansets() {
    let t = rag_trace();
    let s = sets(r#"{kind=client} | count() > 2"#, &t);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].matched, 3);
    assert_eq!(s[0].attributes, [("count()".to_owned(), Value::Int(3))]);
    assert!(sets(r#"{kind=client} | count() > 3"#, &t).is_empty());
    assert_eq!(sets(r#"{kind=client} | count() = 3"#, &t).len(), 1);
    assert_eq!(sets(r#"{kind=client} | count() != 3"#, &t).len(), 0);
    // avg(duration) of 400, 1200, 50 ms = 550ms.
    let s = sets("{kind=client} | avg(duration) > 500ms", &t);
    assert_eq!(
        s[0].attributes,
        [("avg(duration)".to_owned(), Value::Duration(550 * MS))]
    );
    assert!(sets("{kind=client} | avg(duration) > 550ms", &t).is_empty());
    let s = sets(
        "{kind=client} | max(duration) >= 1200ms | min(duration) < 100ms",
        &t,
    );
    assert_eq!(
        s[0].attributes,
        [
            ("max(duration)".to_owned(), Value::Duration(1200 * MS)),
            ("min(duration)".to_owned(), Value::Duration(50 * MS)),
        ]
    );
    // Sum over an int attribute and a string one: 1500 + 800.
    let s = sets("{} | sum(span.gen_ai.usage.input_tokens) = 2300", &t);
    assert_eq!(
        s[0].attributes,
        [(
            "sum(span.gen_ai.usage.input_tokens)".to_owned(),
            Value::Int(2300)
        )]
    );
    let s = sets("{} | avg(span.gen_ai.usage.input_tokens) > 1149.5", &t);
    assert_eq!(s[0].attributes[0].1, Value::Float(1150.0));
    // No span has the attribute: the aggregate is nil and compares false.
    assert!(sets("{} | max(span.nope) > 0", &t).is_empty());
}

#[test]
fn by_splits_spansets_and_stages_apply_to_each() {
    let t = rag_trace();
    let s = sets("{} | by(resource.service.name)", &t);
    type Outputs = Vec<(String, Value)>;
    let got: Vec<(Vec<u8>, Outputs)> = s
        .iter()
        .map(|s| {
            (
                s.spans.iter().map(|x| x.span_id.0[0]).collect(),
                s.attributes.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                vec![1],
                vec![(
                    "by(resource.service.name)".to_owned(),
                    Value::Str("frontend".into())
                )]
            ),
            (
                vec![2, 3, 4, 5],
                vec![(
                    "by(resource.service.name)".to_owned(),
                    Value::Str("rag".into())
                )]
            ),
        ]
    );
    let s = sets("{} | by(resource.service.name) | count() > 1", &t);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].matched, 4);
    assert_eq!(s[0].attributes.len(), 2);
    assert_eq!(ids("{} | by(kind) | coalesce()", &t), [vec![1, 2, 3, 4, 5]]);
    assert_eq!(ids("{} | by(kind) | { status=error }", &t), [vec![3]]);
}

#[test]
fn select_names_output_attributes_without_changing_results() {
    let t = rag_trace();
    let q = parse(r#"{resource.service.name="rag" && status=error && name="query"} | select(span.db.system, kind)"#).unwrap();
    let keys: Vec<String> = q
        .output_attributes()
        .iter()
        .map(Attribute::output_key)
        .collect();
    assert_eq!(keys, ["service.name", "status", "db.system", "kind"]);
    assert_eq!(q.evaluate(&t).len(), 1);
    assert_eq!(q.evaluate(&t)[0].matched, 1);
}

#[test]
fn with_hints_are_parsed_and_ignored() {
    let t = rag_trace();
    let q = parse("{status=error} with(most_recent=true)").unwrap();
    assert!(q.most_recent());
    assert_eq!(q.evaluate(&t)[0].matched, 1);
    assert!(!parse("{}").unwrap().most_recent());
}

#[test]
fn value_of_reads_one_attribute_for_results() {
    let t = rag_trace();
    let v = |id: &str, i: usize| parse_identifier(id).unwrap().value_of(&t[i], &t);
    assert_eq!(
        v("resource.service.name", 0),
        Some(Value::Str("frontend".into()))
    );
    assert_eq!(
        v("status", 2),
        Some(Value::Status(crate::traceql::StatusKw::Error))
    );
    assert_eq!(
        v("kind", 0),
        Some(Value::Kind(crate::traceql::KindKw::Server))
    );
    assert_eq!(v("duration", 4), Some(Value::Duration(50 * MS)));
    assert_eq!(
        v("trace:rootName", 3),
        Some(Value::Str("POST /chat".into()))
    );
    assert_eq!(v("traceDuration", 3), Some(Value::Duration(2 * S)));
    assert_eq!(
        v("span.tracegate.category", 1),
        Some(Value::Str("retrieval".into()))
    );
    assert_eq!(v("nestedSetParent", 0), Some(Value::Int(-1)));
    assert_eq!(v("span.nope", 0), None);
    assert_eq!(
        Attribute::Intrinsic(Intrinsic::Name).value_of(&t[1], &t),
        Some(Value::Str("retrieve".into()))
    );
}

#[test]
fn kinds_cover_every_keyword() {
    let kinds = [
        (SpanKind::Unspecified, "unspecified"),
        (SpanKind::Internal, "internal"),
        (SpanKind::Server, "server"),
        (SpanKind::Client, "client"),
        (SpanKind::Producer, "producer"),
        (SpanKind::Consumer, "consumer"),
    ];
    let t: Vec<Span> = kinds
        .iter()
        .enumerate()
        .map(|(i, (k, _))| {
            let mut s = span(i as u8 + 1, "x", "s", 0, 1).kind(*k);
            s.span_id = SpanId([i as u8 + 1; 8]);
            s
        })
        .collect();
    for (i, (_, word)) in kinds.iter().enumerate() {
        assert_eq!(
            one(&format!("{{kind={word}}}"), &t),
            [i as u8 + 1],
            "{word}"
        );
    }
}

#[test]
fn a_trace_view_reads_values_as_value_of_does() {
    let t = rag_trace();
    let view = crate::traceql::TraceView::new(&t);
    for id in [
        "name",
        "nestedSetParent",
        "nestedSetLeft",
        "childCount",
        "rootName",
        "traceDuration",
        "span.tracegate.category",
        "resource.service.name",
        "span:parentID",
    ] {
        let a = parse_identifier(id).unwrap();
        for s in &t {
            assert_eq!(view.value_of(&a, s), a.value_of(s, &t), "{id}");
        }
    }
    // A copy of a span (not in the slice) is found by its id.
    let copy = t[2].clone();
    assert_eq!(
        view.value_of(&parse_identifier("nestedSetParent").unwrap(), &copy),
        Some(Value::Int(2))
    );
}

#[test]
fn pipelines_inside_parentheses_select_the_spans_they_keep() {
    let t = rag_trace();
    assert_eq!(
        one("({kind=client} | count() > 2) && {kind=server}", &t),
        [1, 3, 4, 5]
    );
    assert!(ids("({kind=client} | count() > 3) && {kind=server}", &t).is_empty());
    assert_eq!(
        one("({kind=client} | count() > 3) || {kind=server}", &t),
        [1]
    );
    assert_eq!(
        one(
            "({} | by(resource.service.name) | count() > 1) | count() = 4",
            &t
        ),
        [2, 3, 4, 5]
    );
    // Outputs of stages inside parentheses are not the result's.
    assert!(sets("({} | count() > 1)", &t)[0].attributes.is_empty());
}
