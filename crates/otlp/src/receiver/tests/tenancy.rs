//! Tenants from `X-Scope-OrgID`, over gRPC and HTTP, with multi-tenancy on and off.

use super::*;
use tonic::metadata::MetadataValue;

async fn start_tenanted(id: &str) -> Harness {
    start_receiver(id, 16, |id| {
        OtlpReceiver::new(id, local_config()).with_multitenancy(true)
    })
    .await
}

fn with_tenant<T>(message: T, tenant: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-scope-orgid", MetadataValue::try_from(tenant).unwrap());
    request
}

#[tokio::test]
async fn grpc_tenant_reaches_every_span_and_a_missing_one_is_unauthenticated() {
    let mut h = start_tenanted("otlp/tenant_grpc").await;
    let mut client = h.grpc_client().await;
    client
        .export(with_tenant(valid_request(3), "team-a"))
        .await
        .unwrap();
    let batch = h.rx.recv().await.unwrap().into_spans();
    assert_eq!(batch.len(), 3);
    assert!(batch.spans.iter().all(|s| s.tenant() == "team-a"));

    let missing = client.export(valid_request(1)).await.unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(
        missing.message().contains("X-Scope-OrgID"),
        "{}",
        missing.message()
    );

    let bad = client
        .export(with_tenant(valid_request(1), "a/b"))
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().contains("'/'"), "{}", bad.message());
    assert!(
        h.rx.try_recv().is_err(),
        "refused requests reach no pipeline"
    );
    assert_eq!(h.requests("grpc", "unauthenticated"), 1);
    h.stop().await;
}

#[tokio::test]
async fn http_tenant_reaches_every_span_and_a_missing_one_is_401() {
    let mut h = start_tenanted("otlp/tenant_http").await;
    let body = valid_request(2).encode_to_vec();
    let ok = http_call(
        h.http,
        "POST",
        &[
            ("content-type", "application/x-protobuf"),
            ("X-Scope-OrgID", "team-b"),
        ],
        Some(&body),
    )
    .await;
    assert_eq!(ok.status, 200);
    let batch = h.rx.recv().await.unwrap().into_spans();
    assert!(batch.spans.iter().all(|s| s.tenant() == "team-b"));

    let missing = h.post("application/x-protobuf", &body).await;
    assert_eq!(missing.status, 401);
    assert!(missing.error_message().contains("no org id"));
    let bad = http_call(
        h.http,
        "POST",
        &[
            ("content-type", "application/json"),
            ("X-Scope-OrgID", ".."),
        ],
        Some(b"{}"),
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.error_message().contains("not allowed"));
    assert!(h.rx.try_recv().is_err());
    h.stop().await;
}

#[tokio::test]
async fn without_multitenancy_the_header_is_ignored() {
    let mut h = start("otlp/tenant_off", local_config(), 16).await;
    let mut client = h.grpc_client().await;
    client
        .export(with_tenant(valid_request(1), "team-a"))
        .await
        .unwrap();
    let batch = h.rx.recv().await.unwrap().into_spans();
    assert_eq!(batch.spans[0].tenant(), tracegate_model::DEFAULT_TENANT);
    h.stop().await;
}
