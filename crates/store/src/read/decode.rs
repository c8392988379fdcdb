//! A batch of the `spans` table → [`Span`]s: the inverse of
//! [`SpanEncoder`](crate::SpanEncoder).
//!
//! [`spans_from_batch`] gives one span per row, in row order:
//! - ids from lowercase (or uppercase) hex; kind and status code from their names;
//!   timestamps as ns; empty strings for null `trace_state`, `status_message` and scope
//!   name/version;
//! - attribute values typed back from their rendering where it round-trips exactly
//!   ([`value`](super::value) lists what cannot be told apart);
//! - one `Arc<Resource>` per distinct (service name, resource attributes) and one
//!   `Arc<Scope>` per distinct (name, version) in the batch;
//! - [`Span::facts`] restored from the LLM and breakdown columns
//!   ([`canonical`](mod@super::canonical)), so `into_proto()` exports what the live span did.
//!
//! What the table does not hold comes back as its default: trace flags, dropped counts,
//! schema URLs, scope attributes, link flags, and the WAL origin.
//!
//! **Projected batches:** only `trace_id` and `span_id` are required. A missing column
//! decodes as its default (no attributes, kind unspecified, time 0, ...); without the LLM
//! and breakdown columns no facts are restored and canonical attributes keep the type their
//! text suggests. A column present with another type than the schema's is an error.

use super::canonical::{self, LlmRow, RawEntries};
use super::value::parse_rendered;
use crate::error::StoreError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType};
use arrow_array::{
    Array, Float64Array, Int64Array, ListArray, MapArray, RecordBatch, StringArray, StructArray,
    TimestampNanosecondArray,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::Arc;
use tracegate_model::proto::common::v1::{AnyValue, KeyValue};
use tracegate_model::proto::trace::v1::span::{Event, Link};
use tracegate_model::schema::col;
use tracegate_model::{Resource, Scope, Span, SpanId, SpanKind, Status, TraceId};

/// The inverse of `SpanEncoder`: one `Span` per row of a `spans`-table batch. Resources and
/// scopes that repeat are shared (one `Arc` per distinct resource/scope in the batch).
/// `Span::facts` are restored from their columns, so `into_proto()` of a decoded span gives
/// the attributes the live span would have exported. Every resource gets `tenant`.
///
/// See the [module docs](self) for what is lost and for projected batches.
pub fn spans_from_batch(
    batch: &RecordBatch,
    tenant: Option<Arc<str>>,
) -> Result<Vec<Span>, StoreError> {
    SpanDecoder::new(tenant).decode(batch)
}

/// [`spans_from_batch`] for many batches (a block's, a file's row groups): resources and
/// scopes are shared across all the batches it decodes, up to
/// [`SpanDecoder::MAX_DISTINCT`] of each; past that it forgets them and starts sharing
/// afresh (spans stay correct, only less memory is shared).
#[derive(Debug)]
pub struct SpanDecoder {
    tenant: Option<Arc<str>>,
    /// Distinct resources, by an injective text key of (service name, raw entries).
    resources: HashMap<String, Arc<Resource>>,
    /// Distinct scopes, by an injective text key of (name, version).
    scopes: HashMap<String, Arc<Scope>>,
    key: String,
    scratch: String,
}

impl SpanDecoder {
    /// Distinct resources (and scopes) remembered for sharing.
    pub const MAX_DISTINCT: usize = 4096;

    /// A decoder giving every resource `tenant`.
    pub fn new(tenant: Option<Arc<str>>) -> Self {
        Self {
            tenant,
            resources: HashMap::new(),
            scopes: HashMap::new(),
            key: String::new(),
            scratch: String::new(),
        }
    }

    /// One span per row of `batch`, as [`spans_from_batch`].
    pub fn decode(&mut self, batch: &RecordBatch) -> Result<Vec<Span>, StoreError> {
        let columns = Columns::of(batch)?;
        (0..batch.num_rows())
            .map(|row| self.span(&columns, row))
            .collect()
    }
}

fn decode_error(row: usize, what: String) -> StoreError {
    StoreError::Arrow {
        context: "decode a spans batch",
        source: arrow_schema::ArrowError::ParseError(format!("row {row}: {what}")),
    }
}

/// A `map<string,string>` column.
struct MapView<'a> {
    map: &'a MapArray,
    keys: &'a StringArray,
    values: &'a StringArray,
}

