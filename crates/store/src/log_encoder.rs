//! Log records → an Arrow [`RecordBatch`] of the `logs` table
//! ([`logs_schema`](tracegate_model::schema::logs_schema)), one row per record.
//!
//! [`LogEncoder`] appends records one at a time, reading them in place (payloads are
//! shared), and tracks the bytes it holds so the archive can cut files by size. The LLM
//! columns are filled from the canonical attributes the `llm_logs` processor writes
//! (`gen_ai.request.model`, `gen_ai.usage.input_tokens`, `tracegate.latency_ms`, …; see
//! [`LlmAttrs`]), found in the same pass that writes the attribute map; the body is written
//! as it is when it is a string, and as JSON otherwise.
//!
//! Rows are sorted at [`LogEncoder::finish`] by trace id (records without one last, as the
//! files' `sorting_columns` declare), then time, then arrival.

use crate::encoder::{SizeHint, StringMapBuilder};
use crate::error::StoreError;
use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use std::sync::Arc;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::schema;
use tracegate_model::{LogRecord, SpanId, TraceId, attr, keys};

/// Records encoded as one Arrow batch, with the order that sorts them.
#[derive(Debug, Clone)]
pub struct EncodedLogs {
    /// One row per record, in the order they were pushed.
    pub batch: RecordBatch,
    /// Row indices sorted by trace id (none last), then time, then push order.
    pub order: Vec<u32>,
}

/// Bytes counted per row for the fixed-width parts of all columns and their offsets.
const FIXED_ROW_BYTES: usize = 27 * 8 + 64;

/// The sort key of a row: (no trace id, trace id, time, row), so rows without a trace id
/// sort last, as `nulls_first: false` declares.
pub(crate) type RowKey = (bool, TraceId, u64, u32);

/// Builds the columns of the `logs` table, one record at a time.
#[derive(Debug)]
pub struct LogEncoder {
    trace_id: StringBuilder,
    span_id: StringBuilder,
    time: TimestampNanosecondBuilder,
    observed_time: TimestampNanosecondBuilder,
    service_name: StringBuilder,
    scope_name: StringBuilder,
    severity_number: Int32Builder,
    severity_text: StringBuilder,
    event_name: StringBuilder,
    body: StringBuilder,
    resource_attributes: StringMapBuilder,
    attributes: StringMapBuilder,
    kind: StringBuilder,
    request_model: StringBuilder,
    response_model: StringBuilder,
    input_tokens: Int64Builder,
    output_tokens: Int64Builder,
    cost_usd: Float64Builder,
    ttft_ms: Float64Builder,
    finish_reason: StringBuilder,
    latency_ms: Float64Builder,
    queue_wait_ms: Float64Builder,
    temperature: Float64Builder,
    max_tokens: Int64Builder,
    response_id: StringBuilder,
    request_id: StringBuilder,
    user_id: StringBuilder,
    keys: Vec<RowKey>,
    scratch: String,
    bytes: usize,
}

