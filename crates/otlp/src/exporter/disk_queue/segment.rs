//! The disk queue's files: segment names, the record format, reading one record, scanning a
//! segment at recovery, and the cursor file.
//!
//! A segment (`00000000000000000007.seg`) is a run of records, each
//! `[len u32 LE][crc32c u32 LE][body]`, where `body` is `[spans u32 LE][request]`: the span
//! count, then one encoded `ExportTraceServiceRequest`. The checksum covers the body.
//!
//! The cursor file (`cursor`) is `[segment u64 LE][offset u64 LE][crc32c u32 LE]`: the oldest
//! record not yet delivered. It is written to `cursor.tmp` and renamed over the old one, so a
//! crash leaves either the old cursor or the new one.

use bytes::Bytes;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes before a record's body.
pub(super) const HEADER: usize = 8;
/// The span count at the start of a body.
const SPANS: usize = 4;
/// The largest body written or believed: beyond it, a length field is corrupt.
pub(super) const MAX_BODY: usize = 256 * 1024 * 1024;

const SUFFIX: &str = ".seg";
const CURSOR: &str = "cursor";
const CURSOR_TMP: &str = "cursor.tmp";
const CURSOR_LEN: usize = 20;

/// A place in the queue: a segment and a byte offset in it. Orders as the records do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Pos {
    /// The segment's sequence number.
    pub(crate) seq: u64,
    /// The record's offset in the segment.
    pub(crate) offset: u64,
}

/// Where a record sits, and what it holds, as the index keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RecordMeta {
    pub(super) offset: u64,
    /// Bytes of the body.
    pub(super) len: u32,
    pub(super) spans: u32,
}

/// The file name of segment `seq`.
pub(super) fn file_name(seq: u64) -> String {
    format!("{seq:020}{SUFFIX}")
}

/// The sequence number of a segment file's name, or `None` for any other file.
pub(super) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments in `dir`, oldest first.
pub(super) fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// One record, header and body, ready to write.
pub(super) fn encode(request: &[u8], spans: u32) -> Vec<u8> {
    let len = SPANS + request.len();
    let mut out = Vec::with_capacity(HEADER + len);
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&spans.to_le_bytes());
    out.extend_from_slice(request);
    let crc = crc32c::crc32c(&out[HEADER..]);
    out[4..HEADER].copy_from_slice(&crc.to_le_bytes());
    out
}

/// The length and checksum of a header.
fn header(buf: &[u8; HEADER]) -> (usize, u32) {
    let [a, b, c, d, e, f, g, h] = *buf;
    (
        u32::from_le_bytes([a, b, c, d]) as usize,
        u32::from_le_bytes([e, f, g, h]),
    )
}

