//! The archive's intent journal: before a file's upload starts, one line naming the object,
//! its table, and the newest log record whose spans the file's payloads hold.
//!
//! After a crash, recovery reads each named object back (`recovery.rs`) to learn which
//! replayed spans are archived already. The journal only ever says "this upload may have
//! happened"; the object store says whether it did.
//!
//! The file is append-only text, one entry per line:
//! `{checksum:016x} {max_lsn} {table} {path}`, where the checksum (64-bit FNV-1a) covers the
//! rest of the line. A crash may tear the last line, and a failed write may leave a partial
//! one: reading skips a last line without its newline and counts any line whose checksum
//! does not match, and the next append after a failed write (or to a file that already has
//! content) starts on a fresh line. With `sync_writes`, each append is `fdatasync`ed before
//! the upload starts. The journal is rewritten, through a temporary file and a rename, with
//! only the entries still needed: at start, and while running once it has grown past
//! [`COMPACT_AFTER`] entries.

use crate::layout::{LOGS_TABLE, SCORES_TABLE, SPANS_TABLE, TRACES_TABLE};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The journal's file name in the exporter's state directory.
pub(super) const FILE_NAME: &str = "intents.journal";
/// Entries in the journal before a run-time compaction is worth it.
pub(super) const COMPACT_AFTER: usize = 1024;

/// One intent: `path` of `table` holds rows of payloads with spans of records up to
/// `max_lsn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) max_lsn: u64,
    pub(super) table: &'static str,
    pub(super) path: String,
}

impl Entry {
    fn body(&self) -> String {
        format!("{} {} {}", self.max_lsn, self.table, self.path)
    }

    /// The entry as one journal line, newline included.
    pub(super) fn line(&self) -> String {
        let body = self.body();
        format!("{:016x} {body}\n", fnv1a(body.as_bytes()))
    }

