//! The late scores' file ([`LateLog`]): every late score the hot store keeps, so they
//! survive a restart.
//!
//! `{path}/@late_scores.log` (the `@` is outside Tempo's tenant rule, so no tenant's
//! directory can have this name) is append-only, a run of records, each
//! `[len u32 LE][crc32c u32 LE][body]` with the checksum over the body (the disk queue's
//! framing). A body is one score, version 1:
//!
//! ```text
//! [1 u8][arrived_ms u64][tenant str][trace_id 16 bytes][span_id opt 8 bytes][name str]
//! [value opt f64][label, explanation, error_type, reviewer_id, annotations, response_id,
//!  request_id: opt str each][joined_by u8][source u8][time_unix_nano u64][service_name str]
//! ```
//!
//! where integers are little-endian, `str` is `[len u32][UTF-8]`, and `opt` is a byte 0
//! (none) or 1 followed by the value. Appends are `fdatasync`ed when the write-ahead log
//! syncs (`sync_writes`). Reading stops at the first record that is cut short or whose
//! checksum fails (a crash mid-append): what follows is counted and dropped. A failed append
//! is cut back to the last whole record before the next attempt, so records stay framed.
//!
//! The file is rewritten with only the live scores ([`LateLog::compact`]: a temporary file,
//! `fsync`, rename, directory `fsync`) when it has grown past about twice their size, and at
//! start after damage.

use super::block::{io_error, sync_dir};
use crate::error::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracegate_model::{Score, ScoreJoin, ScoreSource, SpanId, TraceId};

/// The file's name in the store's directory.
pub(super) const FILE_NAME: &str = "@late_scores.log";
/// The temporary file of a compaction.
const TMP_NAME: &str = "@late_scores.log.tmp";
/// Bytes before a record's body.
const HEADER: usize = 8;
/// The largest body believed: beyond it, a length field is corrupt.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// The body's version byte.
const VERSION: u8 = 1;
/// Below this size the file is never compacted.
const MIN_COMPACT_BYTES: u64 = 64 * 1024;

/// One score as the file holds it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LateRecord {
    /// When it arrived, ms since the epoch.
    pub(super) arrived_ms: u64,
    /// The exact tenant.
    pub(super) tenant: Arc<str>,
    /// The score (its trace id is set).
    pub(super) score: Score,
}

/// `record` framed, ready to append.
pub(super) fn encode(arrived_ms: u64, tenant: &str, score: &Score) -> Vec<u8> {
    let mut out = vec![0; HEADER];
    out.push(VERSION);
    out.extend_from_slice(&arrived_ms.to_le_bytes());
    put_str(&mut out, tenant);
    out.extend_from_slice(&score.trace_id.unwrap_or_default().0);
    match score.span_id {
        Some(s) => {
            out.push(1);
            out.extend_from_slice(&s.0);
        }
        None => out.push(0),
    }
    put_str(&mut out, &score.name);
    match score.value {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        None => out.push(0),
    }
    for s in [
        &score.label,
        &score.explanation,
        &score.error_type,
        &score.reviewer_id,
        &score.annotations,
        &score.response_id,
        &score.request_id,
    ] {
        match s {
            Some(s) => {
                out.push(1);
                put_str(&mut out, s);
            }
            None => out.push(0),
        }
    }
    out.push(join_code(score.joined_by));
    out.push(source_code(score.source));
    out.extend_from_slice(&score.time_unix_nano.to_le_bytes());
    put_str(&mut out, &score.service_name);
    let len = u32::try_from(out.len() - HEADER).unwrap_or(u32::MAX);
    let crc = crc32c::crc32c(&out[HEADER..]);
    out[..4].copy_from_slice(&len.to_le_bytes());
    out[4..HEADER].copy_from_slice(&crc.to_le_bytes());
    out
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn join_code(j: ScoreJoin) -> u8 {
    match j {
        ScoreJoin::TraceContext => 1,
        ScoreJoin::ResponseId => 2,
        ScoreJoin::RequestId => 3,
        _ => 0,
    }
}

fn join_of(c: u8) -> ScoreJoin {
    match c {
        1 => ScoreJoin::TraceContext,
        2 => ScoreJoin::ResponseId,
        3 => ScoreJoin::RequestId,
        _ => ScoreJoin::Unresolved,
    }
}

fn source_code(s: ScoreSource) -> u8 {
    match s {
        ScoreSource::SpanEvent => 1,
        ScoreSource::FeedbackSpan => 2,
        _ => 0,
    }
}

fn source_of(c: u8) -> ScoreSource {
    match c {
        1 => ScoreSource::SpanEvent,
        2 => ScoreSource::FeedbackSpan,
        _ => ScoreSource::Log,
    }
}

/// A reader over one body; every read fails (`None`) past the end.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }
    fn opt_str(&mut self) -> Option<Option<String>> {
        match self.u8()? {
            0 => Some(None),
            1 => Some(Some(self.str()?)),
            _ => None,
        }
    }
}

