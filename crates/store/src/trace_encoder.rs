//! Released traces → an Arrow [`RecordBatch`] of the `traces` table
//! ([`traces_schema`](tracegate_model::schema::traces_schema)), one row per trace.
//!
//! [`TraceEncoder`] summarises each [`Trace`] in one pass over its spans, reading them in
//! place: start and end, span and error counts, the root's service and name, the distinct
//! services, and the sums the LLM columns need, found in the same pass over each span's
//! attributes ([`keys::GEN_AI_USAGE_INPUT_TOKENS`], [`keys::GEN_AI_USAGE_OUTPUT_TOKENS`],
//! [`keys::TRACEGATE_COST_USD`], [`keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK`]).
//!
//! The critical-path columns (`cp_*_ns`, `top_contributors`) come from
//! [`Trace::critical_path`], the summary the latency breakdown leaves on a whole trace: its
//! categories include `network`, which no span has as its own category, and sum exactly to
//! the path's window. A trace without one (its spans annotated upstream, say) falls back to
//! the same pass: [`keys::TRACEGATE_CRITICAL_PATH_NS`] summed by [`keys::TRACEGATE_CATEGORY`],
//! and the three spans with the largest share.
//!
//! A fragment (late spans, or spans over `max_spans_per_trace`) gets its own row too, with
//! `fragment` set to `late` or `over_cap`, so every span the archive holds is described by
//! some traces row; a query of whole traces filters on `fragment IS NULL`. A trace with no
//! spans has nothing to describe and gets no row.
//!
//! The `scores` column lists [`Trace::scores`] (`scores.rs`), every evaluation or feedback
//! joined to the trace, whatever its source; the `scores` table holds them in full.
//!
//! The sampling columns (`sampled`, `sampling_policy`, `sampling_probability`) copy
//! [`Trace::sampling`], null when no sampler ran. A trace the sampler did not keep still gets
//! its row: the archive may leave its spans out of the `spans` table, never its row here.

use crate::error::StoreError;
use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, NullBufferBuilder, StringBuilder,
    TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_buffer::{OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, FieldRef};
use std::cmp::Reverse;
use std::sync::Arc;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::schema::{
    self, CRITICAL_PATH_CATEGORIES, critical_path_category_index, traces_col,
};
use tracegate_model::{Category, Span, SpanId, Trace, TraceId, attr, keys};

/// Traces encoded as one Arrow batch, with the order that sorts them by (trace_id,
/// start_time).
#[derive(Debug, Clone)]
pub struct EncodedTraces {
    /// One row per trace, in the order they were pushed.
    pub batch: RecordBatch,
    /// Row indices sorted by trace id, then start time, then push order.
    pub order: Vec<u32>,
}

const CATEGORIES: usize = CRITICAL_PATH_CATEGORIES.len();

/// Bytes counted per row for the fixed-width parts of all columns and their offsets.
const FIXED_ROW_BYTES: usize = 35 * 8 + 64;

/// How many of the largest critical-path contributors a row lists.
const TOP: usize = 3;

/// Builds the columns of the `traces` table, one trace at a time.
#[derive(Debug)]
pub struct TraceEncoder {
    trace_id: StringBuilder,
    root_service: StringBuilder,
    root_name: StringBuilder,
    start_time: TimestampNanosecondBuilder,
    end_time: TimestampNanosecondBuilder,
    duration_ns: Int64Builder,
    span_count: Int64Builder,
    error_count: Int64Builder,
    services: ListBuilder<StringBuilder>,
    complete: BooleanBuilder,
    tree_whole: BooleanBuilder,
    release_reason: StringBuilder,
    fragment: StringBuilder,
    critical_path: [Int64Builder; CATEGORIES],
    top_contributors: ContributorsBuilder,
    input_tokens: Int64Builder,
    output_tokens: Int64Builder,
    cost_usd: Float64Builder,
    first_llm_ttft_ms: Float64Builder,
    sampled: BooleanBuilder,
    sampling_policy: StringBuilder,
    sampling_probability: Float64Builder,
    scores: scores::ScoresColumn,
    /// (trace id, start time, row) for sorting at the end.
    keys: Vec<(TraceId, u64, u32)>,
    bytes: usize,
}