fn spans_of(body: &[u8]) -> u32 {
    match body {
        [a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

/// Reads the record `meta` describes from `file`: its request bytes, or `None` if what is on
/// disk does not match the index or its checksum.
pub(super) fn read_record(file: &mut File, meta: &RecordMeta) -> io::Result<Option<Bytes>> {
    file.seek(SeekFrom::Start(meta.offset))?;
    let mut head = [0; HEADER];
    if let Err(e) = file.read_exact(&mut head) {
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(None)
        } else {
            Err(e)
        };
    }
    let (len, crc) = header(&head);
    if len != meta.len as usize || len < SPANS {
        return Ok(None);
    }
    let mut body = vec![0; len];
    if let Err(e) = file.read_exact(&mut body) {
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(None)
        } else {
            Err(e)
        };
    }
    if crc32c::crc32c(&body) != crc {
        return Ok(None);
    }
    Ok(Some(Bytes::from(body).slice(SPANS..)))
}

/// What a scan of one segment found.
#[derive(Debug, Default)]
pub(super) struct Scanned {
    /// The records that verify, in order.
    pub(super) records: Vec<RecordMeta>,
    /// The file's size.
    pub(super) bytes: u64,
    /// A write cut short (or a length that cannot be right) ended the segment early.
    pub(super) torn: bool,
    /// Records skipped because their checksum did not verify.
    pub(super) bad_checksums: u64,
}

/// Reads a whole segment, record by record, keeping those that verify. A record whose
/// checksum fails is skipped when its length still lands inside the file; a header or body
/// cut short, or an impossible length, ends the scan (`torn`).
pub(super) fn scan(path: &Path) -> io::Result<Scanned> {
    let mut file = io::BufReader::new(File::open(path)?);
    let bytes = file.get_ref().metadata()?.len();
    let mut scanned = Scanned {
        bytes,
        ..Scanned::default()
    };
    let mut pos = 0u64;
    let mut body = Vec::new();
    while pos < bytes {
        let mut head = [0; HEADER];
        if bytes - pos < HEADER as u64 {
            scanned.torn = true;
            break;
        }
        file.read_exact(&mut head)?;
        let (len, crc) = header(&head);
        let end = pos + (HEADER + len) as u64;
        if !(SPANS..=MAX_BODY).contains(&len) || end > bytes {
            scanned.torn = true;
            break;
        }
        body.resize(len, 0);
        file.read_exact(&mut body)?;
        if crc32c::crc32c(&body) == crc {
            scanned.records.push(RecordMeta {
                offset: pos,
                len: u32::try_from(len).unwrap_or(u32::MAX),
                spans: spans_of(&body),
            });
        } else {
            scanned.bad_checksums += 1;
        }
        pos = end;
    }
    Ok(scanned)
}

/// Creates segment `seq` in `dir`, empty, open for appending.
pub(super) fn create(dir: &Path, seq: u64) -> io::Result<File> {
    OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(dir.join(file_name(seq)))
}

/// Opens segment `seq` for reading.
pub(super) fn open_read(dir: &Path, seq: u64) -> io::Result<File> {
    File::open(dir.join(file_name(seq)))
}

/// Makes the directory's entries (files created, renamed, removed) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The cursor file's path.
pub(super) fn cursor_path(dir: &Path) -> PathBuf {
    dir.join(CURSOR)
}

/// The saved cursor: `Ok(None)` when there is none, `Err(())` when it cannot be read back.
pub(super) fn read_cursor(dir: &Path) -> io::Result<Result<Option<Pos>, ()>> {
    let bytes = match fs::read(cursor_path(dir)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) => return Err(e),
    };
    let Ok(fixed) = <[u8; CURSOR_LEN]>::try_from(bytes.as_slice()) else {
        return Ok(Err(()));
    };
    let [
        s0,
        s1,
        s2,
        s3,
        s4,
        s5,
        s6,
        s7,
        o0,
        o1,
        o2,
        o3,
        o4,
        o5,
        o6,
        o7,
        c0,
        c1,
        c2,
        c3,
    ] = fixed;
    let seq = [s0, s1, s2, s3, s4, s5, s6, s7];
    let offset = [o0, o1, o2, o3, o4, o5, o6, o7];
    let mut data = [0u8; 16];
    data[..8].copy_from_slice(&seq);
    data[8..].copy_from_slice(&offset);
    if u32::from_le_bytes([c0, c1, c2, c3]) != crc32c::crc32c(&data) {
        return Ok(Err(()));
    }
    Ok(Ok(Some(Pos {
        seq: u64::from_le_bytes(seq),
        offset: u64::from_le_bytes(offset),
    })))
}

/// Saves `pos` as the cursor: written aside, then renamed over the old one (each synced
/// first when `sync`).
pub(super) fn write_cursor(dir: &Path, pos: Pos, sync: bool) -> io::Result<()> {
    let mut buf = [0u8; CURSOR_LEN];
    buf[..8].copy_from_slice(&pos.seq.to_le_bytes());
    buf[8..16].copy_from_slice(&pos.offset.to_le_bytes());
    let crc = crc32c::crc32c(&buf[..16]);
    buf[16..].copy_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(CURSOR_TMP);
    let mut file = File::create(&tmp)?;
    file.write_all(&buf)?;
    if sync {
        file.sync_data()?;
    }
    drop(file);
    fs::rename(&tmp, cursor_path(dir))?;
    if sync {
        sync_dir(dir)?;
    }
    Ok(())
}
