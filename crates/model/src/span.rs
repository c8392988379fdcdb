//! Spans as they travel through the pipeline, and their conversion from and to OTLP.

use crate::attr;
use crate::facts::SpanFacts;
use crate::ids::{IdError, SpanId, TraceId};
use crate::keys;
use crate::origin::Origin;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1 as proto;
use std::sync::Arc;

pub use proto::Status;
pub use proto::span::{Event, Link, SpanKind};
pub use proto::status::StatusCode;

/// The resource a span came from, shared by every span of one `ResourceSpans`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resource {
    /// The resource's attributes, as sent.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// The `schema_url` of the `ResourceSpans`.
    pub schema_url: String,
    /// `service.name`, or `unknown_service` as the OTel spec says when it is missing.
    pub service_name: String,
    /// The tenant the spans belong to, from the receiving request (`X-Scope-OrgID` when
    /// multi-tenancy is on); `None` is the single tenant, [`DEFAULT_TENANT`]. Never exported
    /// as an attribute: it decides where data is stored and who may read it back.
    pub tenant: Option<Arc<str>>,
}

/// The tenant of data received without one, as Tempo names it.
pub const DEFAULT_TENANT: &str = "single-tenant";

impl Resource {
    /// A resource with just a service name, for tests and generators.
    pub fn with_service(service: &str) -> Self {
        Self {
            attributes: vec![attr::string(keys::SERVICE_NAME, service)],
            service_name: service.to_owned(),
            ..Default::default()
        }
    }

    /// Approximate heap size of the resource with its `Arc`'s counts, for byte bounds: what a
    /// held span keeps alive when no other held span shares its resource.
    pub fn estimated_bytes(&self) -> usize {
        ARC_COUNTS
            + std::mem::size_of::<Self>()
            + self.schema_url.len()
            + self.service_name.len()
            + attr::estimated_bytes(&self.attributes)
    }

    /// The tenant's name: [`Self::tenant`], or [`DEFAULT_TENANT`].
    pub fn tenant(&self) -> &str {
        self.tenant.as_deref().unwrap_or(DEFAULT_TENANT)
    }
}

/// The strong and weak counts in front of an `Arc`'s value.
pub(crate) const ARC_COUNTS: usize = 2 * std::mem::size_of::<usize>();

/// The instrumentation scope a span came from, shared by every span of one `ScopeSpans`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    /// Instrumentation library name.
    pub name: String,
    /// Instrumentation library version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// The `schema_url` of the `ScopeSpans`.
    pub schema_url: String,
}

impl Scope {
    /// Approximate heap size of the scope with its `Arc`'s counts, for byte bounds: what a
    /// held span keeps alive when no other held span shares its scope.
    pub fn estimated_bytes(&self) -> usize {
        ARC_COUNTS
            + std::mem::size_of::<Self>()
            + self.name.len()
            + self.version.len()
            + self.schema_url.len()
            + attr::estimated_bytes(&self.attributes)
    }
}

/// One span with validated ids. Fields are moved out of the decoded OTLP request, never copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Shared resource.
    pub resource: Arc<Resource>,
    /// Shared instrumentation scope.
    pub scope: Arc<Scope>,
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C trace state.
    pub trace_state: String,
    /// W3C trace flags and OTLP's extra flag bits.
    pub flags: u32,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start, ns since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, ns since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// Span attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes the sender dropped.
    pub dropped_attributes_count: u32,
    /// Span events.
    pub events: Vec<Event>,
    /// Events the sender dropped.
    pub dropped_events_count: u32,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// Links the sender dropped.
    pub dropped_links_count: u32,
    /// Status.
    pub status: Status,
    /// What tracegate derived about the span (the latency breakdown), typed until the span
    /// leaves the gateway; see [`crate::facts`].
    pub facts: SpanFacts,
    /// The write-ahead-log record the span was logged in, if any; never exported.
    pub origin: Origin,
}

impl Span {
    /// Duration in ns; zero when the end is before the start.
    pub fn duration_ns(&self) -> u64 {
        self.end_time_unix_nano
            .saturating_sub(self.start_time_unix_nano)
    }

