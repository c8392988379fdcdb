//! Time to first token: the one place it is extracted from a span.
//!
//! Sources, in order of preference (the first present wins):
//! 1. `gen_ai.response.time_to_first_chunk`, in seconds;
//! 2. the first span event named `gen_ai.content.completion.chunk`,
//!    `llm.content.completion.chunk`, `First Token Stream Event` or `ai.stream.firstChunk`:
//!    its time minus the span's start;
//! 3. `ai.response.msToFirstChunk` (Vercel AI SDK), in ms;
//! 4. `gen_ai.server.time_to_first_token`, in seconds.
//!
//! A span with none of these (a non-streaming call) has no TTFT: there is no prefill/decode
//! split to make.

use tracegate_model::{Span, attr};

/// Canonical attribute holding TTFT in seconds.
pub const TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Attribute naming where TTFT came from.
pub const TTFT_SOURCE: &str = "tracegate.ttft_source";

/// Event names that mark the first streamed chunk.
pub const FIRST_CHUNK_EVENTS: [&str; 4] = [
    "gen_ai.content.completion.chunk",
    "llm.content.completion.chunk",
    "First Token Stream Event",
    "ai.stream.firstChunk",
];

/// Where a TTFT came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtftSource {
    /// `gen_ai.response.time_to_first_chunk`.
    TimeToFirstChunk,
    /// A first-chunk span event.
    ChunkEvent,
    /// `ai.response.msToFirstChunk`.
    MsToFirstChunk,
    /// `gen_ai.server.time_to_first_token`.
    ServerTimeToFirstToken,
}

impl TtftSource {
    /// The value written to `tracegate.ttft_source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TimeToFirstChunk => "gen_ai.response.time_to_first_chunk",
            Self::ChunkEvent => "event",
            Self::MsToFirstChunk => "ai.response.msToFirstChunk",
            Self::ServerTimeToFirstToken => "gen_ai.server.time_to_first_token",
        }
    }
}

/// A span's time to first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttft {
    /// ns from the span's start to the first token, clamped to the span's duration.
    pub ns: u64,
    /// Where it came from.
    pub source: TtftSource,
}

/// Extracts TTFT from a span, or `None` for a call that did not stream.
pub fn extract(span: &Span) -> Option<Ttft> {
    let duration = span.duration_ns();
    let clamp = |ns: u64| ns.min(duration);
    let from_secs = |s: f64| (s.is_finite() && s >= 0.0).then(|| clamp((s * 1e9).round() as u64));
    if let Some(ns) = attr::get_f64(&span.attributes, TIME_TO_FIRST_CHUNK).and_then(from_secs) {
        return Some(Ttft {
            ns,
            source: TtftSource::TimeToFirstChunk,
        });
    }
    if let Some(ev) = span
        .events
        .iter()
        .filter(|e| FIRST_CHUNK_EVENTS.contains(&e.name.as_str()))
        .min_by_key(|e| e.time_unix_nano)
    {
        let ns = ev.time_unix_nano.saturating_sub(span.start_time_unix_nano);
        return Some(Ttft {
            ns: clamp(ns),
            source: TtftSource::ChunkEvent,
        });
    }
    if let Some(ms) = attr::get_f64(&span.attributes, "ai.response.msToFirstChunk")
        .filter(|ms| ms.is_finite() && *ms >= 0.0)
    {
        return Some(Ttft {
            ns: clamp((ms * 1e6).round() as u64),
            source: TtftSource::MsToFirstChunk,
        });
    }
    attr::get_f64(&span.attributes, "gen_ai.server.time_to_first_token")
        .and_then(from_secs)
        .map(|ns| Ttft {
            ns,
            source: TtftSource::ServerTimeToFirstToken,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tracegate_model::span::Event;
    use tracegate_model::{Resource, Scope, SpanId, SpanKind, Status, TraceId};

    fn span(
        attributes: Vec<opentelemetry_proto::tonic::common::v1::KeyValue>,
        events: Vec<Event>,
    ) -> Span {
        Span {
            resource: Arc::new(Resource::with_service("llm")),
            scope: Arc::new(Scope::default()),
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            name: "chat".into(),
            kind: SpanKind::Client,
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 3_000_000_000,
            attributes,
            dropped_attributes_count: 0,
            events,
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            facts: Default::default(),
            origin: Default::default(),
            status: Status::default(),
        }
    }

    fn event(name: &str, t: u64) -> Event {
        Event {
            name: name.into(),
            time_unix_nano: t,
            ..Default::default()
        }
    }

    #[test]
    fn each_source_in_order_of_preference() {
        let s = span(
            vec![attr::double(TIME_TO_FIRST_CHUNK, 0.25)],
            vec![event("ai.stream.firstChunk", 1_100_000_000)],
        );
        assert_eq!(
            extract(&s),
            Some(Ttft {
                ns: 250_000_000,
                source: TtftSource::TimeToFirstChunk
            })
        );
        let s = span(
            vec![],
            vec![
                event("other", 1_010_000_000),
                event("First Token Stream Event", 1_300_000_000),
                event("gen_ai.content.completion.chunk", 1_200_000_000),
            ],
        );
        assert_eq!(
            extract(&s),
            Some(Ttft {
                ns: 200_000_000,
                source: TtftSource::ChunkEvent
            })
        );
        let s = span(vec![attr::int("ai.response.msToFirstChunk", 420)], vec![]);
        assert_eq!(
            extract(&s),
            Some(Ttft {
                ns: 420_000_000,
                source: TtftSource::MsToFirstChunk
            })
        );
        let s = span(
            vec![attr::double("gen_ai.server.time_to_first_token", 0.5)],
            vec![],
        );
        assert_eq!(
            extract(&s),
            Some(Ttft {
                ns: 500_000_000,
                source: TtftSource::ServerTimeToFirstToken
            })
        );
    }

    #[test]
    fn non_streaming_and_nonsense_values_have_no_ttft() {
        assert_eq!(extract(&span(vec![], vec![])), None);
        assert_eq!(
            extract(&span(vec![attr::double(TIME_TO_FIRST_CHUNK, -1.0)], vec![])),
            None
        );
        // Beyond the span's end: clamped to its duration.
        let s = span(vec![attr::double(TIME_TO_FIRST_CHUNK, 9.0)], vec![]);
        assert_eq!(extract(&s).map(|t| t.ns), Some(2_000_000_000));
    }
}
