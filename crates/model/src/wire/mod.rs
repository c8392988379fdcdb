//! Encodes spans as an OTLP `ExportTraceServiceRequest` straight from borrowed [`Span`]s,
//! without building the intermediate protobuf structs: nothing is cloned, and the output is
//! what `prost` would write for [`SpanBatch::to_request`] (proto3 defaults left out).
//!
//! The write-ahead log stores batches this way; decoding is plain `prost` followed by
//! [`SpanBatch::from_request`]. [`encode_logs`] does the same for log records.
//!
//! ```
//! use tracegate_model::{wire, SpanBatch};
//! use tracegate_model::proto::collector::trace::v1::ExportTraceServiceRequest;
//! use prost::Message;
//!
//! let batch = SpanBatch::default();
//! let mut bytes = Vec::new();
//! wire::encode_spans(&batch.spans, &mut bytes);
//! let back = ExportTraceServiceRequest::decode(bytes.as_slice()).unwrap();
//! assert_eq!(back, batch.to_request());
//! ```

use crate::span::{Resource, Scope, Span, SpanBatch};
use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, message};
use std::sync::Arc;

/// Why bytes did not decode as a batch.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// Not a valid `ExportTraceServiceRequest`.
    #[error("not an OTLP trace request: {0}")]
    Decode(#[from] prost::DecodeError),
    /// Valid protobuf, but some spans had invalid ids (the encoder never writes such).
    #[error("{0} span(s) with invalid ids")]
    InvalidSpans(u64),
}

/// Appends the OTLP encoding of `spans` to `out`, grouping consecutive spans that share
/// (by pointer) a resource and scope, as [`crate::span::to_request`] does. The spans' facts
/// are left out: they are derived after the write-ahead log.
pub fn encode_spans(spans: &[Span], out: &mut Vec<u8>) {
    encode_items(spans, out);
}

/// Appends the OTLP encoding of log `records` (an `ExportLogsServiceRequest`) to `out`,
/// grouped as [`crate::log::to_request`] groups them, without cloning a record: what
/// `prost` would write for [`LogBatch::to_request`](crate::LogBatch::to_request). Facts are
/// left out.
pub fn encode_logs(records: &[crate::log::LogRecord], out: &mut Vec<u8>) {
    encode_items(records, out);
}

/// What the request encoder needs of an item: its shared resource and scope, and its own
/// message. `ExportTraceServiceRequest` and `ExportLogsServiceRequest` have the same layout
/// around their items (resource = 1, scope items = 2, schema_url = 3 at every level).
pub(crate) trait WireItem {
    fn resource(&self) -> &Arc<Resource>;
    fn scope(&self) -> &Arc<Scope>;
    fn encoded_len(&self) -> usize;
    fn encode(&self, out: &mut Vec<u8>);
}

impl WireItem for Span {
    fn resource(&self) -> &Arc<Resource> {
        &self.resource
    }
    fn scope(&self) -> &Arc<Scope> {
        &self.scope
    }
    fn encoded_len(&self) -> usize {
        span_len(self)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        encode_span(self, out);
    }
}

fn encode_items<T: WireItem>(items: &[T], out: &mut Vec<u8>) {
    let mut item_lens = Vec::with_capacity(items.len());
    item_lens.extend(items.iter().map(T::encoded_len));
    // First the runs and their lengths, so the output is reserved once, exactly: a batch is
    // hundreds of KiB, and growing by doubling would copy it twice over.
    let mut runs = Vec::new();
    let mut total = 0;
    let mut i = 0;
    while i < items.len() {
        let resource = items[i].resource();
        let end = run_end(items, i, |s| Arc::ptr_eq(s.resource(), resource));
        let scopes = scope_runs(items, i, end);
        let resource_body = resource_len(resource);
        let mut rs_len = message_field_len(1, resource_body) + string_len(3, &resource.schema_url);
        for &(a, b) in &scopes {
            rs_len += message_field_len(2, scope_items_len(items, &item_lens, a, b));
        }
        total += message_field_len(1, rs_len);
        runs.push((i, rs_len, resource_body, scopes));
        i = end;
    }
    out.reserve(total);
    for (first, rs_len, resource_body, scopes) in runs {
        let resource = items[first].resource();
        length_delimited(1, rs_len, out);
        length_delimited(1, resource_body, out);
        encode_resource(resource, out);
        for (a, b) in scopes {
            length_delimited(2, scope_items_len(items, &item_lens, a, b), out);
            let scope = items[a].scope();
            length_delimited(1, scope_len(scope), out);
            encode_scope(scope, out);
            for n in a..b {
                length_delimited(2, item_lens[n], out);
                items[n].encode(out);
            }
            string(3, &scope.schema_url, out);
        }
        string(3, &resource.schema_url, out);
    }
}

/// Decodes what [`encode_spans`] wrote.
pub fn decode_spans(bytes: &[u8]) -> Result<SpanBatch, WireError> {
    let request = crate::proto::collector::trace::v1::ExportTraceServiceRequest::decode(bytes)?;
    let (batch, rejections) = SpanBatch::from_request(request);
    if rejections.count > 0 {
        return Err(WireError::InvalidSpans(rejections.count));
    }
    Ok(batch)
}

