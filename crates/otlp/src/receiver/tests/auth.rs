//! Authentication (issue 17), over gRPC and HTTP: a good token's tenant reaches the spans, a
//! missing or wrong token is 401 / `UNAUTHENTICATED` with `WWW-Authenticate: Bearer`, an
//! `X-Scope-OrgID` naming another tenant is 403 / `PERMISSION_DENIED`, a token without a
//! tenant takes the header's, and a client certificate's CN is the tenant over mTLS. Each
//! refusal is counted in `tracegate_auth_failures_total` and in the receiver's requests.

use super::tls::{grpc_export_with, https_post_with, tls_config};
use super::*;
use tonic::metadata::MetadataValue;
use tracegate_auth::{AuthConfig, Authenticator, FAILURES_TOTAL};
use tracegate_tls::ALPN_GRPC;
use tracegate_tls::test_util::TestPki;

const TOKEN_A: &str = "team-a-token-0123456789abcdef";
const PROXY: &str = "proxy-token-0123456789abcdef";

fn authenticator(client_certificates: bool) -> Arc<Authenticator> {
    let yaml = format!(
        "bearer_tokens: [{{ token: {TOKEN_A}, tenant: team-a }}, {{ token: {PROXY} }}]\n\
         client_certificates: {client_certificates}"
    );
    let config: AuthConfig = serde_yaml_ng::from_str(&yaml).unwrap();
    Arc::new(Authenticator::from_config(&config).unwrap())
}

async fn start_authed(id: &str, config: OtlpReceiverConfig, multitenancy: bool) -> Harness {
    let auth = authenticator(true);
    start_receiver(id, 16, |id| {
        OtlpReceiver::new(id, config)
            .with_multitenancy(multitenancy)
            .with_auth(auth)
    })
    .await
}

fn failures(listener: &str, reason: &str) -> u64 {
    counter(
        FAILURES_TOTAL,
        &[("listener", listener), ("reason", reason)],
    )
}