impl<'a> MapView<'a> {
    fn of(array: &'a dyn Array, column: &'static str) -> Result<Self, StoreError> {
        let map = array.as_map_opt().ok_or(StoreError::Schema { column })?;
        let keys = map
            .keys()
            .as_string_opt::<i32>()
            .ok_or(StoreError::Schema { column })?;
        let values = map
            .values()
            .as_string_opt::<i32>()
            .ok_or(StoreError::Schema { column })?;
        Ok(Self { map, keys, values })
    }

    fn range(&self, row: usize) -> Range<usize> {
        if self.map.is_null(row) {
            return 0..0;
        }
        let offsets = self.map.value_offsets();
        let start = usize::try_from(offsets[row]).unwrap_or(0);
        let end = usize::try_from(offsets[row + 1]).unwrap_or(start);
        start..end
    }

    fn decode(&self, row: usize, scratch: &mut String) -> Vec<KeyValue> {
        self.range(row)
            .map(|i| KeyValue {
                key: self.keys.value(i).to_owned(),
                value: (!self.values.is_null(i)).then(|| AnyValue {
                    value: Some(parse_rendered(self.values.value(i), scratch)),
                }),
                ..Default::default()
            })
            .collect()
    }
}

/// A `list<struct>` column and its struct's fields.
struct ListView<'a> {
    list: &'a ListArray,
    items: &'a StructArray,
}

impl<'a> ListView<'a> {
    fn of(array: &'a dyn Array, column: &'static str) -> Result<Self, StoreError> {
        let list = array
            .as_list_opt::<i32>()
            .ok_or(StoreError::Schema { column })?;
        let items = list
            .values()
            .as_struct_opt()
            .ok_or(StoreError::Schema { column })?;
        Ok(Self { list, items })
    }

    fn range(&self, row: usize) -> Range<usize> {
        if self.list.is_null(row) {
            return 0..0;
        }
        let offsets = self.list.value_offsets();
        let start = usize::try_from(offsets[row]).unwrap_or(0);
        let end = usize::try_from(offsets[row + 1]).unwrap_or(start);
        start..end
    }

    fn field(&self, name: &str, column: &'static str) -> Result<&'a dyn Array, StoreError> {
        self.items
            .column_by_name(name)
            .map(|c| c.as_ref())
            .ok_or(StoreError::Schema { column })
    }

    fn strings(&self, name: &str, column: &'static str) -> Result<&'a StringArray, StoreError> {
        self.field(name, column)?
            .as_string_opt::<i32>()
            .ok_or(StoreError::Schema { column })
    }
}

struct Events<'a> {
    list: ListView<'a>,
    time: &'a TimestampNanosecondArray,
    name: &'a StringArray,
    attributes: MapView<'a>,
}

struct Links<'a> {
    list: ListView<'a>,
    trace_id: &'a StringArray,
    span_id: &'a StringArray,
    trace_state: &'a StringArray,
    attributes: MapView<'a>,
}

/// The columns of a spans batch, typed; `None` where the batch has no such column.
struct Columns<'a> {
    trace_id: &'a StringArray,
    span_id: &'a StringArray,
    parent_span_id: Option<&'a StringArray>,
    trace_state: Option<&'a StringArray>,
    service_name: Option<&'a StringArray>,
    name: Option<&'a StringArray>,
    kind: Option<&'a StringArray>,
    scope_name: Option<&'a StringArray>,
    scope_version: Option<&'a StringArray>,
    start_time: Option<&'a TimestampNanosecondArray>,
    end_time: Option<&'a TimestampNanosecondArray>,
    status_code: Option<&'a StringArray>,
    status_message: Option<&'a StringArray>,
    resource_attributes: Option<MapView<'a>>,
    attributes: Option<MapView<'a>>,
    events: Option<Events<'a>>,
    links: Option<Links<'a>>,
    llm: LlmColumns<'a>,
}

struct LlmColumns<'a> {
    category: Option<&'a StringArray>,
    operation: Option<&'a StringArray>,
    provider: Option<&'a StringArray>,
    request_model: Option<&'a StringArray>,
    response_model: Option<&'a StringArray>,
    input_tokens: Option<&'a Int64Array>,
    output_tokens: Option<&'a Int64Array>,
    cache_read_tokens: Option<&'a Int64Array>,
    cache_write_tokens: Option<&'a Int64Array>,
    reasoning_tokens: Option<&'a Int64Array>,
    cost_usd: Option<&'a Float64Array>,
    ttft_ms: Option<&'a Float64Array>,
    decode_ms: Option<&'a Float64Array>,
    output_tokens_per_s: Option<&'a Float64Array>,
    finish_reason: Option<&'a StringArray>,
    self_time_ns: Option<&'a Int64Array>,
    critical_path_ns: Option<&'a Int64Array>,
    /// True when every LLM and breakdown column is present, so facts can be restored.
    complete: bool,
}

