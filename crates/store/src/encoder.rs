//! Spans → an Arrow [`RecordBatch`] of the `spans` table
//! ([`spans_schema`](tracegate_model::schema::spans_schema)).
//!
//! [`SpanEncoder`] appends spans one at a time to typed column builders, reading the spans
//! where they are (payloads are shared, so nothing is cloned), and tracks the bytes it holds
//! so a caller can cut files by size. Ids are written as hex through a stack buffer and
//! non-string attribute values are rendered into one reused `String`.
//!
//! The LLM and breakdown columns are filled from canonical attributes the span already
//! carries (`gen_ai.request.model`, `gen_ai.usage.input_tokens`, `tracegate.cost_usd`, ...,
//! see [`keys`]), found in the same single pass that writes the attribute map; when a span
//! has none they are null. The latency breakdown's facts travel typed in
//! [`Span::facts`](tracegate_model::Span::facts): they fill the category, self-time,
//! critical-path, TTFT (prefill) and decode columns; the rest (network gap, skew, tree marks,
//! TTFT source) go into the attribute map as the `tracegate.*` entries OTLP export gives
//! them. Facts with a column are not repeated in the map ([`has_own_column`]), which keeps
//! about 12 bytes of high-entropy numbers per span out of the file.
//!
//! The nested `events` and `links` columns are built in `nested.rs`, the LLM and breakdown
//! columns in `llm.rs`.

mod llm;
mod nested;

use crate::error::StoreError;
use arrow_array::builder::{Int64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::{ArrayRef, MapArray, RecordBatch, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef, Fields};
use llm::{Canonical, LlmColumns};
use nested::{EventsBuilder, LinksBuilder};
use std::sync::Arc;
use tracegate_model::facts::FactValue;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::schema;
use tracegate_model::{Span, SpanFacts, SpanId, TraceId, attr, keys};

/// Spans encoded as one Arrow batch, with the order that sorts them by (trace_id, start_time).
#[derive(Debug, Clone)]
pub struct EncodedSpans {
    /// One row per span, in the order they were pushed.
    pub batch: RecordBatch,
    /// Row indices sorted by trace id, then start time, then push order.
    pub order: Vec<u32>,
}

/// How many items and bytes each string column of an encoder held (a [`SpanEncoder`], or
/// the `logs` table's); see [`SpanEncoder::with_size_hint`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SizeHint {
    strings: Vec<(usize, usize)>,
}

impl SizeHint {
    /// The sizes of `builders` now.
    pub(crate) fn of<'a>(builders: impl IntoIterator<Item = &'a mut StringBuilder>) -> Self {
        Self {
            strings: builders
                .into_iter()
                .map(|b| {
                    (
                        b.offsets_slice().len().saturating_sub(1),
                        b.values_slice().len(),
                    )
                })
                .collect(),
        }
    }

    /// Gives each of `builders` the room its column had, in the same order as [`Self::of`].
    pub(crate) fn apply<'a>(&self, builders: impl IntoIterator<Item = &'a mut StringBuilder>) {
        for (builder, &(items, bytes)) in builders.into_iter().zip(&self.strings) {
            *builder = StringBuilder::with_capacity(items, bytes);
        }
    }
}

/// Builds the columns of the `spans` table, one span at a time.
///
/// A string column holds at most 2 GiB (Arrow's 32-bit offsets), so cut batches well below
/// that; the archive cuts at `flush_bytes`, at most 1 GiB of [`Self::estimated_bytes`].
#[derive(Debug)]
pub struct SpanEncoder {
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    trace_state: StringBuilder,
    service_name: StringBuilder,
    name: StringBuilder,
    kind: StringBuilder,
    scope_name: StringBuilder,
    scope_version: StringBuilder,
    start_time: TimestampNanosecondBuilder,
    end_time: TimestampNanosecondBuilder,
    duration_ns: Int64Builder,
    status_code: StringBuilder,
    status_message: StringBuilder,
    resource_attributes: StringMapBuilder,
    attributes: StringMapBuilder,
    events: EventsBuilder,
    links: LinksBuilder,
    llm: LlmColumns,
    /// (trace id, start time, row) for sorting at the end.
    keys: Vec<(TraceId, u64, u32)>,
    bytes: usize,
    scratch: String,
}

