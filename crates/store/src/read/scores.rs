//! A trace's rows of the archive's `scores` table back onto its spans, as the hot store
//! shows them: each score becomes a `gen_ai.evaluation.result` span event (attributes
//! `gen_ai.evaluation.name`, `gen_ai.evaluation.score.value`, `…score.label`,
//! `gen_ai.evaluation.explanation`, `error.type`, `gen_ai.response.id`) on the span it
//! rates, or on the trace's root when that span is not in the trace (or not named).
//!
//! - [`SCORE_COLUMNS`]: the columns a lookup reads (the others' pages are not fetched);
//! - [`scores_from_batch`]: those rows → [`Score`]s;
//! - [`attach_scores`]: the scores → events on the spans, once each: a row repeated (a
//!   replayed upload) is added once, and a score already on its span as an event (a
//!   span-borne score, written to the table from the released trace) is not added again.
//!   Two scores are the same when their span, name, value, label and time are.
//!
//! The event has the shape of the hot store's (`hot/scores.rs`): the same trace reads the
//! same from either store.

use crate::error::StoreError;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampNanosecondType;
use arrow_array::{Array, Float64Array, RecordBatch, StringArray};
use tracegate_model::proto::trace::v1::span::Event;
use tracegate_model::schema::scores_col as c;
use tracegate_model::{Score, ScoreJoin, ScoreSource, Span, SpanId, TraceId, attr, keys};

/// The `scores` columns a trace lookup reads: what the events need, and the join's
/// provenance (`source`, `joined_by`).
pub const SCORE_COLUMNS: &[&str] = &[
    c::TRACE_ID,
    c::SPAN_ID,
    c::TIME,
    c::NAME,
    c::VALUE,
    c::LABEL,
    c::EXPLANATION,
    c::ERROR_TYPE,
    c::RESPONSE_ID,
    c::JOINED_BY,
    c::SOURCE,
];

/// What [`attach_scores`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attached {
    /// Events added to spans.
    pub added: usize,
    /// Scores already on their span as an event, not added again.
    pub already_on_span: usize,
    /// Scores repeated in the table (the same row twice), added once.
    pub duplicates: usize,
}

/// The scores of a batch read from the `scores` table with (at least) [`SCORE_COLUMNS`]
/// by name, in any order; the other fields of [`Score`] are left empty. A missing optional
/// column reads as null; a mistyped one is an error naming it.
pub fn scores_from_batch(batch: &RecordBatch) -> Result<Vec<Score>, StoreError> {
    let strings = |name: &'static str| -> Result<Option<&StringArray>, StoreError> {
        batch
            .column_by_name(name)
            .map(|a| {
                a.as_string_opt::<i32>()
                    .ok_or(StoreError::Schema { column: name })
            })
            .transpose()
    };
    let text = |a: Option<&StringArray>, row: usize| -> Option<String> {
        a.filter(|a| a.is_valid(row))
            .map(|a| a.value(row).to_owned())
    };
    let (trace_id, span_id) = (strings(c::TRACE_ID)?, strings(c::SPAN_ID)?);
    let (name, label) = (strings(c::NAME)?, strings(c::LABEL)?);
    let (explanation, error_type) = (strings(c::EXPLANATION)?, strings(c::ERROR_TYPE)?);
    let (response_id, joined_by, source) = (
        strings(c::RESPONSE_ID)?,
        strings(c::JOINED_BY)?,
        strings(c::SOURCE)?,
    );
    let value: Option<&Float64Array> = batch
        .column_by_name(c::VALUE)
        .map(|a| {
            a.as_primitive_opt()
                .ok_or(StoreError::Schema { column: c::VALUE })
        })
        .transpose()?;
    let time = batch
        .column_by_name(c::TIME)
        .map(|a| {
            a.as_primitive_opt::<TimestampNanosecondType>()
                .ok_or(StoreError::Schema { column: c::TIME })
        })
        .transpose()?;
    Ok((0..batch.num_rows())
        .map(|row| Score {
            name: text(name, row).unwrap_or_default(),
            value: value.filter(|a| a.is_valid(row)).map(|a| a.value(row)),
            label: text(label, row),
            explanation: text(explanation, row),
            error_type: text(error_type, row),
            response_id: text(response_id, row),
            trace_id: text(trace_id, row).and_then(|t| TraceId::from_hex(&t).ok()),
            span_id: text(span_id, row).and_then(|s| SpanId::from_hex(&s).ok()),
            joined_by: join_of(text(joined_by, row).as_deref()),
            source: source_of(text(source, row).as_deref()),
            time_unix_nano: time
                .filter(|a| a.is_valid(row))
                .map_or(0, |a| u64::try_from(a.value(row)).unwrap_or(0)),
            ..Score::default()
        })
        .collect())
}

