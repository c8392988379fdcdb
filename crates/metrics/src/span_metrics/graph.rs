//! [`ServiceGraph`]: request counts and latency between calling and called services, as
//! Tempo's metrics-generator names them (`traces_service_graph_request_total`, `…_failed_total`,
//! `…_server_seconds`, `…_client_seconds`), so Grafana's service-graph view works.
//!
//! Edges, per trace:
//! - a SERVER (or CONSUMER) span whose parent is a CLIENT (or PRODUCER) span of another
//!   service: client = the parent's service, server = the span's, `connection_type` `""`
//!   (`messaging_system` for a producer or consumer); client latency = the parent's duration,
//!   server latency = the span's;
//! - a CLIENT span with no SERVER child, in a whole trace (not a fragment, whose children may
//!   be elsewhere): a virtual server named by the first of `peer.service`,
//!   `gen_ai.provider.name`, `db.system`, `db.system.name`, `server.address` (none: no
//!   edge), `connection_type="virtual_node"`; only the client latency is known;
//! - a root SERVER span: client `user`, `connection_type="virtual_node"`; only the server
//!   latency is known.
//!
//! An edge fails when either side has ERROR status. The four families share one
//! [`SeriesTable`]; each series always has both histograms (one may be empty for a virtual
//! node) and both counters.

use super::genai::maker;
use super::histogram::{ExplicitHist, Origin};
use super::store::{HeapSize, KeyHasher, SeriesTable};
use crate::snapshot::{Family, Kind, Value};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use tracegate_model::{Span, SpanId, SpanKind, Trace, attr, keys};

/// Tempo's service-graph latency bounds, s.
pub const GRAPH_BUCKETS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];

/// Prometheus names of the four families.
pub const REQUEST_TOTAL: &str = "traces_service_graph_request";
/// Failed requests.
pub const REQUEST_FAILED: &str = "traces_service_graph_request_failed";
/// Server-side latency.
pub const REQUEST_SERVER: &str = "traces_service_graph_request_server_seconds";
/// Client-side latency.
pub const REQUEST_CLIENT: &str = "traces_service_graph_request_client_seconds";

/// Attributes naming an uninstrumented server, in order of preference.
pub const VIRTUAL_NODE_KEYS: [&str; 5] = [
    "peer.service",
    keys::GEN_AI_PROVIDER_NAME,
    "db.system",
    "db.system.name",
    "server.address",
];

/// The name of the uninstrumented server a client span called: the value of the first of
/// [`VIRTUAL_NODE_KEYS`] it has as a non-empty string (the last one, if a key repeats), found
/// in one pass over the attributes.
pub fn virtual_node(attributes: &[KeyValue]) -> Option<&str> {
    // Each key's last value, as `attr::get_str` has it.
    let mut last: [Option<&str>; VIRTUAL_NODE_KEYS.len()] = [None; VIRTUAL_NODE_KEYS.len()];
    for kv in attributes {
        if let Some(rank) = VIRTUAL_NODE_KEYS.iter().position(|k| *k == kv.key) {
            last[rank] = attr::get_str(std::slice::from_ref(kv), &kv.key);
        }
    }
    last.into_iter().flatten().find(|v| !v.is_empty())
}

/// Traces with more spans than this find parents through a map instead of a scan.
const SCAN_LIMIT: usize = 32;

/// One edge's counters and histograms.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Requests.
    pub total: u64,
    /// Requests where either side failed.
    pub failed: u64,
    /// Server-side latency.
    pub server: ExplicitHist,
    /// Client-side latency.
    pub client: ExplicitHist,
}

impl HeapSize for Edge {
    fn heap_bytes(&self) -> usize {
        self.server.heap_bytes() + self.client.heap_bytes()
    }
}