impl Default for LogEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl LogEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        let ts = || TimestampNanosecondBuilder::new().with_timezone("UTC");
        Self {
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            time: ts(),
            observed_time: ts(),
            service_name: StringBuilder::new(),
            scope_name: StringBuilder::new(),
            severity_number: Int32Builder::new(),
            severity_text: StringBuilder::new(),
            event_name: StringBuilder::new(),
            body: StringBuilder::new(),
            resource_attributes: StringMapBuilder::default(),
            attributes: StringMapBuilder::default(),
            kind: StringBuilder::new(),
            request_model: StringBuilder::new(),
            response_model: StringBuilder::new(),
            input_tokens: Int64Builder::new(),
            output_tokens: Int64Builder::new(),
            cost_usd: Float64Builder::new(),
            ttft_ms: Float64Builder::new(),
            finish_reason: StringBuilder::new(),
            latency_ms: Float64Builder::new(),
            queue_wait_ms: Float64Builder::new(),
            temperature: Float64Builder::new(),
            max_tokens: Int64Builder::new(),
            response_id: StringBuilder::new(),
            request_id: StringBuilder::new(),
            user_id: StringBuilder::new(),
            keys: Vec::new(),
            scratch: String::new(),
            bytes: 0,
        }
    }

    /// An empty encoder whose string columns have room for what `hint` describes (the last
    /// file's sizes), so a file like it fills without a buffer growing; as
    /// [`SpanEncoder::with_size_hint`](crate::SpanEncoder::with_size_hint).
    pub fn with_size_hint(hint: &SizeHint) -> Self {
        let mut encoder = Self::new();
        hint.apply(encoder.string_builders());
        encoder
    }

    /// The sizes of this encoder's string columns, for [`Self::with_size_hint`].
    pub fn size_hint(&mut self) -> SizeHint {
        SizeHint::of(self.string_builders())
    }

    /// Every string column builder, map keys and values included, in one fixed order.
    fn string_builders(&mut self) -> [&mut StringBuilder; 18] {
        [
            &mut self.trace_id,
            &mut self.span_id,
            &mut self.service_name,
            &mut self.scope_name,
            &mut self.severity_text,
            &mut self.event_name,
            &mut self.body,
            &mut self.resource_attributes.keys,
            &mut self.resource_attributes.values,
            &mut self.attributes.keys,
            &mut self.attributes.values,
            &mut self.kind,
            &mut self.request_model,
            &mut self.response_model,
            &mut self.finish_reason,
            &mut self.response_id,
            &mut self.request_id,
            &mut self.user_id,
        ]
    }

    /// Encodes `records` into one batch, in the order given.
    pub fn encode<'a>(
        records: impl IntoIterator<Item = &'a LogRecord>,
    ) -> Result<RecordBatch, StoreError> {
        let mut encoder = Self::new();
        for record in records {
            encoder.push(record);
        }
        Ok(encoder.finish()?.batch)
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no record was appended.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Approximate memory held by the builders, in bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.bytes
    }

    /// The time a record's row is placed and sorted by: its time, else its observed time.
    pub fn row_time(record: &LogRecord) -> u64 {
        record.timestamp_unix_nano()
    }

    /// Appends one record as a row. Returns the bytes the row added to
    /// [`Self::estimated_bytes`].
    pub fn push(&mut self, record: &LogRecord) -> usize {
        let row = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        let time = Self::row_time(record);
        self.keys.push((
            record.trace_id.is_none(),
            record.trace_id.unwrap_or_default(),
            time,
            row,
        ));
        let mut bytes = FIXED_ROW_BYTES;
        bytes += append_trace_id(&mut self.trace_id, record.trace_id);
        bytes += append_span_id(&mut self.span_id, record.span_id);
        self.time.append_value(nanos(time));
        self.observed_time.append_option(
            (record.observed_time_unix_nano != 0).then(|| nanos(record.observed_time_unix_nano)),
        );
        bytes += append_str(&mut self.service_name, record.service_name());
        bytes += append_opt_str(&mut self.scope_name, &record.scope.name);
        self.severity_number.append_value(record.severity_number);
        bytes += append_opt_str(&mut self.severity_text, &record.severity_text);
        bytes += append_opt_str(&mut self.event_name, &record.event_name);
        bytes += self.append_body(record);
        bytes += self
            .resource_attributes
            .append(&record.resource.attributes, &mut self.scratch);
        bytes += self
            .attributes
            .append(&record.attributes, &mut self.scratch);
        bytes += append_str(&mut self.kind, record.facts.kind.as_str());
        bytes += self.append_llm(&LlmAttrs::of(&record.attributes));
        self.bytes += bytes;
        bytes
    }

    fn append_body(&mut self, record: &LogRecord) -> usize {
        match record.body.as_ref().and_then(|b| b.value.as_ref()) {
            None => {
                self.body.append_null();
                0
            }
            Some(Value::StringValue(s)) => append_str(&mut self.body, s),
            Some(other) => {
                self.scratch.clear();
                attr::render_json(Some(other), &mut self.scratch);
                self.body.append_value(self.scratch.as_str());
                self.scratch.len()
            }
        }
    }

    fn append_llm(&mut self, a: &LlmAttrs<'_>) -> usize {
        let mut bytes = 0;
        let mut s = |b: &mut StringBuilder, v: Option<&str>| {
            b.append_option(v);
            bytes += v.map_or(0, str::len);
        };
        s(&mut self.request_model, a.str(a.request_model));
        s(&mut self.response_model, a.str(a.response_model));
        s(&mut self.finish_reason, a.finish_reason());
        s(&mut self.response_id, a.str(a.response_id));
        s(&mut self.request_id, a.str(a.request_id));
        s(&mut self.user_id, a.str(a.user_id));
        self.input_tokens.append_option(a.i64(a.input_tokens));
        self.output_tokens.append_option(a.i64(a.output_tokens));
        self.max_tokens.append_option(a.i64(a.max_tokens));
        self.cost_usd.append_option(a.f64(a.cost_usd));
        // TTFT arrives in seconds, as on spans; the column is ms.
        self.ttft_ms.append_option(a.f64(a.ttft_s).map(|s| s * 1e3));
        self.latency_ms.append_option(a.f64(a.latency_ms));
        self.queue_wait_ms.append_option(a.f64(a.queue_wait_ms));
        self.temperature.append_option(a.f64(a.temperature));
        bytes
    }

    /// Finishes the columns into a batch of the `logs` schema, with its sort order.
    pub fn finish(mut self) -> Result<EncodedLogs, StoreError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.observed_time.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.resource_attributes.finish()?),
            Arc::new(self.attributes.finish()?),
            Arc::new(self.kind.finish()),
            Arc::new(self.request_model.finish()),
            Arc::new(self.response_model.finish()),
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.cost_usd.finish()),
            Arc::new(self.ttft_ms.finish()),
            Arc::new(self.finish_reason.finish()),
            Arc::new(self.latency_ms.finish()),
            Arc::new(self.queue_wait_ms.finish()),
            Arc::new(self.temperature.finish()),
            Arc::new(self.max_tokens.finish()),
            Arc::new(self.response_id.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.user_id.finish()),
        ];
        let batch = RecordBatch::try_new(schema::logs_schema(), columns)
            .map_err(StoreError::arrow("assemble the logs batch"))?;
        Ok(EncodedLogs {
            batch,
            order: sorted_rows(self.keys),
        })
    }
}

