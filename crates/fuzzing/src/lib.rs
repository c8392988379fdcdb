//! The bodies of tracegate's fuzz targets: one `pub fn TARGET(data: &[u8])` per target in
//! `fuzz/fuzz_targets/`, each feeding bytes from outside to one decoder the way tracegate
//! does, then checking what is cheap to check about the result.
//!
//! Every function must return normally on every input: a panic (including a failed
//! invariant, an overflow in a debug build, or an index out of bounds) is a bug in the code
//! under test, found by `cargo +nightly fuzz run TARGET` and kept as a regression in
//! `fuzz/corpus/TARGET/`, which `tests/corpora.rs` replays on stable.
//!
//! The targets, by the bytes they take:
//! - [`otlp_traces_proto`], [`otlp_logs_proto`]: an OTLP/gRPC or OTLP/HTTP protobuf body, after
//!   prost's decode, through [`SpanBatch::from_request`] / [`LogBatch::from_request`];
//! - [`otlp_traces_json`], [`otlp_logs_json`]: an OTLP/HTTP JSON body through
//!   [`tracegate_otlp::receiver::decode_json_request`] / `decode_json_logs_request`;
//! - [`http_body`]: the HTTP receiver's `Content-Encoding` decoders (gzip, deflate, zstd) with their
//!   caps, [`tracegate_otlp::receiver::decompress_body`];
//! - [`traceql`]: the TraceQL parser, and the parsed query evaluated on a small trace;
//! - [`wal_record`]: a write-ahead-log record's payload,
//!   [`tracegate_pipeline::durability::decode_record`];
//! - [`wal_segment`]: a WAL segment file's bytes, scanned by [`tracegate_wal::record::Scan`],
//!   and segment file names ([`tracegate_wal::segment::parse_name`]).
//!
//! [`TARGETS`] lists them by name, for the corpus replay.

// A failed invariant must stop the fuzzer with the input that broke it: panicking is this
// crate's way of reporting, never reachable from tracegate itself.
#![allow(clippy::panic)]

mod body;
mod otlp;
mod query;
mod wal;

pub use body::http_body;
pub use otlp::{otlp_logs_json, otlp_logs_proto, otlp_traces_json, otlp_traces_proto};
pub use query::traceql;
pub use wal::{wal_record, wal_segment};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by its name in `fuzz/fuzz_targets/` and `fuzz/corpus/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("otlp_traces_proto", otlp_traces_proto),
    ("otlp_logs_proto", otlp_logs_proto),
    ("otlp_traces_json", otlp_traces_json),
    ("otlp_logs_json", otlp_logs_json),
    ("http_body", http_body),
    ("traceql", traceql),
    ("wal_record", wal_record),
    ("wal_segment", wal_segment),
];

#[cfg(doc)]
use tracegate_model::{LogBatch, SpanBatch};