fn str_at(a: Option<&StringArray>, row: usize) -> Option<&str> {
    a.filter(|a| !a.is_null(row)).map(|a| a.value(row))
}

fn i64_at(a: Option<&Int64Array>, row: usize) -> Option<i64> {
    a.filter(|a| !a.is_null(row)).map(|a| a.value(row))
}

fn f64_at(a: Option<&Float64Array>, row: usize) -> Option<f64> {
    a.filter(|a| !a.is_null(row)).map(|a| a.value(row))
}

fn time_at(a: Option<&TimestampNanosecondArray>, row: usize) -> u64 {
    a.filter(|a| !a.is_null(row))
        .map_or(0, |a| u64::try_from(a.value(row)).unwrap_or(0))
}

impl<'a> Columns<'a> {
    fn of(batch: &'a RecordBatch) -> Result<Self, StoreError> {
        let column = |name: &'static str| batch.column_by_name(name).map(|c| c.as_ref());
        let string = |name: &'static str| -> Result<Option<&'a StringArray>, StoreError> {
            column(name)
                .map(|c| {
                    c.as_string_opt::<i32>()
                        .ok_or(StoreError::Schema { column: name })
                })
                .transpose()
        };
        let int = |name: &'static str| -> Result<Option<&'a Int64Array>, StoreError> {
            column(name)
                .map(|c| {
                    c.as_primitive_opt::<Int64Type>()
                        .ok_or(StoreError::Schema { column: name })
                })
                .transpose()
        };
        let float = |name: &'static str| -> Result<Option<&'a Float64Array>, StoreError> {
            column(name)
                .map(|c| {
                    c.as_primitive_opt::<Float64Type>()
                        .ok_or(StoreError::Schema { column: name })
                })
                .transpose()
        };
        let time =
            |name: &'static str| -> Result<Option<&'a TimestampNanosecondArray>, StoreError> {
                column(name)
                    .map(|c| {
                        c.as_primitive_opt::<TimestampNanosecondType>()
                            .ok_or(StoreError::Schema { column: name })
                    })
                    .transpose()
            };
        let map = |name: &'static str| column(name).map(|c| MapView::of(c, name)).transpose();
        let events = column(col::EVENTS)
            .map(|c| -> Result<Events<'a>, StoreError> {
                let list = ListView::of(c, col::EVENTS)?;
                Ok(Events {
                    time: list
                        .field("time", col::EVENTS)?
                        .as_primitive_opt::<TimestampNanosecondType>()
                        .ok_or(StoreError::Schema {
                            column: col::EVENTS,
                        })?,
                    name: list.strings("name", col::EVENTS)?,
                    attributes: MapView::of(list.field("attributes", col::EVENTS)?, col::EVENTS)?,
                    list,
                })
            })
            .transpose()?;
        let links = column(col::LINKS)
            .map(|c| -> Result<Links<'a>, StoreError> {
                let list = ListView::of(c, col::LINKS)?;
                Ok(Links {
                    trace_id: list.strings("trace_id", col::LINKS)?,
                    span_id: list.strings("span_id", col::LINKS)?,
                    trace_state: list.strings("trace_state", col::LINKS)?,
                    attributes: MapView::of(list.field("attributes", col::LINKS)?, col::LINKS)?,
                    list,
                })
            })
            .transpose()?;
        let mut llm = LlmColumns {
            category: string(col::CATEGORY)?,
            operation: string(col::GEN_AI_OPERATION)?,
            provider: string(col::GEN_AI_PROVIDER)?,
            request_model: string(col::REQUEST_MODEL)?,
            response_model: string(col::RESPONSE_MODEL)?,
            input_tokens: int(col::INPUT_TOKENS)?,
            output_tokens: int(col::OUTPUT_TOKENS)?,
            cache_read_tokens: int(col::CACHE_READ_TOKENS)?,
            cache_write_tokens: int(col::CACHE_WRITE_TOKENS)?,
            reasoning_tokens: int(col::REASONING_TOKENS)?,
            cost_usd: float(col::COST_USD)?,
            ttft_ms: float(col::TTFT_MS)?,
            decode_ms: float(col::DECODE_MS)?,
            output_tokens_per_s: float(col::OUTPUT_TOKENS_PER_S)?,
            finish_reason: string(col::FINISH_REASON)?,
            self_time_ns: int(col::SELF_TIME_NS)?,
            critical_path_ns: int(col::CRITICAL_PATH_NS)?,
            complete: false,
        };
        llm.complete = [
            col::CATEGORY,
            col::GEN_AI_OPERATION,
            col::GEN_AI_PROVIDER,
            col::REQUEST_MODEL,
            col::RESPONSE_MODEL,
            col::INPUT_TOKENS,
            col::OUTPUT_TOKENS,
            col::CACHE_READ_TOKENS,
            col::CACHE_WRITE_TOKENS,
            col::REASONING_TOKENS,
            col::COST_USD,
            col::TTFT_MS,
            col::DECODE_MS,
            col::OUTPUT_TOKENS_PER_S,
            col::FINISH_REASON,
            col::SELF_TIME_NS,
            col::CRITICAL_PATH_NS,
        ]
        .into_iter()
        .all(|name| column(name).is_some());
        Ok(Self {
            trace_id: string(col::TRACE_ID)?.ok_or(StoreError::Schema {
                column: col::TRACE_ID,
            })?,
            span_id: string(col::SPAN_ID)?.ok_or(StoreError::Schema {
                column: col::SPAN_ID,
            })?,
            parent_span_id: string(col::PARENT_SPAN_ID)?,
            trace_state: string(col::TRACE_STATE)?,
            service_name: string(col::SERVICE_NAME)?,
            name: string(col::NAME)?,
            kind: string(col::KIND)?,
            scope_name: string(col::SCOPE_NAME)?,
            scope_version: string(col::SCOPE_VERSION)?,
            start_time: time(col::START_TIME)?,
            end_time: time(col::END_TIME)?,
            status_code: string(col::STATUS_CODE)?,
            status_message: string(col::STATUS_MESSAGE)?,
            resource_attributes: map(col::RESOURCE_ATTRIBUTES)?,
            attributes: map(col::ATTRIBUTES)?,
            events,
            links,
            llm,
        })
    }

    fn llm_row(&self, row: usize) -> LlmRow<'a> {
        let l = &self.llm;
        LlmRow {
            category: str_at(l.category, row),
            operation: str_at(l.operation, row),
            provider: str_at(l.provider, row),
            request_model: str_at(l.request_model, row),
            response_model: str_at(l.response_model, row),
            input_tokens: i64_at(l.input_tokens, row),
            output_tokens: i64_at(l.output_tokens, row),
            cache_read_tokens: i64_at(l.cache_read_tokens, row),
            cache_write_tokens: i64_at(l.cache_write_tokens, row),
            reasoning_tokens: i64_at(l.reasoning_tokens, row),
            cost_usd: f64_at(l.cost_usd, row),
            ttft_ms: f64_at(l.ttft_ms, row),
            decode_ms: f64_at(l.decode_ms, row),
            output_tokens_per_s: f64_at(l.output_tokens_per_s, row),
            finish_reason: str_at(l.finish_reason, row),
            self_time_ns: i64_at(l.self_time_ns, row),
            critical_path_ns: i64_at(l.critical_path_ns, row),
        }
    }
}

