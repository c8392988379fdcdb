//! [`DiskQueue`]: the OTLP exporter's sending queue on disk, bounded in bytes, that survives
//! restarts and crashes.
//!
//! - Batches are appended to segment files (`segment.rs` has the format); each append is
//!   written, and `fdatasync`ed when the log runs in `sync: host` mode, before it returns.
//!   Only then does the exporter tell the write-ahead log the spans are durable.
//! - Senders [`pop`](DiskQueue::pop) batches in order and [`ack`](DiskQueue::ack) each once
//!   it was delivered or given up for good. The *cursor*, the oldest batch not yet acked, is
//!   saved (at most once a second, whenever a segment is finished, and at close), so a
//!   restart resumes there. Delivery is at least once: what was in flight, or acked after the
//!   cursor was last saved, is sent again after a crash.
//! - A segment is deleted once every batch in it was acked.
//! - `max_bytes` bounds the files. An append that would pass it deletes the oldest
//!   segments first; the batches in them not yet handed to a sender are dropped and counted
//!   (`tracegate_exporter_failed_spans_total{error_type="queue_full"}`).
//! - Recovery reads every segment once. A record whose checksum fails is skipped, a write cut
//!   short ends its segment, and an unreadable cursor restarts delivery at the oldest batch;
//!   each is counted (`tracegate_exporter_queue_corrupt_records_total{kind}`), never a panic.
//!
//! Every method does blocking file I/O: call it from `spawn_blocking`. The directory needs no
//! lock of its own: it lives under the write-ahead log's directory, which is locked by the
//! one process that uses it.
//!
//! Crates considered instead: `yaque` (a file-backed async queue: no size bound, no
//! drop-oldest, no per-record checksum) and `queue-file` (a port of Tape's `QueueFile`: one
//! ring file, no checksums, and no way to keep a batch until a sender acks it).

mod segment;
#[cfg(test)]
mod tests;

pub(crate) use segment::Pos;

use bytes::Bytes;
use segment::RecordMeta;
use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracegate_pipeline::telemetry;

/// How often, at most, the cursor is saved as batches are acked.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum QueueError {
    /// A file operation failed.
    #[error(
        "disk queue: cannot {what} {path}: {source}; check that the directory is writable and \
         the disk has room"
    )]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The batch can never fit.
    #[error(
        "disk queue: a batch of {bytes} bytes does not fit (at most {max}); raise \
         sending_queue.max_bytes or send smaller batches"
    )]
    TooLarge { bytes: u64, max: u64 },
}

fn io_error(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> QueueError {
    let path = path.to_owned();
    move |source| QueueError::Io { what, path, source }
}

/// How to open a queue.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The queue's own directory (created if missing).
    pub(crate) dir: PathBuf,
    /// The bound on its files.
    pub(crate) max_bytes: u64,
    /// Segments are closed once they reach this size.
    pub(crate) segment_bytes: u64,
    /// `fdatasync` each append (and the cursor) before it counts.
    pub(crate) sync: bool,
    /// The exporter's id, for metrics and logs.
    pub(crate) exporter: String,
}

impl Options {
    /// A segment size for `max_bytes`: a sixteenth of it, between 64 KiB and 64 MiB, so the
    /// bound drops a small part of the queue at a time.
    pub(crate) fn segment_bytes_for(max_bytes: u64) -> u64 {
        (max_bytes / 16).clamp(64 * 1024, 64 * 1024 * 1024)
    }
}

/// A batch handed to a sender: ack it with `pos`.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) pos: Pos,
    /// The encoded `ExportTraceServiceRequest`.
    pub(crate) body: Bytes,
    pub(crate) spans: usize,
}

/// What an append had to drop to stay within `max_bytes`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) dropped_batches: u64,
    pub(crate) dropped_spans: u64,
}

/// What recovery found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Batches left by the previous run, to be sent.
    pub(crate) batches: u64,
    pub(crate) spans: u64,
    /// Corrupt stretches skipped (torn tails, bad checksums, an unreadable cursor).
    pub(crate) corrupt: u64,
}

/// The queue's size now.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Bytes of its segment files.
    pub(crate) bytes: u64,
    /// Batches not yet acked (in flight included).
    pub(crate) batches: u64,
}

/// A sending queue in a directory. See the module docs.
#[derive(Debug)]
pub(crate) struct DiskQueue {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    /// Bytes of its file.
    bytes: u64,
    /// Records not yet handed to a sender, in order.
    unread: VecDeque<RecordMeta>,
}

