//! The parser corpus: queries that parse (Grafana's, the LLM ones, Tempo's examples),
//! queries refused as invalid (with message and position) and as unsupported (naming the
//! construct).

use crate::traceql::{
    AttrScope, Attribute, Expr, Hints, Intrinsic, Operand, SpansetExpr, Value, parse,
    parse_identifier,
};

/// Every query of TEMPO_API.md §4.2 (Grafana's builder, ad-hoc filters, service graph
/// links) and the Drilldown filter parts.
const GRAFANA: &[&str] = &[
    "{}",
    r#"{resource.service.name="checkout"}"#,
    r#"{resource.service.name="checkout" && name="GET /cart"}"#,
    r#"{resource.service.name="checkout" && name="GET /cart" && status=error}"#,
    "{duration>100ms}",
    "{duration>100ms && duration<=2s}",
    "{traceDuration>100ms}",
    r#"{(resource.service.name="a" || resource.service.name="b")}"#,
    r#"{(span.foo="bar" || span.foo="baz")}"#,
    r#"{resource.service.name=~"a|b"}"#,
    r#"{span.foo=~"a\\.b|c\\.d"}"#,
    r#"{span.foo=~".+"}"#,
    r#"{span.foo!~"bar|baz"}"#,
    r#"{(span.foo!="bar" && span.foo!="baz")}"#,
    "{span.http.status_code>=500}",
    r#"{.footag>=1234 && .bartag="barvalue"}"#,
    r#"{resource.footag>=1234 && resource.name="foo"}"#,
    "{kind=server}",
    r#"{name="my-server"}"#,
    r#"{resource.service.namespace="ns" && resource.service.name="svc" && name="op"}"#,
    r#"{span.db.name="x" || span.db.system="x" || span.peer.service="x" || span.messaging.system="x" || span.net.peer.name="x"}"#,
    "{ }",
    "{ true }",
    "{true}",
    "{nestedSetParent<0 && true}",
    "{nestedSetParent<0}",
    "{status = error}",
    r#"{resource.service.name="checkout"} with(most_recent=true)"#,
];

/// The LLM queries tracegate's users write.
const LLM: &[&str] = &[
    r#"{span.gen_ai.request.model="gpt-4o" && span.gen_ai.usage.input_tokens>1000}"#,
    r#"{span.tracegate.category="retrieval" && duration>500ms}"#,
    "{trace:duration>5s && status=error}",
    r#"{span.tracegate.category="llm"} | avg(span.tracegate.prefill_ns) > 1000000"#,
    r#"{span.gen_ai.request.model=~"gpt-4o.*"} | by(span.gen_ai.request.model) | count() > 1"#,
];