/// Bytes counted per row for the fixed-width parts of all 35 columns and their offsets.
const FIXED_ROW_BYTES: usize = 35 * 8 + 64;
/// Bytes counted per map entry, event or link, besides its strings.
const ENTRY_BYTES: usize = 16;

impl Default for SpanEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        let ts = || TimestampNanosecondBuilder::new().with_timezone("UTC");
        Self {
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            parent_span_id: StringBuilder::new(),
            trace_state: StringBuilder::new(),
            service_name: StringBuilder::new(),
            name: StringBuilder::new(),
            kind: StringBuilder::new(),
            scope_name: StringBuilder::new(),
            scope_version: StringBuilder::new(),
            start_time: ts(),
            end_time: ts(),
            duration_ns: Int64Builder::new(),
            status_code: StringBuilder::new(),
            status_message: StringBuilder::new(),
            resource_attributes: StringMapBuilder::default(),
            attributes: StringMapBuilder::default(),
            events: EventsBuilder::default(),
            links: LinksBuilder::default(),
            llm: LlmColumns::default(),
            keys: Vec::new(),
            bytes: 0,
            scratch: String::new(),
        }
    }

    /// An empty encoder whose string columns have room for what `hint` describes, so a file
    /// like the last one fills without any buffer growing (each doubling would copy all the
    /// column's bytes so far, and fault in fresh pages for twice the size). Reserving only
    /// maps address space; pages are touched as rows are appended.
    pub fn with_size_hint(hint: &SizeHint) -> Self {
        let mut encoder = Self::new();
        hint.apply(encoder.string_builders());
        encoder
    }

    /// The sizes of this encoder's string columns, for [`Self::with_size_hint`].
    pub fn size_hint(&mut self) -> SizeHint {
        SizeHint::of(self.string_builders())
    }

    /// Every string column builder, nested ones included, in one fixed order.
    fn string_builders(&mut self) -> [&mut StringBuilder; 26] {
        [
            &mut self.trace_id,
            &mut self.span_id,
            &mut self.parent_span_id,
            &mut self.trace_state,
            &mut self.service_name,
            &mut self.name,
            &mut self.kind,
            &mut self.scope_name,
            &mut self.scope_version,
            &mut self.status_code,
            &mut self.status_message,
            &mut self.resource_attributes.keys,
            &mut self.resource_attributes.values,
            &mut self.attributes.keys,
            &mut self.attributes.values,
            &mut self.events.name,
            &mut self.events.attributes.keys,
            &mut self.events.attributes.values,
            &mut self.links.trace_id,
            &mut self.links.span_id,
            &mut self.links.trace_state,
            &mut self.links.attributes.keys,
            &mut self.links.attributes.values,
            &mut self.llm.category,
            &mut self.llm.request_model,
            &mut self.llm.response_model,
        ]
    }

    /// Encodes `spans` into one batch, in the order given.
    pub fn encode<'a>(
        spans: impl IntoIterator<Item = &'a Span>,
    ) -> Result<RecordBatch, StoreError> {
        let mut encoder = Self::new();
        for span in spans {
            encoder.push(span);
        }
        Ok(encoder.finish()?.batch)
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no span was appended.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Approximate memory held by the builders, in bytes: every string appended plus a fixed
    /// cost per row and per map entry, event and link.
    pub fn estimated_bytes(&self) -> usize {
        self.bytes
    }

    /// Appends one span as a row.
    pub fn push(&mut self, span: &Span) {
        let row = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys
            .push((span.trace_id, span.start_time_unix_nano, row));
        let mut bytes = FIXED_ROW_BYTES;

        let mut hex32 = [0u8; TraceId::LEN * 2];
        let mut hex16 = [0u8; SpanId::LEN * 2];
        self.trace_id
            .append_value(span.trace_id.write_hex(&mut hex32));
        self.span_id
            .append_value(span.span_id.write_hex(&mut hex16));
        match &span.parent_span_id {
            Some(p) => self.parent_span_id.append_value(p.write_hex(&mut hex16)),
            None => self.parent_span_id.append_null(),
        }
        bytes += 32 + 16 + 16;
        bytes += append_opt_str(&mut self.trace_state, &span.trace_state);
        bytes += append_str(&mut self.service_name, span.service_name());
        bytes += append_str(&mut self.name, &span.name);
        bytes += append_str(&mut self.kind, schema::kind_name(span.kind));
        bytes += append_opt_str(&mut self.scope_name, &span.scope.name);
        bytes += append_opt_str(&mut self.scope_version, &span.scope.version);
        self.start_time
            .append_value(nanos(span.start_time_unix_nano));
        self.end_time.append_value(nanos(span.end_time_unix_nano));
        self.duration_ns.append_value(nanos(span.duration_ns()));
        bytes += append_str(&mut self.status_code, schema::status_name(span.status.code));
        bytes += append_opt_str(&mut self.status_message, &span.status.message);

        bytes += self
            .resource_attributes
            .append(&span.resource.attributes, &mut self.scratch);
        let mut canonical = Canonical::default();
        bytes += self.attributes.append_scanning(
            &span.attributes,
            &span.facts,
            &mut self.scratch,
            &mut canonical,
        );
        bytes += self.events.append(span, &mut self.scratch);
        bytes += self.links.append(span, &mut self.scratch);
        bytes += self.llm.append(&canonical, &span.facts);
        self.bytes += bytes;
    }

    /// Finishes the columns into a batch of the `spans` schema, with its sort order.
    pub fn finish(mut self) -> Result<EncodedSpans, StoreError> {
        let schema = schema::spans_schema();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.scope_name.finish()),
            Arc::new(self.scope_version.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.duration_ns.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
            Arc::new(self.resource_attributes.finish()?),
            Arc::new(self.attributes.finish()?),
            Arc::new(self.events.finish()?),
            Arc::new(self.links.finish()?),
        ];
        let mut columns = columns;
        self.llm.finish_into(&mut columns);
        let batch = RecordBatch::try_new(schema, columns)
            .map_err(StoreError::arrow("assemble the spans batch"))?;
        self.keys.sort_unstable();
        let order = self.keys.into_iter().map(|(_, _, row)| row).collect();
        Ok(EncodedSpans { batch, order })
    }
}

