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
//! ([`ScoreSource::SpanEvent`]) is not repeated on that span: it is there already.

use std::borrow::Cow;
use tracegate_model::proto::trace::v1::span::Event;
use tracegate_model::{Score, ScoreSource, Span, SpanId, Trace, attr, keys};

/// The events one trace's scores add, by span.
#[derive(Debug, Default)]
pub(super) struct ScoreEvents {
    /// (the span rated, its event), in the order of [`Trace::scores`].
    events: Vec<(SpanId, Event)>,
}

impl ScoreEvents {
    /// The events of `trace`'s scores; empty (and free) for a trace without scores.
    pub(super) fn of(trace: &Trace) -> Self {
        if trace.scores.is_empty() {
            return Self::default();
        }
        let fallback = trace.root().or_else(|| trace.spans.first());
        let events = trace
            .scores
            .iter()
            .filter_map(|score| {
                let rated = score
                    .span_id
                    .filter(|_| score.trace_id.is_none_or(|t| t == trace.trace_id))
                    .and_then(|id| trace.spans.iter().find(|s| s.span_id == id))
                    .or(fallback)?;
                (!already_on(rated, score)).then(|| (rated.span_id, event(score, rated)))
            })
            .collect();
        Self { events }
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

/// The `gen_ai.evaluation.result` event of `score`, on `span`: at the score's time, or the
/// span's end when the score has none.
fn event(score: &Score, span: &Span) -> Event {
    let mut attributes = vec![attr::string(keys::GEN_AI_EVALUATION_NAME, &score.name)];
    if let Some(value) = score.value {
        attributes.push(attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, value));
    }
    let strings = [
        (keys::GEN_AI_EVALUATION_SCORE_LABEL, &score.label),
        (keys::GEN_AI_EVALUATION_EXPLANATION, &score.explanation),
        (keys::ERROR_TYPE, &score.error_type),
        (keys::GEN_AI_RESPONSE_ID, &score.response_id),
    ];
    for (key, value) in strings {
        if let Some(value) = value {
            attributes.push(attr::string(key, value));
        }
    }
    let time_unix_nano = if score.time_unix_nano != 0 {
        score.time_unix_nano
    } else {
        span.end_time_unix_nano
    };
    Event {
        time_unix_nano,
        name: keys::GEN_AI_EVALUATION_RESULT.to_owned(),
        attributes,
        dropped_attributes_count: 0,
    }
}