    /// True when the span has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_span_id.is_none()
    }

    /// True when the status is ERROR.
    pub fn is_error(&self) -> bool {
        self.status.code == StatusCode::Error as i32
    }

    /// The service that emitted the span.
    pub fn service_name(&self) -> &str {
        &self.resource.service_name
    }

    /// The tenant the span belongs to ([`Resource::tenant`]).
    pub fn tenant(&self) -> &str {
        self.resource.tenant()
    }

    /// A span attribute.
    pub fn attr(
        &self,
        key: &str,
    ) -> Option<&opentelemetry_proto::tonic::common::v1::any_value::Value> {
        attr::get(&self.attributes, key)
    }

    /// Approximate heap size of the span itself. Its resource and scope, which spans share,
    /// are not counted: see [`Resource::estimated_bytes`] and [`Scope::estimated_bytes`].
    pub fn estimated_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.name.len()
            + self.trace_state.len()
            + self.status.message.len()
            + attr::estimated_bytes(&self.attributes)
            + self
                .events
                .iter()
                .map(|e| e.name.len() + attr::estimated_bytes(&e.attributes) + 48)
                .sum::<usize>()
            + self
                .links
                .iter()
                .map(|l| attr::estimated_bytes(&l.attributes) + 64)
                .sum::<usize>()
    }

    /// Converts back to the OTLP span.
    pub fn to_proto(&self) -> proto::Span {
        self.clone().into_proto()
    }

    /// Moves [`Self::facts`] into the attributes, as `tracegate.*` keys.
    pub fn materialize_facts(&mut self) {
        let facts = std::mem::take(&mut self.facts);
        facts.write_attributes(&mut self.attributes);
    }

    /// Converts back to the OTLP span, moving the fields; [`Self::facts`] become attributes.
    pub fn into_proto(mut self) -> proto::Span {
        self.materialize_facts();
        proto::Span {
            trace_id: self.trace_id.0.to_vec(),
            span_id: self.span_id.0.to_vec(),
            trace_state: self.trace_state,
            parent_span_id: self
                .parent_span_id
                .map(|p| p.0.to_vec())
                .unwrap_or_default(),
            flags: self.flags,
            name: self.name,
            kind: self.kind as i32,
            start_time_unix_nano: self.start_time_unix_nano,
            end_time_unix_nano: self.end_time_unix_nano,
            attributes: self.attributes,
            dropped_attributes_count: self.dropped_attributes_count,
            events: self.events,
            dropped_events_count: self.dropped_events_count,
            links: self.links,
            dropped_links_count: self.dropped_links_count,
            status: Some(self.status),
        }
    }
}

/// Spans as they arrive, in arrival order. Every processor before trace assembly works on these.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanBatch {
    /// The spans.
    pub spans: Vec<Span>,
}

/// A span that failed validation, with the reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    /// Position in the request: resource, scope and span index.
    pub position: (usize, usize, usize),
    /// What was wrong.
    pub error: IdError,
}

/// Spans (or log records) of a request that were refused, for OTLP partial success.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rejections {
    /// How many spans (log records) were refused.
    pub count: u64,
    /// The first few reasons, each with its position; later ones are only counted.
    pub examples: Vec<Rejection>,
    /// What was refused: spans (the default) or log records; it names the positions in
    /// [`Self::message`].
    pub signal: Signal,
}

/// Which OTLP signal a request carried.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Signal {
    /// `ExportTraceServiceRequest`.
    #[default]
    Traces,
    /// `ExportLogsServiceRequest`.
    Logs,
}

impl Signal {
    /// `traces` or `logs`: the pipeline type and the metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Logs => "logs",
        }
    }
}

impl Rejections {
    /// Reasons kept verbatim; the rest are counted.
    pub const MAX_EXAMPLES: usize = 5;

    pub(crate) fn push(&mut self, position: (usize, usize, usize), error: IdError) {
        self.count += 1;
        if self.examples.len() < Self::MAX_EXAMPLES {
            self.examples.push(Rejection { position, error });
        }
    }

    /// True when nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `error_message` for OTLP partial success: what was wrong and where.
    pub fn message(&self) -> String {
        if self.count == 0 {
            return String::new();
        }
        let (what, resources, scopes, items) = match self.signal {
            Signal::Traces => ("span(s)", "resource_spans", "scope_spans", "spans"),
            Signal::Logs => (
                "log record(s)",
                "resource_logs",
                "scope_logs",
                "log_records",
            ),
        };
        let mut msg = format!("{} {what} rejected: ", self.count);
        for (i, r) in self.examples.iter().enumerate() {
            if i > 0 {
                msg.push_str("; ");
            }
            let (res, scope, item) = r.position;
            msg.push_str(&format!(
                "{resources}[{res}].{scopes}[{scope}].{items}[{item}]: {}",
                r.error
            ));
        }
        if self.count > self.examples.len() as u64 {
            msg.push_str(&format!(
                "; and {} more",
                self.count - self.examples.len() as u64
            ));
        }
        msg
    }
}

impl SpanBatch {
    /// Number of spans.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no spans.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Approximate heap size, for byte bounds.
    pub fn estimated_bytes(&self) -> usize {
        self.spans.iter().map(Span::estimated_bytes).sum()
    }

    /// Takes the spans out of a decoded request, moving every field. Spans whose ids are
    /// invalid are left out and described in the returned [`Rejections`].
    pub fn from_request(request: ExportTraceServiceRequest) -> (SpanBatch, Rejections) {
        Self::from_request_for(request, None)
    }

    /// As [`Self::from_request`], for the given tenant ([`Resource::tenant`]; `None`: the
    /// single tenant).
    pub fn from_request_for(
        request: ExportTraceServiceRequest,
        tenant: Option<Arc<str>>,
    ) -> (SpanBatch, Rejections) {
        let total: usize = request
            .resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .map(|ss| ss.spans.len())
            .sum();
        let mut spans = Vec::with_capacity(total);
        let mut rejections = Rejections::default();
        for (ri, rs) in request.resource_spans.into_iter().enumerate() {
            let mut resource = resource_from_proto(rs.resource, rs.schema_url);
            resource.tenant = tenant.clone();
            let resource = Arc::new(resource);
            for (si, ss) in rs.scope_spans.into_iter().enumerate() {
                let scope = Arc::new(scope_from_proto(ss.scope, ss.schema_url));
                for (pi, span) in ss.spans.into_iter().enumerate() {
                    match span_from_proto(span, &resource, &scope) {
                        Ok(span) => spans.push(span),
                        Err(error) => rejections.push((ri, si, pi), error),
                    }
                }
            }
        }
        (SpanBatch { spans }, rejections)
    }