fn call<T>(message: T, headers: &[(&'static str, &str)]) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    for (k, v) in headers {
        request
            .metadata_mut()
            .insert(*k, MetadataValue::try_from(*v).unwrap());
    }
    request
}

#[tokio::test]
async fn grpc_tokens_decide_the_tenant_and_bad_ones_are_refused() {
    let mut h = start_authed("otlp/auth_grpc", local_config(), true).await;
    let mut client = h.grpc_client().await;
    let bearer = format!("Bearer {TOKEN_A}");
    client
        .export(call(valid_request(2), &[("authorization", &bearer)]))
        .await
        .unwrap();
    let batch = h.rx.recv().await.unwrap().into_spans();
    assert!(batch.spans.iter().all(|s| s.tenant() == "team-a"));
    // The header may repeat the credential's tenant.
    client
        .export(call(
            valid_request(1),
            &[("authorization", &bearer), ("x-scope-orgid", "team-a")],
        ))
        .await
        .unwrap();
    assert_eq!(
        h.rx.recv().await.unwrap().into_spans().spans[0].tenant(),
        "team-a"
    );

    for (headers, reason) in [
        (vec![], "missing"),
        (
            vec![("authorization", "Bearer not-a-configured-token")],
            "invalid_token",
        ),
        (vec![("authorization", "Basic dXNlcjpwYXNz")], "malformed"),
    ] {
        let e = client
            .export(call(valid_request(1), &headers))
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::Unauthenticated, "{reason}: {e:?}");
        assert_eq!(
            e.metadata()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
        assert!(!e.message().contains("not-a-configured"), "{}", e.message());
        assert_eq!(failures("otlp/auth_grpc/grpc", reason), 1, "{reason}");
    }
    let e = client
        .export(call(
            valid_request(1),
            &[("authorization", &bearer), ("x-scope-orgid", "team-b")],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert_eq!(
        e.message(),
        r#"X-Scope-OrgID names tenant "team-b" but the credential belongs to "team-a""#
    );
    assert_eq!(failures("otlp/auth_grpc/grpc", "tenant_mismatch"), 1);

    // A token without a tenant: the header names it, and is required.
    let proxy = format!("Bearer {PROXY}");
    client
        .export(call(
            valid_request(1),
            &[("authorization", &proxy), ("x-scope-orgid", "team-x")],
        ))
        .await
        .unwrap();
    assert_eq!(
        h.rx.recv().await.unwrap().into_spans().spans[0].tenant(),
        "team-x"
    );
    let e = client
        .export(call(valid_request(1), &[("authorization", &proxy)]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    assert!(e.message().contains("X-Scope-OrgID"), "{}", e.message());

    assert!(
        h.rx.try_recv().is_err(),
        "refused requests reach no pipeline"
    );
    assert_eq!(h.requests("grpc", "unauthenticated"), 4);
    assert_eq!(h.requests("grpc", "tenant_mismatch"), 1);
    assert_eq!(h.requests("grpc", "ok"), 3);
    h.stop().await;
}

#[tokio::test]
async fn http_tokens_decide_the_tenant_and_bad_ones_are_refused() {
    let mut h = start_authed("otlp/auth_http", local_config(), true).await;
    let body = valid_request(2).encode_to_vec();
    let bearer = format!("Bearer {TOKEN_A}");
    let pb = ("content-type", "application/x-protobuf");
    let ok = http_call(
        h.http,
        "POST",
        &[pb, ("authorization", &bearer)],
        Some(&body),
    )
    .await;
    assert_eq!(ok.status, 200);
    let batch = h.rx.recv().await.unwrap().into_spans();
    assert!(batch.spans.iter().all(|s| s.tenant() == "team-a"));

    for (headers, reason) in [
        (vec![pb], "missing"),
        (
            vec![pb, ("authorization", "Bearer wrong-token-xyz")],
            "invalid_token",
        ),
        // Refused before the Content-Type is looked at.
        (vec![("content-type", "text/plain")], "missing"),
    ] {
        let reply = http_call(h.http, "POST", &headers, Some(&body)).await;
        assert_eq!(reply.status, 401, "{reason}");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
        assert!(!reply.error_message().contains("wrong-token"));
    }
    assert_eq!(failures("otlp/auth_http/http", "missing"), 2);
    assert_eq!(failures("otlp/auth_http/http", "invalid_token"), 1);

    let json = ("content-type", "application/json");
    let reply = http_call(
        h.http,
        "POST",
        &[
            json,
            ("authorization", &bearer),
            ("X-Scope-OrgID", "team-b"),
        ],
        Some(b"{}"),
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(reply.header("www-authenticate").is_none());
    assert!(reply.error_message().contains(r#"names tenant "team-b""#));

    let proxy = format!("Bearer {PROXY}");
    let ok = http_call(
        h.http,
        "POST",
        &[pb, ("authorization", &proxy), ("X-Scope-OrgID", "team-y")],
        Some(&body),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        h.rx.recv().await.unwrap().into_spans().spans[0].tenant(),
        "team-y"
    );
    assert!(h.rx.try_recv().is_err());
    assert_eq!(h.requests("http", "unauthenticated"), 3);
    assert_eq!(h.requests("http", "tenant_mismatch"), 1);
    h.stop().await;
}

#[tokio::test]
async fn without_multitenancy_a_good_token_is_the_single_tenant() {
    let mut h = start_authed("otlp/auth_single", local_config(), false).await;
    let mut client = h.grpc_client().await;
    let bearer = format!("Bearer {TOKEN_A}");
    client
        .export(call(
            valid_request(1),
            &[("authorization", &bearer), ("x-scope-orgid", "team-b")],
        ))
        .await
        .unwrap();
    let batch = h.rx.recv().await.unwrap().into_spans();
    assert_eq!(batch.spans[0].tenant(), tracegate_model::DEFAULT_TENANT);
    let e = client.export(valid_request(1)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    h.stop().await;
}

#[tokio::test]
async fn a_client_certificate_names_the_tenant_over_mtls() {
    let pki = TestPki::new("Test CA");
    let server = pki.server("server", "gateway");
    let good = pki.client("good", "tenant-c");
    let bad_cn = pki.client("bad", "not a tenant");
    let config = tls_config(&server, Some(&pki.ca_cert));
    let mut h = start_authed("otlp/auth_mtls", config, true).await;

    grpc_export_with(h.grpc, pki.client_config(Some(&good), ALPN_GRPC), 1, &[])
        .await
        .unwrap();
    assert_eq!(
        h.rx.recv().await.unwrap().into_spans().spans[0].tenant(),
        "tenant-c"
    );
    let status = https_post_with(h.http, pki.client_config(Some(&good), &[]), 1, &[])
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(
        h.rx.recv().await.unwrap().into_spans().spans[0].tenant(),
        "tenant-c"
    );

    // The certificate's tenant, and no other.
    let e = grpc_export_with(
        h.grpc,
        pki.client_config(Some(&good), ALPN_GRPC),
        1,
        &[("x-scope-orgid", "team-a")],
    )
    .await
    .unwrap_err();
    assert!(
        e.contains("PermissionDenied") || e.contains("permission"),
        "{e}"
    );
    let status = https_post_with(h.http, pki.client_config(Some(&bad_cn), &[]), 1, &[])
        .await
        .unwrap();
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    assert_eq!(failures("otlp/auth_mtls/http", "invalid_certificate"), 1);
    // A token still wins over the certificate.
    let bearer = format!("Bearer {TOKEN_A}");
    grpc_export_with(
        h.grpc,
        pki.client_config(Some(&good), ALPN_GRPC),
        1,
        &[("authorization", &bearer)],
    )
    .await
    .unwrap();
    assert_eq!(
        h.rx.recv().await.unwrap().into_spans().spans[0].tenant(),
        "team-a"
    );
    assert!(h.rx.try_recv().is_err());
    h.stop().await;
}
