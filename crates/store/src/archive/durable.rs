//! What the archive tracks for the write-ahead log: which payloads ([`Unit`]s) each file
//! holds rows of, so a payload's spans are reported durable once every file with any of its
//! rows is uploaded; and, after a restart, the ids already archived ([`DoneSets`]), so a
//! replayed span is not written twice, nor a replayed log record or score (known by the
//! fingerprint of its whole row, `fingerprint.rs`, counted: identical rows may be archived
//! several times over, and each archived copy stands for one replayed one).

use super::journal::Journal;
use super::retry::blocking;
use crate::layout::{LOGS_TABLE, SCORES_TABLE};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracegate_model::{Span, SpanId, Trace, TraceId};
use tracegate_pipeline::durability::{OriginCounts, Release};
use tracegate_pipeline::telemetry;

/// Ids the done-sets hold at most (spans, traces and rows together, about 100 MiB): past it, a
/// replayed span may be archived twice, never lost.
pub(super) const MAX_DONE_IDS: usize = 4 << 20;

/// The exporter's side of the log, once the topology gave it a [`Release`].
#[derive(Debug)]
pub(super) struct Durable {
    /// Where durable spans are reported.
    pub(super) release: Release,
    /// The intent journal, in the release's state directory.
    pub(super) journal: Journal,
}

impl Durable {
    /// The exporter's side of the log behind `release`.
    pub(super) fn new(release: Release) -> Self {
        let journal = Journal::new(release.state_dir().to_owned(), release.sync_writes());
        Self { release, journal }
    }

    /// On tick: frees `done` once the checkpoint has passed every record it could match, and
    /// compacts the journal once it has grown, dropping the entries below the checkpoint.
    pub(super) async fn maintain(&self, exporter: &str, done: &mut Option<DoneSets>) {
        let low_water = self.release.low_water();
        if done.as_ref().is_some_and(|d| d.expired(low_water)) {
            *done = None;
            tracing::info!(
                exporter,
                "archive: every replayed span is durable; recovery's ids are freed"
            );
        }
        if !self.journal.wants_compaction() {
            return;
        }
        let journal = self.journal.clone();
        let dir = journal.dir().to_owned();
        let rewrite = move || journal.rewrite(|e| e.max_lsn >= low_water);
        match blocking("rewrite", &dir, rewrite).await {
            Ok(kept) => tracing::debug!(exporter, kept, "archive intent journal compacted"),
            // The journal only grows meanwhile; the next tick tries again.
            Err(e) => tracing::warn!(
                exporter,
                error = %e,
                "could not compact the archive's intent journal; will retry"
            ),
        }
    }
}

/// One `export` call's payload: its spans are durable once `pending` reaches 0.
///
/// `pending` starts at 1, the export call's own hold, and counts one more for each file
/// buffer (a partition's spans or traces table) that took rows of the payload. Only an
/// upload (or a file given up for good) counts down, so a crash or an `abandon` releases
/// nothing and the log replays the payload.
#[derive(Debug)]
pub(super) struct Unit {
    counts: OriginCounts,
    pending: AtomicUsize,
}

impl Unit {
    /// A unit of `counts`, held by the export call.
    pub(super) fn new(counts: OriginCounts) -> Arc<Self> {
        Arc::new(Self {
            counts,
            pending: AtomicUsize::new(1),
        })
    }

    /// The newest record the unit holds spans of.
    pub(super) fn max_lsn(&self) -> Option<u64> {
        self.counts.max_lsn()
    }

    /// One hold ends; the last one reports the unit's spans durable.
    pub(super) fn finish(&self, release: &Release) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            release.durable(self.counts.clone());
        }
    }
}

/// The units one file holds rows of, each once.
#[derive(Debug, Default)]
pub(super) struct Units(Vec<Arc<Unit>>);

impl Units {
    /// A row of `unit` went into this file's buffer.
    pub(super) fn note(&mut self, unit: Option<&Arc<Unit>>) {
        let Some(unit) = unit else { return };
        // Rows of one payload arrive together, so the last unit is the only one to compare.
        if self.0.last().is_some_and(|last| Arc::ptr_eq(last, unit)) {
            return;
        }
        unit.pending.fetch_add(1, Ordering::AcqRel);
        self.0.push(unit.clone());
    }

    /// The newest record any of the units holds spans of: what the file's journal entry
    /// covers.
    pub(super) fn max_lsn(&self) -> Option<u64> {
        self.0.iter().filter_map(|u| u.max_lsn()).max()
    }

    /// The file is uploaded (or given up for good): each unit's hold on it ends.
    pub(super) fn finish(self, release: Option<&Release>) {
        if let Some(release) = release {
            for unit in self.0 {
                unit.finish(release);
            }
        }
    }
}