/// Tempo's valid examples (pkg/traceql/test_examples.yaml) within what is supported.
const TEMPO_VALID: &[&str] = &[
    "{ !true }",
    "{ true && false }",
    "{ true || false }",
    "{ 1 = 2 }",
    "{ 1 != 2 }",
    "{ 1 > 2 }",
    "{ 1 >= 2 }",
    "{ 1 < 2 }",
    "{ 1 <= 2 }",
    "{ -1 = 2 }",
    r#"{ "test" =~ "test" }"#,
    r#"{ "test" !~ "test" }"#,
    r#"{ "test" = "test" }"#,
    "{ .a }",
    "{ !.a }",
    "{ .a && false }",
    "{ .a || true }",
    "{ .a = 2 }",
    "{ .a != 2 }",
    "{ .a <= 2 }",
    r#"{ .a =~ "test" }"#,
    r#"{ .a != "test" }"#,
    "{ resource.a != 3 }",
    "{ span.a != 3 }",
    r#"{ !("test" != .c || ((true && .b) || 3 < .a)) }"#,
    "{ status = ok }",
    "{ status = unset }",
    "{ status != error }",
    r#"{ statusMessage = "status message" }"#,
    r#"{ statusMessage =~ ".*" }"#,
    r#"{ statusMessage != "" }"#,
    "{ kind = internal }",
    "{ kind = consumer }",
    "{ traceDuration > 1s }",
    r#"{ rootServiceName = "foo" }"#,
    r#"{ rootName != "foo" }"#,
    "{ duration > 1s }",
    "{ 1 < 1h }",
    "{ 1 <= 1.1 }",
    r#"{ event.foo = "bar" }"#,
    r#"{ link.foo = "bar" }"#,
    r#"{ instrumentation.foo = "bar" }"#,
    "{ trace:duration > 2s }",
    r#"{ trace:rootName = "a" }"#,
    r#"{ trace:rootService = "a" }"#,
    r#"{ trace:id = "aasdf4ergf" }"#,
    "{ span:duration > 2s }",
    "{ span:status = error }",
    "{ span:kind = client }",
    r#"{ span:statusMessage = "status message" }"#,
    r#"{ span:id = "61626364656667" }"#,
    r#"{ event:name = "exception" }"#,
    "{ event:timeSinceStart > 1s }",
    r#"{ link:traceID = "f1f1f1f1f1f1ff1f1f1f1f1f1f1f1f1" }"#,
    r#"{ link:spanID = "f1f1f1f1f1f1f1f1" }"#,
    r#"{ instrumentation:name = "grpc" }"#,
    r#"{ instrumentation:version = "v3.34" }"#,
    r#"{ .http.status >= "200" }"#,
    "{ true } && { true }",
    "{ true } || { true }",
    "avg(.field) > 1",
    "max(duration) >= 1s",
    "max(duration) > 1",
    "{ true } | max(duration) = 1h",
    "{ true } | min(duration) = 1h",
    "{ true } | sum(duration) = 1h",
    "{ true } | max(.a) = 1",
    "{ true } | max(span.a) = 1",
    "{ true } | max(resource.a) = 1",
    "max(duration) > 3s | { status = error || .http.status = 500 }",
    "select(.a)",
    "{} | select(.a,.b,.c)",
    "{ true } | { .a }",
    "{ true } | count() = 1",
    "{ true } | avg(duration) = 1h",
    "count() = 1 | { true }",
    "{ true } | count() = 1 | { true }",
    "{ true } | coalesce()",
    "{ true } | by(.a)",
    "by(.a) | { true }",
    "{ true } | by(name) | count() > 2",
    "{ true } | by(.field) | avg(.b) = 2",
    "{ nestedSetLeft > 3 }",
    "{ .foo = nil }",
    "{ 1 = childCount }",
    "({ true } | count() > 1 | { false }) && ({ true } | count() > 1 | { false })",
    "({ true } | count() > 1 | { false }) || ({ true } | count() > 1 | { false })",
    "({ .a = 1 } | by(.b) | count() > 1) | select(.c)",
];

#[test]
fn valid_queries_parse_and_print_back_to_themselves() {
    for q in GRAFANA.iter().chain(LLM).chain(TEMPO_VALID) {
        let parsed = parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let printed = parsed.to_string();
        let again = parse(&printed).unwrap_or_else(|e| panic!("{q} printed as {printed}: {e}"));
        assert_eq!(again, parsed, "{q} printed as {printed}");
        assert_eq!(again.to_string(), printed, "{q}");
    }
}

