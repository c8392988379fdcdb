//! Trace by id: `GET /api/traces/{id}` (v1) and `GET /api/v2/traces/{id}` (v2).
//!
//! Both parse the id as Tempo does ([`super::params::parse_trace_id`]), look it up in every
//! tenant of the request (federation merges the spans), de-duplicate spans by id and build
//! the trace with Grafana's invariants ([`crate::tempo::trace::build_trace`]).
//!
//! | case | v1 | v2 |
//! |---|---|---|
//! | found | 200 `Trace` | 200 `TraceByIDResponse` |
//! | not found | 404, empty body | 200 with an empty `trace` |
//! | over `max_trace_bytes` | 422 | 200, the earliest spans that fit, `PARTIAL` |
//! | backend says partial | 200, what there is | 200, `PARTIAL` with its message |
//!
//! Protobuf when `Accept` names `application/protobuf` (what Grafana sends), else JSON.
//! `start`/`end` (unix seconds, optional) go to the backend as the window to look in
//! (the archive lists only those partitions); `end` before `start` is a 400.

use super::Authorized;
use super::error::blocking;
use super::params::{Params, parse_trace_id, parse_trace_window};
use super::{ApiError, ApiState, json_response, protobuf_response, wants_protobuf};
use crate::tempo::jsonpb;
use crate::tempo::trace::{
    PartialStatus, Trace, TraceByIdMetrics, TraceByIdResponse, build_trace_within,
};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use tracegate_model::Span;

/// What the lookup over every tenant found.
struct Found {
    spans: Vec<Span>,
    partial: Vec<String>,
    bytes: u64,
}

async fn lookup(
    state: &ApiState,
    headers: &HeaderMap,
    authorized: &Authorized,
    id: &str,
    params: &Params,
) -> Result<Option<Found>, ApiError> {
    let tenants = state.tenants(headers, authorized)?;
    let id = parse_trace_id(id)?;
    let window = parse_trace_window(params)?;
    let backend = state.backend().clone();
    blocking(move || {
        let mut found: Option<Found> = None;
        for tenant in tenants.as_slice() {
            if let Some(lookup) = backend.trace(tenant, &id, window)? {
                let f = found.get_or_insert_with(|| Found {
                    spans: Vec::new(),
                    partial: Vec::new(),
                    bytes: 0,
                });
                f.bytes += lookup
                    .spans
                    .iter()
                    .map(|s| s.estimated_bytes() as u64)
                    .sum::<u64>();
                f.spans.extend(lookup.spans);
                if let Some(why) = lookup.partial {
                    f.partial.push(why);
                }
            }
        }
        Ok(found.filter(|f| !f.spans.is_empty()))
    })
    .await
}

/// `GET /api/traces/{id}`.
pub async fn trace_v1(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Extension(authorized): Extension<Authorized>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs);
    let Some(found) = lookup(&state, &headers, &authorized, &id, &params).await? else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let max = state.config().max_trace_bytes.as_usize();
    let (trace, cut) = blocking(move || Ok(build_trace_within(found.spans, max))).await?;
    if cut {
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: format!("trace exceeds max size (max bytes: {max})"),
        });
    }
    Ok(encode_v1(&trace, wants_protobuf(&headers)))
}

fn encode_v1(trace: &Trace, protobuf: bool) -> Response {
    if protobuf {
        protobuf_response(trace.encode_to_vec())
    } else {
        json_response(&jsonpb::trace_v1(trace))
    }
}

/// `GET /api/v2/traces/{id}`.
pub async fn trace_v2(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    Extension(authorized): Extension<Authorized>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs);
    let found = lookup(&state, &headers, &authorized, &id, &params).await?;
    let max = state.config().max_trace_bytes.as_usize();
    let response = match found {
        None => TraceByIdResponse {
            trace: Some(Trace::default()),
            metrics: Some(TraceByIdMetrics::default()),
            ..Default::default()
        },
        Some(found) => {
            let Found {
                spans,
                mut partial,
                bytes,
            } = found;
            let (trace, cut) = blocking(move || Ok(build_trace_within(spans, max))).await?;
            if cut {
                partial.push(format!(
                    "Trace exceeds maximum size of {max} bytes, a partial trace is returned"
                ));
            }
            TraceByIdResponse {
                trace: Some(trace),
                metrics: Some(TraceByIdMetrics {
                    inspected_bytes: bytes,
                }),
                status: if partial.is_empty() {
                    PartialStatus::Complete
                } else {
                    PartialStatus::Partial
                } as i32,
                message: partial.join("; "),
            }
        }
    };
    Ok(if wants_protobuf(&headers) {
        protobuf_response(response.encode_to_vec())
    } else {
        json_response(&jsonpb::trace_by_id_v2(&response))
    })
}