impl Default for TraceEncoder {
    fn default() -> Self {
        Self::new()
    }
}

/// The item field of the `services` list, as the schema declares it.
fn services_item_field() -> FieldRef {
    match schema::traces_schema()
        .field_with_name(traces_col::SERVICES)
        .map(|f| f.data_type().clone())
    {
        Ok(DataType::List(item)) => item,
        _ => Arc::new(Field::new("item", DataType::Utf8, false)),
    }
}

impl TraceEncoder {
    /// An empty encoder.
    pub fn new() -> Self {
        let ts = || TimestampNanosecondBuilder::new().with_timezone("UTC");
        Self {
            trace_id: StringBuilder::new(),
            root_service: StringBuilder::new(),
            root_name: StringBuilder::new(),
            start_time: ts(),
            end_time: ts(),
            duration_ns: Int64Builder::new(),
            span_count: Int64Builder::new(),
            error_count: Int64Builder::new(),
            services: ListBuilder::new(StringBuilder::new()).with_field(services_item_field()),
            complete: BooleanBuilder::new(),
            tree_whole: BooleanBuilder::new(),
            release_reason: StringBuilder::new(),
            fragment: StringBuilder::new(),
            critical_path: std::array::from_fn(|_| Int64Builder::new()),
            top_contributors: ContributorsBuilder::default(),
            input_tokens: Int64Builder::new(),
            output_tokens: Int64Builder::new(),
            cost_usd: Float64Builder::new(),
            first_llm_ttft_ms: Float64Builder::new(),
            sampled: BooleanBuilder::new(),
            sampling_policy: StringBuilder::new(),
            sampling_probability: Float64Builder::new(),
            scores: scores::ScoresColumn::default(),
            keys: Vec::new(),
            bytes: 0,
        }
    }