    /// Builds an OTLP request, grouping consecutive spans that share a resource and scope.
    pub fn into_request(self) -> ExportTraceServiceRequest {
        to_request(self.spans.into_iter(), |s| s)
    }

    /// As [`Self::into_request`], for a batch that is shared and cannot be moved.
    pub fn to_request(&self) -> ExportTraceServiceRequest {
        to_request(self.spans.iter(), Clone::clone)
    }
}

/// Builds an OTLP request from spans in any order, grouping runs that share (by pointer) a
/// resource and scope.
pub fn to_request<S: std::borrow::Borrow<Span>>(
    spans: impl Iterator<Item = S>,
    into_owned: impl Fn(S) -> Span,
) -> ExportTraceServiceRequest {
    let mut out: Vec<proto::ResourceSpans> = Vec::new();
    let mut last: Option<(Arc<Resource>, Arc<Scope>)> = None;
    for s in spans {
        let (same_res, same_scope) = match &last {
            Some((r, sc)) => {
                let b = s.borrow();
                (Arc::ptr_eq(r, &b.resource), Arc::ptr_eq(sc, &b.scope))
            }
            None => (false, false),
        };
        if !same_res {
            let b = s.borrow();
            out.push(proto::ResourceSpans {
                resource: Some(resource_to_proto(&b.resource)),
                schema_url: b.resource.schema_url.clone(),
                scope_spans: Vec::new(),
            });
        }
        if !same_res || !same_scope {
            let b = s.borrow();
            last = Some((b.resource.clone(), b.scope.clone()));
            if let Some(rs) = out.last_mut() {
                rs.scope_spans.push(proto::ScopeSpans {
                    scope: Some(scope_to_proto(&b.scope)),
                    schema_url: b.scope.schema_url.clone(),
                    spans: Vec::new(),
                });
            }
        }
        if let Some(ss) = out.last_mut().and_then(|rs| rs.scope_spans.last_mut()) {
            ss.spans.push(into_owned(s).into_proto());
        }
    }
    ExportTraceServiceRequest {
        resource_spans: out,
    }
}

pub(crate) fn resource_from_proto(resource: Option<ProtoResource>, schema_url: String) -> Resource {
    let resource = resource.unwrap_or_default();
    let service_name = attr::get_str(&resource.attributes, keys::SERVICE_NAME)
        .unwrap_or(keys::UNKNOWN_SERVICE)
        .to_owned();
    Resource {
        attributes: resource.attributes,
        dropped_attributes_count: resource.dropped_attributes_count,
        schema_url,
        service_name,
        tenant: None,
    }
}

pub(crate) fn scope_from_proto(scope: Option<InstrumentationScope>, schema_url: String) -> Scope {
    let scope = scope.unwrap_or_default();
    Scope {
        name: scope.name,
        version: scope.version,
        attributes: scope.attributes,
        dropped_attributes_count: scope.dropped_attributes_count,
        schema_url,
    }
}

pub(crate) fn resource_to_proto(r: &Resource) -> ProtoResource {
    ProtoResource {
        attributes: r.attributes.clone(),
        dropped_attributes_count: r.dropped_attributes_count,
        ..Default::default()
    }
}

pub(crate) fn scope_to_proto(s: &Scope) -> InstrumentationScope {
    InstrumentationScope {
        name: s.name.clone(),
        version: s.version.clone(),
        attributes: s.attributes.clone(),
        dropped_attributes_count: s.dropped_attributes_count,
    }
}

fn span_from_proto(
    span: proto::Span,
    resource: &Arc<Resource>,
    scope: &Arc<Scope>,
) -> Result<Span, IdError> {
    let trace_id = TraceId::from_bytes(&span.trace_id)?;
    let span_id = SpanId::from_bytes(&span.span_id)?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(SpanId::from_bytes_named(
            &span.parent_span_id,
            "parent_span_id",
        )?)
    };
    Ok(Span {
        resource: resource.clone(),
        scope: scope.clone(),
        trace_id,
        span_id,
        parent_span_id,
        trace_state: span.trace_state,
        flags: span.flags,
        name: span.name,
        kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
        start_time_unix_nano: span.start_time_unix_nano,
        end_time_unix_nano: span.end_time_unix_nano,
        attributes: span.attributes,
        dropped_attributes_count: span.dropped_attributes_count,
        events: span.events,
        dropped_events_count: span.dropped_events_count,
        links: span.links,
        dropped_links_count: span.dropped_links_count,
        status: span.status.unwrap_or_default(),
        facts: SpanFacts::default(),
        origin: Default::default(),
    })
}

#[cfg(test)]
mod tests;
