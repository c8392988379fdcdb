//! Consumer checkpoints: how far each consumer has made the log durable, and the file that
//! keeps them across restarts.
//!
//! File format (`checkpoints`), little-endian:
//!
//! ```text
//! b"TGWC" | count: u32 | count × (name_len: u16 | name | durable_before: u64) | crc32c: u32
//! ```
//!
//! It is replaced whole: written to `checkpoints.tmp`, then renamed over the old one (with
//! the file and the directory synced in `host` mode), so a crash leaves the old file or the
//! new one, never a mix. A file that does not verify is ignored with a warning: every
//! consumer then replays from the start of the log, which repeats work but loses nothing.

use crate::{Lsn, WalError};
use std::fs;
use std::io::Write;
use std::path::Path;

const MAGIC: [u8; 4] = *b"TGWC";
/// The longest consumer name accepted.
pub const MAX_NAME: usize = 256;

/// Each consumer's `durable_before`: every record with a lower LSN is durable there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints {
    entries: Vec<(String, Lsn)>,
}

impl Checkpoints {
    /// `consumers`, each at `start` unless `persisted` has it further on.
    pub fn for_consumers(consumers: &[&str], persisted: &Checkpoints, start: Lsn) -> Self {
        let entries = consumers
            .iter()
            .map(|c| {
                let at = persisted.get(c).map_or(start, |p| p.max(start));
                ((*c).to_owned(), at)
            })
            .collect();
        Self { entries }
    }

    /// The consumer's checkpoint.
    pub fn get(&self, consumer: &str) -> Option<Lsn> {
        self.entries
            .iter()
            .find(|(c, _)| c == consumer)
            .map(|(_, l)| *l)
    }

    /// Moves `consumer` forward to `lsn`; never backwards. Returns whether it moved, or
    /// `None` for an unknown consumer.
    pub fn advance(&mut self, consumer: &str, lsn: Lsn) -> Option<bool> {
        let entry = self.entries.iter_mut().find(|(c, _)| c == consumer)?;
        if lsn > entry.1 {
            entry.1 = lsn;
            Some(true)
        } else {
            Some(false)
        }
    }

    /// The lowest checkpoint: every record before it is durable everywhere.
    pub fn min(&self) -> Option<Lsn> {
        self.entries.iter().map(|(_, l)| *l).min()
    }

    /// The highest checkpoint.
    pub fn max(&self) -> Option<Lsn> {
        self.entries.iter().map(|(_, l)| *l).max()
    }

