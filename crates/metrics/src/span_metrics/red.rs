//! [`Red`]: span RED metrics, `traces.spanmetrics.calls` and `traces.spanmetrics.latency`,
//! by service, span name, kind and status code plus the configured dimensions.
//!
//! Both families share one [`SeriesTable`] (calls is the latency histogram's count), so a
//! span costs one lookup. A dimension is read from the span's attributes, else from its
//! resource's; resource values are found once per resource per `observe` call
//! ([`ResourceDims`]). Non-string values are rendered (`42`, `true`) into reused buffers, so
//! the hit path does not allocate.

use super::config::{HistogramKind, MAX_DIMENSIONS, SpanMetricsConfig};
use super::histogram::{ExplicitHist, ExpoHist, Origin};
use super::store::{HeapSize, KeyHasher, SeriesTable};
use crate::snapshot::{Family, Kind, Value};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use std::sync::Arc;
use tracegate_model::{Resource, Span, SpanKind, StatusCode, attr};

/// `traces.spanmetrics.calls`'s Prometheus name.
pub const CALLS: &str = "traces_spanmetrics_calls";
/// `traces.spanmetrics.latency`'s Prometheus name.
pub const LATENCY: &str = "traces_spanmetrics_latency";

/// The label value of a span kind, as the Collector's `spanmetrics` writes it.
pub fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "SPAN_KIND_UNSPECIFIED",
        SpanKind::Internal => "SPAN_KIND_INTERNAL",
        SpanKind::Server => "SPAN_KIND_SERVER",
        SpanKind::Client => "SPAN_KIND_CLIENT",
        SpanKind::Producer => "SPAN_KIND_PRODUCER",
        SpanKind::Consumer => "SPAN_KIND_CONSUMER",
    }
}

/// The label value of a status code; an unknown code counts as unset.
pub fn status_name(code: i32) -> &'static str {
    STATUS_NAMES[status_index(code)]
}

const STATUS_NAMES: [&str; 3] = ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];

/// The position of a status code's label value in [`STATUS_NAMES`]: what the hash uses, so
/// two codes with one label value are one series.
fn status_index(code: i32) -> usize {
    match StatusCode::try_from(code) {
        Ok(StatusCode::Ok) => 1,
        Ok(StatusCode::Error) => 2,
        _ => 0,
    }
}

/// A RED series' latency histogram.
#[derive(Debug, Clone, PartialEq)]
pub enum Latency {
    /// Explicit bounds.
    Explicit(ExplicitHist),
    /// Base-2 exponential.
    Exponential(ExpoHist),
}

impl Latency {
    fn record(&mut self, seconds: f64, origin: &Origin) {
        match self {
            Latency::Explicit(h) => h.record(seconds, origin),
            Latency::Exponential(h) => h.record(seconds, origin),
        }
    }

    /// Number of spans.
    pub fn count(&self) -> u64 {
        match self {
            Latency::Explicit(h) => h.count(),
            Latency::Exponential(h) => h.count(),
        }
    }
}

impl HeapSize for Latency {
    fn heap_bytes(&self) -> usize {
        match self {
            Latency::Explicit(h) => h.heap_bytes(),
            Latency::Exponential(h) => h.heap_bytes(),
        }
    }
}