fn run_end<T>(items: &[T], from: usize, same: impl Fn(&T) -> bool) -> usize {
    from + items[from..].iter().take_while(|s| same(s)).count()
}

fn scope_runs<T: WireItem>(items: &[T], from: usize, end: usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut a = from;
    while a < end {
        let scope = items[a].scope();
        let b = a + items[a..end]
            .iter()
            .take_while(|s| Arc::ptr_eq(s.scope(), scope))
            .count();
        runs.push((a, b));
        a = b;
    }
    runs
}

fn scope_items_len<T: WireItem>(items: &[T], lens: &[usize], a: usize, b: usize) -> usize {
    let scope = items[a].scope();
    message_field_len(1, scope_len(scope))
        + lens[a..b]
            .iter()
            .map(|&l| message_field_len(2, l))
            .sum::<usize>()
        + string_len(3, &scope.schema_url)
}

fn resource_len(r: &Resource) -> usize {
    message::encoded_len_repeated(1, &r.attributes) + uint_len(2, r.dropped_attributes_count.into())
}

fn encode_resource(r: &Resource, out: &mut Vec<u8>) {
    message::encode_repeated(1, &r.attributes, out);
    uint(2, r.dropped_attributes_count.into(), out);
}

fn scope_len(s: &Scope) -> usize {
    string_len(1, &s.name)
        + string_len(2, &s.version)
        + message::encoded_len_repeated(3, &s.attributes)
        + uint_len(4, s.dropped_attributes_count.into())
}

fn encode_scope(s: &Scope, out: &mut Vec<u8>) {
    string(1, &s.name, out);
    string(2, &s.version, out);
    message::encode_repeated(3, &s.attributes, out);
    uint(4, s.dropped_attributes_count.into(), out);
}

fn span_len(s: &Span) -> usize {
    bytes_len(1, &s.trace_id.0)
        + bytes_len(2, &s.span_id.0)
        + string_len(3, &s.trace_state)
        + s.parent_span_id.map_or(0, |p| bytes_len(4, &p.0))
        + string_len(5, &s.name)
        + uint_len(6, kind(s))
        + fixed64_len(7, s.start_time_unix_nano)
        + fixed64_len(8, s.end_time_unix_nano)
        + message::encoded_len_repeated(9, &s.attributes)
        + uint_len(10, s.dropped_attributes_count.into())
        + message::encoded_len_repeated(11, &s.events)
        + uint_len(12, s.dropped_events_count.into())
        + message::encoded_len_repeated(13, &s.links)
        + uint_len(14, s.dropped_links_count.into())
        + message::encoded_len(15, &s.status)
        + if s.flags != 0 { 2 + 4 } else { 0 }
}

fn encode_span(s: &Span, out: &mut Vec<u8>) {
    bytes(1, &s.trace_id.0, out);
    bytes(2, &s.span_id.0, out);
    string(3, &s.trace_state, out);
    if let Some(p) = s.parent_span_id {
        bytes(4, &p.0, out);
    }
    string(5, &s.name, out);
    uint(6, kind(s), out);
    fixed64(7, s.start_time_unix_nano, out);
    fixed64(8, s.end_time_unix_nano, out);
    message::encode_repeated(9, &s.attributes, out);
    uint(10, s.dropped_attributes_count.into(), out);
    message::encode_repeated(11, &s.events, out);
    uint(12, s.dropped_events_count.into(), out);
    message::encode_repeated(13, &s.links, out);
    uint(14, s.dropped_links_count.into(), out);
    // `status` is always present in `to_proto`, so always written.
    message::encode(15, &s.status, out);
    if s.flags != 0 {
        // Field 16, fixed32: a two-byte key.
        encode_key(16, WireType::ThirtyTwoBit, out);
        out.extend_from_slice(&s.flags.to_le_bytes());
    }
}

/// The span kind as its enum number (non-negative: `SpanKind` has no negative values).
fn kind(s: &Span) -> u64 {
    u64::try_from(s.kind as i32).unwrap_or(0)
}

fn key_len(tag: u32) -> usize {
    encoded_len_varint(u64::from(tag << 3))
}

fn length_delimited(tag: u32, len: usize, out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

fn message_field_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn string_len(tag: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        message_field_len(tag, s.len())
    }
}

fn string(tag: u32, s: &str, out: &mut Vec<u8>) {
    if !s.is_empty() {
        length_delimited(tag, s.len(), out);
        out.extend_from_slice(s.as_bytes());
    }
}

fn bytes_len(tag: u32, b: &[u8]) -> usize {
    string_len_bytes(tag, b.len())
}

fn string_len_bytes(tag: u32, len: usize) -> usize {
    if len == 0 {
        0
    } else {
        message_field_len(tag, len)
    }
}

fn bytes(tag: u32, b: &[u8], out: &mut Vec<u8>) {
    if !b.is_empty() {
        length_delimited(tag, b.len(), out);
        out.extend_from_slice(b);
    }
}

fn uint_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(v)
    }
}

fn uint(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(v, out);
    }
}

fn fixed64_len(tag: u32, v: u64) -> usize {
    if v == 0 { 0 } else { key_len(tag) + 8 }
}

fn fixed64(tag: u32, v: u64, out: &mut Vec<u8>) {
    if v != 0 {
        encode_key(tag, WireType::SixtyFourBit, out);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

mod logs;

#[cfg(test)]
mod tests;