    /// Encodes `traces` into one batch, in the order given.
    pub fn encode<'a>(
        traces: impl IntoIterator<Item = &'a Trace>,
    ) -> Result<RecordBatch, StoreError> {
        let mut encoder = Self::new();
        for trace in traces {
            encoder.push(trace);
        }
        Ok(encoder.finish()?.batch)
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no trace was appended.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Approximate memory held by the builders, in bytes.
    pub fn estimated_bytes(&self) -> usize {
        self.bytes
    }

    /// Appends one trace as a row; a trace with no spans is skipped. Returns the bytes the
    /// row added to [`Self::estimated_bytes`].
    pub fn push(&mut self, trace: &Trace) -> usize {
        let Some(summary) = Summary::of(trace) else {
            return 0;
        };
        let row = u32::try_from(self.keys.len()).unwrap_or(u32::MAX);
        self.keys.push((trace.trace_id, summary.start, row));
        let mut bytes = FIXED_ROW_BYTES;

        let mut hex32 = [0u8; TraceId::LEN * 2];
        self.trace_id
            .append_value(trace.trace_id.write_hex(&mut hex32));
        bytes += 32;
        let root = summary.root;
        let root_service = root.map(Span::service_name);
        let root_name = root.map(|s| s.name.as_str());
        self.root_service.append_option(root_service);
        self.root_name.append_option(root_name);
        bytes += root_service.map_or(0, str::len) + root_name.map_or(0, str::len);
        self.start_time.append_value(nanos(summary.start));
        self.end_time.append_value(nanos(summary.end));
        self.duration_ns
            .append_value(nanos(summary.end.saturating_sub(summary.start)));
        self.span_count.append_value(count(trace.spans.len()));
        self.error_count.append_value(count(summary.errors));
        for service in &summary.services {
            self.services.values().append_value(service);
            bytes += service.len() + 8;
        }
        self.services.append(true);
        self.complete.append_value(trace.is_complete());
        self.tree_whole.append_value(trace.tree_whole);
        let reason = trace.release_reason.as_str();
        self.release_reason.append_value(reason);
        let fragment = trace.fragment.map(|f| f.as_str());
        self.fragment.append_option(fragment);
        bytes += reason.len() + fragment.map_or(0, str::len);
        match trace.critical_path.as_deref() {
            Some(path) => {
                for (builder, &ns) in self.critical_path.iter_mut().zip(&path.by_category) {
                    builder.append_value(nanos(ns));
                }
                bytes += self.top_contributors.append(Some(
                    path.top
                        .iter()
                        .map(|c| (c.name.as_str(), c.service.as_str(), c.ns)),
                ));
            }
            None => {
                let any = summary.any_critical_path;
                for (builder, ns) in self.critical_path.iter_mut().zip(summary.critical_path) {
                    builder.append_option(any.then_some(ns));
                }
                bytes += self.top_contributors.append(any.then(|| {
                    summary
                        .top
                        .iter()
                        .flatten()
                        .map(|c| (c.span.name.as_str(), c.span.service_name(), c.ns))
                }));
            }
        }
        self.input_tokens.append_option(summary.input_tokens);
        self.output_tokens.append_option(summary.output_tokens);
        self.cost_usd.append_option(summary.cost_usd);
        self.first_llm_ttft_ms
            .append_option(summary.first_ttft.map(|(_, s)| s * 1e3));
        let sampling = trace.sampling.as_ref();
        self.sampled.append_option(sampling.map(|s| s.sampled));
        self.sampling_policy
            .append_option(sampling.map(|s| s.policy.as_ref()));
        self.sampling_probability
            .append_option(sampling.map(|s| s.probability));
        bytes += sampling.map_or(0, |s| s.policy.len());
        bytes += self.scores.append(&trace.scores);
        self.bytes += bytes;
        bytes
    }

    /// Finishes the columns into a batch of the `traces` schema, with its sort order.
    pub fn finish(mut self) -> Result<EncodedTraces, StoreError> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.root_service.finish()),
            Arc::new(self.root_name.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.duration_ns.finish()),
            Arc::new(self.span_count.finish()),
            Arc::new(self.error_count.finish()),
            Arc::new(self.services.finish()),
            Arc::new(self.complete.finish()),
            Arc::new(self.tree_whole.finish()),
            Arc::new(self.release_reason.finish()),
            Arc::new(self.fragment.finish()),
        ];
        columns.extend(
            self.critical_path
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        columns.extend([
            Arc::new(self.top_contributors.finish()?) as ArrayRef,
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.cost_usd.finish()),
            Arc::new(self.first_llm_ttft_ms.finish()),
            Arc::new(self.sampled.finish()),
            Arc::new(self.sampling_policy.finish()),
            Arc::new(self.sampling_probability.finish()),
            Arc::new(self.scores.finish()?),
        ]);
        let batch = RecordBatch::try_new(schema::traces_schema(), columns)
            .map_err(StoreError::arrow("assemble the traces batch"))?;
        self.keys.sort_unstable();
        let order = self.keys.into_iter().map(|(_, _, row)| row).collect();
        Ok(EncodedTraces { batch, order })
    }
}

/// What one pass over a trace's spans finds.
struct Summary<'a> {
    start: u64,
    end: u64,
    errors: usize,
    root: Option<&'a Span>,
    /// Sorted and distinct.
    services: Vec<&'a str>,
    /// Summed from span attributes, for a trace without [`Trace::critical_path`].
    critical_path: [i64; CATEGORIES],
    any_critical_path: bool,
    /// The largest critical-path shares by span attribute, largest first; tracked only for a
    /// trace without [`Trace::critical_path`].
    top: [Option<Candidate<'a>>; TOP],
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cost_usd: Option<f64>,
    /// (start of the span, TTFT in seconds) of the earliest-starting span with a TTFT.
    first_ttft: Option<(u64, f64)>,
}