fn join_of(name: Option<&str>) -> ScoreJoin {
    [
        ScoreJoin::TraceContext,
        ScoreJoin::ResponseId,
        ScoreJoin::RequestId,
    ]
    .into_iter()
    .find(|j| Some(j.as_str()) == name)
    .unwrap_or(ScoreJoin::Unresolved)
}

fn source_of(name: Option<&str>) -> ScoreSource {
    [ScoreSource::SpanEvent, ScoreSource::FeedbackSpan]
        .into_iter()
        .find(|s| Some(s.as_str()) == name)
        .unwrap_or(ScoreSource::Log)
}

/// Adds `scores` (of trace `trace_id`) to `spans` as `gen_ai.evaluation.result` events;
/// see the [module docs](self). Scores of another trace are ignored; with no spans, nothing
/// is added.
pub fn attach_scores(spans: &mut [Span], trace_id: TraceId, scores: &[Score]) -> Attached {
    let mut done = Attached::default();
    let fallback = spans
        .iter()
        .position(Span::is_root)
        .or((!spans.is_empty()).then_some(0));
    let Some(fallback) = fallback else {
        return done;
    };
    let mut order: Vec<&Score> = scores
        .iter()
        .filter(|s| s.trace_id.is_none_or(|t| t == trace_id))
        .collect();
    order.sort_by(|a, b| {
        (a.time_unix_nano, a.span_id, &a.name, &a.label)
            .cmp(&(b.time_unix_nano, b.span_id, &b.name, &b.label))
            .then(
                a.value
                    .unwrap_or(f64::NAN)
                    .total_cmp(&b.value.unwrap_or(f64::NAN)),
            )
    });
    let mut previous: Option<&Score> = None;
    for score in order {
        if previous.is_some_and(|p| p.span_id == score.span_id && same(p, score)) {
            done.duplicates += 1;
            continue;
        }
        previous = Some(score);
        let rated = score
            .span_id
            .and_then(|id| spans.iter().position(|s| s.span_id == id))
            .unwrap_or(fallback);
        let Some(span) = spans.get_mut(rated) else {
            continue;
        };
        let event = event(score, span);
        if span.events.iter().any(|e| same_event(e, &event)) {
            done.already_on_span += 1;
        } else {
            span.events.push(event);
            done.added += 1;
        }
    }
    done
}

/// Same name, value, label and time.
fn same(a: &Score, b: &Score) -> bool {
    a.name == b.name
        && a.label == b.label
        && a.time_unix_nano == b.time_unix_nano
        && a.value.map(f64::to_bits) == b.value.map(f64::to_bits)
}

/// Whether `existing` is the evaluation `new` describes: a `gen_ai.evaluation.result`
/// with the same name, value, label and time.
fn same_event(existing: &Event, new: &Event) -> bool {
    let get = |e: &Event, key| attr::get_str(&e.attributes, key).map(str::to_owned);
    let value = |e: &Event| attr::get_f64(&e.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE);
    existing.name == new.name
        && existing.time_unix_nano == new.time_unix_nano
        && get(existing, keys::GEN_AI_EVALUATION_NAME) == get(new, keys::GEN_AI_EVALUATION_NAME)
        && get(existing, keys::GEN_AI_EVALUATION_SCORE_LABEL)
            == get(new, keys::GEN_AI_EVALUATION_SCORE_LABEL)
        && value(existing).map(f64::to_bits) == value(new).map(f64::to_bits)
}

/// The `gen_ai.evaluation.result` event of `score`, on `span`: at the score's time, or the
/// span's end when the score has none (as the hot store makes it).
pub fn event(score: &Score, span: &Span) -> Event {
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

#[cfg(test)]
mod tests;