/// The archive's names of span kinds → the kind; anything else is unspecified.
fn kind_of(name: &str) -> SpanKind {
    match name {
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        _ => SpanKind::Unspecified,
    }
}

/// The archive's names of status codes → the code; anything else is unset.
fn status_of(name: &str) -> i32 {
    match name {
        "ok" => 1,
        "error" => 2,
        _ => 0,
    }
}

/// Appends `s` to `key` length-prefixed, so concatenations cannot collide.
fn push_part(key: &mut String, s: Option<&str>) {
    match s {
        Some(s) => {
            let _ = write!(key, "{}:", s.len());
            key.push_str(s);
        }
        None => key.push('~'),
    }
}

impl SpanDecoder {
    fn span(&mut self, c: &Columns<'_>, row: usize) -> Result<Span, StoreError> {
        let trace_id = TraceId::from_hex(c.trace_id.value(row))
            .map_err(|e| decode_error(row, e.to_string()))?;
        let span_id =
            SpanId::from_hex(c.span_id.value(row)).map_err(|e| decode_error(row, e.to_string()))?;
        let parent_span_id = str_at(c.parent_span_id, row)
            .map(|p| {
                SpanId::from_hex(p).map_err(|e| decode_error(row, format!("parent_span_id: {e}")))
            })
            .transpose()?;
        let owned = |a: Option<&StringArray>| str_at(a, row).unwrap_or_default().to_owned();

        let mut attributes = Vec::new();
        let mut facts = Default::default();
        if let Some(map) = &c.attributes {
            attributes = map.decode(row, &mut self.scratch);
            if c.llm.complete {
                let raw = RawEntries {
                    values: map.values,
                    start: map.range(row).start,
                };
                facts = canonical::restore(&mut attributes, raw, &c.llm_row(row));
            }
        }

        let events = match &c.events {
            None => Vec::new(),
            Some(e) => e
                .list
                .range(row)
                .map(|i| Event {
                    time_unix_nano: time_at(Some(e.time), i),
                    name: e.name.value(i).to_owned(),
                    attributes: e.attributes.decode(i, &mut self.scratch),
                    dropped_attributes_count: 0,
                })
                .collect(),
        };
        let links = match &c.links {
            None => Vec::new(),
            Some(l) => l
                .list
                .range(row)
                .map(|i| {
                    let id = |a: &StringArray, what: &str| {
                        canonical::id_bytes(a.value(i)).ok_or_else(|| {
                            decode_error(row, format!("link {what} {:?} is not hex", a.value(i)))
                        })
                    };
                    Ok(Link {
                        trace_id: id(l.trace_id, "trace_id")?,
                        span_id: id(l.span_id, "span_id")?,
                        trace_state: str_at(Some(l.trace_state), i)
                            .unwrap_or_default()
                            .to_owned(),
                        attributes: l.attributes.decode(i, &mut self.scratch),
                        dropped_attributes_count: 0,
                        flags: 0,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        };

        Ok(Span {
            resource: self.resource(c, row),
            scope: self.scope(c, row),
            trace_id,
            span_id,
            parent_span_id,
            trace_state: owned(c.trace_state),
            flags: 0,
            name: owned(c.name),
            kind: str_at(c.kind, row).map_or(SpanKind::Unspecified, kind_of),
            start_time_unix_nano: time_at(c.start_time, row),
            end_time_unix_nano: time_at(c.end_time, row),
            attributes,
            dropped_attributes_count: 0,
            events,
            dropped_events_count: 0,
            links,
            dropped_links_count: 0,
            status: Status {
                code: str_at(c.status_code, row).map_or(0, status_of),
                message: owned(c.status_message),
            },
            facts,
            origin: Default::default(),
        })
    }

    fn resource(&mut self, c: &Columns<'_>, row: usize) -> Arc<Resource> {
        let service = str_at(c.service_name, row);
        self.key.clear();
        push_part(&mut self.key, service);
        if let Some(map) = &c.resource_attributes {
            for i in map.range(row) {
                push_part(&mut self.key, Some(map.keys.value(i)));
                push_part(
                    &mut self.key,
                    (!map.values.is_null(i)).then(|| map.values.value(i)),
                );
            }
        }
        if let Some(found) = self.resources.get(self.key.as_str()) {
            return found.clone();
        }
        let attributes = c
            .resource_attributes
            .as_ref()
            .map(|m| m.decode(row, &mut self.scratch))
            .unwrap_or_default();
        let resource = Arc::new(Resource {
            attributes,
            dropped_attributes_count: 0,
            schema_url: String::new(),
            service_name: service.unwrap_or_default().to_owned(),
            tenant: self.tenant.clone(),
        });
        if self.resources.len() >= Self::MAX_DISTINCT {
            self.resources.clear();
        }
        self.resources.insert(self.key.clone(), resource.clone());
        resource
    }

    fn scope(&mut self, c: &Columns<'_>, row: usize) -> Arc<Scope> {
        let name = str_at(c.scope_name, row).unwrap_or_default();
        let version = str_at(c.scope_version, row).unwrap_or_default();
        self.key.clear();
        push_part(&mut self.key, Some(name));
        push_part(&mut self.key, Some(version));
        if let Some(found) = self.scopes.get(self.key.as_str()) {
            return found.clone();
        }
        let scope = Arc::new(Scope {
            name: name.to_owned(),
            version: version.to_owned(),
            ..Default::default()
        });
        if self.scopes.len() >= Self::MAX_DISTINCT {
            self.scopes.clear();
        }
        self.scopes.insert(self.key.clone(), scope.clone());
        scope
    }
}

#[cfg(test)]
mod tests;