/// Ids of rows the archive already holds from before the restart: spans by (trace, span),
/// traces rows by trace, logs and scores rows by (table, fingerprint), with how many of each.
///
/// Every key also holds its tenant's [`tenant_key`] (with multi-tenancy, from the file's
/// `tenant=` level; without, always that of `None`): two tenants may send the same trace
/// and span ids, or identical log records, and a replayed row of one must never be taken for
/// the other's archived row.
#[derive(Debug)]
pub(super) struct DoneSets {
    spans: HashSet<(u64, TraceId, SpanId)>,
    traces: HashSet<(u64, TraceId)>,
    /// Fingerprints of logs rows, with how many rows have each.
    logs: HashMap<(u64, u64), u32>,
    /// Fingerprints of scores rows, with how many rows have each.
    scores: HashMap<(u64, u64), u32>,
    limit: usize,
    /// Ids not remembered once `limit` was reached.
    dropped: u64,
    /// Just past the newest record any journaled file held spans of: once the checkpoint
    /// reaches it, every replayed span that could be a duplicate has gone by.
    until: u64,
}

impl DoneSets {
    /// Empty sets holding at most `limit` ids.
    pub(super) fn new(limit: usize) -> Self {
        Self {
            spans: HashSet::new(),
            traces: HashSet::new(),
            logs: HashMap::new(),
            scores: HashMap::new(),
            limit,
            dropped: 0,
            until: 0,
        }
    }

    /// Spans, traces and rows remembered.
    pub(super) fn len(&self) -> usize {
        self.spans.len() + self.traces.len() + self.logs.len() + self.scores.len()
    }

    /// True when nothing is remembered.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids that did not fit; counted in the metric once recovery is done.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Counts the ids that did not fit.
    pub(super) fn record(&self, exporter: &str) {
        if self.dropped > 0 {
            telemetry::archive_dedupe_overflow(exporter, self.dropped);
        }
    }

    /// A journaled file held spans of records up to `max_lsn`.
    pub(super) fn covers(&mut self, max_lsn: u64) {
        self.until = self.until.max(max_lsn.saturating_add(1));
    }

    /// Whether the sets may be freed: the checkpoint `low_water` is past every record whose
    /// spans they could match.
    pub(super) fn expired(&self, low_water: u64) -> bool {
        low_water >= self.until
    }

    fn room(&mut self, exporter: &str) -> bool {
        if self.len() < self.limit {
            return true;
        }
        if self.dropped == 0 {
            tracing::warn!(
                exporter,
                limit = self.limit,
                "archive recovery: too many ids already archived to remember; spans replayed \
                 after this may be archived twice (never lost)"
            );
        }
        self.dropped += 1;
        false
    }

    /// Remembers an archived span of `tenant`.
    pub(super) fn add_span(
        &mut self,
        exporter: &str,
        tenant: Option<&str>,
        trace: TraceId,
        span: SpanId,
    ) {
        if !self.has_span(tenant, trace, span) && self.room(exporter) {
            self.spans.insert((tenant_key(tenant), trace, span));
        }
    }

    /// Remembers an archived traces row of `tenant`.
    pub(super) fn add_trace(&mut self, exporter: &str, tenant: Option<&str>, trace: TraceId) {
        if !self.has_trace(tenant, trace) && self.room(exporter) {
            self.traces.insert((tenant_key(tenant), trace));
        }
    }

    /// The fingerprints of `table`'s rows, for the tables that have no ids.
    fn rows(&mut self, table: &str) -> Option<&mut HashMap<(u64, u64), u32>> {
        match table {
            LOGS_TABLE => Some(&mut self.logs),
            SCORES_TABLE => Some(&mut self.scores),
            _ => None,
        }
    }

    /// Remembers one archived row of `table` (logs, scores) of `tenant` with `fingerprint`.
    pub(super) fn add_row(
        &mut self,
        exporter: &str,
        table: &str,
        tenant: Option<&str>,
        fingerprint: u64,
    ) {
        let fingerprint = (tenant_key(tenant), fingerprint);
        let repeat = self
            .rows(table)
            .and_then(|rows| rows.get_mut(&fingerprint))
            .map(|n| *n = n.saturating_add(1))
            .is_some();
        if !repeat
            && self.room(exporter)
            && let Some(rows) = self.rows(table)
        {
            rows.insert(fingerprint, 1);
        }
    }

    /// Whether rows of `table` are remembered: replayed records need fingerprints only then.
    pub(super) fn has_rows(&self, table: &str) -> bool {
        match table {
            LOGS_TABLE => !self.logs.is_empty(),
            SCORES_TABLE => !self.scores.is_empty(),
            _ => false,
        }
    }