/// The dimension values of the resources seen in one `observe` call, by resource pointer.
/// Only valid while the traces it was filled from are borrowed, hence per call.
#[derive(Debug, Default)]
pub struct ResourceDims<'a> {
    entries: Vec<(usize, [Option<&'a AnyValue>; MAX_DIMENSIONS])>,
}

/// Resources remembered per call; past it the cache starts over.
const MAX_RESOURCES: usize = 64;

impl<'a> ResourceDims<'a> {
    fn get(&mut self, resource: &'a Resource, dims: &[String]) -> &[Option<&'a AnyValue>] {
        let ptr = resource as *const Resource as usize;
        let found = self.entries.iter().rposition(|(p, _)| *p == ptr);
        let i = match found {
            Some(i) => i,
            None => {
                if self.entries.len() >= MAX_RESOURCES {
                    self.entries.clear();
                }
                let mut values = [None; MAX_DIMENSIONS];
                for (slot, d) in values.iter_mut().zip(dims) {
                    *slot = attr::get(&resource.attributes, d);
                }
                self.entries.push((ptr, values));
                self.entries.len() - 1
            }
        };
        match self.entries.get(i) {
            Some((_, values)) => &values[..dims.len().min(MAX_DIMENSIONS)],
            None => &[],
        }
    }
}

/// Where a dimension's value is, for one span.
#[derive(Debug, Clone, Copy)]
enum Found<'a> {
    Absent,
    Str(&'a str),
    Rendered,
}

/// The RED series.
#[derive(Debug)]
pub struct Red {
    table: SeriesTable<Latency>,
    dims: Box<[String]>,
    kind: HistogramKind,
    bounds: Arc<[f64]>,
    max_size: usize,
    exemplars: bool,
    /// Rendered non-string dimension values, one buffer per dimension.
    rendered: Vec<String>,
    /// With multi-tenancy: a last `tenant` label, the span's tenant.
    tenant: bool,
}

impl Red {
    /// Empty RED series for `config` (dimensions past [`MAX_DIMENSIONS`] are ignored;
    /// validation refuses them).
    pub fn new(config: &SpanMetricsConfig, bounds: Arc<[f64]>) -> Self {
        let dims: Box<[String]> = config
            .dimensions
            .iter()
            .take(MAX_DIMENSIONS)
            .cloned()
            .collect();
        let mut keys: Vec<&str> = vec!["service", "span_name", "span_kind", "status_code"];
        keys.extend(dims.iter().map(String::as_str));
        if config.tenant_label {
            keys.push("tenant");
        }
        Self {
            tenant: config.tenant_label,
            table: SeriesTable::new(&keys, config.max_series_per_metric, &[CALLS, LATENCY]),
            rendered: vec![String::new(); dims.len()],
            dims,
            kind: config.histogram.kind,
            bounds,
            max_size: config.histogram.max_size,
            exemplars: config.exemplars,
        }
    }

    /// Records one span seen at `now`.
    #[inline]
    pub fn record<'a>(&mut self, span: &'a Span, now: u64, resources: &mut ResourceDims<'a>) {
        let mut found = [Found::Absent; MAX_DIMENSIONS];
        if !self.dims.is_empty() {
            let from_resource = resources.get(&span.resource, &self.dims);
            for (i, d) in self.dims.iter().enumerate() {
                let value = attr::get(&span.attributes, d)
                    .or_else(|| from_resource.get(i).copied().flatten());
                found[i] = match value {
                    None => Found::Absent,
                    Some(AnyValue::StringValue(s)) => Found::Str(s),
                    Some(other) => {
                        if let Some(buf) = self.rendered.get_mut(i) {
                            buf.clear();
                            attr::render_into(Some(other), buf);
                        }
                        Found::Rendered
                    }
                };
            }
        }
        let mut key: [Option<&str>; 5 + MAX_DIMENSIONS] = [None; 5 + MAX_DIMENSIONS];
        key[0] = Some(span.service_name());
        key[1] = Some(&span.name);
        key[2] = Some(kind_name(span.kind));
        key[3] = Some(status_name(span.status.code));
        for (i, f) in found.iter().take(self.dims.len()).enumerate() {
            key[4 + i] = match f {
                Found::Absent => None,
                Found::Str(s) => Some(s),
                Found::Rendered => self.rendered.get(i).map(String::as_str),
            };
        }
        let mut len = 4 + self.dims.len();
        if self.tenant {
            key[len] = Some(span.tenant());
            len += 1;
        }
        let key = &key[..len];
        // Kind and status come from small fixed sets: hashed as numbers, compared as names.
        let mut h = KeyHasher::default();
        h.push(key[0]);
        h.push(key[1]);
        h.push_tag(span.kind as u8);
        h.push_tag(status_index(span.status.code) as u8);
        for v in &key[4..] {
            h.push(*v);
        }
        let hash = h.finish();
        let (kind, bounds, max_size, exemplars) =
            (self.kind, &self.bounds, self.max_size, self.exemplars);
        let latency = self.table.get(hash, key, now, || match kind {
            HistogramKind::Explicit => {
                Latency::Explicit(ExplicitHist::new(bounds.clone(), exemplars))
            }
            HistogramKind::Exponential => Latency::Exponential(ExpoHist::new(max_size, exemplars)),
        });
        let origin = Origin {
            trace_id: span.trace_id.0,
            span_id: span.span_id.0,
            time_unix_nano: now,
        };
        latency.record(span.duration_ns() as f64 / 1e9, &origin);
    }

    /// The series table.
    pub fn table(&self) -> &SeriesTable<Latency> {
        &self.table
    }

    /// The series table, to expire and flush.
    pub fn table_mut(&mut self) -> &mut SeriesTable<Latency> {
        &mut self.table
    }

    /// The two families.
    pub fn families(&self) -> [Family; 2] {
        let calls = Family {
            otel_name: "traces.spanmetrics.calls",
            prom_name: CALLS,
            help: "Spans seen, by service, span name, kind and status code.",
            unit: "{call}",
            kind: Kind::Counter,
            series: self
                .table
                .snapshot(|l| Some(Value::Counter(l.count() as f64))),
        };
        let latency = Family {
            otel_name: "traces.spanmetrics.latency",
            prom_name: LATENCY,
            help: "Span duration, by service, span name, kind and status code.",
            unit: "s",
            kind: match self.kind {
                HistogramKind::Explicit => Kind::Histogram,
                HistogramKind::Exponential => Kind::Exponential,
            },
            series: self.table.snapshot(|l| {
                Some(match l {
                    Latency::Explicit(h) => Value::Histogram(h.snapshot()),
                    Latency::Exponential(h) => Value::Exponential(h.snapshot()),
                })
            }),
        };
        [calls, latency]
    }
}
