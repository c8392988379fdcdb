//! `GET /api/search`: TraceQL search (`q`), and the legacy tag search (`tags`,
//! `minDuration`, `maxDuration`) translated into the same TraceQL evaluation.
//!
//! - [`request`] reads the parameters with Tempo's rules and 400 messages;
//! - [`collect`] scans each tenant through the [`super::Backend`], newest first, evaluating
//!   each trace and merging fragments of one trace found in different blocks;
//! - [`response`] turns the matching traces into `tempopb.SearchResponse`.
//!
//! Results are at most `limit` traces, newest first by start time, one per trace id.

pub mod collect;
pub mod request;
pub mod response;

use super::Authorized;
use super::error::blocking;
use super::params::Params;
use super::{ApiError, ApiState, ScanRequest, ScanStats, json_response};
use crate::tempo::search::{SearchMetrics, SearchResponse};
use axum::Extension;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

/// `GET /api/search`.
pub async fn search(
    State(state): State<ApiState>,
    Extension(authorized): Extension<Authorized>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let tenants = state.tenants(&headers, &authorized)?;
    let request = request::SearchRequest::parse(&Params::new(pairs), state.config())?;
    tracing::debug!(query = %request.text, limit = request.limit, spss = request.spss, "search");
    let backend = state.backend().clone();
    let max_pending = state.config().search_max_pending_spans;
    let response = blocking(move || {
        let scan = ScanRequest {
            start_ns: request.start_ns,
            end_ns: request.end_ns,
            hints: request.query.hints(),
            floor: Default::default(),
        };
        let mut stats = ScanStats::default();
        let mut traces = Vec::new();
        let mut jobs = 0u32;
        for tenant in tenants.as_slice() {
            let mut collector = collect::Collector::new(
                &request.query,
                request.limit as usize,
                max_pending,
                scan.floor.clone(),
            );
            stats.add(backend.scan(tenant, &scan, &mut |spans| collector.visit(spans))?);
            jobs += 1;
            traces.extend(
                collector
                    .finish()
                    .iter()
                    .filter_map(|trace| response::metadata(trace, &request.query, request.spss)),
            );
        }
        let traces = response::newest_first(traces, request.limit as usize);
        Ok(SearchResponse {
            traces,
            metrics: SearchMetrics {
                inspected_traces: u32::try_from(stats.inspected_traces).unwrap_or(u32::MAX),
                inspected_bytes: stats.inspected_bytes,
                total_blocks: stats.blocks,
                completed_jobs: jobs,
                total_jobs: jobs,
                total_block_bytes: 0,
                inspected_spans: stats.inspected_spans,
            },
        })
    })
    .await?;
    Ok(json_response(&response))
}