#[derive(Debug)]
struct Inner {
    options: Options,
    /// Oldest first; the last is the head, being appended to.
    segments: VecDeque<Segment>,
    head: File,
    /// The head's file had a failed write: start a new one before the next append.
    head_broken: bool,
    /// A read handle on one segment.
    reader: Option<(u64, File)>,
    /// Batches handed out, by position: `true` once acked. Acked batches at the front are
    /// removed, so the first key is the oldest batch in flight.
    in_flight: BTreeMap<Pos, bool>,
    bytes: u64,
    unread: u64,
    saved: Option<Pos>,
    saved_at: Instant,
}

impl DiskQueue {
    /// Opens (or creates) the queue in `options.dir` and recovers what a previous run left.
    pub(crate) fn open(options: Options) -> Result<(Self, Recovered), QueueError> {
        let dir = options.dir.clone();
        std::fs::create_dir_all(&dir).map_err(io_error("create directory", &dir))?;
        let mut recovered = Recovered::default();
        let cursor = match segment::read_cursor(&dir)
            .map_err(io_error("read", &segment::cursor_path(&dir)))?
        {
            Ok(cursor) => cursor,
            Err(()) => {
                tracing::warn!(exporter = %options.exporter, dir = %dir.display(), "the disk queue's cursor is unreadable; resending from the oldest batch kept");
                telemetry::exporter_queue_corrupt(&options.exporter, "cursor");
                recovered.corrupt += 1;
                None
            }
        };
        let mut segments = VecDeque::new();
        let mut next_seq = cursor.map_or(0, |c| c.seq + 1);
        for seq in segment::list(&dir).map_err(io_error("list", &dir))? {
            next_seq = next_seq.max(seq + 1);
            let path = dir.join(segment::file_name(seq));
            if cursor.is_some_and(|c| seq < c.seq) {
                std::fs::remove_file(&path).map_err(io_error("remove delivered segment", &path))?;
                continue;
            }
            let scanned = segment::scan(&path).map_err(io_error("read segment", &path))?;
            if scanned.torn {
                tracing::warn!(exporter = %options.exporter, segment = %path.display(), "the disk queue's segment ends in a torn write; skipping its tail");
                telemetry::exporter_queue_corrupt(&options.exporter, "torn");
                recovered.corrupt += 1;
            }
            for _ in 0..scanned.bad_checksums {
                telemetry::exporter_queue_corrupt(&options.exporter, "checksum");
            }
            if scanned.bad_checksums > 0 {
                tracing::warn!(exporter = %options.exporter, segment = %path.display(), records = scanned.bad_checksums, "skipping disk queue records whose checksum fails");
            }
            recovered.corrupt += scanned.bad_checksums;
            let floor = cursor.filter(|c| c.seq == seq).map_or(0, |c| c.offset);
            let unread: VecDeque<_> = scanned
                .records
                .into_iter()
                .filter(|r| r.offset >= floor)
                .collect();
            if unread.is_empty() {
                // Everything in it was delivered: nothing to keep.
                std::fs::remove_file(&path).map_err(io_error("remove delivered segment", &path))?;
                continue;
            }
            recovered.batches += unread.len() as u64;
            recovered.spans += unread.iter().map(|r| u64::from(r.spans)).sum::<u64>();
            segments.push_back(Segment {
                seq,
                bytes: scanned.bytes,
                unread,
            });
        }
        // Always a fresh head: nothing is appended after a previous run's (maybe torn) tail.
        let head = segment::create(&dir, next_seq).map_err(io_error("create segment in", &dir))?;
        if options.sync {
            segment::sync_dir(&dir).map_err(io_error("sync", &dir))?;
        }
        segments.push_back(Segment {
            seq: next_seq,
            bytes: 0,
            unread: VecDeque::new(),
        });
        let inner = Inner {
            bytes: segments.iter().map(|s| s.bytes).sum(),
            unread: recovered.batches,
            options,
            segments,
            head,
            head_broken: false,
            reader: None,
            in_flight: BTreeMap::new(),
            saved: cursor,
            saved_at: Instant::now(),
        };
        inner.report();
        Ok((
            Self {
                inner: Mutex::new(inner),
            },
            recovered,
        ))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one batch (written, and synced if the queue syncs, when this returns). Drops
    /// the oldest segments first if it would not fit in `max_bytes` otherwise.
    pub(crate) fn append(&self, request: &[u8], spans: u32) -> Result<Appended, QueueError> {
        self.lock().append(request, spans)
    }

    /// The oldest batch not yet handed out, if any. Records that fail their checksum are
    /// skipped and counted.
    pub(crate) fn pop(&self) -> Result<Option<Item>, QueueError> {
        self.lock().pop()
    }

    /// The batch at `pos` was delivered or given up for good; it is not sent again.
    pub(crate) fn ack(&self, pos: Pos) -> Result<(), QueueError> {
        self.lock().ack(pos)
    }

    /// Saves the cursor, so a restart resumes exactly after what was acked.
    pub(crate) fn close(&self) -> Result<(), QueueError> {
        self.lock().save_cursor()
    }

    /// The queue's size.
    pub(crate) fn stats(&self) -> Stats {
        let inner = self.lock();
        Stats {
            bytes: inner.bytes,
            batches: inner.batches(),
        }
    }
}

impl Inner {
    fn dir(&self) -> &Path {
        &self.options.dir
    }

