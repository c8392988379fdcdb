//! Tag names and values, v1 and v2.

use super::strict::{self, TagValue, TagValuesV1, TagValuesV2, TagsV1, TagsV2};
use super::*;
use tracegate_model::proto::trace::v1::span::Event;

fn data() -> Vec<Span> {
    let mut all = TraceBuilder::new(tid(1))
        .span(
            "checkout",
            "GET /cart",
            None,
            0,
            500,
            true,
            vec![a::int("http.status_code", 500), a::string("k8s/pod", "p-1")],
        )
        .span(
            "db",
            "SELECT",
            Some(0),
            10,
            50,
            false,
            vec![a::boolean("db.cached", true), a::double("db.ratio", 0.5)],
        )
        .build();
    all[0].events.push(Event {
        name: "exception".into(),
        attributes: vec![a::string("exception.message", "boom")],
        ..Default::default()
    });
    all.extend(
        TraceBuilder::new(tid(2))
            .span(
                "a",
                "op-a",
                None,
                100,
                5,
                false,
                vec![a::string("foo", "a.b")],
            )
            .resource_attrs(vec![a::string("k8s.cluster.name", "east")])
            .build(),
    );
    all.extend(
        TraceBuilder::new(tid(3))
            .span(
                "b",
                "op-b",
                None,
                200,
                5,
                false,
                vec![a::string("foo", "bar")],
            )
            .build(),
    );
    all
}

fn scope<'a>(response: &'a TagsV2, name: &str) -> Option<&'a Vec<String>> {
    response
        .scopes
        .iter()
        .find(|s| s.name == name)
        .map(|s| &s.tags)
}

