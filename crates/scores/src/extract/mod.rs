//! Recognising quality records: [`from_log`] for log records, [`from_span`] for spans.
//!
//! Both are pure functions of what they are given: they read, never mutate, and allocate
//! only for the [`Score`](tracegate_model::Score)s they return. Neither joins: a score carries the trace and span
//! its record names (a log record's own ids, the span an event is on, a feedback span's
//! link), and [`ScoreBoard::join`](crate::ScoreBoard::join) fills in the rest.
//!
//! # The shapes recognised
//!
//! **`gen_ai.evaluation.result` log record** (OTel GenAI conventions): the record's
//! `event_name`, or its `event.name` field, is `gen_ai.evaluation.result`. Fields are read
//! wherever [`LogRecord::field`](tracegate_model::LogRecord::field) looks (attributes first,
//! then the body map and its nested `metrics` / `config` / `metadata` maps):
//!
//! | score field   | from |
//! |---------------|------|
//! | `name`        | `gen_ai.evaluation.name` (empty when absent) |
//! | `value`       | `gen_ai.evaluation.score.value` (number or numeric string) |
//! | `label`       | `gen_ai.evaluation.score.label` |
//! | `explanation` | `gen_ai.evaluation.explanation` |
//! | `error_type`  | `error.type` |
//! | `response_id` | `gen_ai.response.id` |
//! | `request_id`  | the first of [`keys::REQUEST_ID_KEYS`] present |
//! | trace, span   | the record's `trace_id` / `span_id` |
//!
//! **The seed's quality log**: a record (not an evaluation event) whose `event` field is
//! `quality`, or which has a `rating` field together with at least one of `request_id`,
//! `feedback`, `reviewer_id` or `response_id`. `rating` is the value (a number, a numeric
//! string, or a boolean as 1/0; any other string becomes the label), `feedback` the
//! explanation, `annotations` the annotations (a string as it is, a map or list as JSON
//! text, an empty map as none), `reviewer_id`, `label`, `request_id` (any of
//! [`keys::REQUEST_ID_KEYS`]) and `response_id` (or `gen_ai.response.id`) as named. The name
//! is the `evaluation_name` field, else `user_feedback`.
//!
//! **`gen_ai.evaluation.result` span event**: every event of that name on any span, with the
//! fields of the log record above read from the event's attributes. Its trace and span are
//! the span it is on, unless the event names a `gen_ai.response.id` other than the span's
//! own: then it rates another call, and trace and span are left for the join to find.
//!
//! **Feedback span** (OpenInference style): a span with at least one link to a valid span
//! context, and either `openinference.span.kind` = `EVALUATOR` (any case) or at least one
//! of the score attributes `annotation.score`, `annotation.label`, `annotation.name`,
//! `annotation.explanation`, `feedback.score`, `feedback.label`, `feedback.name`,
//! `feedback.explanation`. It gives one score, about the span its **first** link names:
//!
//! | score field   | from (first present) |
//! |---------------|----------------------|
//! | `name`        | `annotation.name`, `feedback.name`, `gen_ai.evaluation.name`, else the span's name |
//! | `value`       | `annotation.score`, `feedback.score`, `gen_ai.evaluation.score.value` |
//! | `label`       | `annotation.label`, `feedback.label`, `gen_ai.evaluation.score.label` |
//! | `explanation` | `annotation.explanation`, `feedback.explanation`, `gen_ai.evaluation.explanation` |
//! | `reviewer_id` | `annotation.reviewer_id`, `feedback.reviewer_id`, `user.id` |
//! | `annotations` | `annotation.metadata`, `feedback.metadata` (JSON text) |
//! | `error_type`  | `error.type` |
//! | `response_id`, `request_id` | as for the log record |
//! | trace, span   | the first link's |
//!
//! A span that is both (a feedback span carrying evaluation events) gives both.

mod log;
mod span;
#[cfg(test)]
mod tests;

pub use log::{from_log, is_evaluation_event, is_quality_log};
pub use span::{FEEDBACK_NAME_KEYS, FEEDBACK_SCORE_KEYS, OPENINFERENCE_SPAN_KIND, from_span};

use tracegate_model::attr;
use tracegate_model::keys;
use tracegate_model::proto::common::v1::any_value::Value;

/// `openinference.span.kind` value of a feedback span.
pub const EVALUATOR_KIND: &str = "EVALUATOR";

/// The name of a score from the seed's quality log without an `evaluation_name`.
pub const USER_FEEDBACK: &str = "user_feedback";

/// A string, trimmed and non-empty.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::StringValue(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

/// An id: a non-empty string, or an integer written in decimal.
fn id_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::StringValue(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::IntValue(i) => Some(i.to_string()),
        _ => None,
    }
}

/// A number: a double, an integer or a numeric string. Not NaN.
fn number(v: Option<&Value>) -> Option<f64> {
    let n = match v? {
        Value::DoubleValue(d) => *d,
        Value::IntValue(i) => *i as f64,
        Value::StringValue(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (!n.is_nan()).then_some(n)
}

/// JSON text of a value: a string as it is, anything else rendered; an empty map or list
/// is none.
fn json_text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::StringValue(s) if s.trim().is_empty() => None,
        Value::StringValue(s) => Some(s.clone()),
        Value::KvlistValue(l) if l.values.is_empty() => None,
        Value::ArrayValue(a) if a.values.is_empty() => None,
        other => {
            let mut out = String::new();
            attr::render_json(Some(other), &mut out);
            Some(out)
        }
    }
}

/// The first of `keys` that `get` finds, as an id.
fn first_id<'a>(get: &impl Fn(&str) -> Option<&'a Value>, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| id_text(get(k)))
}

/// The fields of a `gen_ai.evaluation.result` event, read through `get` (a log record's
/// fields or an event's attributes), into a score with no trace, span, time or service.
fn evaluation_fields<'a>(get: impl Fn(&str) -> Option<&'a Value>) -> tracegate_model::Score {
    tracegate_model::Score {
        name: text(get(keys::GEN_AI_EVALUATION_NAME)).unwrap_or_default(),
        value: number(get(keys::GEN_AI_EVALUATION_SCORE_VALUE)),
        label: text(get(keys::GEN_AI_EVALUATION_SCORE_LABEL)),
        explanation: text(get(keys::GEN_AI_EVALUATION_EXPLANATION)),
        error_type: text(get(keys::ERROR_TYPE)),
        response_id: id_text(get(keys::GEN_AI_RESPONSE_ID)),
        request_id: first_id(&get, &keys::REQUEST_ID_KEYS),
        ..Default::default()
    }
}
