//! A released trace's scores ([`Trace::scores`]) as span events in what the hot store
//! serves: each becomes a `gen_ai.evaluation.result` event, with the `gen_ai.evaluation.*`
//! attributes, on the span it rates, or on the root when the rated span is unknown (not in
//! the trace, or not named).
//!
//! The events are added where spans leave the head: when a head is written as a block (so
//! the block holds them, and every later read decodes them with the span) and when a read
//! serves spans from a head still in memory. The shared payload is never changed; a span
//! that gets events is cloned there, every other span is read in place ([`Cow`]).
//!
//! A score taken from a span's own `gen_ai.evaluation.result` event
//! ([`ScoreSource::SpanEvent`]) is not repeated on that span: it is there already; nor is a
//! score whose event the span carries already (the same name, value, label and time).
//!
//! Late scores (`late.rs`), which arrive after the trace was released, become the same
//! events through [`ScoreEvents::for_spans`], when the store serves the trace's spans.

use crate::read::scores::event;
use std::borrow::Cow;
use tracegate_model::proto::trace::v1::span::Event;
use tracegate_model::{Score, ScoreSource, Span, SpanId, Trace, TraceId, attr, keys};

/// The events one trace's scores add, by span.
#[derive(Debug, Default)]
pub(super) struct ScoreEvents {
    /// (the span rated, its event), in the order of [`Trace::scores`].
    events: Vec<(SpanId, Event)>,
}

/// Where a score whose rated span is not among the spans goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fallback {
    /// The root, else the first span: the spans are the whole trace.
    RootOrFirst,
    /// The root if the spans hold it, else nowhere: the spans are one fragment of a trace
    /// (a search visits each fragment), and only the root's fragment takes such a score.
    RootOnly,
}

impl ScoreEvents {
    /// The events of `trace`'s scores; empty (and free) for a trace without scores.
    pub(super) fn of(trace: &Trace) -> Self {
        Self::for_spans(
            trace.trace_id,
            &trace.spans,
            &trace.scores,
            Fallback::RootOrFirst,
        )
    }

    /// The events `scores` add to `spans` of trace `trace_id`. A score is left out when its
    /// span already carries the same evaluation (the event it was read from, or an event
    /// with the same name, value, label and time, such as one a block holds already).
    pub(super) fn for_spans(
        trace_id: TraceId,
        spans: &[Span],
        scores: &[Score],
        fallback: Fallback,
    ) -> Self {
        if scores.is_empty() {
            return Self::default();
        }
        let root = spans.iter().find(|s| s.is_root());
        let fallback = match fallback {
            Fallback::RootOrFirst => root.or_else(|| spans.first()),
            Fallback::RootOnly => root,
        };
        let mut events: Vec<(SpanId, Event)> = Vec::new();
        for score in scores {
            let Some(rated) = score
                .span_id
                .filter(|_| score.trace_id.is_none_or(|t| t == trace_id))
                .and_then(|id| spans.iter().find(|s| s.span_id == id))
                .or(fallback)
            else {
                continue;
            };
            if already_on(rated, score) {
                continue;
            }
            let event = event(score, rated);
            let dup = rated.events.iter().any(|e| same_event(e, &event))
                || events
                    .iter()
                    .any(|(id, e)| *id == rated.span_id && same_event(e, &event));
            if !dup {
                events.push((rated.span_id, event));
            }
        }
        Self { events }
    }

    /// Adds the events of the scores that rate `span` to it.
    pub(super) fn add_to(&self, span: &mut Span) {
        span.events.extend(
            self.events
                .iter()
                .filter(|(id, _)| *id == span.span_id)
                .map(|(_, e)| e.clone()),
        );
    }

    /// True when the trace's scores add nothing.
    pub(super) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// `span` with the events of the scores that rate it: borrowed when there are none.
    pub(super) fn apply<'a>(&self, span: &'a Span) -> Cow<'a, Span> {
        let mut mine = self
            .events
            .iter()
            .filter(|(id, _)| *id == span.span_id)
            .peekable();
        if mine.peek().is_none() {
            return Cow::Borrowed(span);
        }
        let mut owned = span.clone();
        owned.events.extend(mine.map(|(_, e)| e.clone()));
        Cow::Owned(owned)
    }
}

/// Whether `span` carries the event `score` was read from.
fn already_on(span: &Span, score: &Score) -> bool {
    score.source == ScoreSource::SpanEvent
        && span.events.iter().any(|e| {
            e.name == keys::GEN_AI_EVALUATION_RESULT
                && attr::get_str(&e.attributes, keys::GEN_AI_EVALUATION_NAME)
                    == Some(score.name.as_str())
        })
}

/// Whether two evaluation events say the same: name, value, label and time.
fn same_event(a: &Event, b: &Event) -> bool {
    let value = |e: &Event| {
        attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE).map(f64::to_bits)
    };
    let text = |e: &'_ Event, key: &str| attr::get_str(&e.attributes, key).map(str::to_owned);
    a.name == b.name
        && a.time_unix_nano == b.time_unix_nano
        && text(a, keys::GEN_AI_EVALUATION_NAME) == text(b, keys::GEN_AI_EVALUATION_NAME)
        && value(a) == value(b)
        && text(a, keys::GEN_AI_EVALUATION_SCORE_LABEL)
            == text(b, keys::GEN_AI_EVALUATION_SCORE_LABEL)
}