async fn tags_v2(app: &axum::Router, params: &str) -> TagsV2 {
    let reply = get(app, &format!("/api/v2/search/tags?{params}"), &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{params}: {}", reply.text());
    strict::decode(&reply.body)
}

async fn values_v2(app: &axum::Router, tag: &str, params: &str) -> Vec<TagValue> {
    let reply = get(
        app,
        &format!("/api/v2/search/tag/{tag}/values?{params}"),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{tag}: {}", reply.text());
    strict::decode::<TagValuesV2>(&reply.body).tag_values
}

fn typed(kind: &str, values: &[&str]) -> Vec<TagValue> {
    values
        .iter()
        .map(|v| TagValue {
            kind: kind.into(),
            value: (*v).into(),
        })
        .collect()
}

#[tokio::test]
async fn v2_tags_by_scope_with_the_intrinsics() {
    let app = app(data());
    let all = tags_v2(&app, "limit=5000").await;
    let read: u64 = all
        .metrics
        .as_ref()
        .unwrap()
        .inspected_bytes
        .as_ref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(read > 0);
    assert_eq!(
        scope(&all, "resource").unwrap(),
        &["k8s.cluster.name", "service.name"]
    );
    assert_eq!(
        scope(&all, "span").unwrap(),
        &[
            "db.cached",
            "db.ratio",
            "foo",
            "http.status_code",
            "k8s/pod"
        ]
    );
    assert_eq!(scope(&all, "event").unwrap(), &["exception.message"]);
    assert!(scope(&all, "link").is_none());
    let intrinsic = scope(&all, "intrinsic").unwrap();
    for name in [
        "duration",
        "name",
        "status",
        "kind",
        "traceDuration",
        "span:name",
        "trace:rootService",
    ] {
        assert!(intrinsic.iter().any(|t| t == name), "{name}");
    }
    let only = tags_v2(&app, "scope=resource").await;
    assert_eq!(only.scopes.len(), 1);
    assert_eq!(only.scopes[0].name, "resource");
    let only = tags_v2(&app, "scope=intrinsic").await;
    assert_eq!(only.scopes.len(), 1);
    assert_eq!(only.scopes[0].name, "intrinsic");
    let none = tags_v2(&app, "scope=none").await;
    assert_eq!(none.scopes.len(), all.scopes.len());
    let reply = get(&app, "/api/v2/search/tags?scope=bogus", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.text(), "invalid scope: bogus\n");
}

#[tokio::test]
async fn a_query_filters_tags_when_it_parses() {
    let app = app(data());
    let filtered = tags_v2(
        &app,
        &format!("q={}", enc(r#"{resource.service.name="b"}"#)),
    )
    .await;
    assert_eq!(scope(&filtered, "span").unwrap(), &["foo"]);
    assert_eq!(scope(&filtered, "resource").unwrap(), &["service.name"]);
    // Incomplete, as Grafana sends while the user types: ignored.
    let everything = tags_v2(&app, &format!("q={}", enc("{ resource.cluster = }"))).await;
    assert_eq!(scope(&everything, "span").unwrap().len(), 5);
}

#[tokio::test]
async fn v1_tags() {
    let app = app(data());
    let reply = get(&app, "/api/search/tags", &[]).await;
    let v1: TagsV1 = strict::decode(&reply.body);
    assert!(v1.tag_names.contains(&"service.name".to_owned()));
    assert!(v1.tag_names.contains(&"http.status_code".to_owned()));
    assert!(!v1.tag_names.contains(&"exception.message".to_owned()));
    assert!(!v1.tag_names.contains(&"duration".to_owned()));
    let reply = get(&app, "/api/search/tags?scope=intrinsic", &[]).await;
    let v1: TagsV1 = strict::decode(&reply.body);
    assert!(v1.tag_names.contains(&"duration".to_owned()));
}

#[tokio::test]
async fn v2_values_are_typed() {
    let app = app(data());
    assert_eq!(
        values_v2(&app, "resource.service.name", "").await,
        typed("string", &["a", "b", "checkout", "db"])
    );
    assert_eq!(
        values_v2(&app, "span.http.status_code", "").await,
        typed("int", &["500"])
    );
    assert_eq!(
        values_v2(&app, ".db.cached", "").await,
        typed("bool", &["true"])
    );
    assert_eq!(
        values_v2(&app, "span.db.ratio", "").await,
        typed("float", &["0.5"])
    );
    assert_eq!(
        values_v2(&app, "event.exception.message", "").await,
        typed("string", &["boom"])
    );
    assert_eq!(
        values_v2(&app, "name", "").await,
        typed("string", &["GET /cart", "SELECT", "op-a", "op-b"])
    );
    // Trace-level intrinsics: one value per trace, from its root.
    assert_eq!(
        values_v2(&app, "trace:rootService", "").await,
        typed("string", &["a", "b", "checkout"])
    );
    assert_eq!(
        values_v2(&app, "rootName", "").await,
        typed("string", &["GET /cart", "op-a", "op-b"])
    );
    // Grafana quotes only `string` values: status and kind must be keywords.
    for tag in ["status", "span:status"] {
        assert_eq!(
            values_v2(&app, tag, "").await,
            typed("keyword", &["error", "ok", "unset"])
        );
    }
    let kinds = values_v2(&app, "kind", "").await;
    assert_eq!(kinds.len(), 6);
    assert!(kinds.iter().all(|v| v.kind == "keyword"));
    assert!(kinds.iter().any(|v| v.value == "server"));
    for tag in [
        "duration",
        "traceDuration",
        "span:duration",
        "trace:duration",
    ] {
        assert!(values_v2(&app, tag, "").await.is_empty(), "{tag}");
    }
}

#[tokio::test]
async fn v2_values_with_a_slash_a_filter_and_bad_names() {
    let app = app(data());
    // The tag path may hold `/`.
    assert_eq!(
        values_v2(&app, "span.k8s/pod", "").await,
        typed("string", &["p-1"])
    );
    assert_eq!(
        values_v2(&app, &enc("span.\"k8s/pod\""), "").await,
        typed("string", &["p-1"])
    );
    let q = enc(r#"{resource.service.name="b"}"#);
    assert_eq!(
        values_v2(&app, "span.foo", &format!("q={q}")).await,
        typed("string", &["bar"])
    );
    let q = enc(r#"{ resource.service.name = "#);
    assert_eq!(
        values_v2(&app, "span.foo", &format!("q={q}")).await,
        typed("string", &["a.b", "bar"])
    );
    for bad in ["span.", "%7B%7D", "foo%20bar"] {
        let reply = get(&app, &format!("/api/v2/search/tag/{bad}/values"), &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text()
        );
    }
    let reply = get(&app, "/api/v2/search/tag/name", &[]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn v1_values() {
    let app = app(data());
    let reply = get(&app, "/api/search/tag/service.name/values", &[]).await;
    let v1: TagValuesV1 = strict::decode(&reply.body);
    assert_eq!(v1.tag_values, ["a", "b", "checkout", "db"]);
    let reply = get(&app, "/api/search/tag/http.status_code/values", &[]).await;
    let v1: TagValuesV1 = strict::decode(&reply.body);
    assert_eq!(v1.tag_values, ["500"]);
    let reply = get(&app, "/api/search/tag/status.code/values", &[]).await;
    let v1: TagValuesV1 = strict::decode(&reply.body);
    assert_eq!(v1.tag_values, ["error", "ok", "unset"]);
}

#[tokio::test]
async fn scans_are_bounded() {
    let config = ApiConfig {
        tags_max_values: 2,
        ..Default::default()
    };
    let app = app_with(MemoryBackend::new(data()), config);
    assert_eq!(values_v2(&app, "resource.service.name", "").await.len(), 2);
    assert_eq!(
        values_v2(&app, "resource.service.name", "limit=1")
            .await
            .len(),
        1
    );
    let all = tags_v2(&app, "").await;
    assert_eq!(scope(&all, "span").unwrap().len(), 2);
    let config = ApiConfig {
        tags_max_traces: 1,
        ..Default::default()
    };
    let backend = Arc::new(MemoryBackend::new(data()));
    let app = router(ApiState::new(backend.clone(), config));
    // Newest trace first: only trace 3 (service b) is read.
    assert_eq!(
        values_v2(&app, "resource.service.name", "").await,
        typed("string", &["b"])
    );
    let config = ApiConfig {
        tags_max_bytes: tracegate_pipeline::config::ByteSize(3),
        ..Default::default()
    };
    let app = app_with(MemoryBackend::new(data()), config);
    let values = values_v2(&app, "resource.service.name", "").await;
    assert!(
        values.iter().map(|v| v.value.len()).sum::<usize>() <= 3,
        "{values:?}"
    );
}

#[tokio::test]
async fn tags_are_per_tenant() {
    let app = two_tenant_app([("a", "sa", "x", 0), ("b", "sb", "y", 10)]);
    let path = "/api/v2/search/tag/resource.service.name/values";
    let reply = get(&app, path, &[("X-Scope-OrgID", "a")]).await;
    assert_eq!(
        strict::decode::<TagValuesV2>(&reply.body).tag_values,
        typed("string", &["sa"])
    );
    let reply = get(&app, path, &[("X-Scope-OrgID", "a|b")]).await;
    assert_eq!(
        strict::decode::<TagValuesV2>(&reply.body).tag_values,
        typed("string", &["sa", "sb"])
    );
}