/// The rows of `keys` in sort order.
pub(crate) fn sorted_rows(mut keys: Vec<RowKey>) -> Vec<u32> {
    keys.sort_unstable();
    keys.into_iter().map(|(_, _, _, row)| row).collect()
}

/// The canonical attributes of one record the LLM columns are read from, found in one pass;
/// the last occurrence of a key wins, as in [`attr::get`].
#[derive(Debug, Default)]
pub struct LlmAttrs<'a> {
    request_model: Option<&'a KeyValue>,
    response_model: Option<&'a KeyValue>,
    input_tokens: Option<&'a KeyValue>,
    output_tokens: Option<&'a KeyValue>,
    cost_usd: Option<&'a KeyValue>,
    ttft_s: Option<&'a KeyValue>,
    finish_reasons: Option<&'a KeyValue>,
    latency_ms: Option<&'a KeyValue>,
    queue_wait_ms: Option<&'a KeyValue>,
    temperature: Option<&'a KeyValue>,
    max_tokens: Option<&'a KeyValue>,
    response_id: Option<&'a KeyValue>,
    request_id: Option<&'a KeyValue>,
    user_id: Option<&'a KeyValue>,
}

impl<'a> LlmAttrs<'a> {
    /// The canonical attributes among `attrs`.
    pub fn of(attrs: &'a [KeyValue]) -> Self {
        let mut found = Self::default();
        for kv in attrs {
            found.note(kv);
        }
        found
    }