/// Decodes one body; `None` when it is not a version-1 score.
fn decode(body: &[u8]) -> Option<LateRecord> {
    let mut b = Body(body);
    if b.u8()? != VERSION {
        return None;
    }
    let arrived_ms = b.u64()?;
    let tenant: Arc<str> = Arc::from(b.str()?);
    let trace_id = TraceId(b.take(16)?.try_into().ok()?);
    let span_id = match b.u8()? {
        0 => None,
        1 => Some(SpanId(b.take(8)?.try_into().ok()?)),
        _ => return None,
    };
    let name = b.str()?;
    let value = match b.u8()? {
        0 => None,
        1 => Some(f64::from_bits(b.u64()?)),
        _ => return None,
    };
    let mut strings: [Option<String>; 7] = Default::default();
    for s in &mut strings {
        *s = b.opt_str()?;
    }
    let [
        label,
        explanation,
        error_type,
        reviewer_id,
        annotations,
        response_id,
        request_id,
    ] = strings;
    let joined_by = join_of(b.u8()?);
    let source = source_of(b.u8()?);
    let time_unix_nano = b.u64()?;
    let service_name = b.str()?;
    if !b.0.is_empty() {
        return None;
    }
    Some(LateRecord {
        arrived_ms,
        tenant,
        score: Score {
            name,
            value,
            label,
            explanation,
            error_type,
            reviewer_id,
            annotations,
            response_id,
            request_id,
            trace_id: Some(trace_id),
            span_id,
            joined_by,
            source,
            time_unix_nano,
            service_name,
        },
    })
}

/// What reading the file found.
#[derive(Debug, Default)]
pub(super) struct Replayed {
    /// The whole records, in file order.
    pub(super) records: Vec<LateRecord>,
    /// Bytes of the whole records (where the next append goes).
    pub(super) good_bytes: u64,
    /// Bytes after them: a torn or damaged tail, dropped.
    pub(super) damaged_bytes: u64,
}

