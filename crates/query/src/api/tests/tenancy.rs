//! Multi-tenancy: 401 without a tenant, isolation between tenants, `a|b` federation.

use super::*;
use crate::tempo::trace::TraceByIdResponse;
use prost::Message as _;

fn two_tenants() -> (axum::Router, TraceId, TraceId) {
    let app = two_tenant_app([
        ("team-a", "alpha", "a-root", 0),
        ("team-b", "beta", "b-root", 5),
    ]);
    (app, tid(1), tid(2))
}

fn span_count(reply: &Reply) -> usize {
    let trace = TraceByIdResponse::decode(reply.body.as_slice())
        .unwrap()
        .trace
        .unwrap();
    trace
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}

#[tokio::test]
async fn without_a_tenant_every_endpoint_but_echo_is_401() {
    let (app, a_id, _) = two_tenants();
    for path in [
        format!("/api/v2/traces/{}", a_id.to_hex()),
        format!("/api/traces/{}", a_id.to_hex()),
        "/api/search?q=%7B%7D".to_owned(),
        "/api/v2/search/tags".to_owned(),
        "/api/search/tags".to_owned(),
        "/api/v2/search/tag/resource.service.name/values".to_owned(),
        "/api/search/tag/service.name/values".to_owned(),
    ] {
        let reply = get(&app, &path, &[]).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(reply.text(), "no org id\n", "{path}");
    }
    assert_eq!(get(&app, "/api/echo", &[]).await.status, StatusCode::OK);
    let reply = get(
        &app,
        "/api/v2/search/tags",
        &[("X-Scope-OrgID", "bad/tenant")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn tenants_see_only_their_traces_and_federation_sees_both() {
    let (app, a_id, b_id) = two_tenants();
    let pb = ("accept", "application/protobuf");
    let a = ("X-Scope-OrgID", "team-a");
    let reply = get(&app, &format!("/api/v2/traces/{}", a_id.to_hex()), &[pb, a]).await;
    assert_eq!(span_count(&reply), 1);
    let reply = get(&app, &format!("/api/v2/traces/{}", b_id.to_hex()), &[pb, a]).await;
    assert_eq!(span_count(&reply), 0);
    let reply = get(&app, &format!("/api/traces/{}", b_id.to_hex()), &[pb, a]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let both = ("x-scope-orgid", "team-b|team-a");
    let reply = get(
        &app,
        &format!("/api/v2/traces/{}", b_id.to_hex()),
        &[pb, both],
    )
    .await;
    assert_eq!(span_count(&reply), 1);
    // Without multi-tenancy, everything is the single tenant, whatever the header says.
    let spans = TraceBuilder::new(a_id)
        .span("alpha", "a-root", None, 0, 10, false, vec![])
        .build();
    let app = super::app(spans);
    let reply = get(&app, &format!("/api/v2/traces/{}", a_id.to_hex()), &[pb, a]).await;
    assert_eq!(span_count(&reply), 1);
}
