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

// ---------------------------------------------------------------------------------------------
// Authentication (issue 17): the credential decides the tenant.

const TOKEN_A: &str = "team-a-token-0123456789abcdef";
const PROXY: &str = "proxy-token-0123456789abcdef";

fn authed_app(multitenancy: bool) -> axum::Router {
    let spans = [
        ("team-a", "alpha", "a-root", 0),
        ("team-b", "beta", "b-root", 5),
    ]
    .iter()
    .zip([tid(1), tid(2)])
    .flat_map(|(&(tenant, service, name, start), id)| {
        TraceBuilder::new(id)
            .tenant(tenant)
            .span(service, name, None, start, 10, false, vec![])
            .build()
    })
    .collect();
    let yaml = format!(
        "bearer_tokens: [{{ token: {TOKEN_A}, tenant: team-a }}, {{ token: {PROXY} }}]\n\
         client_certificates: true"
    );
    let config: tracegate_auth::AuthConfig = serde_yaml_ng::from_str(&yaml).unwrap();
    let auth = Arc::new(tracegate_auth::Authenticator::from_config(&config).unwrap());
    let config = ApiConfig {
        multitenancy_enabled: multitenancy,
        ..Default::default()
    };
    router(ApiState::new(Arc::new(MemoryBackend::new(spans)), config).with_auth(auth))
}

/// GET with headers and, as serve_router adds it over mTLS, a client identity.
async fn get_as(
    app: &axum::Router,
    uri: &str,
    headers: &[(&str, &str)],
    cn: Option<&str>,
) -> (Reply, Option<String>) {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut request = request.body(Body::empty()).unwrap();
    if let Some(cn) = cn {
        request
            .extensions_mut()
            .insert(tracegate_tls::ClientIdentity {
                subject_cn: Some(cn.to_owned()),
            });
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    let reply = Reply {
        status,
        content_type,
        body,
    };
    (reply, challenge)
}

#[tokio::test]
async fn with_auth_every_endpoint_needs_a_credential() {
    let app = authed_app(true);
    for path in ["/api/echo", "/api/search/tags", "/api/v2/search/tags"] {
        let (reply, challenge) = get_as(&app, path, &[("X-Scope-OrgID", "team-a")], None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(challenge.as_deref(), Some("Bearer"));
        assert!(reply.content_type.starts_with("text/plain"));
        assert!(
            reply.text().starts_with("no credential"),
            "{}",
            reply.text()
        );
    }
    let (reply, challenge) = get_as(
        &app,
        "/api/echo",
        &[("authorization", "Bearer wrong-token-xyz")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert!(!reply.text().contains("wrong-token"));
    let bearer = format!("Bearer {TOKEN_A}");
    let (reply, _) = get_as(&app, "/api/echo", &[("authorization", &bearer)], None).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn the_token_names_the_tenant_and_a_mismatch_is_403() {
    let app = authed_app(true);
    let pb = ("accept", "application/protobuf");
    let bearer = format!("Bearer {TOKEN_A}");
    let auth = ("authorization", bearer.as_str());
    let a = format!("/api/v2/traces/{}", tid(1).to_hex());
    let b = format!("/api/v2/traces/{}", tid(2).to_hex());
    // No X-Scope-OrgID needed: the token's tenant.
    let (reply, _) = get_as(&app, &a, &[pb, auth], None).await;
    assert_eq!(span_count(&reply), 1);
    let (reply, _) = get_as(&app, &b, &[pb, auth], None).await;
    assert_eq!(span_count(&reply), 0);
    let (reply, _) = get_as(&app, &a, &[pb, auth, ("X-Scope-OrgID", "team-a")], None).await;
    assert_eq!(span_count(&reply), 1);
    for org in ["team-b", "team-a|team-b"] {
        let (reply, challenge) = get_as(&app, &b, &[pb, auth, ("X-Scope-OrgID", org)], None).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{org}");
        assert_eq!(challenge, None);
        assert_eq!(
            reply.text(),
            "X-Scope-OrgID names tenant \"team-b\" but the credential belongs to \"team-a\"\n"
        );
    }
    // A token without a tenant reads what the header names, federation included.
    let proxy = format!("Bearer {PROXY}");
    let both = ("X-Scope-OrgID", "team-a|team-b");
    let (reply, _) = get_as(&app, &b, &[pb, ("authorization", &proxy), both], None).await;
    assert_eq!(span_count(&reply), 1);
    let (reply, _) = get_as(&app, &b, &[pb, ("authorization", &proxy)], None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.text(), "no org id\n");
    // A client certificate's CN is the tenant.
    let (reply, _) = get_as(&app, &b, &[pb], Some("team-b")).await;
    assert_eq!(span_count(&reply), 1);
    let (reply, _) = get_as(&app, &a, &[pb], Some("team-b")).await;
    assert_eq!(span_count(&reply), 0);
    let (reply, _) = get_as(&app, &a, &[pb, ("X-Scope-OrgID", "team-a")], Some("team-b")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Without multi-tenancy, the single tenant whatever the credential says.
    let app = authed_app(false);
    let (reply, _) = get_as(
        &app,
        "/api/v2/search/tags",
        &[auth, ("X-Scope-OrgID", "zzz")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}