/// True for a derived fact the `spans` table has a column for (category, self time,
/// critical path, prefill as `ttft_ms`, decode as `decode_ms`): the attribute map does not
/// repeat it. Attributes a span arrived with are kept whatever their key.
pub fn has_own_column(fact_key: &str) -> bool {
    matches!(
        fact_key,
        keys::TRACEGATE_CATEGORY
            | keys::TRACEGATE_SELF_TIME_NS
            | keys::TRACEGATE_CRITICAL_PATH_NS
            | keys::TRACEGATE_PREFILL_NS
            | keys::TRACEGATE_DECODE_NS
    )
}

/// List or map offsets; an overflow of 32-bit offsets is reported at `finish`.
#[derive(Debug)]
struct Offsets {
    offsets: Vec<i32>,
    overflow: bool,
}

impl Default for Offsets {
    fn default() -> Self {
        Self {
            offsets: vec![0],
            overflow: false,
        }
    }
}

impl Offsets {
    fn push_length(&mut self, len: usize) {
        let last = self.offsets.last().copied().unwrap_or(0);
        match i32::try_from(len)
            .ok()
            .and_then(|len| last.checked_add(len))
        {
            Some(next) => self.offsets.push(next),
            None => {
                self.overflow = true;
                self.offsets.push(last);
            }
        }
    }

    fn finish(self) -> Result<OffsetBuffer<i32>, StoreError> {
        if self.overflow {
            return Err(StoreError::Arrow {
                context: "build a list or map column",
                source: arrow_schema::ArrowError::ComputeError(
                    "more than 2^31 entries in one column; cut files smaller".into(),
                ),
            });
        }
        Ok(OffsetBuffer::new(ScalarBuffer::from(self.offsets)))
    }
}