    fn batches(&self) -> u64 {
        self.unread + self.in_flight.len() as u64
    }

    fn report(&self) {
        telemetry::exporter_queue_size(&self.options.exporter, self.bytes, self.batches());
    }

    fn append(&mut self, request: &[u8], spans: u32) -> Result<Appended, QueueError> {
        let record = segment::encode(request, spans);
        let size = record.len() as u64;
        let max = self
            .options
            .max_bytes
            .min((segment::HEADER + segment::MAX_BODY) as u64);
        if size > max {
            return Err(QueueError::TooLarge { bytes: size, max });
        }
        let head_bytes = self.segments.back().map_or(0, |s| s.bytes);
        if self.head_broken || head_bytes >= self.options.segment_bytes {
            self.rotate()?;
        }
        let mut appended = Appended::default();
        while self.bytes + size > self.options.max_bytes {
            if self.segments.len() <= 1 {
                if self.segments.back().is_none_or(|s| s.bytes == 0) {
                    break;
                }
                // Only the head holds data: close it so it can go.
                self.rotate()?;
            }
            self.drop_oldest(&mut appended)?;
        }
        if appended.dropped_batches > 0 {
            tracing::warn!(
                exporter = %self.options.exporter,
                batches = appended.dropped_batches,
                spans = appended.dropped_spans,
                max_bytes = self.options.max_bytes,
                "the disk queue is full (the endpoint has been down or slow for long); dropped the oldest batches"
            );
            if appended.dropped_spans > 0 {
                telemetry::exporter_failed(
                    &self.options.exporter,
                    "queue_full",
                    usize::try_from(appended.dropped_spans).unwrap_or(usize::MAX),
                );
            }
        }
        let written = self.head.write_all(&record).and_then(|()| {
            if self.options.sync {
                self.head.sync_data()
            } else {
                Ok(())
            }
        });
        let Some(head) = self.segments.back_mut() else {
            return Err(self.missing_head());
        };
        if let Err(e) = written {
            self.head_broken = true;
            let path = self.options.dir.join(segment::file_name(head.seq));
            return Err(io_error("write", &path)(e));
        }
        head.unread.push_back(RecordMeta {
            offset: head.bytes,
            len: u32::try_from(record.len() - segment::HEADER).unwrap_or(u32::MAX),
            spans,
        });
        head.bytes += size;
        self.bytes += size;
        self.unread += 1;
        self.report();
        Ok(appended)
    }

    fn missing_head(&self) -> QueueError {
        QueueError::Io {
            what: "find the head segment in",
            path: self.options.dir.clone(),
            source: io::Error::other("no segment is open (a bug)"),
        }
    }

    /// Starts a new head segment.
    fn rotate(&mut self) -> Result<(), QueueError> {
        let seq = self.segments.back().map_or(0, |s| s.seq + 1);
        let dir = self.options.dir.clone();
        let head = segment::create(&dir, seq).map_err(io_error("create segment in", &dir))?;
        if self.options.sync {
            segment::sync_dir(&dir).map_err(io_error("sync", &dir))?;
        }
        self.head = head;
        self.head_broken = false;
        self.segments.push_back(Segment {
            seq,
            bytes: 0,
            unread: VecDeque::new(),
        });
        Ok(())
    }

    /// Deletes the oldest segment (never the head), counting the batches in it that no
    /// sender has taken. Batches in flight from it finish as they are.
    fn drop_oldest(&mut self, appended: &mut Appended) -> Result<(), QueueError> {
        if self.segments.len() <= 1 {
            return Ok(());
        }
        let Some(oldest) = self.segments.pop_front() else {
            return Ok(());
        };
        let path = self.options.dir.join(segment::file_name(oldest.seq));
        if let Err(e) = std::fs::remove_file(&path)
            && e.kind() != io::ErrorKind::NotFound
        {
            self.segments.push_front(oldest);
            return Err(io_error("remove", &path)(e));
        }
        if self
            .reader
            .as_ref()
            .is_some_and(|(seq, _)| *seq == oldest.seq)
        {
            self.reader = None;
        }
        self.bytes = self.bytes.saturating_sub(oldest.bytes);
        self.unread = self.unread.saturating_sub(oldest.unread.len() as u64);
        appended.dropped_batches += oldest.unread.len() as u64;
        appended.dropped_spans += oldest
            .unread
            .iter()
            .map(|r| u64::from(r.spans))
            .sum::<u64>();
        Ok(())
    }

