//! Scores from log records: the `gen_ai.evaluation.result` event and the seed's quality log.

use super::{USER_FEEDBACK, evaluation_fields, first_id, id_text, json_text, number, text};
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::{LogRecord, Score, ScoreSource, keys};

/// True when `record` is a `gen_ai.evaluation.result` event: its `event_name`, or its
/// `event.name` field.
pub fn is_evaluation_event(record: &LogRecord) -> bool {
    record.event_name == keys::GEN_AI_EVALUATION_RESULT
        || record.field_str("event.name") == Some(keys::GEN_AI_EVALUATION_RESULT)
}

/// True when `record` is the seed's quality log (see the [module docs](super)).
pub fn is_quality_log(record: &LogRecord) -> bool {
    if record.field_str("event").map(str::trim) == Some("quality") {
        return true;
    }
    record.field("rating").is_some()
        && ["request_id", "feedback", "reviewer_id", "response_id"]
            .iter()
            .any(|k| record.field(k).is_some())
}

/// The score a log record carries, if it is a quality record: a `gen_ai.evaluation.result`
/// event or the seed's quality log (see the [module docs](super) for every field). The
/// score's trace and span are the record's own ids, `joined_by` is still
/// [`ScoreJoin::Unresolved`](tracegate_model::ScoreJoin::Unresolved): joining is the
/// board's. Reads only; call [`LogRecord::structure_body`] first so a JSON body counts.
pub fn from_log(record: &LogRecord) -> Option<Score> {
    let get = |k: &str| record.field(k);
    let mut score = if is_evaluation_event(record) {
        evaluation_fields(get)
    } else if is_quality_log(record) {
        quality_fields(record)
    } else {
        return None;
    };
    score.trace_id = record.trace_id;
    score.span_id = record.span_id;
    score.source = ScoreSource::Log;
    score.time_unix_nano = record.timestamp_unix_nano();
    score.service_name = service_of(record);
    Some(score)
}

fn quality_fields(record: &LogRecord) -> Score {
    let get = |k: &str| record.field(k);
    let rating = record.field("rating");
    let (value, rating_label) = match rating {
        Some(Value::BoolValue(b)) => (Some(if *b { 1.0 } else { 0.0 }), None),
        other => match number(other) {
            Some(n) => (Some(n), None),
            None => (None, text(other)),
        },
    };
    Score {
        name: text(get("evaluation_name")).unwrap_or_else(|| USER_FEEDBACK.to_owned()),
        value,
        label: text(get("label")).or(rating_label),
        explanation: text(get("feedback")),
        error_type: text(get(keys::ERROR_TYPE)),
        reviewer_id: id_text(get("reviewer_id")),
        annotations: json_text(get("annotations")),
        response_id: first_id(&get, &[keys::GEN_AI_RESPONSE_ID, "response_id"]),
        request_id: first_id(&get, &keys::REQUEST_ID_KEYS),
        ..Default::default()
    }
}

/// The resource's service, or the record's own `service` field when the resource has none.
fn service_of(record: &LogRecord) -> String {
    let resource = record.service_name();
    if resource != keys::UNKNOWN_SERVICE {
        return resource.to_owned();
    }
    record
        .field_str("service")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(resource)
        .to_owned()
}
