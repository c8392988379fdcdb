//! Trace by id, v1 and v2.

use super::*;
use crate::tempo::trace::{PartialStatus, Trace, TraceByIdResponse};
use prost::Message as _;

const PB: (&str, &str) = ("accept", "application/protobuf");

fn shop_trace(id: TraceId) -> Vec<Span> {
    TraceBuilder::new(id)
        .span("frontend", "GET /cart", None, 0, 500, false, vec![])
        .span(
            "checkout",
            "load cart",
            Some(0),
            10,
            100,
            true,
            vec![a::int("http.status_code", 500)],
        )
        .span("db", "SELECT", Some(1), 20, 50, false, vec![])
        .build()
}

/// Grafana's decoding invariants (TEMPO_API.md §3.4); returns the span ids.
fn check_invariants(trace: &Trace) -> Vec<Vec<u8>> {
    let mut ids = Vec::new();
    for rs in &trace.resource_spans {
        let resource = rs.resource.as_ref().expect("resource");
        assert!(!resource.attributes.is_empty());
        assert!(attr::get_str(&resource.attributes, keys::SERVICE_NAME).is_some());
        for ss in &rs.scope_spans {
            assert!(ss.scope.is_some());
            for s in &ss.spans {
                assert!(s.status.is_some());
                ids.push(s.span_id.clone());
            }
        }
    }
    ids
}

#[tokio::test]
async fn v2_protobuf_is_what_grafana_decodes() {
    let id = tid(7);
    let mut spans = shop_trace(id);
    spans.push(spans[1].clone()); // a duplicate from another block
    spans.extend(shop_trace(tid(8)));
    let app = app(spans);
    let reply = get(&app, &format!("/api/v2/traces/{}", id.to_hex()), &[PB]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, "application/protobuf");
    let response = TraceByIdResponse::decode(reply.body.as_slice()).unwrap();
    assert_eq!(response.status, PartialStatus::Complete as i32);
    let trace = response.trace.expect("trace field");
    let mut ids = check_invariants(&trace);
    ids.sort();
    assert_eq!(ids.len(), 3, "one span per span id");
    ids.dedup();
    assert_eq!(ids.len(), 3);
    for rs in &trace.resource_spans {
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                assert_eq!(s.trace_id, id.0.to_vec());
            }
        }
    }
    assert!(response.metrics.unwrap().inspected_bytes > 0);
}

