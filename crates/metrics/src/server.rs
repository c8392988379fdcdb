//! The data metrics endpoint: Prometheus scrapes `/metrics` here, and the alert engines'
//! state is listed in Prometheus's own JSON shapes.
//!
//! - `GET /metrics`: every [`MetricSource`](crate::snapshot::MetricSource) in the
//!   [`MetricsRegistry`], in the format the scraper's `Accept` header asks for (Prometheus
//!   text, OpenMetrics with exemplars, or protobuf with native histograms);
//! - `GET /api/v1/alerts`: pending and firing alerts, as Prometheus's
//!   `{"status":"success","data":{"alerts":[…]}}`;
//! - `GET /api/v1/rules`: each `alerts` processor's rules and their state, as Prometheus's
//!   `{"status":"success","data":{"groups":[…]}}`;
//! - `GET /-/healthy` and `/-/ready`: 200, as Prometheus answers.
//!
//! Rendering runs on a blocking thread, so a large snapshot never stalls the async
//! workers; at most `max_concurrent_scrapes` run at once, more get 429.

use crate::exposition;
use crate::registry::{MetricsRegistry, now_unix_nano};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, Clone)]
struct AppState {
    registry: MetricsRegistry,
    scrapes: Arc<Semaphore>,
}

/// The endpoint's routes over `registry`, serving at most `max_concurrent_scrapes` scrapes
/// at once.
pub fn router(registry: MetricsRegistry, max_concurrent_scrapes: usize) -> Router {
    let state = AppState {
        registry,
        scrapes: Arc::new(Semaphore::new(max_concurrent_scrapes.max(1))),
    };
    Router::new()
        .route("/metrics", get(scrape))
        .route("/api/v1/alerts", get(alerts))
        .route("/api/v1/rules", get(rules))
        .route(
            "/-/healthy",
            get(|| async { "tracegate metrics are healthy.\n" }),
        )
        .route(
            "/-/ready",
            get(|| async { "tracegate metrics are ready.\n" }),
        )
        .with_state(state)
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Ok(_permit) = state.scrapes.clone().try_acquire_owned() else {
        metrics::counter!("tracegate_metrics_scrapes_refused_total").increment(1);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, HeaderValue::from_static("1"))],
            "too many scrapes at once; retry at the next interval\n",
        )
            .into_response();
    };
    let format = exposition::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let registry = state.registry.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let families = registry.collect(now_unix_nano());
        exposition::render(format, &families)
    })
    .await;
    match rendered {
        Ok(body) => (
            [(header::CONTENT_TYPE, exposition::content_type(format))],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering the metrics failed: {e}\n"),
        )
            .into_response(),
    }
}

async fn alerts(State(state): State<AppState>) -> Response {
    let mut all = Vec::new();
    for (_, engine) in state.registry.alerts() {
        if let serde_json::Value::Array(items) = engine.prometheus_alerts() {
            all.extend(items);
        }
    }
    axum::Json(serde_json::json!({"status": "success", "data": {"alerts": all}})).into_response()
}

async fn rules(State(state): State<AppState>) -> Response {
    let groups: Vec<serde_json::Value> = state
        .registry
        .alerts()
        .iter()
        .map(|(_, engine)| engine.prometheus_rules())
        .collect();
    axum::Json(serde_json::json!({"status": "success", "data": {"groups": groups}})).into_response()
}