    /// Parses one line (without its newline); `None` if it is damaged.
    pub(super) fn parse(line: &str) -> Option<Self> {
        let (sum, body) = line.split_once(' ')?;
        if u64::from_str_radix(sum, 16).ok()? != fnv1a(body.as_bytes()) {
            return None;
        }
        let mut fields = body.splitn(3, ' ');
        let max_lsn = fields.next()?.parse().ok()?;
        let table = match fields.next()? {
            t if t == SPANS_TABLE => SPANS_TABLE,
            t if t == TRACES_TABLE => TRACES_TABLE,
            t if t == LOGS_TABLE => LOGS_TABLE,
            t if t == SCORES_TABLE => SCORES_TABLE,
            _ => return None,
        };
        let path = fields.next().filter(|p| !p.is_empty())?.to_owned();
        Some(Self {
            max_lsn,
            table,
            path,
        })
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// What reading the journal found.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Contents {
    /// Good entries, in order.
    pub(super) entries: Vec<Entry>,
    /// Complete lines that did not parse or whose checksum did not match.
    pub(super) damaged: usize,
    /// Whether the last line had no newline (a write torn by a crash).
    pub(super) torn: bool,
}

/// Parses a journal's bytes.
pub(super) fn parse(bytes: &[u8]) -> Contents {
    let mut contents = Contents::default();
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // After the last newline: empty, or a line the crash tore.
    if lines.pop().is_some_and(|rest| !rest.is_empty()) {
        contents.torn = true;
    }
    for line in lines.into_iter().filter(|l| !l.is_empty()) {
        match std::str::from_utf8(line).ok().and_then(Entry::parse) {
            Some(entry) => contents.entries.push(entry),
            None => contents.damaged += 1,
        }
    }
    contents
}

/// The journal of one archive exporter. Cheap to clone; appends and rewrites are serialised.
#[derive(Debug, Clone)]
pub(super) struct Journal {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    sync: bool,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The append handle, opened on first use.
    file: Option<File>,
    /// Every entry in the file, for compaction.
    entries: Vec<Entry>,
    /// The next append starts with a newline: the file may end in a partial line.
    fresh_line: bool,
    /// Entries at which the next run-time compaction is due.
    compact_at: usize,
}

impl Journal {
    /// The journal in `dir` (created on first write), `fdatasync`ing writes if `sync`.
    pub(super) fn new(dir: PathBuf, sync: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                dir,
                sync,
                state: Mutex::new(State {
                    file: None,
                    entries: Vec::new(),
                    fresh_line: false,
                    compact_at: COMPACT_AFTER,
                }),
            }),
        }
    }

    /// The state directory the journal is in.
    pub(super) fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn path(&self) -> PathBuf {
        self.inner.dir.join(FILE_NAME)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every change below is made whole or not at all, so a poisoned lock is consistent.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the journal as a previous run left it (nothing, if there is no file).
    pub(super) fn read(&self) -> io::Result<Contents> {
        match std::fs::read(self.path()) {
            Ok(bytes) => Ok(parse(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Contents::default()),
            Err(e) => Err(e),
        }
    }

    /// Entries in the journal now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Appends `entry`; with `sync`, returns once it is on disk.
    pub(super) fn append(&self, entry: Entry) -> io::Result<()> {
        let mut state = self.lock();
        if state.file.is_none() {
            std::fs::create_dir_all(&self.inner.dir)?;
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.path())?;
            // Whatever a previous run left may end in a torn line: start a fresh one.
            state.fresh_line = file.metadata()?.len() > 0;
            state.file = Some(file);
        }
        let mut line = entry.line();
        if state.fresh_line {
            line.insert(0, '\n');
        }
        let sync = self.inner.sync;
        let written = match state.file.as_mut() {
            Some(file) => file
                .write_all(line.as_bytes())
                .and_then(|()| if sync { file.sync_data() } else { Ok(()) }),
            None => Err(io::Error::other("the journal is not open")),
        };
        // After a failed write the file may end in part of this line.
        state.fresh_line = written.is_err();
        written?;
        state.entries.push(entry);
        Ok(())
    }

    /// Rewrites the journal with the entries `keep` accepts, atomically (a temporary file,
    /// then a rename). Returns how many were kept.
    pub(super) fn rewrite(&self, keep: impl Fn(&Entry) -> bool) -> io::Result<usize> {
        let mut state = self.lock();
        let kept: Vec<Entry> = state.entries.iter().filter(|e| keep(e)).cloned().collect();
        self.replace_locked(&mut state, kept)
    }

    /// Replaces the journal's contents with `entries`, atomically.
    pub(super) fn replace(&self, entries: Vec<Entry>) -> io::Result<usize> {
        let mut state = self.lock();
        self.replace_locked(&mut state, entries)
    }

    fn replace_locked(&self, state: &mut State, entries: Vec<Entry>) -> io::Result<usize> {
        std::fs::create_dir_all(&self.inner.dir)?;
        let tmp = self.inner.dir.join(format!("{FILE_NAME}.tmp"));
        let text: String = entries.iter().map(Entry::line).collect();
        {
            let mut file = File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            if self.inner.sync {
                file.sync_data()?;
            }
        }
        std::fs::rename(&tmp, self.path())?;
        if self.inner.sync {
            sync_dir(&self.inner.dir)?;
        }
        let file = OpenOptions::new().append(true).open(self.path())?;
        state.file = Some(file);
        state.fresh_line = false;
        state.compact_at = COMPACT_AFTER.max(entries.len().saturating_mul(2));
        let kept = entries.len();
        state.entries = entries;
        Ok(kept)
    }

    /// Whether the journal has grown enough for a run-time compaction.
    pub(super) fn wants_compaction(&self) -> bool {
        let state = self.lock();
        state.entries.len() > state.compact_at
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(max_lsn: u64, table: &'static str, path: &str) -> Entry {
        Entry {
            max_lsn,
            table,
            path: path.to_owned(),
        }
    }

    #[test]
    fn lines_round_trip_and_damage_is_detected() {
        let e = entry(
            42,
            SPANS_TABLE,
            "lake/spans/dt=2026-11-22/hour=06/gw a-01.parquet",
        );
        let line = e.line();
        assert!(line.ends_with('\n'));
        assert_eq!(Entry::parse(line.trim_end_matches('\n')), Some(e));
        // One changed character anywhere fails the checksum.
        let flipped = line.replacen("42", "43", 1);
        assert_eq!(Entry::parse(flipped.trim_end_matches('\n')), None);
        assert_eq!(Entry::parse("not a line"), None);
        let unknown_table = entry(1, "metrics", "x").body();
        let sum = fnv1a(unknown_table.as_bytes());
        assert_eq!(Entry::parse(&format!("{sum:016x} {unknown_table}")), None);
        for table in [LOGS_TABLE, SCORES_TABLE] {
            let e = entry(7, table, "lake/t/a.parquet");
            assert_eq!(Entry::parse(e.line().trim_end_matches('\n')), Some(e));
        }
    }

    #[test]
    fn a_torn_last_line_and_damaged_lines_are_skipped() {
        let a = entry(1, SPANS_TABLE, "lake/spans/a.parquet");
        let b = entry(2, TRACES_TABLE, "lake/traces/b.parquet");
        let mut text = a.line();
        text.push_str("0123 garbage\n\n");
        text.push_str(&b.line());
        let torn = entry(3, SPANS_TABLE, "lake/spans/c.parquet").line();
        text.push_str(&torn[..torn.len() / 2]);
        let contents = parse(text.as_bytes());
        assert_eq!(contents.entries, [a, b]);
        assert_eq!(contents.damaged, 1);
        assert!(contents.torn);
        assert_eq!(parse(b""), Contents::default());
    }

    #[test]
    fn appends_survive_a_torn_tail_and_rewrites_keep_what_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("archive");
        std::fs::create_dir_all(&state).unwrap();
        let old = entry(5, SPANS_TABLE, "lake/spans/old.parquet").line();
        std::fs::write(state.join(FILE_NAME), &old[..10]).unwrap();

        let journal = Journal::new(state.clone(), true);
        let read = journal.read().unwrap();
        assert!(read.torn && read.entries.is_empty());
        let entries: Vec<Entry> = (0..4)
            .map(|i| entry(i * 10, TRACES_TABLE, &format!("lake/traces/{i}.parquet")))
            .collect();
        for e in &entries {
            journal.append(e.clone()).unwrap();
        }
        assert_eq!(journal.len(), 4);
        // The torn bytes stay a damaged line of their own; every append is read back.
        let read = journal.read().unwrap();
        assert_eq!((read.entries.as_slice(), read.damaged), (&entries[..], 1));

        assert_eq!(journal.rewrite(|e| e.max_lsn >= 20).unwrap(), 2);
        journal
            .append(entry(99, SPANS_TABLE, "lake/spans/new.parquet"))
            .unwrap();
        let read = Journal::new(state.clone(), false).read().unwrap();
        assert_eq!(read.damaged, 0);
        let lsns: Vec<u64> = read.entries.iter().map(|e| e.max_lsn).collect();
        assert_eq!(lsns, [20, 30, 99]);
        assert!(!state.join(format!("{FILE_NAME}.tmp")).exists());
        assert!(!journal.wants_compaction());
    }
}
