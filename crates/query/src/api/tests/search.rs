//! `/api/search`: the queries Grafana generates (TEMPO_API.md §4.2), decoded strictly.

use super::strict::{self, SearchResponse};
use super::*;
use crate::tempo::search::trimmed_trace_id;
use std::collections::BTreeSet;

/// The test data: one trace per case the Grafana queries tell apart, started 1 s apart (so
/// a higher number is newer).
fn data() -> Vec<Span> {
    let mut all = Vec::new();
    // 1: checkout, erroring root, a DB child.
    all.extend(
        TraceBuilder::new(tid(1))
            .span(
                "checkout",
                "GET /cart",
                None,
                1000,
                500,
                true,
                vec![a::int("http.status_code", 500)],
            )
            .span("checkout", "load cart", Some(0), 1010, 100, true, vec![])
            .span(
                "db",
                "SELECT",
                Some(1),
                1020,
                50,
                false,
                vec![a::string("db.system", "postgres")],
            )
            .build(),
    );
    // 2: service a, 50 ms, foo=a.b
    all.extend(
        TraceBuilder::new(tid(2))
            .span(
                "a",
                "op-a",
                None,
                2000,
                50,
                false,
                vec![a::string("foo", "a.b")],
            )
            .build(),
    );
    // 3: service b, 2.5 s, foo=bar
    all.extend(
        TraceBuilder::new(tid(3))
            .span(
                "b",
                "op-b",
                None,
                3000,
                2500,
                false,
                vec![a::string("foo", "bar")],
            )
            .build(),
    );
    // 4: frontend "my-server", foo=baz, footag/bartag on the span.
    all.extend(
        TraceBuilder::new(tid(4))
            .span(
                "frontend",
                "my-server",
                None,
                4000,
                20,
                false,
                vec![
                    a::string("foo", "baz"),
                    a::int("footag", 1234),
                    a::string("bartag", "barvalue"),
                ],
            )
            .build(),
    );
    // 5: footag and name on the resource, an internal root.
    all.extend(
        TraceBuilder::new(tid(5))
            .span("res", "r", None, 5000, 10, false, vec![])
            .kind(SpanKind::Internal)
            .resource_attrs(vec![a::int("footag", 2000), a::string("name", "foo")])
            .build(),
    );
    // 6: service-graph node ns/svc, operation "op".
    all.extend(
        TraceBuilder::new(tid(6))
            .span("svc", "op", None, 6000, 10, false, vec![])
            .kind(SpanKind::Internal)
            .resource_attrs(vec![a::string("service.namespace", "ns")])
            .build(),
    );
    // 7: a call to an uninstrumented peer x.
    all.extend(
        TraceBuilder::new(tid(7))
            .span("caller", "call x", None, 7000, 10, false, vec![])
            .kind(SpanKind::Internal)
            .span(
                "caller",
                "rpc",
                Some(0),
                7001,
                5,
                false,
                vec![a::string("peer.service", "x")],
            )
            .build(),
    );
    // 8: checkout GET /cart without error.
    all.extend(
        TraceBuilder::new(tid(8))
            .span("checkout", "GET /cart", None, 8000, 30, false, vec![])
            .kind(SpanKind::Internal)
            .build(),
    );
    all
}