#[tokio::test]
async fn v2_not_found_is_200_with_an_empty_trace() {
    let app = app(shop_trace(tid(7)));
    let reply = get(
        &app,
        "/api/v2/traces/0a0000000000000000000000000000ff",
        &[PB],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let response = TraceByIdResponse::decode(reply.body.as_slice()).unwrap();
    assert_eq!(response.trace, Some(Trace::default()));
    assert_eq!(&reply.body[..2], &[0x0a, 0x00]);
    let reply = get(&app, "/api/v2/traces/0a0000000000000000000000000000ff", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["trace"], serde_json::json!({}));
}

#[tokio::test]
async fn v1_not_found_is_404_with_an_empty_body() {
    let app = app(shop_trace(tid(7)));
    let reply = get(&app, "/api/traces/0a0000000000000000000000000000ff", &[PB]).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn v1_protobuf_and_json() {
    let id = tid(7);
    let app = app(shop_trace(id));
    let reply = get(&app, &format!("/api/traces/{}", id.to_hex()), &[PB]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let trace = Trace::decode(reply.body.as_slice()).unwrap();
    assert_eq!(check_invariants(&trace).len(), 3);
    let reply = get(
        &app,
        &format!("/api/traces/{}", id.to_hex()),
        &[("accept", "application/json")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type, "application/json");
    let json = reply.json();
    let batches = json["batches"].as_array().expect("batches");
    let span = &batches[0]["scopeSpans"][0]["spans"][0];
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(span["traceId"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, id.0.to_vec());
    assert!(span["startTimeUnixNano"].is_string());
    assert!(json.get("resourceSpans").is_none());
}

#[tokio::test]
async fn short_and_uppercase_ids_are_padded() {
    // A 64-bit id, as Jaeger/Zipkin or a leading-zero-trimmed search result writes it.
    let mut raw = [0u8; 16];
    raw[8..].copy_from_slice(&[0xf1, 0xcf, 0xe8, 0x2a, 0x8e, 0xef, 0x93, 0x3b]);
    let id = TraceId(raw);
    let app = app(shop_trace(id));
    for text in [
        "f1cfe82a8eef933b",
        "F1CFE82A8EEF933B",
        "0000000000000000f1cfe82a8eef933b",
    ] {
        let reply = get(&app, &format!("/api/v2/traces/{text}"), &[PB]).await;
        let trace = TraceByIdResponse::decode(reply.body.as_slice())
            .unwrap()
            .trace
            .unwrap();
        assert_eq!(check_invariants(&trace).len(), 3, "{text}");
        let reply = get(&app, &format!("/api/traces/{text}"), &[PB]).await;
        assert_eq!(reply.status, StatusCode::OK, "{text}");
    }
    // Odd length: a leading zero is implied.
    let mut raw = [0u8; 16];
    raw[14..].copy_from_slice(&[0x0a, 0xbc]);
    let app = super::app(shop_trace(TraceId(raw)));
    let reply = get(&app, "/api/traces/abc", &[PB]).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_ids_are_400() {
    let app = app(vec![]);
    for path in [
        "/api/traces/xyz",
        "/api/v2/traces/xyz",
        &format!("/api/v2/traces/{}", "1".repeat(33)),
    ] {
        let reply = get(&app, path, &[PB]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(reply.content_type.starts_with("text/plain"));
    }
    let reply = get(&app, &format!("/api/traces/{}", "1".repeat(33)), &[]).await;
    assert_eq!(reply.text(), "trace IDs can't be larger than 128 bits\n");
}

#[tokio::test]
async fn over_the_size_limit_v1_is_422_and_v2_partial() {
    let id = tid(9);
    let mut builder = TraceBuilder::new(id).span("svc", "root", None, 0, 1000, false, vec![]);
    for i in 0..40 {
        builder = builder.span(
            "svc",
            "child",
            Some(0),
            i + 1,
            1,
            false,
            vec![a::string("blob", "x".repeat(200))],
        );
    }
    let config = ApiConfig {
        max_trace_bytes: tracegate_pipeline::config::ByteSize(3000),
        ..Default::default()
    };
    let app = app_with(MemoryBackend::new(builder.build()), config);
    let reply = get(&app, &format!("/api/traces/{}", id.to_hex()), &[PB]).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(reply.text().contains("3000"), "{}", reply.text());
    let reply = get(&app, &format!("/api/v2/traces/{}", id.to_hex()), &[PB]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let response = TraceByIdResponse::decode(reply.body.as_slice()).unwrap();
    assert_eq!(response.status, PartialStatus::Partial as i32);
    assert!(
        response
            .message
            .contains("Trace exceeds maximum size of 3000 bytes")
    );
    let trace = response.trace.unwrap();
    assert!(trace.encoded_len() <= 3000);
    let kept = check_invariants(&trace).len();
    assert!(kept > 1 && kept < 41, "{kept}");
    let reply = get(&app, &format!("/api/v2/traces/{}", id.to_hex()), &[]).await;
    assert_eq!(reply.json()["status"], "PARTIAL");
}

#[tokio::test]
async fn a_partial_lookup_is_marked_and_a_failure_is_500() {
    let id = tid(7);
    let backend = MemoryBackend {
        partial: Some("block 3 unreadable".into()),
        ..MemoryBackend::new(shop_trace(id))
    };
    let app = app_with(backend, ApiConfig::default());
    let reply = get(&app, &format!("/api/v2/traces/{}", id.to_hex()), &[PB]).await;
    let response = TraceByIdResponse::decode(reply.body.as_slice()).unwrap();
    assert_eq!(response.status, PartialStatus::Partial as i32);
    assert_eq!(response.message, "block 3 unreadable");
    let backend = MemoryBackend {
        fail: Some("disk on fire".into()),
        ..Default::default()
    };
    let app = app_with(backend, ApiConfig::default());
    let reply = get(&app, &format!("/api/v2/traces/{}", id.to_hex()), &[PB]).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.text(), "disk on fire\n");
}

#[tokio::test]
async fn start_and_end_reach_the_backend_as_its_window() {
    let id = tid(7);
    let backend = Arc::new(MemoryBackend::new(shop_trace(id)));
    let app = router(ApiState::new(backend.clone(), ApiConfig::default()));
    let hex = id.to_hex();
    for uri in [
        format!("/api/v2/traces/{hex}?start=1700000000&end=1700003600"),
        format!("/api/traces/{hex}?start=1700000000&end=1700003600"),
        format!("/api/v2/traces/{hex}"),
        format!("/api/v2/traces/{hex}?start=1700000000"),
    ] {
        let reply = get(&app, &uri, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
    }
    let windows = backend.trace_windows.lock().unwrap().clone();
    let (start, end) = (1_700_000_000 * S, 1_700_003_600 * S + 999_999_999);
    assert_eq!(windows[0], Some((start, end)));
    assert_eq!(windows[1], Some((start, end)));
    assert_eq!(windows[2], None, "no start/end: every partition");
    let (from, to) = windows[3].unwrap();
    assert_eq!(from, start);
    assert!(to >= now_s() * S, "a missing end is now");
}

#[tokio::test]
async fn end_before_start_is_400() {
    let app = app(shop_trace(tid(7)));
    let hex = tid(7).to_hex();
    for (uri, want) in [
        (
            format!("/api/v2/traces/{hex}?start=1700003600&end=1700000000"),
            "http parameter start must be before end. received start=1700003600 end=1700000000",
        ),
        (
            format!("/api/traces/{hex}?start=abc"),
            "invalid start: strconv.ParseInt: parsing \"abc\": invalid syntax",
        ),
    ] {
        let reply = get(&app, &uri, &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(reply.text().trim(), want, "{uri}");
    }
}