    fn note(&mut self, kv: &'a KeyValue) {
        let key = kv.key.as_str();
        // Most keys are none of these; one prefix test rules them out.
        if !(key.starts_with("gen_ai.") || key.starts_with("tracegate.") || key == keys::USER_ID) {
            return;
        }
        let slot = match key {
            keys::GEN_AI_REQUEST_MODEL => &mut self.request_model,
            keys::GEN_AI_RESPONSE_MODEL => &mut self.response_model,
            keys::GEN_AI_USAGE_INPUT_TOKENS => &mut self.input_tokens,
            keys::GEN_AI_USAGE_OUTPUT_TOKENS => &mut self.output_tokens,
            keys::TRACEGATE_COST_USD => &mut self.cost_usd,
            keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK => &mut self.ttft_s,
            keys::GEN_AI_RESPONSE_FINISH_REASONS => &mut self.finish_reasons,
            keys::TRACEGATE_LATENCY_MS => &mut self.latency_ms,
            keys::TRACEGATE_QUEUE_WAIT_MS => &mut self.queue_wait_ms,
            keys::GEN_AI_REQUEST_TEMPERATURE => &mut self.temperature,
            keys::GEN_AI_REQUEST_MAX_TOKENS => &mut self.max_tokens,
            keys::GEN_AI_RESPONSE_ID => &mut self.response_id,
            keys::TRACEGATE_REQUEST_ID => &mut self.request_id,
            keys::USER_ID => &mut self.user_id,
            _ => return,
        };
        *slot = Some(kv);
    }

    fn str(&self, kv: Option<&'a KeyValue>) -> Option<&'a str> {
        kv.and_then(|kv| attr::get_str(std::slice::from_ref(kv), &kv.key))
    }

    fn i64(&self, kv: Option<&'a KeyValue>) -> Option<i64> {
        kv.and_then(|kv| attr::get_i64(std::slice::from_ref(kv), &kv.key))
    }

    fn f64(&self, kv: Option<&'a KeyValue>) -> Option<f64> {
        kv.and_then(|kv| attr::get_f64(std::slice::from_ref(kv), &kv.key))
            .filter(|f| f.is_finite())
    }

    /// The first of `gen_ai.response.finish_reasons` (an array by the conventions, or one
    /// string).
    fn finish_reason(&self) -> Option<&'a str> {
        match self.finish_reasons?.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s),
            Value::ArrayValue(arr) => arr.values.iter().find_map(|v| match v.value.as_ref() {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            }),
            _ => None,
        }
    }
}

pub(crate) fn nanos(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn append_str(b: &mut StringBuilder, s: &str) -> usize {
    b.append_value(s);
    s.len()
}

/// Empty strings become null: OTLP cannot tell "unset" from "empty" for these fields.
pub(crate) fn append_opt_str(b: &mut StringBuilder, s: &str) -> usize {
    if s.is_empty() {
        b.append_null();
        0
    } else {
        append_str(b, s)
    }
}

/// Appends an optional string.
pub(crate) fn append_option(b: &mut StringBuilder, s: Option<&str>) -> usize {
    b.append_option(s);
    s.map_or(0, str::len)
}

/// Appends a trace id as lowercase hex, or null.
pub(crate) fn append_trace_id(b: &mut StringBuilder, id: Option<TraceId>) -> usize {
    let mut hex = [0u8; TraceId::LEN * 2];
    append_option(b, id.as_ref().map(|id| id.write_hex(&mut hex)))
}

/// Appends a span id as lowercase hex, or null.
pub(crate) fn append_span_id(b: &mut StringBuilder, id: Option<SpanId>) -> usize {
    let mut hex = [0u8; SpanId::LEN * 2];
    append_option(b, id.as_ref().map(|id| id.write_hex(&mut hex)))
}

#[cfg(test)]
mod tests;