/// The service graph's series, with scratch space reused across traces.
#[derive(Debug)]
pub struct ServiceGraph {
    table: SeriesTable<Edge>,
    bounds: Arc<[f64]>,
    exemplars: bool,
    has_server_child: Vec<bool>,
    by_id: FxHashMap<SpanId, u32>,
    /// With multi-tenancy: a last `tenant` label, the tenant of the edge's spans.
    tenant: bool,
}

fn is_client_side(kind: SpanKind) -> bool {
    matches!(kind, SpanKind::Client | SpanKind::Producer)
}

impl ServiceGraph {
    /// An empty graph of at most `limit` edges; `tenant`: each edge carries a last `tenant`
    /// label.
    pub fn new(limit: usize, exemplars: bool, tenant: bool) -> Self {
        let keys: &[&str] = if tenant {
            &["client", "server", "connection_type", "tenant"]
        } else {
            &["client", "server", "connection_type"]
        };
        Self {
            tenant,
            table: SeriesTable::new(
                keys,
                limit,
                &[
                    REQUEST_TOTAL,
                    REQUEST_FAILED,
                    REQUEST_SERVER,
                    REQUEST_CLIENT,
                ],
            ),
            bounds: Arc::from(GRAPH_BUCKETS.as_slice()),
            exemplars,
            has_server_child: Vec::new(),
            by_id: FxHashMap::default(),
        }
    }

    fn edge(
        &mut self,
        key: [&str; 3],
        failed: bool,
        client: Option<&Span>,
        server: Option<&Span>,
        now: u64,
    ) {
        // A trace is one tenant's: either side names it.
        let tenant = client.or(server).map(Span::tenant);
        let key = [Some(key[0]), Some(key[1]), Some(key[2]), tenant];
        let key = &key[..3 + usize::from(self.tenant)];
        let (bounds, exemplars) = (&self.bounds, self.exemplars);
        let edge = self.table.get(KeyHasher::of(key), key, now, || {
            let make = maker(bounds, exemplars);
            let server = make();
            Edge {
                total: 0,
                failed: 0,
                client: server.clone(),
                server,
            }
        });
        edge.total += 1;
        edge.failed += u64::from(failed);
        for (span, hist) in [(client, &mut edge.client), (server, &mut edge.server)] {
            if let Some(s) = span {
                let origin = Origin {
                    trace_id: s.trace_id.0,
                    span_id: s.span_id.0,
                    time_unix_nano: now,
                };
                hist.record(s.duration_ns() as f64 / 1e9, &origin);
            }
        }
    }

    fn parent_index(&self, spans: &[Span], parent: SpanId) -> Option<usize> {
        if spans.len() <= SCAN_LIMIT {
            spans.iter().position(|s| s.span_id == parent)
        } else {
            self.by_id.get(&parent).map(|i| *i as usize)
        }
    }

    /// Records the edges of one trace seen at `now`.
    pub fn record(&mut self, trace: &Trace, now: u64) {
        let spans = &trace.spans;
        self.has_server_child.clear();
        self.has_server_child.resize(spans.len(), false);
        self.by_id.clear();
        if spans.len() > SCAN_LIMIT {
            for (i, s) in spans.iter().enumerate() {
                // The first span of an id owns it, as with a scan.
                self.by_id.entry(s.span_id).or_insert(i as u32);
            }
        }
        for s in spans {
            if !matches!(s.kind, SpanKind::Server | SpanKind::Consumer) {
                continue;
            }
            match s.parent_span_id {
                None => {
                    if s.kind == SpanKind::Server {
                        let key = ["user", s.service_name(), "virtual_node"];
                        self.edge(key, s.is_error(), None, Some(s), now);
                    }
                }
                Some(parent) => {
                    let Some(pi) = self.parent_index(spans, parent) else {
                        continue;
                    };
                    let Some(p) = spans.get(pi) else { continue };
                    if !is_client_side(p.kind) {
                        continue;
                    }
                    if let Some(flag) = self.has_server_child.get_mut(pi) {
                        *flag = true;
                    }
                    if p.service_name() == s.service_name() {
                        continue;
                    }
                    let connection = if p.kind == SpanKind::Producer || s.kind == SpanKind::Consumer
                    {
                        "messaging_system"
                    } else {
                        ""
                    };
                    let key = [p.service_name(), s.service_name(), connection];
                    self.edge(key, p.is_error() || s.is_error(), Some(p), Some(s), now);
                }
            }
        }
        if trace.fragment.is_some() {
            return;
        }
        for (i, s) in spans.iter().enumerate() {
            if s.kind != SpanKind::Client || self.has_server_child.get(i) == Some(&true) {
                continue;
            }
            let Some(server) = virtual_node(&s.attributes) else {
                continue;
            };
            let key = [s.service_name(), server, "virtual_node"];
            self.edge(key, s.is_error(), Some(s), None, now);
        }
    }

