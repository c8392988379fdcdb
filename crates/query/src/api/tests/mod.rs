//! Router-level tests over an in-memory [`Backend`] with hand-built traces.
//!
//! - `strict`: serde mirrors of `tempo.proto@87c2dc380c` with unknown fields denied, so a
//!   response field outside Grafana's schema fails the test as it would fail Grafana;
//! - `traces`: trace by id, v1 and v2, protobuf and JSON, with Grafana's invariants;
//! - `search`: the Grafana queries of TEMPO_API.md §4.2, legacy parameters, 400s;
//! - `tags`: tag names and values;
//! - `tenancy`: 401 without a tenant, isolation, federation.

mod search;
mod sql;
mod strict;
mod tags;
mod tenancy;
mod traces;

use super::{
    ApiConfig, ApiState, Backend, BackendError, ScanRequest, ScanStats, TraceLookup, router,
};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use tower::ServiceExt as _;
use tracegate_model::proto::common::v1::KeyValue;
pub use tracegate_model::{
    Resource, Scope, Span, SpanId, SpanKind, Status, StatusCode as Code, TraceId, attr, keys,
};

/// Now in seconds, fixed once per test process, so the default search window (the last
/// hour) covers the data.
pub fn now_s() -> u64 {
    static NOW: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NOW.get_or_init(|| crate::api::params::now_ns() / S)
}
/// A second in ns.
pub const S: u64 = 1_000_000_000;
/// A millisecond in ns.
pub const MS: u64 = 1_000_000;

/// Storage blocks of spans, newest block first, as the hot store holds them.
#[derive(Default)]
pub struct MemoryBackend {
    pub blocks: Vec<Vec<Span>>,
    pub partial: Option<String>,
    pub fail: Option<String>,
    /// The requests `scan` received.
    pub scans: Mutex<Vec<(String, ScanRequest)>>,
    /// The windows `trace` received.
    pub trace_windows: Mutex<Vec<Option<(u64, u64)>>>,
}

impl MemoryBackend {
    pub fn new(spans: Vec<Span>) -> Self {
        Self {
            blocks: vec![spans],
            ..Default::default()
        }
    }
}

impl Backend for MemoryBackend {
    fn trace(
        &self,
        tenant: &str,
        id: &TraceId,
        window: Option<(u64, u64)>,
    ) -> Result<Option<TraceLookup>, BackendError> {
        self.trace_windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(window);
        if let Some(f) = &self.fail {
            return Err(BackendError::new(f.clone()));
        }
        let spans: Vec<Span> = self
            .blocks
            .iter()
            .flatten()
            .filter(|s| s.tenant() == tenant && s.trace_id == *id)
            .cloned()
            .collect();
        Ok((!spans.is_empty()).then(|| TraceLookup {
            spans,
            partial: self.partial.clone(),
        }))
    }

    fn scan(
        &self,
        tenant: &str,
        request: &ScanRequest,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<ScanStats, BackendError> {
        if let Some(f) = &self.fail {
            return Err(BackendError::new(f.clone()));
        }
        self.scans
            .lock()
            .unwrap()
            .push((tenant.to_owned(), request.clone()));
        let mut stats = ScanStats::default();
        for block in &self.blocks {
            stats.blocks += 1;
            let mut by_trace: BTreeMap<TraceId, Vec<Span>> = BTreeMap::new();
            for s in block.iter().filter(|s| s.tenant() == tenant) {
                by_trace.entry(s.trace_id).or_default().push(s.clone());
            }
            let mut traces: Vec<Vec<Span>> = by_trace
                .into_values()
                .filter(|t| {
                    t.iter().any(|s| {
                        s.start_time_unix_nano <= request.end_ns
                            && s.end_time_unix_nano >= request.start_ns
                    })
                })
                .collect();
            traces
                .sort_by_key(|t| std::cmp::Reverse(t.iter().map(|s| s.start_time_unix_nano).min()));
            for t in traces {
                stats.inspected_traces += 1;
                stats.inspected_spans += t.len() as u64;
                stats.inspected_bytes += t.iter().map(|s| s.estimated_bytes() as u64).sum::<u64>();
                if visit(&t).is_break() {
                    return Ok(stats);
                }
            }
        }
        Ok(stats)
    }
}

/// Builds spans of one trace.
pub struct TraceBuilder {
    pub id: TraceId,
    pub tenant: Option<Arc<str>>,
    pub spans: Vec<Span>,
}

impl TraceBuilder {
    /// A trace with the given id byte pattern.
    pub fn new(id: TraceId) -> Self {
        Self {
            id,
            tenant: None,
            spans: Vec::new(),
        }
    }

