//! Tag names and tag values, from scanning recent data through the [`super::Backend`]:
//! `GET /api/v2/search/tags`, `GET /api/search/tags`, `GET /api/v2/search/tag/{tag}/values`
//! and `GET /api/search/tag/{tag}/values` (TEMPO_API.md §2.4, §2.5).
//!
//! Scans are bounded ([`super::ApiConfig`]): at most `tags_max_traces` traces (or fragments)
//! per request, at most `tags_max_values` distinct names per scope or distinct values (and
//! the request's `limit`), and at most `tags_max_bytes` of names or values held. Hitting a
//! bound ends the scan with what was found.
//!
//! A `q` filter restricts the spans looked at to those its spansets match, when it parses;
//! a query that does not parse (Grafana sends incomplete ones while the user types) is
//! ignored, as Tempo ignores it. Intrinsics are not scanned: `status`/`kind` have Tempo's
//! fixed `keyword` values, durations none.

pub mod collect;

use super::error::blocking;
use super::params::{Params, parse_positive, parse_window};
use super::tql::{self, Attribute, Query};
use super::{ApiError, ApiState, Authorized, ScanRequest, Tenants, json_response};
use crate::tempo::tags::{
    MetadataMetrics, SearchTagValuesResponse, SearchTagValuesV2Response, SearchTagsResponse,
    SearchTagsV2Response, SearchTagsV2Scope, TagValue,
};
use axum::Extension;
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use collect::{Bounds, NameCollector, ValueCollector};

/// The intrinsics Tempo lists in the `intrinsic` scope (`search.GetVirtualIntrinsicValues`).
pub const INTRINSICS: &[&str] = &[
    "duration",
    "name",
    "status",
    "statusMessage",
    "kind",
    "rootServiceName",
    "rootName",
    "traceDuration",
    "event:name",
    "event:timeSinceStart",
    "link:spanID",
    "link:traceID",
    "instrumentation:name",
    "instrumentation:version",
    "trace:id",
    "span:id",
    "span:parentID",
    "span:status",
    "span:statusMessage",
    "span:duration",
    "span:name",
    "span:kind",
    "trace:rootName",
    "trace:rootService",
    "trace:duration",
];

/// Attribute scopes, in the order responses list them.
pub const SCOPES: &[&str] = &["resource", "span", "event", "link", "instrumentation"];

/// Tempo's values of `status` (`keyword`).
pub const STATUS_VALUES: &[&str] = &["error", "ok", "unset"];
/// Tempo's values of `kind` (`keyword`).
pub const KIND_VALUES: &[&str] = &[
    "client",
    "consumer",
    "internal",
    "producer",
    "server",
    "unspecified",
];

/// What a tags request scans.
struct Scan {
    tenants: Tenants,
    request: ScanRequest,
    filter: Option<Query>,
    bounds: Bounds,
}

fn scan_of(
    state: &ApiState,
    headers: &HeaderMap,
    authorized: &Authorized,
    params: &Params,
) -> Result<Scan, ApiError> {
    let tenants = state.tenants(headers, authorized)?;
    let config = state.config();
    let (start_ns, end_ns) = parse_window(
        params,
        config.default_search_window.get(),
        Some(config.max_search_range.get()),
    )?;
    let limit = parse_positive(params, "limit")?;
    // Only a query that parses filters; `{}` filters nothing.
    let filter = params
        .get("q")
        .filter(|q| !q.trim().is_empty() && q.trim() != "{}")
        .and_then(|q| tql::parse(q).ok());
    let hints = filter.as_ref().map(Query::hints).unwrap_or_default();
    let max_values = limit.map_or(config.tags_max_values, |l| {
        (l as usize).min(config.tags_max_values)
    });
    Ok(Scan {
        tenants,
        request: ScanRequest {
            start_ns,
            end_ns,
            hints,
            floor: Default::default(),
        },
        filter,
        bounds: Bounds {
            max_traces: config.tags_max_traces,
            max_values,
            max_bytes: config.tags_max_bytes.as_usize(),
        },
    })
}

