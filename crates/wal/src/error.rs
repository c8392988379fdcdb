//! The WAL's errors, each with what was being done, where, and whether retrying can help.

use std::path::PathBuf;

/// A boxed error source.
pub type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A file-system operation failed.
    #[error(
        "WAL: could not {what} {path}: {source} (check the disk, its free space and the permissions of wal.dir)"
    )]
    Io {
        /// What was being done, such as `write segment`.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Source,
    },
    /// The WAL holds `max_bytes` already; refuse the request with a retryable status until
    /// exporters checkpoint and segments are deleted.
    #[error("WAL is full: {used} of {max_bytes} bytes held until exporters catch up (retry later)")]
    Full {
        /// Bytes held (segments on disk plus appends in flight).
        used: u64,
        /// The `max_bytes` bound.
        max_bytes: u64,
    },
    /// A record larger than the WAL could ever hold.
    #[error(
        "WAL record of {bytes} bytes is larger than the WAL can hold ({max} bytes); raise wal.max_bytes or send smaller requests"
    )]
    TooLarge {
        /// The record's encoded size.
        bytes: u64,
        /// The largest record accepted.
        max: u64,
    },
    /// Another process has the WAL directory open.
    #[error(
        "WAL directory {dir} is in use by another process (lock file {dir}/LOCK); give each gateway its own wal.dir"
    )]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// `checkpoint` named a consumer that `open` was not given.
    #[error("WAL checkpoint for unknown consumer {consumer:?}; pass it to Wal::open")]
    UnknownConsumer {
        /// The name given.
        consumer: String,
    },
    /// `checkpoint` named an LSN past the end of the log.
    #[error("WAL checkpoint of {consumer:?} at LSN {lsn} is past the end of the log ({end})")]
    CheckpointAhead {
        /// The consumer.
        consumer: String,
        /// The LSN given.
        lsn: u64,
        /// The log's end.
        end: u64,
    },
    /// `open` was given an unusable consumer list.
    #[error("WAL consumers: {reason}")]
    Consumers {
        /// What is wrong with the list.
        reason: String,
    },
    /// The WAL was closed; nothing more can be appended.
    #[error("WAL is closed (the gateway is shutting down; retry against another instance)")]
    Closed,
    /// The writer stopped after an error it cannot recover from (a failed sync, whose data the
    /// kernel may have dropped). Restart the gateway; recovery replays what is on disk.
    #[error("WAL writer stopped after an unrecoverable error: {reason} (restart the gateway)")]
    Failed {
        /// The first error.
        reason: String,
    },
}

impl WalError {
    /// Builds an [`WalError::Io`].
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            what,
            path: path.into(),
            source: Box::new(source),
        }
    }

    /// Whether the same request may succeed later: callers refuse with `UNAVAILABLE` / 503
    /// and `Retry-After` when true, and report a permanent error otherwise.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Io { .. } | Self::Full { .. } | Self::Closed | Self::Failed { .. } => true,
            Self::TooLarge { .. }
            | Self::Locked { .. }
            | Self::UnknownConsumer { .. }
            | Self::CheckpointAhead { .. }
            | Self::Consumers { .. } => false,
        }
    }
}
