//! Tempo's wire shapes, as Grafana decodes them.
//!
//! - [`search`]: the `/api/search` response (`tempopb.SearchResponse` and its parts) as JSON,
//!   with exactly the fields of `tempo.proto` at commit `87c2dc380c` (May 2025), the schema
//!   Grafana's backend decodes strictly (TEMPO_API.md §5);
//! - [`tags`]: the tag-name and tag-value responses (v1 and v2);
//! - [`trace`]: the trace-by-id messages (`tempopb.Trace`, `tempopb.TraceByIDResponse`) as
//!   prost messages, and [`trace::build_trace`], which turns spans into a trace that keeps
//!   Grafana's invariants (TEMPO_API.md §3.4);
//! - [`jsonpb`]: the JSON form of those messages as Go's `jsonpb` writes it (base64 ids,
//!   64-bit integers as strings, enum names, zero values left out);
//! - [`value`]: OTLP `KeyValue`/`AnyValue` in that JSON form, shared by the others.
//!
//! Every JSON writer here follows jsonpb's defaults: fields use the proto JSON names, fields
//! at their zero value are omitted, `uint64`/`int64` are strings and `uint32` are numbers.

pub mod jsonpb;
pub mod search;
pub mod tags;
pub mod trace;
pub mod value;

/// Serializes a `u64` as a JSON string, as jsonpb writes 64-bit integers.
pub(crate) fn u64_string<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// True at a number's zero value, which jsonpb leaves out.
pub(crate) fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// True at a number's zero value, which jsonpb leaves out.
pub(crate) fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