/// Runs the scan of every tenant into `collector`, within the bounds.
async fn run_scan<C: collect::Collect + Send + 'static>(
    state: &ApiState,
    scan: Scan,
    mut collector: C,
) -> Result<(MetadataMetrics, C), ApiError> {
    let backend = state.backend().clone();
    blocking(move || {
        let mut metrics = MetadataMetrics::default();
        let mut traces = 0u64;
        for tenant in scan.tenants.as_slice() {
            if traces >= scan.bounds.max_traces || collector.full() {
                break;
            }
            let stats = backend.scan(tenant, &scan.request, &mut |spans| {
                traces += 1;
                collect::visit(&mut collector, scan.filter.as_ref(), spans);
                if traces >= scan.bounds.max_traces || collector.full() {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })?;
            metrics.inspected_bytes = metrics
                .inspected_bytes
                .saturating_add(stats.inspected_bytes);
            metrics.total_blocks = metrics.total_blocks.saturating_add(stats.blocks);
            metrics.total_jobs += 1;
            metrics.completed_jobs += 1;
        }
        Ok((metrics, collector))
    })
    .await
}

fn params_of(pairs: Vec<(String, String)>) -> Params {
    Params::new(pairs)
}

/// The `scope` parameter of the tags endpoints: `None` for all scopes.
fn parse_scope(params: &Params) -> Result<Option<&str>, ApiError> {
    match params.get("scope") {
        None | Some("none") => Ok(None),
        Some(s) if s == "intrinsic" || SCOPES.contains(&s) => Ok(Some(s)),
        Some(other) => Err(ApiError::bad_request(format!("invalid scope: {other}"))),
    }
}

/// `GET /api/v2/search/tags`.
pub async fn tags_v2(
    State(state): State<ApiState>,
    Extension(authorized): Extension<Authorized>,
    headers: HeaderMap,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = params_of(pairs);
    let scope = parse_scope(&params)?.map(str::to_owned);
    let scan = scan_of(&state, &headers, &authorized, &params)?;
    let mut response = SearchTagsV2Response::default();
    if scope.as_deref() != Some("intrinsic") {
        let collector = NameCollector::new(scan.bounds);
        let (metrics, collector) = run_scan(&state, scan, collector).await?;
        response.metrics = metrics;
        let names = collector.into_names();
        for (name, tags) in SCOPES.iter().zip(names) {
            if scope.as_deref().is_some_and(|s| s != *name) || tags.is_empty() {
                continue;
            }
            response.scopes.push(SearchTagsV2Scope {
                name: (*name).to_owned(),
                tags,
            });
        }
    }
    if scope.is_none() || scope.as_deref() == Some("intrinsic") {
        response.scopes.push(SearchTagsV2Scope {
            name: "intrinsic".into(),
            tags: INTRINSICS.iter().map(|s| (*s).to_owned()).collect(),
        });
    }
    Ok(json_response(&response))
}

/// `GET /api/search/tags`: span and resource attribute names in one list (intrinsics only
/// with `scope=intrinsic`).
pub async fn tags_v1(
    State(state): State<ApiState>,
    Extension(authorized): Extension<Authorized>,
    headers: HeaderMap,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = params_of(pairs);
    let scope = parse_scope(&params)?.map(str::to_owned);
    let scan = scan_of(&state, &headers, &authorized, &params)?;
    let mut response = SearchTagsResponse::default();
    if scope.as_deref() == Some("intrinsic") {
        response.tag_names = INTRINSICS.iter().map(|s| (*s).to_owned()).collect();
        // Tempo's v1 list is sorted.
        response.tag_names.sort();
        return Ok(json_response(&response));
    }
    let collector = NameCollector::new(scan.bounds);
    let (metrics, collector) = run_scan(&state, scan, collector).await?;
    response.metrics = metrics;
    let mut all = std::collections::BTreeSet::new();
    for (name, tags) in SCOPES.iter().zip(collector.into_names()) {
        let wanted = match scope.as_deref() {
            None => *name == "resource" || *name == "span",
            Some(s) => s == *name,
        };
        if wanted {
            all.extend(tags);
        }
    }
    response.tag_names = all.into_iter().collect();
    Ok(json_response(&response))
}

/// The tag of a `…/tag/{tag}/values` path (the tag may contain `/`).
fn tag_of(rest: &str) -> Option<&str> {
    rest.strip_suffix("/values").filter(|t| !t.is_empty())
}

/// Values some intrinsics always have (or never list), without scanning.
fn fixed_values(tag: &str, attribute: &Attribute) -> Option<Vec<TagValue>> {
    let key = attribute.output_key();
    let names = [tag, key.as_str()];
    let is = |wanted: &[&str]| attribute.is_intrinsic() && names.iter().any(|n| wanted.contains(n));
    let keywords = |values: &[&str]| {
        values
            .iter()
            .map(|v| TagValue {
                kind: "keyword".into(),
                value: (*v).to_owned(),
            })
            .collect()
    };
    if is(&["status", "span:status"]) {
        Some(keywords(STATUS_VALUES))
    } else if is(&["kind", "span:kind"]) {
        Some(keywords(KIND_VALUES))
    } else if is(&[
        "duration",
        "span:duration",
        "traceDuration",
        "trace:duration",
    ]) {
        Some(Vec::new())
    } else {
        None
    }
}

/// `GET /api/v2/search/tag/{tag}/values`.
pub async fn tag_values_v2(
    State(state): State<ApiState>,
    Path(rest): Path<String>,
    Extension(authorized): Extension<Authorized>,
    headers: HeaderMap,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Some(tag) = tag_of(&rest) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let params = params_of(pairs);
    let scan = scan_of(&state, &headers, &authorized, &params)?;
    let attribute = tql::parse_identifier(tag)
        .map_err(|e| ApiError::bad_request(format!("invalid tag {tag:?}: {e}")))?;
    if let Some(values) = fixed_values(tag, &attribute) {
        return Ok(json_response(&SearchTagValuesV2Response {
            tag_values: values,
            metrics: MetadataMetrics::default(),
        }));
    }
    let collector = ValueCollector::typed(attribute, scan.bounds);
    let (metrics, collector) = run_scan(&state, scan, collector).await?;
    Ok(json_response(&SearchTagValuesV2Response {
        tag_values: collector.into_values(),
        metrics,
    }))
}

/// `GET /api/search/tag/{tag}/values`: values of a span or resource attribute, as text;
/// `status.code` and `error` are Tempo's v1 virtual tags.
pub async fn tag_values_v1(
    State(state): State<ApiState>,
    Path(rest): Path<String>,
    Extension(authorized): Extension<Authorized>,
    headers: HeaderMap,
    QueryParams(pairs): QueryParams<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let Some(tag) = tag_of(&rest).map(str::to_owned) else {
        return Ok(StatusCode::NOT_FOUND.into_response());
    };
    let params = params_of(pairs);
    let scan = scan_of(&state, &headers, &authorized, &params)?;
    let fixed: Option<&[&str]> = match tag.as_str() {
        "status.code" => Some(&["error", "ok", "unset"]),
        "error" => Some(&["true"]),
        _ => None,
    };
    if let Some(values) = fixed {
        return Ok(json_response(&SearchTagValuesResponse {
            tag_values: values.iter().map(|v| (*v).to_owned()).collect(),
            metrics: MetadataMetrics::default(),
        }));
    }
    let collector = ValueCollector::plain(tag, scan.bounds);
    let (metrics, collector) = run_scan(&state, scan, collector).await?;
    Ok(json_response(&SearchTagValuesResponse {
        tag_values: collector
            .into_values()
            .into_iter()
            .map(|v| v.value)
            .collect(),
        metrics,
    }))
}
