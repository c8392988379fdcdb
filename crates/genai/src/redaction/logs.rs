//! The `redaction` log processor: the same [`Redactor`](super::Redactor), config and metrics as
//! for spans, applied to every client string of a log record that reaches disk or an exporter.
//!
//! For each record:
//! - the body: a JSON-object string body is structured first
//!   ([`LogRecord::structure_body`], as `llm_logs` does), so its fields get the key rules;
//!   a map body's entries are then redacted like attributes (blocked keys removed, keys and
//!   values scanned, values bounded by `max_attribute_bytes`, the seed's `prompt` /
//!   `response` / `system_prompt` under the `content` policy); any other body (a string,
//!   JSON-aware, an array, bytes) is scanned and bounded as one value, and a `drop` finding in
//!   it removes the body;
//! - the attributes: as span attributes, with the same log content fields;
//! - the event name, as span event names are (masked, never removed);
//! - the score a quality record carries (`facts.score`): its explanation, label, annotations
//!   and reviewer id;
//! - the resource and scope, once per distinct `Arc` in a batch, as for spans.
//!
//! The severity text is kept as sent. Nesting is bounded by how records are built (the OTLP
//! decoder's recursion limit, [`tracegate_model::log::MAX_JSON_DEPTH`] for JSON bodies). The
//! audit attributes (`tracegate.redacted.count`, …) go on the record's attributes, and the
//! findings count in the metrics of [`super::processor::names`], as for spans.

use super::processor::RedactionProcessor;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tracegate_model::log::{LogBatch, LogRecord};
use tracegate_pipeline::LogProcessor;

impl RedactionProcessor {
    /// Redacts one record's body, attributes, event name and score; the audit goes on the
    /// record's attributes.
    pub fn redact_record(&mut self, record: &mut LogRecord) {
        let r = &self.redactor;
        let t = &mut self.span_tally;
        t.clear();
        record.structure_body();
        r.redact_field(&mut record.event_name, t);
        r.redact_log_fields(&mut record.attributes, t);
        let keep_body = match record.body.as_mut().and_then(|b| b.value.as_mut()) {
            Some(Value::KvlistValue(map)) => {
                r.redact_log_fields(&mut map.values, t);
                true
            }
            Some(value) => r.redact_value(value, t),
            None => true,
        };
        if !keep_body {
            record.body = None;
            t.dropped += 1;
        }
        if let Some(score) = record.facts.score.as_deref_mut() {
            for text in [
                &mut score.explanation,
                &mut score.label,
                &mut score.annotations,
                &mut score.reviewer_id,
            ]
            .into_iter()
            .flatten()
            {
                r.redact_field(text, t);
            }
        }
        if !t.is_empty() {
            t.write_audit(r, &mut record.attributes);
            self.batch_tally.add(t);
        }
    }
}

impl LogProcessor for RedactionProcessor {
    fn process(&mut self, mut batch: LogBatch) -> LogBatch {
        self.redact_items(
            &mut batch.records,
            |r| (&mut r.resource, &mut r.scope),
            Self::redact_record,
        );
        batch
    }
}