    /// The series table.
    pub fn table_mut(&mut self) -> &mut SeriesTable<Edge> {
        &mut self.table
    }

    /// (series, heap bytes).
    pub fn size(&self) -> (usize, usize) {
        (self.table.len(), self.table.heap_bytes())
    }

    /// The four families.
    pub fn families(&self) -> [Family; 4] {
        let t = &self.table;
        [
            Family {
                otel_name: "traces.service_graph.request.total",
                prom_name: REQUEST_TOTAL,
                help: "Requests between two services (or a service and a virtual node).",
                unit: "{request}",
                kind: Kind::Counter,
                series: t.snapshot(|e| Some(Value::Counter(e.total as f64))),
            },
            Family {
                otel_name: "traces.service_graph.request.failed.total",
                prom_name: REQUEST_FAILED,
                help: "Requests between two services where either side failed.",
                unit: "{request}",
                kind: Kind::Counter,
                series: t.snapshot(|e| Some(Value::Counter(e.failed as f64))),
            },
            Family {
                otel_name: "traces.service_graph.request.server",
                prom_name: REQUEST_SERVER,
                help: "Server-side latency of requests between two services.",
                unit: "s",
                kind: Kind::Histogram,
                series: t.snapshot(|e| Some(Value::Histogram(e.server.snapshot()))),
            },
            Family {
                otel_name: "traces.service_graph.request.client",
                prom_name: REQUEST_CLIENT,
                help: "Client-side latency of requests between two services.",
                unit: "s",
                kind: Kind::Histogram,
                series: t.snapshot(|e| Some(Value::Histogram(e.client.snapshot()))),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What [`virtual_node`] must agree with: one lookup per key, in order.
    fn by_lookups(attributes: &[KeyValue]) -> Option<&str> {
        VIRTUAL_NODE_KEYS
            .iter()
            .find_map(|k| attr::get_str(attributes, k).filter(|v| !v.is_empty()))
    }

    #[test]
    fn first_key_in_order_wins() {
        let a = [
            attr::string("server.address", "10.0.0.1"),
            attr::string("db.system", "postgresql"),
            attr::string("other", "x"),
        ];
        assert_eq!(virtual_node(&a), Some("postgresql"));
        assert_eq!(virtual_node(&a[..1]), Some("10.0.0.1"));
        assert_eq!(virtual_node(&a[2..]), None);
    }

    proptest! {
        #[test]
        fn one_pass_equals_lookups(picks in proptest::collection::vec((0usize..7, 0usize..3), 0..10)) {
            let keys = ["peer.service", "gen_ai.provider.name", "db.system", "db.system.name", "server.address", "http.method", "x"];
            let attributes: Vec<KeyValue> = picks
                .iter()
                .map(|(k, v)| match v {
                    0 => attr::string(keys[*k], ""),
                    1 => attr::int(keys[*k], 3),
                    _ => attr::string(keys[*k], format!("v{k}")),
                })
                .collect();
            prop_assert_eq!(virtual_node(&attributes), by_lookups(&attributes));
        }
    }
}
