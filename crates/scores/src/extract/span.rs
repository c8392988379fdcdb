//! Scores from spans: `gen_ai.evaluation.result` span events and feedback spans.

use super::{EVALUATOR_KIND, evaluation_fields, first_id, id_text, json_text, number, text};
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::span::Link;
use tracegate_model::{Score, ScoreJoin, ScoreSource, Span, SpanId, TraceId, attr, keys};

/// The attribute naming an OpenInference span's kind.
pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";

/// Attributes any one of which makes a linked span a feedback span.
pub const FEEDBACK_SCORE_KEYS: [&str; 8] = [
    "annotation.score",
    "annotation.label",
    "annotation.name",
    "annotation.explanation",
    "feedback.score",
    "feedback.label",
    "feedback.name",
    "feedback.explanation",
];

/// Where a feedback span's score name is read, in order (else the span's name).
pub const FEEDBACK_NAME_KEYS: [&str; 3] = [
    "annotation.name",
    "feedback.name",
    keys::GEN_AI_EVALUATION_NAME,
];

const VALUE_KEYS: [&str; 3] = [
    "annotation.score",
    "feedback.score",
    keys::GEN_AI_EVALUATION_SCORE_VALUE,
];
const LABEL_KEYS: [&str; 3] = [
    "annotation.label",
    "feedback.label",
    keys::GEN_AI_EVALUATION_SCORE_LABEL,
];
const EXPLANATION_KEYS: [&str; 3] = [
    "annotation.explanation",
    "feedback.explanation",
    keys::GEN_AI_EVALUATION_EXPLANATION,
];
const REVIEWER_KEYS: [&str; 3] = [
    "annotation.reviewer_id",
    "feedback.reviewer_id",
    keys::USER_ID,
];
const METADATA_KEYS: [&str; 2] = ["annotation.metadata", "feedback.metadata"];

/// Every score `span` carries (see the [module docs](super)): one per
/// `gen_ai.evaluation.result` event, with source [`ScoreSource::SpanEvent`], and one if it
/// is a feedback span, with source [`ScoreSource::FeedbackSpan`]. A score whose trace is
/// known has `joined_by` [`ScoreJoin::TraceContext`]; an event naming another call's
/// response id has neither trace nor span, for the board to join.
///
/// Costs a comparison per event and a look at the links for a span that carries none, and
/// allocates nothing then.
pub fn from_span(span: &Span) -> Vec<Score> {
    let mut out = Vec::new();
    for event in &span.events {
        if event.name == keys::GEN_AI_EVALUATION_RESULT {
            out.push(from_event(span, &event.attributes, event.time_unix_nano));
        }
    }
    if let Some(score) = from_feedback_span(span) {
        out.push(score);
    }
    out
}

fn from_event(
    span: &Span,
    attributes: &[tracegate_model::proto::common::v1::KeyValue],
    time_unix_nano: u64,
) -> Score {
    let mut score = evaluation_fields(|k| attr::get(attributes, k));
    let own = attr::get_str(&span.attributes, keys::GEN_AI_RESPONSE_ID).map(str::trim);
    let rates_another = score
        .response_id
        .as_deref()
        .is_some_and(|named| own != Some(named));
    if !rates_another {
        score.trace_id = Some(span.trace_id);
        score.span_id = Some(span.span_id);
        score.joined_by = ScoreJoin::TraceContext;
    }
    score.source = ScoreSource::SpanEvent;
    score.time_unix_nano = if time_unix_nano != 0 {
        time_unix_nano
    } else {
        span.end_time_unix_nano
    };
    score.service_name = span.service_name().to_owned();
    score
}

/// The first link that names a valid span context.
fn rated_link(links: &[Link]) -> Option<(TraceId, SpanId)> {
    links.iter().find_map(|l| {
        Some((
            TraceId::from_bytes(&l.trace_id).ok()?,
            SpanId::from_bytes(&l.span_id).ok()?,
        ))
    })
}

/// True when `span` is a feedback span: linked, and an evaluator or carrying a score
/// attribute.
pub(crate) fn is_feedback_span(span: &Span) -> bool {
    if span.links.is_empty() {
        return false;
    }
    let evaluator = matches!(
        span.attr(OPENINFERENCE_SPAN_KIND),
        Some(Value::StringValue(k)) if k.trim().eq_ignore_ascii_case(EVALUATOR_KIND)
    );
    (evaluator
        || span
            .attributes
            .iter()
            .any(|kv| FEEDBACK_SCORE_KEYS.contains(&kv.key.as_str())))
        && rated_link(&span.links).is_some()
}

fn from_feedback_span(span: &Span) -> Option<Score> {
    if !is_feedback_span(span) {
        return None;
    }
    let (trace_id, span_id) = rated_link(&span.links)?;
    let get = |k: &str| span.attr(k);
    let first_text = |keys: &[&str]| keys.iter().find_map(|k| text(get(k)));
    Some(Score {
        name: first_text(&FEEDBACK_NAME_KEYS).unwrap_or_else(|| span.name.clone()),
        value: VALUE_KEYS.iter().find_map(|k| number(get(k))),
        label: first_text(&LABEL_KEYS),
        explanation: first_text(&EXPLANATION_KEYS),
        error_type: text(get(keys::ERROR_TYPE)),
        reviewer_id: REVIEWER_KEYS.iter().find_map(|k| id_text(get(k))),
        annotations: METADATA_KEYS.iter().find_map(|k| json_text(get(k))),
        response_id: id_text(get(keys::GEN_AI_RESPONSE_ID)),
        request_id: first_id(&get, &keys::REQUEST_ID_KEYS),
        trace_id: Some(trace_id),
        span_id: Some(span_id),
        joined_by: ScoreJoin::TraceContext,
        source: ScoreSource::FeedbackSpan,
        time_unix_nano: if span.end_time_unix_nano != 0 {
            span.end_time_unix_nano
        } else {
            span.start_time_unix_nano
        },
        service_name: span.service_name().to_owned(),
    })
}