#[test]
fn grafana_queries_give_the_expected_trees() {
    let q =
        parse(r#"{resource.service.name="checkout" && name="GET /cart" && status=error}"#).unwrap();
    assert_eq!(
        q.to_string(),
        r#"{ resource.service.name = "checkout" && name = "GET /cart" && status = error }"#
    );
    let q = parse(r#"{span.foo=~"a\\.b|c\\.d"}"#).unwrap();
    let SpansetExpr::Filter(Expr::Cmp(c)) = q.spanset_expr() else {
        panic!("{q:?}")
    };
    assert_eq!(c.rhs, Operand::Lit(Value::Str(r"a\.b|c\.d".into())));
    assert_eq!(
        c.lhs,
        Operand::Attr(Attribute::named(AttrScope::Span, "foo"))
    );
    assert_eq!(
        parse("{}").unwrap().spanset_expr(),
        &SpansetExpr::Filter(Expr::Bool(true))
    );
    assert_eq!(parse("{ true }").unwrap(), parse("{}").unwrap());
    assert_eq!(parse("{.i=-3}").unwrap().to_string(), "{ .i = -3 }");
    // Found by the `traceql` fuzz target: a float literal past f64's range was infinite and
    // printed as `inf`, which does not parse; now it is refused.
    let err = parse(&format!("{{ .a = 1{}.5 }}", "0".repeat(400))).unwrap_err();
    assert!(err.message().contains("is too large"), "{err}");
    assert!(parse("{ .a = 2e308 }").is_err());
    let q = parse("{ .a = 1.5e300 && .b < 1e-300 }").unwrap();
    assert_eq!(q.to_string(), "{ .a = 1.5e300 && .b < 1e-300 }");
    // `!` prints bare, with parentheses only around `&&` and `||`.
    assert_eq!(
        parse("{!!(.a=1) && !(.b || .c)}").unwrap().to_string(),
        "{ !!.a = 1 && !(.b || .c) }"
    );
    // Found by the `traceql` fuzz target: `!` nested to MAX_DEPTH printed one parenthesis per
    // `!`, twice the depth, and the canonical text did not parse.
    let deepest = format!("{{ {}.a = 1 }}", "!".repeat(crate::traceql::MAX_DEPTH));
    let q = parse(&deepest).unwrap();
    assert_eq!(q.to_string(), deepest);
    assert_eq!(parse(&q.to_string()).unwrap(), q);
    assert_eq!(
        parse("{duration>1.5s && .x<-2.5}").unwrap().to_string(),
        "{ duration > 1.5s && .x < -2.5 }"
    );
    assert_eq!(
        parse(r#"{span."a b"="x" || span:name="y"}"#)
            .unwrap()
            .to_string(),
        r#"{ span."a b" = "x" || name = "y" }"#
    );
    assert_eq!(
        parse(r#"{ a = 1 }"#.replace("a", ".a").as_str())
            .unwrap()
            .to_string(),
        "{ .a = 1 }"
    );
    assert_eq!(
        parse("count() > 2").unwrap().to_string(),
        "{} | count() > 2"
    );
}

#[test]
fn literals_read_as_typed_values() {
    let rhs = |q: &str| match parse(q).unwrap().spanset_expr() {
        SpansetExpr::Filter(Expr::Cmp(c)) => c.rhs.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(rhs("{.a=1}"), Operand::Lit(Value::Int(1)));
    assert_eq!(
        rhs("{.a=-9223372036854775808}"),
        Operand::Lit(Value::Int(i64::MIN))
    );
    assert_eq!(rhs("{.a=2.5}"), Operand::Lit(Value::Float(2.5)));
    assert_eq!(rhs("{.a=1e3}"), Operand::Lit(Value::Float(1000.0)));
    assert_eq!(
        rhs("{.a=1.5s}"),
        Operand::Lit(Value::Duration(1_500_000_000))
    );
    assert_eq!(rhs("{.a=10µs}"), Operand::Lit(Value::Duration(10_000)));
    assert_eq!(rhs("{.a=10us}"), Operand::Lit(Value::Duration(10_000)));
    assert_eq!(rhs("{.a=3ns}"), Operand::Lit(Value::Duration(3)));
    assert_eq!(
        rhs("{.a=2m}"),
        Operand::Lit(Value::Duration(120_000_000_000))
    );
    assert_eq!(
        rhs("{.a=1h}"),
        Operand::Lit(Value::Duration(3_600_000_000_000))
    );
    assert_eq!(rhs("{.a=true}"), Operand::Lit(Value::Bool(true)));
    assert_eq!(rhs("{.a=nil}"), Operand::Lit(Value::Nil));
    assert_eq!(
        rhs(r#"{.a="x\"y"}"#),
        Operand::Lit(Value::Str("x\"y".into()))
    );
    assert_eq!(rhs("{.a=`x\\y`}"), Operand::Lit(Value::Str("x\\y".into())));
    assert_eq!(
        rhs("{.a=error}"),
        Operand::Lit(Value::Status(crate::traceql::StatusKw::Error))
    );
    assert_eq!(
        rhs("{.a=producer}"),
        Operand::Lit(Value::Kind(crate::traceql::KindKw::Producer))
    );
    // Ids compare as full-width lowercase hex.
    assert_eq!(
        rhs(r#"{trace:id="ABC"}"#),
        Operand::Lit(Value::Str(format!("{:0>32}", "abc")))
    );
}

#[test]
fn identifiers_parse_alone() {
    let cases: &[(&str, Attribute, &str, &str)] = &[
        (
            "resource.service.name",
            Attribute::named(AttrScope::Resource, "service.name"),
            "service.name",
            "resource",
        ),
        (
            "span.http.method",
            Attribute::named(AttrScope::Span, "http.method"),
            "http.method",
            "span",
        ),
        (
            ".foo",
            Attribute::named(AttrScope::Unscoped, "foo"),
            "foo",
            "span",
        ),
        (
            "name",
            Attribute::Intrinsic(Intrinsic::Name),
            "name",
            "intrinsic",
        ),
        (
            "status",
            Attribute::Intrinsic(Intrinsic::Status),
            "status",
            "intrinsic",
        ),
        (
            "span:name",
            Attribute::Intrinsic(Intrinsic::Name),
            "name",
            "intrinsic",
        ),
        (
            "span.\"a b\"",
            Attribute::named(AttrScope::Span, "a b"),
            "a b",
            "span",
        ),
        (
            "trace:rootService",
            Attribute::Intrinsic(Intrinsic::TraceRootService),
            "rootServiceName",
            "intrinsic",
        ),
        (
            "event.exception.type",
            Attribute::named(AttrScope::Event, "exception.type"),
            "exception.type",
            "event",
        ),
        (
            "instrumentation.x",
            Attribute::named(AttrScope::Instrumentation, "x"),
            "x",
            "instrumentation",
        ),
        (
            "link.x",
            Attribute::named(AttrScope::Link, "x"),
            "x",
            "link",
        ),
    ];
    for (text, attr, key, scope) in cases {
        let parsed = parse_identifier(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(&parsed, attr, "{text}");
        assert_eq!(parsed.output_key(), *key, "{text}");
        assert_eq!(parsed.scope_name(), *scope, "{text}");
        assert_eq!(parsed.is_intrinsic(), *scope == "intrinsic", "{text}");
        assert_eq!(parse_identifier(&parsed.to_string()).unwrap(), parsed);
    }
    for bad in ["", "foo", "span.", "span.a = 1", "1", "{"] {
        assert!(parse_identifier(bad).is_err(), "{bad}");
    }
    assert!(parse_identifier("parent.a").unwrap_err().is_unsupported());
}

#[test]
fn hints_are_what_every_match_has() {
    let h = |q: &str| parse(q).unwrap_or_else(|e| panic!("{q}: {e}")).hints();
    let services = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(h("{}"), Hints::default());
    assert_eq!(
        h(r#"{resource.service.name="a" && duration>=1s}"#),
        Hints {
            service_names: services(&["a"]),
            min_span_duration_ns: Some(1_000_000_000),
            min_trace_duration_ns: None,
            same_span: true,
        }
    );
    // Different spansets, a root fact, or a filter stage: the facts may be two spans'.
    for q in [
        r#"{resource.service.name="a"} && {duration>=1s}"#,
        r#"{rootServiceName="a" && duration>=1s}"#,
        r#"{resource.service.name="a"} | {duration>=1s}"#,
    ] {
        assert!(!h(q).same_span, "{q}");
    }
    assert!(h(r#"{(resource.service.name="a" || resource.service.name="b") && duration>1s && name="x"} | count() > 1"#).same_span);
    assert!(!h(r#"{resource.service.name="a"}"#).same_span);
    assert_eq!(
        h(r#"{(resource.service.name="a" || resource.service.name="b")}"#).service_names,
        services(&["a", "b"])
    );
    assert_eq!(
        h(r#"{resource.service.name="a" || name="x"}"#).service_names,
        None
    );
    assert_eq!(h(r#"{resource.service.name!="a"}"#).service_names, None);
    assert_eq!(
        h(r#"{resource.service.name=~"a|b\\.c"}"#).service_names,
        services(&["a", "b.c"])
    );
    for pattern in ["a.*", "a|", "(a|b)", "a\\d", "[ab]", "a+"] {
        let q = format!("{{resource.service.name=~{}}}", Value::Str(pattern.into()));
        assert_eq!(h(&q).service_names, None, "{q}");
    }
    assert_eq!(h(r#"{resource.service.name!~"a"}"#).service_names, None);
    assert_eq!(h(r#"{!(resource.service.name="a")}"#).service_names, None);
    assert_eq!(h(r#"{.service.name="a"}"#).service_names, None);
    assert_eq!(
        h(r#"{rootServiceName="a"}"#).service_names,
        services(&["a"])
    );
    assert_eq!(
        h(r#"{"a"=resource.service.name}"#).service_names,
        services(&["a"])
    );
    assert_eq!(
        h("{duration>100ms}").min_span_duration_ns,
        Some(100_000_001)
    );
    assert_eq!(
        h("{100ms<duration}").min_span_duration_ns,
        Some(100_000_001)
    );
    assert_eq!(h("{duration<100ms}").min_span_duration_ns, None);
    assert_eq!(
        h("{duration>100ms || duration>=1s}").min_span_duration_ns,
        Some(100_000_001)
    );
    assert_eq!(
        h("{duration>100ms} || {name=\"x\"}").min_span_duration_ns,
        None
    );
    assert_eq!(
        h("{duration>100ms} && {duration>2s}").min_span_duration_ns,
        Some(2_000_000_001)
    );
    assert_eq!(
        h("{traceDuration>5s}").min_trace_duration_ns,
        Some(5_000_000_001)
    );
    assert_eq!(
        h("{trace:duration>=5s && status=error}").min_trace_duration_ns,
        Some(5_000_000_000)
    );
    assert_eq!(
        h(r#"{} | {resource.service.name="a"}"#).service_names,
        services(&["a"])
    );
}

#[test]
fn output_attributes_follow_the_query() {
    let keys = |q: &str| -> Vec<String> {
        parse(q)
            .unwrap()
            .output_attributes()
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    assert_eq!(
        keys(
            r#"{resource.service.name="a" && name="x" && status=error && span.http.method="GET" && duration>1s && resource.service.name="b"}"#
        ),
        ["resource.service.name", "status", "span.http.method"]
    );
    assert_eq!(
        keys(r#"{.a=1} && {kind=server} | select(span.b, .a, trace:id, event:name)"#),
        [".a", "kind", "span.b", "event:name"]
    );
    assert!(keys("{}").is_empty());
}

#[test]
fn queries_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone + std::fmt::Debug>(_: &T) {}
    let q = parse(r#"{ span.a =~ "x.*" }"#).unwrap();
    shareable(&q);
    let copy = q.clone();
    let t = std::thread::spawn(move || copy.to_string());
    assert_eq!(t.join().unwrap(), q.to_string());
}

#[test]
fn whole_trace_queries_are_told_apart() {
    let whole = |q: &str| parse(q).unwrap().needs_whole_trace();
    for q in [
        "{traceDuration>1s}",
        r#"{rootServiceName="a" && .b=1}"#,
        "{nestedSetParent<0}",
        "{.a=1} && {.b=2}",
        "{} | count() > 1",
        "{} | by(name)",
        "{} | {childCount=0}",
    ] {
        assert!(whole(q), "{q}");
    }
    for q in [
        "{}",
        r#"{resource.service.name="a" && duration>1s}"#,
        "{.a=1} || {.b=2}",
        r#"{trace:id="ab"}"#,
        "{} | select(.a) | coalesce()",
        "{} | {status=error}",
    ] {
        assert!(!whole(q), "{q}");
    }
}
