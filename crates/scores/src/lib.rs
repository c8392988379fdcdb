//! Quality scores: evaluations and feedback, recognised wherever they arrive and joined to
//! the traces they rate.
//!
//! Quality usually comes after the fact: a user's thumbs-down or an offline evaluation
//! lands seconds to minutes after the trace. This crate turns each such record into a
//! [`Score`](tracegate_model::Score) and finds its trace.
//!
//! - [`extract`]: [`from_log`] (a `gen_ai.evaluation.result` log record, the seed's quality
//!   log) and [`from_span`] (`gen_ai.evaluation.result` span events, OpenInference-style
//!   feedback spans). Pure functions; the module docs define every shape field by field.
//! - [`ScoreBoard`]: shared by the `scores` log processor and trace assembly. An index of
//!   recent LLM calls (response id / request id → trace and span), fed from spans at
//!   assembly ingest, joins scores that lack trace context; pending scores wait there for
//!   their trace's release, when [`ScoreBoard::attach`] moves them, and the scores the
//!   trace's own spans carry, into [`Trace::scores`](tracegate_model::Trace::scores).
//! - [`ScoresFactory`]: the `scores` processor of a `logs` pipeline ([`config`]).
//! - [`telemetry`], the metrics: `tracegate_scores_total{source,joined_by}`,
//!   `tracegate_score_join_misses_total{reason}`, `tracegate_score_index_entries`,
//!   `tracegate_score_pending_scores`, `tracegate_score_pending_dropped_total{reason}`.
//!
//! ```
//! use std::sync::Arc;
//! use tracegate_model::{LogRecord, ScoreJoin, Span, SpanId, SpanKind, TraceId, attr, keys};
//! use tracegate_scores::{BoardLimits, ScoreBoard, from_log};
//!
//! let board = ScoreBoard::new(BoardLimits::default());
//! // Trace assembly remembers the LLM span as it arrives...
//! let llm = Span {
//!     resource: Arc::default(), scope: Arc::default(),
//!     trace_id: TraceId([7; 16]), span_id: SpanId([2; 8]), parent_span_id: None,
//!     trace_state: String::new(), flags: 0, name: "chat gpt-4o".into(),
//!     kind: SpanKind::Client, start_time_unix_nano: 0, end_time_unix_nano: 0,
//!     attributes: vec![attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-1")],
//!     dropped_attributes_count: 0, events: vec![], dropped_events_count: 0,
//!     links: vec![], dropped_links_count: 0, status: Default::default(),
//!     facts: Default::default(), origin: Default::default(),
//! };
//! assert!(board.remember_at(&llm, 1_000));
//!
//! // ...and an evaluation that names only the response id joins to it later.
//! let record = LogRecord {
//!     event_name: keys::GEN_AI_EVALUATION_RESULT.into(),
//!     attributes: vec![
//!         attr::string(keys::GEN_AI_EVALUATION_NAME, "relevance"),
//!         attr::double(keys::GEN_AI_EVALUATION_SCORE_VALUE, 0.2),
//!         attr::string(keys::GEN_AI_RESPONSE_ID, "chatcmpl-1"),
//!     ],
//!     ..LogRecord::empty()
//! };
//! let mut score = from_log(&record).unwrap();
//! assert_eq!(board.join_at(&mut score, record.tenant(), 5_000), ScoreJoin::ResponseId);
//! assert_eq!((score.trace_id, score.span_id), (Some(TraceId([7; 16])), Some(SpanId([2; 8]))));
//! ```
//!
//! **Design decisions.**
//! - *No id text in the index.* An entry is keyed by a 128-bit keyed hash of (kind, tenant,
//!   id) and holds only the trace id, span id, time and a flag: 56 bytes in the table plus
//!   24 in the expiry queue, whatever the ids' length. Tenants never see each other's calls
//!   (the tenant is part of the key).
//! - *Bytes per remembered LLM call: 212 bytes* for a call whose span carries both a
//!   response id and a request id (two entries of 106 bytes), at the default bound of
//!   200,000 entries (100,000 such calls, 21.2 MB); between 106 and 142 bytes per entry at
//!   other fill levels, as the tables double (133 at 20,000 entries, 142 at 300,000). The
//!   `bytes_per_call` test measures it (`cargo test -p tracegate-scores --test
//!   bytes_per_call -- --nocapture` prints the table): it fills boards with 10,000 to
//!   200,000 calls and checks that [`ScoreBoard::memory`] (computed from the structures'
//!   capacities) equals what the allocator really handed out. The ids' length does not
//!   matter: no id text is kept.
//! - *Cheap for spans that carry no id.* [`ScoreBoard::remember`] is one pass over the
//!   attributes that looks at a key only when it is long enough and ends in `id`; no lock,
//!   no allocation, no clock read for a span without ids. [`ScoreBoard::attach`] takes no
//!   lock while nothing is pending.
//! - *Sharded, not global.* 16 mutex-guarded shards per structure, with counts split
//!   exactly, so the bound is exact and eviction is oldest first within a shard. Keys
//!   spread evenly but not exactly (a shard holds about 1% more or less than its share),
//!   so the busiest shard starts forgetting slightly before the whole index is full.
//!   Expiry is lazy: a shard drops its expired entries whenever it is next used.
//! - *A score is kept whatever happens.* An unjoined score goes on in its log record,
//!   `joined_by = unresolved`; a pending score let go before its trace's release still
//!   reaches the `scores` table through the logs pipeline. Only counters record it.

pub mod board;
pub mod config;
pub mod extract;
pub mod processor;
pub mod telemetry;

pub use board::{BoardLimits, BoardMemory, BoardStats, Clock, ScoreBoard, wall_clock_ns};
pub use config::ScoresConfig;
pub use extract::{from_log, from_span};
pub use processor::{ScoresFactory, ScoresProcessor};

#[cfg(test)]
mod tests;