fn nanos(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn append_str(b: &mut StringBuilder, s: &str) -> usize {
    b.append_value(s);
    s.len()
}

/// Empty strings become null: OTLP cannot tell "unset" from "empty" for these fields.
fn append_opt_str(b: &mut StringBuilder, s: &str) -> usize {
    if s.is_empty() {
        b.append_null();
        0
    } else {
        b.append_value(s);
        s.len()
    }
}

/// Appends lowercase hex of arbitrary bytes (link ids are not validated).
fn append_hex(b: &mut StringBuilder, bytes: &[u8], scratch: &mut String) -> usize {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    scratch.clear();
    for byte in bytes {
        scratch.push(char::from(DIGITS[usize::from(byte >> 4)]));
        scratch.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    b.append_value(scratch.as_str());
    scratch.len()
}

/// The field a list column of the spans schema holds its items in.
fn list_item_field(column: &'static str) -> Result<FieldRef, StoreError> {
    match schema::spans_schema()
        .field_with_name(column)
        .map(|f| f.data_type().clone())
    {
        Ok(DataType::List(item)) => Ok(item),
        _ => Err(StoreError::Schema { column }),
    }
}

fn struct_fields(field: &FieldRef, column: &'static str) -> Result<Fields, StoreError> {
    match field.data_type() {
        DataType::Struct(fields) => Ok(fields.clone()),
        _ => Err(StoreError::Schema { column }),
    }
}

/// Builds a `map<string,string>` column: strings as they are, other values as JSON, a
/// missing value as null. Shared with the `logs` table's encoder.
#[derive(Debug)]
pub(crate) struct StringMapBuilder {
    offsets: Offsets,
    pub(crate) keys: StringBuilder,
    pub(crate) values: StringBuilder,
}

impl Default for StringMapBuilder {
    fn default() -> Self {
        Self {
            offsets: Offsets::default(),
            keys: StringBuilder::new(),
            values: StringBuilder::new(),
        }
    }
}

impl StringMapBuilder {
    fn append_entry(&mut self, kv: &KeyValue, scratch: &mut String) -> usize {
        self.keys.append_value(&kv.key);
        let value_len = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            None => {
                self.values.append_null();
                0
            }
            Some(Value::StringValue(s)) => {
                self.values.append_value(s);
                s.len()
            }
            Some(other) => {
                scratch.clear();
                attr::render_into(Some(other), scratch);
                self.values.append_value(scratch.as_str());
                scratch.len()
            }
        };
        kv.key.len() + value_len + ENTRY_BYTES
    }

    /// Appends one row's map; returns the bytes it added.
    pub(crate) fn append(&mut self, attrs: &[KeyValue], scratch: &mut String) -> usize {
        let bytes = attrs.iter().map(|kv| self.append_entry(kv, scratch)).sum();
        self.offsets.push_length(attrs.len());
        bytes
    }

    /// As [`Self::append`], noting canonical attributes in the same pass, then those of the
    /// span's derived `facts` that have no column of their own, as the `tracegate.*` entries
    /// OTLP export would give them.
    fn append_scanning<'a>(
        &mut self,
        attrs: &'a [KeyValue],
        facts: &SpanFacts,
        scratch: &mut String,
        canonical: &mut Canonical<'a>,
    ) -> usize {
        let mut bytes = 0;
        for kv in attrs {
            bytes += self.append_entry(kv, scratch);
            canonical.note(kv);
        }
        let mut entries = attrs.len();
        if !facts.is_empty() {
            facts.for_each(|key, value| {
                if has_own_column(key) {
                    return;
                }
                self.keys.append_value(key);
                let rendered = match value {
                    FactValue::Str(s) => s,
                    FactValue::Int(i) => {
                        scratch.clear();
                        attr::render_into(Some(&Value::IntValue(i)), scratch);
                        scratch.as_str()
                    }
                    FactValue::Bool(b) => {
                        if b {
                            "true"
                        } else {
                            "false"
                        }
                    }
                };
                self.values.append_value(rendered);
                bytes += key.len() + rendered.len() + ENTRY_BYTES;
                entries += 1;
            });
        }
        self.offsets.push_length(entries);
        bytes
    }

    /// The finished column.
    pub(crate) fn finish(self) -> Result<MapArray, StoreError> {
        let entries_field = Arc::new(schema::string_map_entries_field());
        let fields = struct_fields(&entries_field, "map entries")?;
        let mut keys = self.keys;
        let mut values = self.values;
        let entries = StructArray::try_new(
            fields,
            vec![
                Arc::new(keys.finish()) as ArrayRef,
                Arc::new(values.finish()),
            ],
            None,
        )
        .map_err(StoreError::arrow("build map entries"))?;
        MapArray::try_new(entries_field, self.offsets.finish()?, entries, None, false)
            .map_err(StoreError::arrow("build a map column"))
    }
}

#[cfg(test)]
mod tests;