    /// Takes one archived row of `table` of `tenant` with `fingerprint`, if one is left: the
    /// replayed row it matches is not written again.
    pub(super) fn take_row(&mut self, table: &str, tenant: Option<&str>, fingerprint: u64) -> bool {
        let fingerprint = (tenant_key(tenant), fingerprint);
        let Some(rows) = self.rows(table) else {
            return false;
        };
        match rows.get_mut(&fingerprint) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                rows.remove(&fingerprint);
                true
            }
            None => false,
        }
    }

    /// Whether `span` (of `tenant`) is replayed and archived already: it is not written
    /// again.
    pub(super) fn skips_span(&self, release: &Release, tenant: Option<&str>, span: &Span) -> bool {
        release.is_replayed(span) && self.has_span(tenant, span.trace_id, span.span_id)
    }

    /// Whether `trace` (of `tenant`) is replayed (every span of it) and has a traces row
    /// archived already.
    pub(super) fn skips_trace(
        &self,
        release: &Release,
        tenant: Option<&str>,
        trace: &Trace,
    ) -> bool {
        self.has_trace(tenant, trace.trace_id) && trace.spans.iter().all(|s| release.is_replayed(s))
    }

    /// Whether the span of `tenant` is archived already.
    pub(super) fn has_span(&self, tenant: Option<&str>, trace: TraceId, span: SpanId) -> bool {
        self.spans.contains(&(tenant_key(tenant), trace, span))
    }

    /// Whether a traces row of `trace` of `tenant` is archived already.
    pub(super) fn has_trace(&self, tenant: Option<&str>, trace: TraceId) -> bool {
        self.traces.contains(&(tenant_key(tenant), trace))
    }
}

/// A tenant (`None`: no multi-tenancy) as a done-set key: SipHash with fixed keys, the same
/// for the same tenant within the process (the sets live only in memory).
fn tenant_key(tenant: Option<&str>) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    tenant.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn done_sets_stop_at_their_limit_and_expire_past_the_newest_record() {
        let mut done = DoneSets::new(3);
        let t = |b| TraceId([b; 16]);
        let s = |b| SpanId([b; 8]);
        done.add_span("archive/limit", None, t(1), s(1));
        done.add_span("archive/limit", None, t(1), s(1));
        done.add_span("archive/limit", None, t(1), s(2));
        done.add_trace("archive/limit", None, t(1));
        done.add_span("archive/limit", None, t(2), s(3));
        done.add_trace("archive/limit", None, t(2));
        assert_eq!((done.len(), done.dropped()), (3, 2));
        assert!(done.has_span(None, t(1), s(2)) && done.has_trace(None, t(1)));
        assert!(!done.has_span(None, t(2), s(3)) && !done.has_trace(None, t(2)));
        done.covers(7);
        done.covers(4);
        assert!(!done.expired(7));
        assert!(done.expired(8));
    }

    #[test]
    fn rows_are_counted_and_each_archived_copy_is_taken_once() {
        let mut done = DoneSets::new(3);
        done.add_row("archive/rows", "logs", None, 9);
        done.add_row("archive/rows", "logs", None, 9);
        done.add_row("archive/rows", "scores", None, 9);
        done.add_row("archive/rows", "logs", None, 1);
        // A repeat of a remembered row needs no room; a new one over the limit is dropped.
        done.add_row("archive/rows", "logs", None, 2);
        assert_eq!((done.len(), done.dropped()), (3, 1));
        assert!(done.has_rows("logs") && done.has_rows("scores") && !done.has_rows("spans"));
        assert!(done.take_row("logs", None, 9));
        assert!(done.take_row("logs", None, 9));
        assert!(
            !done.take_row("logs", None, 9),
            "two copies archived, two taken"
        );
        assert!(done.take_row("scores", None, 9));
        assert!(!done.take_row("logs", None, 2));
        assert_eq!(done.len(), 1);
    }

    #[test]
    fn tenants_sharing_ids_are_kept_apart() {
        let mut done = DoneSets::new(16);
        let (t, s) = (TraceId([7; 16]), SpanId([7; 8]));
        done.add_span("archive/tenants", Some("team-a"), t, s);
        done.add_trace("archive/tenants", Some("team-a"), t);
        done.add_row("archive/tenants", "logs", Some("team-a"), 5);
        assert!(done.has_span(Some("team-a"), t, s) && done.has_trace(Some("team-a"), t));
        for other in [Some("team-b"), None] {
            assert!(!done.has_span(other, t, s), "{other:?}");
            assert!(!done.has_trace(other, t), "{other:?}");
            assert!(!done.take_row("logs", other, 5), "{other:?}");
        }
        assert!(done.take_row("logs", Some("team-a"), 5));
    }
}