    /// Consumers and their checkpoints.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Lsn)> {
        self.entries.iter().map(|(c, l)| (c.as_str(), *l))
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        for (name, lsn) in &self.entries {
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&lsn.to_le_bytes());
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses the file's bytes; `None` if they do not verify.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32c::crc32c(body).to_le_bytes() != crc {
            return None;
        }
        let rest = body.strip_prefix(&MAGIC)?;
        let (count, mut rest) = rest.split_at_checked(4)?;
        let count = u32::from_le_bytes(count.try_into().ok()?);
        let mut entries = Vec::new();
        for _ in 0..count {
            let (len, r) = rest.split_at_checked(2)?;
            let len = u16::from_le_bytes(len.try_into().ok()?) as usize;
            let (name, r) = r.split_at_checked(len)?;
            let (lsn, r) = r.split_at_checked(8)?;
            entries.push((
                std::str::from_utf8(name).ok()?.to_owned(),
                u64::from_le_bytes(lsn.try_into().ok()?),
            ));
            rest = r;
        }
        rest.is_empty().then_some(Self { entries })
    }

    /// Reads the file in `dir`: empty if there is none, empty with a warning if it does not
    /// verify.
    pub fn load(dir: &Path) -> Result<Self, WalError> {
        let path = dir.join(crate::segment::CHECKPOINTS);
        match fs::read(&path) {
            Ok(bytes) => Ok(Self::decode(&bytes).unwrap_or_else(|| {
                tracing::warn!(path = %path.display(), "WAL checkpoint file is corrupt; every consumer replays from the start of the log");
                Self::default()
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(WalError::io("read checkpoints", path, e)),
        }
    }

    /// Replaces the file in `dir` crash-safely; `sync` makes it survive a host crash.
    pub fn store(&self, dir: &Path, sync: bool) -> Result<(), WalError> {
        let tmp = dir.join("checkpoints.tmp");
        let path = dir.join(crate::segment::CHECKPOINTS);
        let mut file =
            fs::File::create(&tmp).map_err(|e| WalError::io("write checkpoints", &tmp, e))?;
        file.write_all(&self.encode())
            .map_err(|e| WalError::io("write checkpoints", &tmp, e))?;
        if sync {
            file.sync_all()
                .map_err(|e| WalError::io("sync checkpoints", &tmp, e))?;
        }
        drop(file);
        fs::rename(&tmp, &path).map_err(|e| WalError::io("rename checkpoints", &path, e))?;
        if sync {
            crate::segment::sync_dir(dir)?;
        }
        Ok(())
    }
}

/// Checks the consumer names `open` is given.
pub fn check_consumers(consumers: &[&str]) -> Result<(), WalError> {
    let bad = |reason: String| Err(WalError::Consumers { reason });
    if consumers.is_empty() {
        return bad("at least one consumer is needed, or no segment could ever be deleted".into());
    }
    for (i, c) in consumers.iter().enumerate() {
        if c.is_empty() || c.len() > MAX_NAME {
            return bad(format!("name {c:?} must be 1 to {MAX_NAME} bytes"));
        }
        if consumers[..i].contains(c) {
            return bad(format!("{c:?} is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn never_backwards() {
        let mut c = Checkpoints::for_consumers(&["a", "b"], &Checkpoints::default(), 0);
        assert_eq!(c.advance("a", 10), Some(true));
        assert_eq!(c.advance("a", 5), Some(false));
        assert_eq!(c.get("a"), Some(10));
        assert_eq!(c.advance("zz", 5), None);
        assert_eq!(c.min(), Some(0));
        assert_eq!(c.max(), Some(10));
    }

    #[test]
    fn persisted_values_are_kept_and_new_consumers_start_at_start() {
        let mut old = Checkpoints::for_consumers(&["a", "gone"], &Checkpoints::default(), 0);
        old.advance("a", 50);
        old.advance("gone", 70);
        let c = Checkpoints::for_consumers(&["a", "new"], &old, 20);
        assert_eq!(c.get("a"), Some(50));
        assert_eq!(c.get("new"), Some(20));
        assert_eq!(c.get("gone"), None);
    }

    #[test]
    fn store_and_load_round_trip_and_corruption_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Checkpoints::load(dir.path()).unwrap(),
            Checkpoints::default()
        );
        let mut c =
            Checkpoints::for_consumers(&["otlp/tempo", "archive"], &Checkpoints::default(), 3);
        c.advance("archive", 99);
        c.store(dir.path(), true).unwrap();
        assert_eq!(Checkpoints::load(dir.path()).unwrap(), c);
        let path = dir.path().join("checkpoints");
        let mut bytes = fs::read(&path).unwrap();
        bytes[6] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert_eq!(
            Checkpoints::load(dir.path()).unwrap(),
            Checkpoints::default()
        );
    }

    #[test]
    fn consumer_lists_are_checked() {
        assert!(check_consumers(&[]).is_err());
        assert!(check_consumers(&["a", "a"]).is_err());
        assert!(check_consumers(&[""]).is_err());
        check_consumers(&["a", "b"]).unwrap();
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_inverts_encode(
            names in proptest::collection::vec("[a-z/]{1,12}", 0..5),
            lsns in proptest::collection::vec(any::<u64>(), 5),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let entries: Vec<(String, Lsn)> = names.into_iter().zip(lsns).collect();
            let c = Checkpoints { entries };
            prop_assert_eq!(Checkpoints::decode(&c.encode()), Some(c));
            let _ = Checkpoints::decode(&junk);
        }
    }
}
