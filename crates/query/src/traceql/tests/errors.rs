//! The parser corpus of refused queries: invalid ones with the expected message and byte
//! position, and valid TraceQL that is not supported yet, with the construct named.

use crate::traceql::parse;

/// (query, byte position, message) of invalid queries.
const INVALID: &[(&str, usize, &str)] = &[
    (
        r#"{resource.service.name=}"#,
        23,
        r#"expected a value after "=", found "}""#,
    ),
    ("{ .a < }", 7, r#"expected a value after "<""#),
    (
        "{ .a < 3",
        8,
        "the spanset filter opened at position 0 is not closed",
    ),
    (
        "{ (.a < 3 }",
        10,
        r#"expected ")" to close the parenthesis, found "}""#,
    ),
    ("{ . }", 3, r#"expected an attribute name after ".""#),
    (
        "{ span. }",
        7,
        r#"expected an attribute name after "span.""#,
    ),
    (
        "{ attribute = 4 }",
        2,
        r#"unknown name "attribute"; an attribute needs a scope, as in span.attribute"#,
    ),
    (
        "{ .attribute == 4 }",
        14,
        r#"expected a value after "=", found "=""#,
    ),
    (
        "{ < }",
        2,
        r#"expected an attribute, an intrinsic or a value, found "<""#,
    ),
    ("{ .a = 1 && }", 12, "expected a condition"),
    (
        "true",
        0,
        r#"expected a spanset filter "{ … }", found "true""#,
    ),
    ("[ true ]", 0, "unexpected character '['"),
    (
        "( true )",
        2,
        r#"expected a spanset filter "{ … }", found "true""#,
    ),
    (
        "{ true } = { true }",
        9,
        r#"expected "|", "&&", "||" or the end of the query after the spanset filter, found "=""#,
    ),
    ("{ true } <= { true }", 9, "found \"<=\""),
    (r#"{ .a = "abc }"#, 7, "this string has no closing quote"),
    (r#"{ .a = "a\qb" }"#, 9, r#"unknown escape "\q""#),
    ("{ duration > 5x }", 14, r#"unknown duration unit "x""#),
    (
        "{ .a = 99999999999999999999 }",
        7,
        "the integer 99999999999999999999 is too large",
    ),
    ("{ .a = -1s }", 7, "a duration cannot be negative"),
    (
        r#"{ span.foo =~ "[" }"#,
        14,
        r#"invalid regular expression "[""#,
    ),
    (
        "{ .a =~ 1 }",
        8,
        r#"the right side of "=~" must be a string"#,
    ),
    (
        "{ status }",
        2,
        "status is not a condition; compare it, as in status = error",
    ),
    ("{ 1.1 }", 2, "the value 1.1 is not a condition"),
    (r#"{ "foo" }"#, 2, r#"the value "foo" is not a condition"#),
    ("{ status > ok }", 2, "a status has no order"),
    ("{ kind < consumer }", 2, "a span kind has no order"),
    (
        r#"{ traceDuration > "test" }"#,
        2,
        r#"cannot compare a number (traceDuration) with a string ("test")"#,
    ),
    (
        "{ rootServiceName = 1 }",
        2,
        "cannot compare a string (rootServiceName) with a number (1)",
    ),
    (r#"{ nestedSetLeft = "foo" }"#, 2, "cannot compare a number"),
    (
        r#"{ 1 = "foo" }"#,
        2,
        "cannot compare a number (1) with a string",
    ),
    (
        r#"{ duration =~ "1.*" }"#,
        2,
        "cannot match a regular expression",
    ),
    (
        r#"{ trace:status = error }"#,
        2,
        r#"unknown intrinsic "trace:status""#,
    ),
    (
        r#"{ span:rootName = "bar" }"#,
        2,
        r#"unknown intrinsic "span:rootName""#,
    ),
    (
        "{ .a = 1 } | count()",
        20,
        "expected a comparison after count(), as in count() > 2",
    ),
    (
        "{ true } | notAnAggregate() = 1",
        11,
        r#"unknown pipeline function "notAnAggregate""#,
    ),
    (
        "{ true } | count = 1",
        17,
        r#"expected "(" after "count", found "=""#,
    ),
    (
        "{ true } | max() = 1",
        15,
        "expected an attribute in max(…)",
    ),
    ("{ true } | by()", 14, "expected an attribute in by(…)"),
    (
        "select(.a",
        9,
        r#"expected "," or ")" in select(…), found the end of the query"#,
    ),
    ("select()", 7, "expected an attribute in select(…)"),
    (
        r#"max(name) = "foo""#,
        12,
        "expected a number or a duration",
    ),
    (
        "{ .a = 1 } | count() =~ 1",
        21,
        "count() is a number; compare it with",
    ),
    ("coalesce() | { true }", 0, "expected a spanset filter"),
    (
        "count() > 3 && { true }",
        12,
        r#"expected "|" or the end of the query after the pipeline stage, found "&&""#,
    ),
    ("!{ .a = 1 }", 0, "\"!\" cannot negate a spanset"),
    ("{ .a = 1 } & { .b = 1 }", 11, "use \"&&\""),
    (
        "{ true } with(most_recent)",
        25,
        r#"expected "=" after the hint "most_recent""#,
    ),
    (
        "",
        0,
        r#"expected a spanset filter "{ … }", found the end of the query"#,
    ),
    ("{ .a = 1 } }", 11, "after the spanset filter, found \"}\""),
];

#[test]
fn invalid_queries_say_what_and_where() {
    for (q, position, message) in INVALID {
        let err = match parse(q) {
            Ok(parsed) => panic!("{q} parsed as {parsed}"),
            Err(e) => e,
        };
        assert!(!err.is_unsupported(), "{q}: {err}");
        assert_eq!(err.position(), *position, "{q}: {err}");
        assert!(err.message().contains(message), "{q}: {err}");
        assert_eq!(
            err.to_string(),
            format!("invalid TraceQL at position {position}: {}", err.message())
        );
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("{{ {}.a = 1{} }}", "(".repeat(10_000), ")".repeat(10_000));
    let err = parse(&deep).unwrap_err();
    assert!(err.message().contains("more than 64 deep"), "{err}");
    let nots = format!("{{ {}.a }}", "!".repeat(10_000));
    assert!(parse(&nots).is_err());
    let wide = vec![".a = 1"; 2_000].join(" && ");
    let err = parse(&format!("{{ {wide} }}")).unwrap_err();
    assert!(err.message().contains("more than 1024 conditions"), "{err}");
    let ok = vec![".a = 1"; 500].join(" || ");
    assert!(parse(&format!("{{ {ok} }}")).is_ok());
    let regexes = vec![r#".a =~ "x""#; 65].join(" || ");
    let err = parse(&format!("{{ {regexes} }}")).unwrap_err();
    assert!(
        err.message().contains("more than 64 regular expressions"),
        "{err}"
    );
    let long = format!("{{ .a = \"{}\" }}", "x".repeat(200_000));
    assert!(
        parse(&long)
            .unwrap_err()
            .message()
            .contains("more than the limit")
    );
}

/// (query, position, construct named) of valid TraceQL that is not supported yet.
const UNSUPPORTED: &[(&str, usize, &str)] = &[
    ("{ true } >> { true }", 9, r#"the structural operator ">>""#),
    ("{ true } << { true }", 9, r#"the structural operator "<<""#),
    ("{ true } > { true }", 9, r#"the structural operator ">""#),
    ("{ true } < { true }", 9, r#"the structural operator "<""#),
    ("{ true } ~ { true }", 9, r#"the structural operator "~""#),
    ("{ true } !> { true }", 9, r#"the structural operator "!>""#),
    ("{ true } !< { true }", 9, r#"the structural operator "!<""#),
    ("{ true } !~ { true }", 9, r#"the structural operator "!~""#),
    (
        "{ true } !>> { true }",
        9,
        r#"the structural operator "!>>""#,
    ),
    (
        "{ true } !<< { true }",
        9,
        r#"the structural operator "!<<""#,
    ),
    ("{ true } &> { true }", 9, r#"the structural operator "&>""#),
    ("{ true } &< { true }", 9, r#"the structural operator "&<""#),
    ("{ true } &~ { true }", 9, r#"the structural operator "&~""#),
    (
        "{ true } &>> { true }",
        9,
        r#"the structural operator "&>>""#,
    ),
    (
        "{ true } &<< { true }",
        9,
        r#"the structural operator "&<<""#,
    ),
    (
        "{ } >> { kind = server } | select(nestedSetLeft)",
        4,
        r#"the structural operator ">>""#,
    ),
    (
        "{ true } + { true }",
        9,
        r#"arithmetic between spansets ("+")"#,
    ),
    ("{} | rate()", 5, "the metrics function rate()"),
    (
        "{} | count_over_time() by (name) with(sample=0.1)",
        5,
        "the metrics function count_over_time()",
    ),
    (
        "{} | quantile_over_time(duration, 0, 0.9, 1) by (span.http.path)",
        5,
        "the metrics function quantile_over_time()",
    ),
    (
        "{nestedSetParent<0 && true} | rate()",
        30,
        "the metrics function rate()",
    ),
    (
        "{nestedSetParent<0} | histogram_over_time(duration)",
        22,
        "the metrics function histogram_over_time()",
    ),
    (
        "{} | compare({status = error}, 10)",
        5,
        "the metrics function compare()",
    ),
    ("{ 1 + 1 = 2 }", 4, r#"arithmetic ("+")"#),
    ("{ .a * 1 = 2 }", 5, r#"arithmetic ("*")"#),
    ("{ 1 - 1 = 2 }", 4, r#"arithmetic ("-")"#),
    ("{ -.a = 2 }", 2, r#"arithmetic ("-")"#),
    ("{ duration > 1s * 2s }", 16, r#"arithmetic ("*")"#),
    ("{ parent.a != 3 }", 2, "the parent. scope"),
    ("{ span:parent = nil }", 2, r#"the intrinsic "span:parent""#),
    ("{ parent = nil }", 2, r#"the intrinsic "parent""#),
    (
        "({ true } | count() > 1 | { false }) >> ({ true } | count() > 1 | { false })",
        37,
        r#"the structural operator ">>""#,
    ),
    (
        "min(.field) < max(duration)",
        14,
        "comparing min(.field) with another aggregate",
    ),
    (
        "{ true } | count() + count() = 1",
        19,
        r#"arithmetic ("+")"#,
    ),
];

#[test]
fn unsupported_queries_name_the_construct() {
    for (q, position, construct) in UNSUPPORTED {
        let err = match parse(q) {
            Ok(parsed) => panic!("{q} parsed as {parsed}"),
            Err(e) => e,
        };
        assert!(err.is_unsupported(), "{q}: {err}");
        assert_eq!(err.position(), *position, "{q}: {err}");
        assert_eq!(
            err.to_string(),
            format!("unsupported TraceQL: {construct} is not supported yet"),
            "{q}"
        );
    }
}
