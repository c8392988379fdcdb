//! The generator: a seeded stream of traces, packed into OTLP requests or span batches.

use crate::config::{GeneratorConfig, Profile};
use crate::services::Templates;
use crate::trace::{BuiltTrace, TraceBuilder};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracegate_model::SpanBatch;

/// Gap between the starts of consecutive traces, in ns.
const GAP_NS: std::ops::RangeInclusive<u64> = 1_000_000..=5_000_000;

/// A deterministic stream of synthetic RAG traces.
///
/// Two generators built from equal [`GeneratorConfig`]s yield identical traces, call for call.
/// Each trace starts 1–5 ms after the previous one.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: StdRng,
    profile: Profile,
    templates: Templates,
    next_start: u64,
}

impl Generator {
    /// A generator seeded with `config.seed`. Each profile draws from its own stream, so
    /// `rag` and `tiny` traces of one seed never share trace ids (one stream for both
    /// produced the same trace, ids included, in each now and then).
    pub fn new(config: GeneratorConfig) -> Self {
        let stream = match config.profile {
            Profile::Rag => 0,
            Profile::Tiny => 0x7469_6e79_7469_6e79, // "tinytiny"
        };
        let mut rng = StdRng::seed_from_u64(config.seed ^ stream);
        let templates = Templates::new(config.profile, &mut rng);
        Self {
            rng,
            profile: config.profile,
            templates,
            next_start: config.start_unix_nano,
        }
    }

    /// The next whole trace as an OTLP request with one `ResourceSpans` per service, each
    /// with one `ScopeSpans` per instrumentation scope that recorded spans.
    pub fn next_trace_request(&mut self) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: self.next_trace(usize::MAX).resource_spans,
        }
    }

    /// `traces` whole traces merged into one request (the resource spans of all traces
    /// concatenated, in order).
    pub fn request_with_traces(&mut self, traces: usize) -> ExportTraceServiceRequest {
        let mut resource_spans = Vec::with_capacity(traces * 4);
        for _ in 0..traces {
            resource_spans.extend(self.next_trace(usize::MAX).resource_spans);
        }
        ExportTraceServiceRequest { resource_spans }
    }

    /// Requests holding exactly `total_spans` spans in all, made of whole traces.
    ///
    /// Traces are packed in order; a request takes the next trace while it stays within
    /// `spans_per_request` spans (0 counts as 1), so every request holds at most
    /// `spans_per_request` spans, except that a request always holds at least one trace: a
    /// trace longer than `spans_per_request` gets a request of its own. The last trace is
    /// built with at most the spans still missing: its spans are a prefix, in creation order,
    /// of a full trace, so it is smaller but still whole (every span's parent is present).
    /// `total_spans == 0` yields no request.
    pub fn requests(
        &mut self,
        total_spans: usize,
        spans_per_request: usize,
    ) -> Vec<ExportTraceServiceRequest> {
        let per_request = spans_per_request.max(1);
        let mut requests = Vec::with_capacity(total_spans / per_request + 1);
        let mut current = Vec::new();
        let mut in_current = 0;
        let mut remaining = total_spans;
        while remaining > 0 {
            let trace = self.next_trace(remaining);
            if trace.span_count == 0 {
                break;
            }
            remaining = remaining.saturating_sub(trace.span_count);
            if in_current > 0 && in_current + trace.span_count > per_request {
                requests.push(ExportTraceServiceRequest {
                    resource_spans: std::mem::take(&mut current),
                });
                in_current = 0;
            }
            in_current += trace.span_count;
            current.extend(trace.resource_spans);
        }
        if in_current > 0 {
            requests.push(ExportTraceServiceRequest {
                resource_spans: current,
            });
        }
        requests
    }

    /// `traces` whole traces as a [`SpanBatch`], converted with [`SpanBatch::from_request`]
    /// (which rejects none of the generated spans).
    pub fn batch_with_traces(&mut self, traces: usize) -> SpanBatch {
        SpanBatch::from_request(self.request_with_traces(traces)).0
    }

    /// Builds the next trace, keeping at most `max_spans` of its spans.
    fn next_trace(&mut self, max_spans: usize) -> BuiltTrace {
        let start = self.next_start;
        self.next_start += self.rng.random_range(GAP_NS);
        TraceBuilder::new(&mut self.rng, self.profile).rag(start, &self.templates, max_spans)
    }
}

/// `spans` grouped into whole traces by trace id, in trace-id order, each marked released
/// complete with its tree whole (what trace assembly hands the trace processors).
pub fn whole_traces(spans: Vec<tracegate_model::Span>) -> Vec<tracegate_model::Trace> {
    let mut by_id: std::collections::BTreeMap<_, Vec<_>> = std::collections::BTreeMap::new();
    for s in spans {
        by_id.entry(s.trace_id).or_default().push(s);
    }
    by_id
        .into_iter()
        .map(|(trace_id, spans)| tracegate_model::Trace {
            trace_id,
            spans,
            release_reason: tracegate_model::ReleaseReason::Complete,
            tree_whole: true,
            fragment: None,
            critical_path: None,
            sampling: None,
            scores: Vec::new(),
        })
        .collect()
}

/// Counts the spans in a request.
pub fn span_count(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.spans.len())
        .sum()
}