    pub fn tenant(mut self, tenant: &str) -> Self {
        self.tenant = Some(Arc::from(tenant));
        self
    }

    /// Adds a span: `parent` is the index of an earlier span; start/duration in ms relative
    /// to a minute ago.
    #[allow(clippy::too_many_arguments)]
    pub fn span(
        mut self,
        service: &str,
        name: &str,
        parent: Option<usize>,
        start_ms: u64,
        duration_ms: u64,
        error: bool,
        attributes: Vec<KeyValue>,
    ) -> Self {
        let mut resource = Resource::with_service(service);
        resource.tenant = self.tenant.clone();
        let n = self.spans.len() as u8 + 1;
        let start = (now_s() - 60) * S + start_ms * MS;
        self.spans.push(Span {
            resource: Arc::new(resource),
            scope: Arc::new(Scope {
                name: "test-lib".into(),
                ..Default::default()
            }),
            trace_id: self.id,
            span_id: SpanId([0x10, 0, 0, 0, 0, 0, self.id.0[15], n]),
            parent_span_id: parent.map(|p| self.spans[p].span_id),
            trace_state: String::new(),
            flags: 0,
            name: name.into(),
            kind: if parent.is_none() {
                SpanKind::Server
            } else {
                SpanKind::Client
            },
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration_ms * MS,
            attributes,
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            status: Status {
                code: if error {
                    Code::Error as i32
                } else {
                    Code::Unset as i32
                },
                message: if error { "boom".into() } else { String::new() },
            },
            facts: Default::default(),
            origin: Default::default(),
        });
        self
    }

    /// Sets the last span's kind.
    pub fn kind(mut self, kind: SpanKind) -> Self {
        if let Some(s) = self.spans.last_mut() {
            s.kind = kind;
        }
        self
    }

    /// Replaces the last span's resource attributes (keeping its service name).
    pub fn resource_attrs(mut self, attrs: Vec<KeyValue>) -> Self {
        if let Some(s) = self.spans.last_mut() {
            let mut r = (*s.resource).clone();
            r.attributes.extend(attrs);
            s.resource = Arc::new(r);
        }
        self
    }

    pub fn build(self) -> Vec<Span> {
        self.spans
    }
}

/// A trace id from a number (big-endian in the low bytes), with a non-zero high half.
pub fn tid(n: u8) -> TraceId {
    let mut id = [0u8; 16];
    id[0] = 0x0a;
    id[15] = n;
    TraceId(id)
}

/// A router over spans with the default config.
pub fn app(spans: Vec<Span>) -> axum::Router {
    app_with(MemoryBackend::new(spans), ApiConfig::default())
}

pub fn app_with(backend: MemoryBackend, config: ApiConfig) -> axum::Router {
    router(ApiState::new(Arc::new(backend), config))
}

/// A router with multi-tenancy on over two one-span traces, `tid(1)` and `tid(2)`, each of
/// its own tenant: `(tenant, service, span name, start)` for each.
pub fn two_tenant_app(traces: [(&str, &str, &str, u64); 2]) -> axum::Router {
    let spans = traces
        .iter()
        .zip([tid(1), tid(2)])
        .flat_map(|(&(tenant, service, name, start), id)| {
            TraceBuilder::new(id)
                .tenant(tenant)
                .span(service, name, None, start, 10, false, vec![])
                .build()
        })
        .collect();
    let config = ApiConfig {
        multitenancy_enabled: true,
        ..Default::default()
    };
    app_with(MemoryBackend::new(spans), config)
}

/// A response's status, content type and body.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// GET `uri` with headers.
pub async fn get(app: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::get(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
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
    Reply {
        status,
        content_type,
        body,
    }
}

/// Percent-encodes a query-string value.
pub fn enc(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The window parameters covering the test data.
pub fn window() -> String {
    format!("start={}&end={}", now_s() - 3600, now_s() + 60)
}

pub use tracegate_model::attr as a;

#[tokio::test]
async fn echo_and_buildinfo() {
    let app = app(vec![]);
    let reply = get(&app, "/api/echo", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "echo\n");
    assert!(reply.content_type.starts_with("text/plain"));
    let reply = get(&app, "/api/status/buildinfo", &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["version"], "2.9.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_over_a_real_listener() {
    use std::io::{Read as _, Write as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app(vec![])).await.unwrap();
    });
    let reply = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /api/v2/traces/abc HTTP/1.1\r\nHost: x\r\nAccept: application/protobuf\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    server.abort();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("content-type: application/protobuf"),
        "{text}"
    );
    assert!(reply.ends_with(&[0x0a, 0x00, 0x12, 0x00]), "{reply:?}");
}