async fn search(app: &axum::Router, query: &str, extra: &str) -> SearchResponse {
    let uri = format!("/api/search?q={}&{}{extra}", enc(query), window());
    let reply = get(app, &uri, &[("accept", "application/json")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.text());
    assert_eq!(reply.content_type, "application/json");
    let response: SearchResponse = strict::decode(&reply.body);
    check_shape(&response);
    response
}

/// What every response must look like: newest first, one per trace, both spanset fields,
/// 16-hex span ids, trimmed trace ids.
fn check_shape(response: &SearchResponse) {
    let starts: Vec<u64> = response
        .traces
        .iter()
        .map(|t| t.start_time_unix_nano.as_deref().unwrap().parse().unwrap())
        .collect();
    let mut sorted = starts.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(starts, sorted, "newest first");
    let ids: BTreeSet<&str> = response
        .traces
        .iter()
        .map(|t| t.trace_id.as_str())
        .collect();
    assert_eq!(ids.len(), response.traces.len(), "one result per trace id");
    for t in &response.traces {
        assert!(!t.trace_id.starts_with('0'));
        assert!(t.trace_id.len() <= 32);
        assert!(!t.span_sets.is_empty());
        assert_eq!(t.span_set.as_ref(), Some(&t.span_sets[0]));
        for set in &t.span_sets {
            assert!(set.matched.unwrap_or(0) as usize >= set.spans.len());
            for s in &set.spans {
                assert_eq!(s.span_id.len(), 16);
                assert!(s.span_id.bytes().all(|b| b.is_ascii_hexdigit()));
            }
        }
    }
}

fn ids(response: &SearchResponse) -> Vec<String> {
    response.traces.iter().map(|t| t.trace_id.clone()).collect()
}

/// The expected ids, newest (highest number) first.
fn expect(numbers: &[u8]) -> Vec<String> {
    let mut n = numbers.to_vec();
    n.sort_by(|a, b| b.cmp(a));
    n.iter().map(|&i| trimmed_trace_id(&tid(i).0)).collect()
}

fn span_attr<'a>(response: &'a SearchResponse, key: &str) -> Vec<&'a strict::AnyValue> {
    response
        .traces
        .iter()
        .flat_map(|t| &t.span_sets)
        .flat_map(|s| &s.spans)
        .flat_map(|s| &s.attributes)
        .filter(|kv| kv.key == key)
        .map(|kv| &kv.value)
        .collect()
}

