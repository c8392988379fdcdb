//! tracegate's write-ahead log: spans are appended here before the client gets its ack, and
//! replayed from here after a restart, so an acknowledged span is never lost.
//!
//! Records are opaque bytes (the gateway stores encoded span batches). Each gets an
//! [`Lsn`]: its byte offset in the logical log, across segments, so "every record before
//! LSN x" is well defined and LSNs only grow.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tracegate_wal::WalError> {
//! use tracegate_wal::{Wal, WalConfig};
//! let (wal, replay) = Wal::open(&WalConfig::new("./data/wal"), &["otlp/tempo", "archive"])?;
//! for record in replay {
//!     let (lsn, bytes) = record?;
//!     // hand `bytes` to the consumers whose checkpoint is at or below `lsn`
//! #   let _ = (lsn, bytes);
//! }
//! let lsn = wal.append(b"encoded span batch".to_vec()).await?; // now ack the client
//! wal.checkpoint("otlp/tempo", lsn + 1)?; // once Tempo has it
//! wal.close().await;
//! # Ok(()) }
//! ```
//!
//! # File format
//!
//! A directory of segment files, each named after the LSN of its first byte
//! (`00000000000000065536.wal`), plus `checkpoints` and `LOCK`. A segment is a run of records:
//!
//! ```text
//!  0        4        8        12
//!  +--------+--------+--------+------------------+
//!  | "TGWR" |  len   | crc32c |  payload (len B) |   len: u32 LE
//!  +--------+--------+--------+------------------+   crc32c of (lsn u64 LE ‖ len ‖ payload)
//! ```
//!
//! The checksum covers the length and is seeded with the record's own LSN, so a corrupt
//! length, a stray copy of a record inside a payload or a record at the wrong offset never
//! verifies. The magic marker lets recovery resynchronise past a corrupt record.
//!
//! # Group commit
//!
//! One writer thread does all the file I/O (blocking I/O on its own thread, so `append`
//! never blocks the async runtime). `append` puts the record on a bounded queue and awaits
//! its result. Each turn, the writer takes every append waiting (up to 8 MiB), encodes them
//! as headers beside the payloads, writes them with one vectored `write` (the payloads are not
//! copied), syncs once if asked, and completes them all:
//! under load many requests share one write and one sync ([`WalStats`]: `appended_records`
//! / `writes`).
//!
//! # What an acknowledged append survives ([`SyncMode`])
//!
//! - `process` (default): `append` returns once the write is done, so the record is in the
//!   page cache. A gateway crash or `kill -9` cannot lose it; a host crash or power loss can
//!   lose whatever the kernel had not yet written back.
//! - `host`: `append` returns after `fdatasync` of the segment (and a directory sync when a
//!   segment is created). It survives a host crash too. The cost is one sync per group
//!   commit; see the crate's bench (`benches/append.rs`) for the measured throughput of each.
//!
//! # Checkpoints and deletion
//!
//! Each consumer (exporter) reports [`Wal::checkpoint`]`(consumer, durable_before)`: it has
//! made durable every record below that LSN. Checkpoints never go backwards, and the call does
//! no I/O. The writer persists them (temp file + rename, synced in `host` mode) within a
//! second of a move, before deleting a segment, on [`Wal::flush`] and at close; a crash
//! between a move and its persisting only means replaying more. A segment is deleted only
//! when every consumer's checkpoint is past its last record (the active segment too: the
//! writer starts a fresh one). A restart replays from the lowest checkpoint; each
//! consumer's own is in the [`Replay`] so it can skip what it has.
//!
//! # Measured (`cargo bench -p tracegate-wal -- --quick`, 2-core VM, ext4 on virtio)
//!
//! 64 KiB records, the consumer checkpointing after every append:
//!
//! | sync | appenders | per record | records/s | MB/s | records per write |
//! |---|---|---|---|---|---|
//! | process | 1 | 79 µs | 12,600 | 830 | 1.0 |
//! | process | 8 | 24 µs | 41,800 | 2,740 | 7.1 |
//! | host | 1 | 239 µs | 4,200 | 274 | 1.0 |
//! | host | 8 | 72 µs | 14,000 | 915 | 7.5 |
//!
//! Replay (open + read + verify 64 MiB from the page cache): 7.1 ms, 8.8 GiB/s.
//!
//! # Bounds
//!
//! `max_bytes` bounds segment bytes plus appends in flight. Over it, `append` fails fast with
//! [`WalError::Full`] (retryable: receivers refuse with `UNAVAILABLE` / 503), counted in
//! `tracegate_wal_full_refusals_total`; nothing acknowledged is dropped. The writer's queue
//! holds 4096 appends; more wait in `append`.
//!
//! # Recovery rules
//!
//! - The newest segment's bytes after its last valid record are a write cut short (torn):
//!   they are cut off, counted (`kind="torn"`), and appends continue right after the last
//!   valid record. The gateway still starts.
//! - A stretch that does not verify between valid records is skipped and counted
//!   (`kind="checksum"`), never a panic; replay resumes at the next valid marker.
//! - Files that are not the WAL's are left alone and counted; a segment name used by a
//!   directory, or a segment that cannot be read, is an error naming the path.
//! - A damaged checkpoint file is ignored: everything kept is replayed (duplicates, not
//!   loss). Appends never reuse an LSN below a persisted checkpoint.

mod batch;
mod checkpoint;
mod config;
mod error;
mod log;
pub mod record;
mod recovery;
mod replay;
pub mod segment;
mod wal;
mod writer;

pub use config::{MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, SyncMode, WalConfig};
pub use error::{Source, WalError};
pub use replay::{Replay, ReplayStats};
pub use wal::{Wal, WalStats};

/// A log sequence number: the byte offset of a record in the logical log.
pub type Lsn = u64;

#[cfg(test)]
mod tests;
