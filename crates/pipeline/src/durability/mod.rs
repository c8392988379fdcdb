//! Durability: what makes an acknowledged span survive `kill -9`, restarts and outages of
//! the destinations.
//!
//! The order on the ingest path is decode → validate → span processors (normalisation,
//! redaction) → **append to the write-ahead log** → ack → assembly and the rest, so the
//! client's OK means the span is on disk, after redaction (personal data never reaches the
//! log). The log itself is the `tracegate-wal` crate behind the [`Log`] trait, so this crate
//! does not depend on it.
//!
//! What is in the log stays there until every exporter that gets it has made it durable at
//! its destination: the archive after the file holding it is uploaded, the OTLP exporter once
//! the backend took it or it sits in the exporter's own disk queue. The bookkeeping is the
//! [`Ledger`]:
//!
//! - each span carries its record's position, [`Origin`](tracegate_model::Origin), stamped
//!   by the pipeline head after the append;
//! - for each exporter (a *consumer* of the log) the ledger counts, per record, the spans not
//!   yet durable there; exporters report progress through their [`Release`] handle, in
//!   [`OriginCounts`];
//! - an exporter's checkpoint is the oldest record it still has spans of (or, if none, the
//!   log's end, held back by appends still in flight), and the log deletes a segment once
//!   every consumer is past it.
//!
//! A restart replays, from the lowest checkpoint, each record to the pipeline that logged it,
//! straight into trace assembly (the span processors already ran), before the receivers open.
//! Each exporter skips records below its own checkpoint; an exporter that promises
//! exactly-once (the archive) also skips what it finished after its checkpoint was last
//! saved, from its own journal in [`Release::state_dir`].

mod ledger;
mod record;
mod release;

pub use ledger::{Ledger, Ticket};
pub use record::{
    Record, RecordError, decode_record, encode_batch, encode_log_record, encode_record,
};
pub use release::{OriginCounts, Release};

use async_trait::async_trait;
use std::fmt;

/// Why an append failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The log holds its `max_bytes`; retry once exporters catch up.
    #[error("the write-ahead log is full ({used} of {max_bytes} bytes); retry later")]
    Full {
        /// Bytes held.
        used: u64,
        /// The bound.
        max_bytes: u64,
    },
    /// The record can never fit.
    #[error(
        "the batch is too large for the write-ahead log ({bytes} bytes, at most {max}); send smaller batches"
    )]
    TooLarge {
        /// Its encoded size.
        bytes: u64,
        /// The largest record allowed.
        max: u64,
    },
    /// The log cannot write (disk error, closed).
    #[error("the write-ahead log cannot write: {0}")]
    Failed(String),
}

/// The write-ahead log as the pipeline uses it; implemented by `tracegate_wal::Wal`.
#[async_trait]
pub trait Log: Send + Sync + fmt::Debug {
    /// Appends `record`; returns its LSN once it is as durable as the log promises.
    async fn append(&self, record: Vec<u8>) -> Result<u64, LogError>;
    /// `consumer` has made durable every record below `durable_before`. Never goes back.
    fn checkpoint(&self, consumer: &str, durable_before: u64);
    /// The LSN just past the last record written.
    fn end(&self) -> u64;
    /// Writes everything appended and persists the checkpoints.
    async fn flush(&self);
}

/// What the topology needs to run with a log: the log, where exporters keep their state,
/// and what to replay first.
pub struct Durability {
    /// The log.
    pub log: std::sync::Arc<dyn Log>,
    /// Directory under which each exporter gets a state directory of its own.
    pub state_dir: std::path::PathBuf,
    /// Whether the log syncs before the ack (`host` mode); exporters' journals do the same.
    pub sync: bool,
    /// Each consumer's checkpoint when the log was opened: it skips records below it.
    pub checkpoints: std::collections::BTreeMap<String, u64>,
    /// The LSN just past the last record to replay.
    pub replay_end: u64,
    /// The records to replay, in order.
    pub replay: ReplayRecords,
}

/// The records a log replays at start, in LSN order: (LSN, record bytes), or why reading
/// stopped.
pub type ReplayRecords = Box<dyn Iterator<Item = Result<(u64, bytes::Bytes), String>> + Send>;

impl fmt::Debug for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durability")
            .field("log", &self.log)
            .field("state_dir", &self.state_dir)
            .field("sync", &self.sync)
            .field("checkpoints", &self.checkpoints)
            .field("replay_end", &self.replay_end)
            .finish_non_exhaustive()
    }
}
