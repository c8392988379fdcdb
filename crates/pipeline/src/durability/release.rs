//! [`Release`]: an exporter's handle for telling the log that spans are durable at its
//! destination, and [`OriginCounts`], the tally it reports.

use super::ledger::Ledger;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tracegate_model::{Origin, Span};

/// How many spans of each log record, tallied as an exporter takes them in.
///
/// Consecutive spans of one record (the usual case) cost one entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginCounts {
    runs: Vec<(u64, u64)>,
}

impl OriginCounts {
    /// Counts one span; spans that were never logged are ignored.
    pub fn add(&mut self, origin: Origin) {
        let Some(lsn) = origin.lsn() else { return };
        match self.runs.last_mut() {
            Some((last, n)) if *last == lsn => *n += 1,
            _ => {
                self.runs.push((lsn, 1));
                // Spans of many records interleave in traces: keep the tally compact.
                if self.runs.len() >= 64 && self.runs.len().is_power_of_two() {
                    self.compact();
                }
            }
        }
    }

    /// The tally of `spans`.
    pub fn of<'a>(spans: impl IntoIterator<Item = &'a Span>) -> Self {
        let mut counts = Self::default();
        for span in spans {
            counts.add(span.origin);
        }
        counts
    }

    /// The tally of items with these origins (spans or log records).
    pub fn of_origins(origins: impl IntoIterator<Item = Origin>) -> Self {
        let mut counts = Self::default();
        for origin in origins {
            counts.add(origin);
        }
        counts
    }

    /// Adds `other` to this tally.
    pub fn merge(&mut self, other: OriginCounts) {
        self.runs.extend(other.runs);
        self.compact();
    }

    /// This tally less `other` (which must be part of it).
    pub fn minus(mut self, mut other: OriginCounts) -> OriginCounts {
        self.compact();
        other.compact();
        let mut theirs = other.runs.into_iter().peekable();
        self.runs.retain_mut(|(lsn, n)| {
            while theirs.peek().is_some_and(|(l, _)| l < lsn) {
                theirs.next();
            }
            if let Some((_, m)) = theirs.next_if(|(l, _)| l == lsn) {
                *n = n.saturating_sub(m);
            }
            *n > 0
        });
        self
    }

    /// True when no logged span was counted.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Spans counted.
    pub fn spans(&self) -> u64 {
        self.runs.iter().map(|(_, n)| n).sum()
    }

    /// The oldest record counted.
    pub fn min_lsn(&self) -> Option<u64> {
        self.runs.iter().map(|(lsn, _)| *lsn).min()
    }

    /// The newest record counted.
    pub fn max_lsn(&self) -> Option<u64> {
        self.runs.iter().map(|(lsn, _)| *lsn).max()
    }

    /// (record, spans) pairs, each record once, in LSN order.
    pub fn iter(&mut self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.compact();
        self.runs.iter().copied()
    }

    fn compact(&mut self) {
        self.runs.sort_unstable_by_key(|(lsn, _)| *lsn);
        self.runs.dedup_by(|(lsn, n), (keep, total)| {
            let same = lsn == keep;
            if same {
                *total += *n;
            }
            same
        });
    }
}

/// An exporter's handle on the log: report what is durable, find its state directory.
///
/// Exporters that take one ([`Exporter::take_release`](crate::Exporter::take_release))
/// must report every span they were given exactly once, when it is safe at the destination
/// (or when they give it up for good, counted as lost). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Release {
    pub(super) ledger: Arc<Ledger>,
    pub(super) consumer: usize,
    pub(super) state_dir: PathBuf,
    pub(super) sync: bool,
    pub(super) floor: u64,
    pub(super) replay_end: u64,
}

impl Release {
    /// These spans are durable at the destination: the log may drop them once every other
    /// exporter has them too.
    pub fn durable(&self, mut counts: OriginCounts) {
        if !counts.is_empty() {
            self.ledger.durable(self.consumer, &mut counts);
        }
    }

    /// A directory of this exporter's own, under the log's directory (created on demand by
    /// the exporter): for a journal or a disk queue.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Whether files the exporter writes for durability should be `fdatasync`ed before they
    /// count (the log's `sync: host`); otherwise a completed `write` is enough.
    pub fn sync_writes(&self) -> bool {
        self.sync
    }

    /// Whether `span` came from the replay at start rather than from a client since.
    pub fn is_replayed(&self, span: &Span) -> bool {
        self.is_replayed_origin(span.origin)
    }

    /// Whether an item (a span, a log record) logged at `origin` came from the replay at
    /// start.
    pub fn is_replayed_origin(&self, origin: Origin) -> bool {
        origin.lsn().is_some_and(|lsn| lsn < self.replay_end)
    }

    /// This exporter's checkpoint when the log was opened: replayed records below it were
    /// already durable here and are not given to it again.
    pub fn replay_floor(&self) -> u64 {
        self.floor
    }

    /// This exporter's checkpoint now: every logged span below it is durable here, so a
    /// journal entry about older records may be dropped.
    pub fn low_water(&self) -> u64 {
        self.ledger.low_water(self.consumer)
    }

    /// The exporter's name in the log (its component id).
    pub fn consumer(&self) -> &str {
        self.ledger.consumer_name(self.consumer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(lsns: &[u64]) -> OriginCounts {
        let mut c = OriginCounts::default();
        for &l in lsns {
            c.add(Origin::logged(l));
        }
        c
    }

    #[test]
    fn tallies_runs_and_merges_interleaved_records() {
        let mut c = counts(&[5, 5, 5, 9, 5, 9, 1]);
        c.add(Origin::NONE);
        assert_eq!(c.spans(), 7);
        assert_eq!(c.iter().collect::<Vec<_>>(), [(1, 1), (5, 4), (9, 2)]);
        assert_eq!((c.min_lsn(), c.max_lsn()), (Some(1), Some(9)));
        let mut many = counts(&(0..1000).map(|i| i % 7).collect::<Vec<_>>());
        assert_eq!(many.iter().count(), 7);
        assert_eq!(many.spans(), 1000);
        many.merge(counts(&[3, 100]));
        assert_eq!(many.spans(), 1002);
        assert!(OriginCounts::of(std::iter::empty()).is_empty());
        let mut left = counts(&[1, 1, 2, 3, 3, 3]).minus(counts(&[3, 1, 3, 0]));
        assert_eq!(left.iter().collect::<Vec<_>>(), [(1, 1), (2, 1), (3, 1)]);
    }
}