impl<'a> Summary<'a> {
    fn of(trace: &'a Trace) -> Option<Self> {
        let first = trace.spans.first()?;
        let mut s = Summary {
            start: first.start_time_unix_nano,
            end: first.end_time_unix_nano,
            errors: 0,
            root: None,
            services: Vec::new(),
            critical_path: [0; CATEGORIES],
            any_critical_path: false,
            top: [None; TOP],
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
            first_ttft: None,
        };
        for span in &trace.spans {
            s.start = s.start.min(span.start_time_unix_nano);
            s.end = s.end.max(span.end_time_unix_nano);
            s.errors += usize::from(span.is_error());
            if s.root.is_none() && span.is_root() {
                s.root = Some(span);
            }
            let service = span.service_name();
            // Spans of one service tend to come together; skip the common repeat cheaply.
            if s.services.last() != Some(&service) {
                s.services.push(service);
            }
            s.add(span, trace.critical_path.is_none());
        }
        s.services.sort_unstable();
        s.services.dedup();
        Some(s)
    }

    /// Adds the span's canonical attributes, found in one pass (the last occurrence of a key
    /// wins, as in [`attr::get`]); the critical-path ones only when `path_from_attributes`.
    fn add(&mut self, span: &'a Span, path_from_attributes: bool) {
        let mut found = SpanAttrs::default();
        for kv in &span.attributes {
            found.note(kv);
        }
        if path_from_attributes && let Some((ns, category)) = path_share(span, &found) {
            let slot = &mut self.critical_path[critical_path_category_index(category)];
            *slot = slot.saturating_add(ns);
            self.any_critical_path = true;
            if let Ok(ns @ 1..) = u64::try_from(ns) {
                self.consider(Candidate { ns, span });
            }
        }
        if let Some(n) = found.input_tokens.and_then(int) {
            self.input_tokens = Some(self.input_tokens.unwrap_or(0).saturating_add(n));
        }
        if let Some(n) = found.output_tokens.and_then(int) {
            self.output_tokens = Some(self.output_tokens.unwrap_or(0).saturating_add(n));
        }
        if let Some(c) = found.cost_usd.and_then(float) {
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + c);
        }
        if let Some(ttft) = found.ttft_s.and_then(float) {
            let start = span.start_time_unix_nano;
            if self.first_ttft.is_none_or(|(earliest, _)| start < earliest) {
                self.first_ttft = Some((start, ttft));
            }
        }
    }

    /// Keeps `candidate` if it is among the [`TOP`] largest so far.
    fn consider(&mut self, candidate: Candidate<'a>) {
        let mut carry = Some(candidate);
        for slot in &mut self.top {
            match (slot.as_ref(), carry) {
                (_, None) => break,
                (None, Some(_)) => {
                    *slot = carry.take();
                }
                (Some(held), Some(c)) if c.rank() < held.rank() => {
                    carry = slot.replace(c);
                }
                _ => {}
            }
        }
    }
}

/// A span with critical-path time, as a candidate for `top_contributors`.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    ns: u64,
    span: &'a Span,
}

impl Candidate<'_> {
    /// Largest first; ties go to the earliest start, then the lowest span id, as in the
    /// breakdown's own summary.
    fn rank(&self) -> (Reverse<u64>, u64, SpanId) {
        (
            Reverse(self.ns),
            self.span.start_time_unix_nano,
            self.span.span_id,
        )
    }
}

/// Builds the `top_contributors` column: a nullable
/// `list<struct<name, service, critical_path_ns>>`.
#[derive(Debug)]
struct ContributorsBuilder {
    offsets: Vec<i32>,
    validity: NullBufferBuilder,
    name: StringBuilder,
    service: StringBuilder,
    ns: Int64Builder,
}

impl Default for ContributorsBuilder {
    fn default() -> Self {
        Self {
            offsets: vec![0],
            validity: NullBufferBuilder::new(0),
            name: StringBuilder::new(),
            service: StringBuilder::new(),
            ns: Int64Builder::new(),
        }
    }
}