#[tokio::test]
async fn every_grafana_query_returns_the_right_traces() {
    let app = app(data());
    let cases: &[(&str, &[u8])] = &[
        ("{}", &[1, 2, 3, 4, 5, 6, 7, 8]),
        (r#"{resource.service.name="checkout"}"#, &[1, 8]),
        (
            r#"{resource.service.name="checkout" && name="GET /cart"}"#,
            &[1, 8],
        ),
        (
            r#"{resource.service.name="checkout" && name="GET /cart" && status=error}"#,
            &[1],
        ),
        ("{duration>100ms}", &[1, 3]),
        ("{duration>100ms && duration<=2s}", &[1]),
        ("{traceDuration>100ms}", &[1, 3]),
        (
            r#"{(resource.service.name="a" || resource.service.name="b")}"#,
            &[2, 3],
        ),
        (r#"{resource.service.name=~"a|b"}"#, &[2, 3]),
        (r#"{span.foo=~"a\\.b|c\\.d"}"#, &[2]),
        (r#"{span.foo=~".+"}"#, &[2, 3, 4]),
        (r#"{span.foo!~"bar|baz"}"#, &[2]),
        (r#"{(span.foo!="bar" && span.foo!="baz")}"#, &[2]),
        ("{span.http.status_code>=500}", &[1]),
        (r#"{.footag>=1234 && .bartag="barvalue"}"#, &[4]),
        (r#"{resource.footag>=1234 && resource.name="foo"}"#, &[5]),
        ("{kind=server}", &[1, 2, 3, 4]),
        (r#"{name="my-server"}"#, &[4]),
        (
            r#"{resource.service.namespace="ns" && resource.service.name="svc" && name="op"}"#,
            &[6],
        ),
        (
            r#"{span.db.name="x" || span.db.system="x" || span.peer.service="x" || span.messaging.system="x" || span.net.peer.name="x"}"#,
            &[7],
        ),
    ];
    for (query, want) in cases {
        let response = search(&app, query, "").await;
        assert_eq!(ids(&response), expect(want), "{query}");
    }
}

#[tokio::test]
async fn results_carry_tempos_fields() {
    let app = app(data());
    let response = search(
        &app,
        r#"{resource.service.name="checkout" && status=error}"#,
        "",
    )
    .await;
    assert_eq!(ids(&response), expect(&[1]));
    let t = &response.traces[0];
    assert_eq!(t.root_service_name.as_deref(), Some("checkout"));
    assert_eq!(t.root_trace_name.as_deref(), Some("GET /cart"));
    assert_eq!(t.duration_ms, Some(500));
    let start = (now_s() - 60) * S + 1000 * MS;
    assert_eq!(
        t.start_time_unix_nano.as_deref(),
        Some(start.to_string().as_str())
    );
    assert_eq!(
        t.service_stats["checkout"],
        strict::ServiceStats {
            span_count: Some(2),
            error_count: Some(2)
        }
    );
    assert_eq!(
        t.service_stats["db"],
        strict::ServiceStats {
            span_count: Some(1),
            error_count: None
        }
    );
    let set = &t.span_sets[0];
    assert_eq!(set.matched, Some(2));
    assert_eq!(set.spans.len(), 2);
    assert_eq!(set.spans[0].name.as_deref(), Some("GET /cart"));
    assert_eq!(set.spans[0].duration_nanos.as_deref(), Some("500000000"));
    assert_eq!(
        set.spans[0].span_id,
        tid(1).0[15..]
            .iter()
            .fold("100000000000".to_owned(), |acc, b| format!("{acc}{b:02x}"))
            + "01"
    );
    // The attributes the query referred to, by unscoped name; status as a string.
    let services = span_attr(&response, "service.name");
    assert_eq!(services.len(), 2);
    assert!(
        services
            .iter()
            .all(|v| v.string_value.as_deref() == Some("checkout"))
    );
    let statuses = span_attr(&response, "status");
    assert!(
        statuses
            .iter()
            .all(|v| v.string_value.as_deref() == Some("error"))
    );
    assert_eq!(statuses.len(), 2);
    // Integers are strings; name and duration are never attributes.
    let response = search(
        &app,
        r#"{span.http.status_code>=500 && name="GET /cart" && duration>1ms}"#,
        "",
    )
    .await;
    let codes = span_attr(&response, "http.status_code");
    assert_eq!(codes.len(), 1);
    assert_eq!(codes[0].int_value.as_deref(), Some("500"));
    assert!(span_attr(&response, "name").is_empty());
    assert!(span_attr(&response, "duration").is_empty());
    let metrics = response.metrics.unwrap();
    assert!(metrics.inspected_traces.unwrap() >= 1);
    assert!(metrics.inspected_bytes.unwrap().parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn limit_and_spss() {
    let app = app(data());
    let response = search(&app, "{}", "&limit=2").await;
    assert_eq!(ids(&response), expect(&[7, 8]));
    let response = search(&app, "{}", "&spss=1").await;
    let t1 = response
        .traces
        .iter()
        .find(|t| t.trace_id == trimmed_trace_id(&tid(1).0))
        .unwrap();
    assert_eq!(t1.span_sets[0].spans.len(), 1);
    assert_eq!(t1.span_sets[0].matched, Some(3));
    let response = search(&app, "{}", "").await;
    let t1 = response
        .traces
        .iter()
        .find(|t| t.trace_id == trimmed_trace_id(&tid(1).0))
        .unwrap();
    assert_eq!(t1.span_sets[0].spans.len(), 3, "default spss is 3");
    // Pipeline outputs travel as spanset attributes.
    let response = search(
        &app,
        r#"{resource.service.name="checkout"} | count() > 1"#,
        "",
    )
    .await;
    assert_eq!(ids(&response), expect(&[1]));
    let attrs = &response.traces[0].span_sets[0].attributes;
    assert!(attrs.iter().any(|kv| kv.key == "count()"), "{attrs:?}");
}

#[tokio::test]
async fn without_start_and_end_the_recent_window_is_searched() {
    let app = app(data());
    let reply = get(&app, &format!("/api/search?q={}", enc("{}")), &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let response: SearchResponse = strict::decode(&reply.body);
    assert_eq!(response.traces.len(), 8);
    // A window in the past has none of it.
    let reply = get(&app, "/api/search?q=%7B%7D&start=1000&end=2000", &[]).await;
    let response: SearchResponse = strict::decode(&reply.body);
    assert!(response.traces.is_empty());
}

#[tokio::test]
async fn legacy_tags_and_durations() {
    let app = app(data());
    let cases: &[(&str, &[u8])] = &[
        ("tags=service.name%3Dcheckout", &[1, 8]),
        (
            "tags=service.name%3Dcheckout%20http.status_code%3D500",
            &[1],
        ),
        ("tags=foo%3Dbar", &[3]),
        ("minDuration=2s", &[3]),
        ("minDuration=100ms&maxDuration=1s", &[1]),
        ("maxDuration=15ms", &[5, 6, 7]),
    ];
    for (params, want) in cases {
        let uri = format!("/api/search?{params}&{}", window());
        let reply = get(&app, &uri, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{params}: {}", reply.text());
        let response: SearchResponse = strict::decode(&reply.body);
        check_shape(&response);
        assert_eq!(ids(&response), expect(want), "{params}");
    }
}

#[tokio::test]
async fn bad_parameters_are_400_with_tempos_messages() {
    let app = app(data());
    let q = enc("{}");
    let cases = [
        (
            format!("q={q}&limit=0"),
            "invalid limit: must be a positive number",
        ),
        (
            format!("q={q}&spss=0"),
            "invalid spss: must be a positive number",
        ),
        (
            format!("q={q}&spss=101"),
            "spans per span set exceeds 100. received 101",
        ),
        (
            format!("q={q}&limit=abc"),
            "invalid limit: strconv.Atoi: parsing \"abc\": invalid syntax",
        ),
        (
            format!("q={q}&start=20&end=10"),
            "http parameter start must be before end. received start=20 end=10",
        ),
        (
            format!("q={q}&start=10"),
            "http parameter start must be before end. received start=10 end=0",
        ),
        (
            format!("q={q}&start=1000&end=606000"),
            "range specified by start and end exceeds 168h0m0s. received start=1000 end=606000",
        ),
        (
            format!("q={q}&tags=a%3Db"),
            "invalid request: can't specify tags and q in the same query",
        ),
        (
            "tags=a%3Db%20a%3Dc".to_owned(),
            "invalid tags: tag a has been set twice",
        ),
        (
            "minDuration=10seconds".to_owned(),
            "invalid minDuration: time: unknown unit \"seconds\" in duration \"10seconds\"",
        ),
        (
            "minDuration=20s&maxDuration=5s".to_owned(),
            "invalid maxDuration: must be greater than minDuration",
        ),
        (
            format!("q={q}&start=abc&end=10"),
            "invalid start: strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
    ];
    for (params, message) in cases {
        let reply = get(&app, &format!("/api/search?{params}"), &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{params}");
        assert_eq!(reply.text(), format!("{message}\n"), "{params}");
    }
    for bad in [
        "{ .a = }",
        "{ } >> { }",
        "{resource.service.name=\"a\"",
        "{} | rate()",
    ] {
        let reply = get(&app, &format!("/api/search?q={}", enc(bad)), &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            reply.text().starts_with("invalid TraceQL query: "),
            "{bad}: {}",
            reply.text()
        );
    }
    // A large limit is lowered, not refused.
    let reply = get(&app, &format!("/api/search?q={q}&limit=99999999"), &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn a_trace_split_over_blocks_is_one_result_evaluated_whole() {
    let spans = TraceBuilder::new(tid(9))
        .span("split", "root", None, 0, 1000, false, vec![])
        .span("split", "late", Some(0), 900, 50, true, vec![])
        .build();
    // The head holds the late, erroring span; an older block the root.
    let backend = MemoryBackend {
        blocks: vec![vec![spans[1].clone()], vec![spans[0].clone()]],
        ..Default::default()
    };
    let app = app_with(backend, ApiConfig::default());
    let response = search(&app, "{}", "").await;
    assert_eq!(ids(&response), expect(&[9]));
    assert_eq!(response.traces[0].span_sets[0].matched, Some(2));
    assert_eq!(response.traces[0].root_trace_name.as_deref(), Some("root"));
    assert_eq!(response.traces[0].duration_ms, Some(1000));
    // Needs both fragments: the root's name and an error on another span.
    let response = search(&app, r#"{name="root"} && {status=error}"#, "").await;
    assert_eq!(ids(&response), expect(&[9]));
    let response = search(&app, "{traceDuration>=1s}", "").await;
    assert_eq!(ids(&response), expect(&[9]));
}

#[tokio::test]
async fn leading_zero_ids_and_missing_roots() {
    let mut raw = [0u8; 16];
    raw[9..].copy_from_slice(&[0x1c, 0xfe, 0x82, 0xa8, 0xee, 0xf9, 0x33]);
    let spans = TraceBuilder::new(TraceId(raw))
        .span("orphan", "root", None, 0, 10, false, vec![])
        .span("orphan", "child", Some(0), 1, 5, false, vec![])
        .build();
    let child_only = vec![spans[1].clone()];
    let app = app(child_only);
    let response = search(&app, "{}", "").await;
    assert_eq!(ids(&response), vec!["1cfe82a8eef933".to_owned()]);
    assert_eq!(
        response.traces[0].root_service_name.as_deref(),
        Some("<root span not yet received>")
    );
    assert_eq!(response.traces[0].root_trace_name, None);
    // The trimmed id finds the trace by id.
    let reply = get(&app, "/api/v2/traces/1cfe82a8eef933", &[]).await;
    assert!(reply.json()["trace"]["resourceSpans"].is_array());
}

#[tokio::test]
async fn hints_reach_the_backend() {
    let backend = Arc::new(MemoryBackend::new(data()));
    let app = router(ApiState::new(backend.clone(), ApiConfig::default()));
    search(
        &app,
        r#"{resource.service.name="checkout" && duration>100ms}"#,
        "",
    )
    .await;
    let scans = backend.scans.lock().unwrap();
    let (tenant, request) = scans.last().unwrap();
    assert_eq!(tenant, tracegate_model::DEFAULT_TENANT);
    assert_eq!(
        request.hints.service_names,
        Some(vec!["checkout".to_owned()])
    );
    assert!(request.hints.min_span_duration_ns.is_some());
    assert_eq!(request.start_ns, (now_s() - 3600) * S);
}

#[tokio::test]
async fn search_is_per_tenant_and_federates() {
    let app = two_tenant_app([("a", "sa", "x", 0), ("b", "sb", "y", 10)]);
    let uri = format!("/api/search?q={}&{}", enc("{}"), window());
    let reply = get(&app, &uri, &[("X-Scope-OrgID", "a")]).await;
    let response: SearchResponse = strict::decode(&reply.body);
    assert_eq!(ids(&response), expect(&[1]));
    let reply = get(&app, &uri, &[("X-Scope-OrgID", "a|b")]).await;
    let response: SearchResponse = strict::decode(&reply.body);
    check_shape(&response);
    assert_eq!(ids(&response), expect(&[1, 2]));
    assert_eq!(response.metrics.unwrap().total_jobs, Some(2));
    let reply = get(&app, &uri, &[("X-Scope-OrgID", "c")]).await;
    let response: SearchResponse = strict::decode(&reply.body);
    assert!(response.traces.is_empty());
}

#[tokio::test]
async fn a_backend_failure_is_500_with_its_message() {
    let backend = MemoryBackend {
        fail: Some("hot store: block 7 unreadable".into()),
        ..Default::default()
    };
    let app = app_with(backend, ApiConfig::default());
    let reply = get(&app, "/api/search?q=%7B%7D", &[]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.text(), "hot store: block 7 unreadable\n");
}
