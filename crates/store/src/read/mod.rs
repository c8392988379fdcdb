//! The read side of the archive: Parquet rows back into spans, and traces found by id.
//!
//! - [`decode`]: [`spans_from_batch`], the inverse of [`SpanEncoder`](crate::SpanEncoder):
//!   a `spans` batch → [`Span`](tracegate_model::Span)s with shared resources and scopes
//!   and their facts restored; [`value`] types attribute texts back, [`canonical`] settles
//!   them against the LLM columns and restores the facts;
//! - [`file`](mod@file): one Parquet file → the rows of one trace id, pruning row groups by
//!   statistics and bloom filter and pages by the column index;
//! - [`archive`]: [`ColdArchive`], the archive's spans table as a trace store: lists the
//!   partitions, opens footers with bounded concurrency through byte-bounded [`cache`]s of
//!   parsed footers and bloom filters, and deduplicates what it finds; it adds the
//!   trace's rows of the `scores` table to the spans as events ([`scores`]).
pub mod archive;
pub mod cache;
pub mod canonical;
pub mod decode;
pub mod file;
pub mod scores;
pub mod value;

pub use archive::{ColdArchive, ColdLookup, ColdOptions, ColdScores, ColdWarmup};
pub use cache::CacheStats;
pub use decode::{SpanDecoder, spans_from_batch};