impl ContributorsBuilder {
    /// Appends one row: the (name, service, ns) of each contributor, or null. Returns the
    /// bytes of text it added.
    fn append<'s>(
        &mut self,
        contributors: Option<impl Iterator<Item = (&'s str, &'s str, u64)>>,
    ) -> usize {
        let mut bytes = 0;
        let mut len = self.offsets.last().copied().unwrap_or(0);
        match contributors {
            Some(contributors) => {
                for (name, service, ns) in contributors {
                    self.name.append_value(name);
                    self.service.append_value(service);
                    self.ns.append_value(nanos(ns));
                    // Three entries a row: 2^31 of them is far past any batch the archive
                    // cuts, so saturating never shows.
                    len = len.saturating_add(1);
                    bytes += name.len() + service.len() + 16;
                }
                self.validity.append_non_null();
            }
            None => self.validity.append_null(),
        }
        self.offsets.push(len);
        bytes
    }

    fn finish(mut self) -> Result<ListArray, StoreError> {
        let column = traces_col::TOP_CONTRIBUTORS;
        let item = match schema::traces_schema()
            .field_with_name(column)
            .map(|f| f.data_type().clone())
        {
            Ok(DataType::List(item)) => item,
            _ => return Err(StoreError::Schema { column }),
        };
        let DataType::Struct(fields) = item.data_type().clone() else {
            return Err(StoreError::Schema { column });
        };
        let values = StructArray::try_new(
            fields,
            vec![
                Arc::new(self.name.finish()) as ArrayRef,
                Arc::new(self.service.finish()),
                Arc::new(self.ns.finish()),
            ],
            None,
        )
        .map_err(StoreError::arrow("build the top_contributors column"))?;
        let offsets = ScalarBuffer::from(self.offsets);
        ListArray::try_new(
            item,
            OffsetBuffer::new(offsets),
            Arc::new(values),
            self.validity.finish(),
        )
        .map_err(StoreError::arrow("build the top_contributors column"))
    }
}

/// The attributes of one span the traces row is summed from.
#[derive(Default)]
struct SpanAttrs<'a> {
    category: Option<&'a KeyValue>,
    critical_path_ns: Option<&'a KeyValue>,
    input_tokens: Option<&'a KeyValue>,
    output_tokens: Option<&'a KeyValue>,
    cost_usd: Option<&'a KeyValue>,
    ttft_s: Option<&'a KeyValue>,
}

impl<'a> SpanAttrs<'a> {
    fn note(&mut self, kv: &'a KeyValue) {
        let key = kv.key.as_str();
        // Most keys are neither; one prefix test rules them out.
        if !(key.starts_with("gen_ai.") || key.starts_with("tracegate.")) {
            return;
        }
        let slot = match key {
            keys::TRACEGATE_CATEGORY => &mut self.category,
            keys::TRACEGATE_CRITICAL_PATH_NS => &mut self.critical_path_ns,
            keys::GEN_AI_USAGE_INPUT_TOKENS => &mut self.input_tokens,
            keys::GEN_AI_USAGE_OUTPUT_TOKENS => &mut self.output_tokens,
            keys::TRACEGATE_COST_USD => &mut self.cost_usd,
            keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK => &mut self.ttft_s,
            _ => return,
        };
        *slot = Some(kv);
    }
}

/// A span's critical-path share and category: from its derived facts when it has them, else
/// from `tracegate.*` attributes (an upstream gateway's).
fn path_share<'a>(span: &'a Span, found: &SpanAttrs<'a>) -> Option<(i64, Option<&'a str>)> {
    match span.facts.tree {
        Some(t) => Some((
            nanos(t.critical_path_ns),
            span.facts.category.map(Category::as_str),
        )),
        None => {
            let ns = found.critical_path_ns.and_then(int)?;
            let category = found
                .category
                .and_then(|kv| attr::get_str(one(kv), &kv.key));
            Some((ns, category))
        }
    }
}

fn one(kv: &KeyValue) -> &[KeyValue] {
    std::slice::from_ref(kv)
}

fn int(kv: &KeyValue) -> Option<i64> {
    attr::get_i64(one(kv), &kv.key)
}

fn float(kv: &KeyValue) -> Option<f64> {
    attr::get_f64(one(kv), &kv.key).filter(|f| f.is_finite())
}

fn nanos(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

mod scores;
#[cfg(test)]
mod tests;