/// Reads every whole record of `bytes`, stopping at the first damaged one.
pub(super) fn read_all(bytes: &[u8]) -> Replayed {
    let mut out = Replayed::default();
    let mut at = 0usize;
    while at < bytes.len() {
        let Some(head) = bytes.get(at..at + HEADER) else {
            break;
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_BODY {
            break;
        }
        let Some(body) = bytes.get(at + HEADER..at + HEADER + len) else {
            break;
        };
        if crc32c::crc32c(body) != crc {
            break;
        }
        let Some(record) = decode(body) else { break };
        out.records.push(record);
        at += HEADER + len;
    }
    out.good_bytes = at as u64;
    out.damaged_bytes = (bytes.len() - at) as u64;
    out
}

/// The late scores' file. See the [module docs](self).
#[derive(Debug)]
pub(super) struct LateLog {
    path: PathBuf,
    dir: PathBuf,
    sync: bool,
    /// Open for appending, after the first write.
    file: Option<File>,
    /// Bytes of whole records in the file.
    good_bytes: u64,
    /// A write failed since the last good one: cut the file back before the next.
    dirty: bool,
    /// Records not yet written (a failed append), oldest first, written before new ones.
    pending: Vec<u8>,
}

impl LateLog {
    /// The file in `dir` (written on first append), `fdatasync`ing appends if `sync`.
    pub(super) fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            dir: dir.to_owned(),
            sync: false,
            file: None,
            good_bytes: 0,
            dirty: false,
            pending: Vec::new(),
        }
    }

    /// Whether appends are `fdatasync`ed.
    pub(super) fn set_sync(&mut self, sync: bool) {
        self.sync = sync;
    }

    /// Reads the file, if there is one. Blocking.
    pub(super) fn replay(&mut self) -> Result<Replayed, StoreError> {
        let mut bytes = Vec::new();
        match File::open(&self.path) {
            Ok(mut f) => {
                f.read_to_end(&mut bytes)
                    .map_err(io_error("read", &self.path))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("open", &self.path)(e)),
        }
        let replayed = read_all(&bytes);
        self.good_bytes = replayed.good_bytes;
        // A damaged tail is cut off before anything is appended after it.
        self.dirty = replayed.damaged_bytes > 0;
        Ok(replayed)
    }

    /// Bytes of whole records in the file.
    pub(super) fn bytes(&self) -> u64 {
        self.good_bytes
    }

    /// Whether the file has grown to about twice `live` bytes of records.
    pub(super) fn wants_compaction(&self, live: u64) -> bool {
        self.good_bytes >= MIN_COMPACT_BYTES && self.good_bytes > 2 * live
    }

    fn open(&mut self) -> Result<&mut File, StoreError> {
        if self.dirty {
            if let Some(f) = &self.file {
                f.set_len(self.good_bytes)
                    .map_err(io_error("truncate", &self.path))?;
            } else if self.path.exists() {
                let f = OpenOptions::new()
                    .write(true)
                    .open(&self.path)
                    .map_err(io_error("open", &self.path))?;
                f.set_len(self.good_bytes)
                    .map_err(io_error("truncate", &self.path))?;
            }
            self.dirty = false;
        }
        if self.file.is_none() {
            let created = !self.path.exists();
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io_error("open", &self.path))?;
            if created {
                sync_dir(&self.dir)?;
            }
            self.file = Some(f);
        }
        self.file.as_mut().ok_or_else(|| {
            io_error("open", &self.path)(std::io::Error::other("the file is not open"))
        })
    }

    /// Bytes of records a failed append left to write.
    pub(super) fn pending_bytes(&self) -> usize {
        self.pending.len()
    }

    /// Appends `frames` (from [`encode`]) after any records a failed append left,
    /// `fdatasync`ed if the log syncs. On failure they are kept to write again (the next
    /// append, or [`Self::flush`]), and the file is cut back to its last whole record first.
    /// Blocking.
    pub(super) fn append(&mut self, frames: &[u8]) -> Result<(), StoreError> {
        self.pending.extend_from_slice(frames);
        self.flush()
    }

    /// Writes the records a failed append left. Blocking.
    pub(super) fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let (sync, path) = (self.sync, self.path.clone());
        let frames = std::mem::take(&mut self.pending);
        let result = self.open().and_then(|f| {
            f.write_all(&frames).map_err(io_error("write", &path))?;
            if sync {
                f.sync_data().map_err(io_error("fdatasync", &path))?;
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                self.good_bytes += frames.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.dirty = true;
                self.pending = frames;
                Err(e)
            }
        }
    }

    /// Rewrites the file with only `frames` (the live records, oldest first, which must
    /// include any pending ones): temporary file, `fsync`, rename, directory `fsync`.
    /// Blocking.
    pub(super) fn compact(&mut self, frames: &[u8]) -> Result<(), StoreError> {
        let tmp = self.dir.join(TMP_NAME);
        let written = (|| {
            let mut f = File::create(&tmp).map_err(io_error("create", &tmp))?;
            f.write_all(frames).map_err(io_error("write", &tmp))?;
            f.sync_all().map_err(io_error("fsync", &tmp))?;
            std::fs::rename(&tmp, &self.path).map_err(io_error("rename", &tmp))?;
            sync_dir(&self.dir)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        // The old handle points at the replaced file.
        self.file = None;
        self.dirty = false;
        self.pending.clear();
        self.good_bytes = frames.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn score(name: &str) -> Score {
        Score {
            name: name.into(),
            value: Some(0.25),
            label: Some("good".into()),
            explanation: Some("ü and 🙂".into()),
            annotations: Some(r#"{"a":1}"#.into()),
            trace_id: Some(TraceId([3; 16])),
            span_id: Some(SpanId([4; 8])),
            joined_by: ScoreJoin::ResponseId,
            source: ScoreSource::Log,
            time_unix_nano: 99,
            service_name: "eval".into(),
            ..Default::default()
        }
    }

    #[test]
    fn golden_frame_of_a_minimal_score() {
        let s = Score {
            name: "n".into(),
            trace_id: Some(TraceId([0xab; 16])),
            ..Default::default()
        };
        let frame = encode(5, "t", &s);
        let mut body = vec![1u8];
        body.extend_from_slice(&5u64.to_le_bytes());
        body.extend_from_slice(&[1, 0, 0, 0, b't']);
        body.extend_from_slice(&[0xab; 16]);
        body.push(0); // no span
        body.extend_from_slice(&[1, 0, 0, 0, b'n']);
        body.push(0); // no value
        body.extend_from_slice(&[0; 7]); // no strings
        body.extend_from_slice(&[0, 0]); // unresolved, log
        body.extend_from_slice(&0u64.to_le_bytes());
        body.extend_from_slice(&[0, 0, 0, 0]); // empty service
        assert_eq!(&frame[HEADER..], &body[..]);
        assert_eq!(frame[..4], (body.len() as u32).to_le_bytes());
        assert_eq!(frame[4..8], crc32c::crc32c(&body).to_le_bytes());
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_read() {
        let mut bytes = encode(1, "a", &score("x"));
        let first = bytes.len() as u64;
        bytes.extend(encode(2, "b", &score("y")));
        let whole = read_all(&bytes);
        assert_eq!(whole.records.len(), 2);
        assert_eq!(whole.records[1].tenant.as_ref(), "b");
        assert_eq!(whole.records[1].score, score("y"));
        assert_eq!(whole.damaged_bytes, 0);
        for cut in [first as usize + 3, bytes.len() - 1] {
            let torn = read_all(&bytes[..cut]);
            assert_eq!(torn.records.len(), 1);
            assert_eq!(torn.good_bytes, first);
            assert_eq!(torn.damaged_bytes, cut as u64 - first);
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 1;
        assert_eq!(read_all(&flipped).records.len(), 1);
    }

    #[tokio::test]
    async fn append_replay_compact_and_cut_back_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LateLog::new(dir.path());
        log.set_sync(true);
        assert!(log.replay().unwrap().records.is_empty());
        assert!(
            !dir.path().join(FILE_NAME).exists(),
            "no file before a write"
        );
        log.append(&encode(1, "a", &score("x"))).unwrap();
        log.append(&encode(2, "a", &score("y"))).unwrap();
        // A crash mid-append leaves half a record.
        let half = encode(3, "a", &score("z"));
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(FILE_NAME))
            .unwrap();
        f.write_all(&half[..10]).unwrap();
        drop(f);
        let mut again = LateLog::new(dir.path());
        let replayed = again.replay().unwrap();
        assert_eq!(replayed.records.len(), 2);
        assert_eq!(replayed.damaged_bytes, 10);
        again.append(&encode(4, "a", &score("w"))).unwrap();
        let names: Vec<_> = LateLog::new(dir.path())
            .replay()
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.score.name)
            .collect();
        assert_eq!(names, ["x", "y", "w"], "the torn part was cut off first");
        let live = encode(4, "a", &score("w"));
        again.compact(&live).unwrap();
        assert_eq!(again.bytes(), live.len() as u64);
        again.append(&encode(5, "a", &score("v"))).unwrap();
        let after = LateLog::new(dir.path()).replay().unwrap();
        let names: Vec<_> = after
            .records
            .iter()
            .map(|r| r.score.name.as_str())
            .collect();
        assert_eq!(names, ["w", "v"]);
        assert!(!dir.path().join(TMP_NAME).exists());
    }

    #[test]
    fn compaction_wants_twice_the_live_size() {
        let mut log = LateLog::new(Path::new("/nonexistent"));
        log.good_bytes = MIN_COMPACT_BYTES * 4;
        assert!(log.wants_compaction(MIN_COMPACT_BYTES));
        assert!(!log.wants_compaction(MIN_COMPACT_BYTES * 2));
        log.good_bytes = MIN_COMPACT_BYTES - 1;
        assert!(!log.wants_compaction(0), "small files are left alone");
    }

    proptest! {
        #[test]
        fn any_score_round_trips(
            name in "\\PC{0,20}", tenant in "\\PC{0,20}", value in proptest::option::of(any::<f64>()),
            label in proptest::option::of("\\PC{0,10}"), span in proptest::option::of(any::<[u8; 8]>()),
            trace in any::<[u8; 16]>(), time in any::<u64>(), arrived in any::<u64>(),
            join in 0u8..4, source in 0u8..3,
        ) {
            let s = Score {
                name, value, label, span_id: span.map(SpanId), trace_id: Some(TraceId(trace)),
                time_unix_nano: time, joined_by: join_of(join), source: source_of(source),
                ..Default::default()
            };
            let got = read_all(&encode(arrived, &tenant, &s));
            prop_assert_eq!(got.records.len(), 1);
            let r = &got.records[0];
            prop_assert_eq!(r.arrived_ms, arrived);
            prop_assert_eq!(r.tenant.as_ref(), tenant.as_str());
            prop_assert_eq!(r.score.value.map(f64::to_bits), s.value.map(f64::to_bits));
            prop_assert!(crate::hot::late::same_score(&r.score, &s));
            prop_assert_eq!((r.score.joined_by, r.score.source, r.score.trace_id), (s.joined_by, s.source, s.trace_id));
        }
    }
}