    fn pop(&mut self) -> Result<Option<Item>, QueueError> {
        loop {
            let Some(segment) = self.segments.iter_mut().find(|s| !s.unread.is_empty()) else {
                return Ok(None);
            };
            let seq = segment.seq;
            let Some(meta) = segment.unread.pop_front() else {
                return Ok(None);
            };
            let dir = self.options.dir.clone();
            let path = dir.join(segment::file_name(seq));
            let read = match &mut self.reader {
                Some((at, file)) if *at == seq => segment::read_record(file, &meta),
                _ => segment::open_read(&dir, seq).and_then(|mut file| {
                    let read = segment::read_record(&mut file, &meta);
                    self.reader = Some((seq, file));
                    read
                }),
            };
            match read {
                Ok(Some(body)) => {
                    self.unread = self.unread.saturating_sub(1);
                    let pos = Pos {
                        seq,
                        offset: meta.offset,
                    };
                    self.in_flight.insert(pos, false);
                    self.report();
                    return Ok(Some(Item {
                        pos,
                        body,
                        spans: meta.spans as usize,
                    }));
                }
                Ok(None) => {
                    self.unread = self.unread.saturating_sub(1);
                    tracing::warn!(exporter = %self.options.exporter, segment = %path.display(), offset = meta.offset, spans = meta.spans, "a disk queue record does not verify; dropping it");
                    telemetry::exporter_queue_corrupt(&self.options.exporter, "checksum");
                    telemetry::exporter_failed(
                        &self.options.exporter,
                        "queue_corrupt",
                        meta.spans as usize,
                    );
                    self.report();
                }
                Err(e) => {
                    // Put it back: a later pop tries again.
                    if let Some(segment) = self.segments.iter_mut().find(|s| s.seq == seq) {
                        segment.unread.push_front(meta);
                    }
                    self.reader = None;
                    return Err(io_error("read", &path)(e));
                }
            }
        }
    }

    /// The oldest batch not yet acked.
    fn cursor(&self) -> Pos {
        if let Some((pos, _)) = self.in_flight.first_key_value() {
            return *pos;
        }
        for segment in &self.segments {
            if let Some(meta) = segment.unread.front() {
                return Pos {
                    seq: segment.seq,
                    offset: meta.offset,
                };
            }
        }
        self.segments
            .back()
            .map_or(Pos { seq: 0, offset: 0 }, |s| Pos {
                seq: s.seq,
                offset: s.bytes,
            })
    }

    fn ack(&mut self, pos: Pos) -> Result<(), QueueError> {
        if let Some(done) = self.in_flight.get_mut(&pos) {
            *done = true;
        }
        while let Some(entry) = self.in_flight.first_entry() {
            if !*entry.get() {
                break;
            }
            entry.remove();
        }
        // Delete the segments every batch of which is acked (never the head).
        let cursor = self.cursor();
        let mut finished = false;
        while self.segments.len() > 1 && self.segments.front().is_some_and(|s| s.seq < cursor.seq) {
            let Some(done) = self.segments.pop_front() else {
                break;
            };
            if self
                .reader
                .as_ref()
                .is_some_and(|(seq, _)| *seq == done.seq)
            {
                self.reader = None;
            }
            let path = self.options.dir.join(segment::file_name(done.seq));
            self.bytes = self.bytes.saturating_sub(done.bytes);
            finished = true;
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != io::ErrorKind::NotFound
            {
                self.report();
                return Err(io_error("remove delivered segment", &path)(e));
            }
        }
        self.report();
        if finished || self.saved_at.elapsed() >= SAVE_EVERY {
            self.save_cursor()?;
        }
        Ok(())
    }

    fn save_cursor(&mut self) -> Result<(), QueueError> {
        let cursor = self.cursor();
        if self.saved == Some(cursor) {
            return Ok(());
        }
        let dir = self.dir().to_owned();
        segment::write_cursor(&dir, cursor, self.options.sync)
            .map_err(io_error("save the cursor in", &dir))?;
        self.saved = Some(cursor);
        self.saved_at = Instant::now();
        Ok(())
    }
}
