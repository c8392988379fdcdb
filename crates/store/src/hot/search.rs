//! The two reads of a [`HotStore`] the query API serves: [`HotStore::find_trace`] (every
//! span of one trace, from the heads and the blocks whose index holds it, deduplicated) and
//! [`HotStore::scan`] (traces newest first, pruned by the blocks' indexes before decoding,
//! decoded in runs of the newest traces, each run in file order).
//!
//! Both copy `Arc`s of a tenant's heads and blocks under its lock and read after releasing
//! it, so a slow reader never holds up export. Both add the trace's late scores
//! (`late_store.rs`) as evaluation events on the spans they rate (`scores.rs`): a lookup to
//! the whole trace, a scan to each fragment it visits (a score goes on its span's fragment;
//! one whose span the trace does not hold, on the root's).

use super::block::{Block, io_error};
use super::head::HeadEntry;
use super::index::ScanFilter;
use super::reader::{ranges_with_span, read_rows};
use super::scores::{Fallback, ScoreEvents};
use super::store::{HotStore, ScanStats, TenantState};
use crate::error::StoreError;
use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use tracegate_model::{Score, Span, SpanId, TraceId};

/// A trace of a block the index lets through: its id, its rows, its earliest start.
type Candidate = (TraceId, std::ops::Range<usize>, u64);

/// Rows of one block decoded at a time by [`HotStore::scan`] (more for a larger trace):
/// few at first, the newest traces, so a search that stops at its limit (or whose floor
/// rises past the rest) decodes little, then doubling.
const SCAN_CHUNK_ROWS: (usize, usize) = (256, 8_192);

impl HotStore {
    /// The heads' entries (newest first) and the blocks (newest first) of `tenant`.
    fn snapshot(tenant: &TenantState) -> (Vec<Arc<HeadEntry>>, Vec<Arc<Block>>) {
        let inner = tenant.read();
        let entries = std::iter::once(&inner.head)
            .chain(inner.sealing.iter().rev().map(|h| &**h))
            .flat_map(|h| h.entries().iter().rev().cloned())
            .collect();
        (entries, inner.blocks.iter().rev().cloned().collect())
    }

    /// All spans of one trace of one tenant: the in-memory heads plus every block holding
    /// it, deduplicated by span id, by start time. `None` when there are none. Blocking (run
    /// it in `spawn_blocking`).
    pub fn find_trace(&self, tenant: &str, id: &TraceId) -> Result<Option<Vec<Span>>, StoreError> {
        let Some(state) = self.tenant(tenant) else {
            return Ok(None);
        };
        let (hits, blocks) = {
            let inner = state.read();
            let hits: Vec<_> = std::iter::once(&inner.head)
                .chain(inner.sealing.iter().map(|h| &**h))
                .flat_map(|h| h.lookup(id))
                .collect();
            let blocks: Vec<_> = inner
                .blocks
                .iter()
                .rev()
                .filter_map(|b| Some((b.clone(), b.index.rows_of(id)?)))
                .collect();
            (hits, blocks)
        };
        let mut spans = Vec::new();
        for (entry, r) in hits {
            entry.find(r, &state.name, id, &mut spans);
        }
        let decode_tenant = state.decode_tenant();
        let mut bytes = 0;
        for (block, rows) in blocks {
            if let Some(found) = read_rows(
                &block,
                &[rows],
                decode_tenant.as_ref(),
                &self.footers,
                &mut bytes,
            )? {
                spans.extend(found.into_iter().filter(|s| s.trace_id == *id));
            }
        }
        if spans.is_empty() {
            return Ok(None);
        }
        let mut seen: HashSet<SpanId> = HashSet::with_capacity(spans.len());
        spans.retain(|s| seen.insert(s.span_id));
        spans.sort_by_key(|s| (s.start_time_unix_nano, s.span_id));
        let late = self.late.of_trace(tenant, id);
        if !late.is_empty() {
            let events = ScoreEvents::for_spans(*id, &spans, &late, Fallback::RootOrFirst);
            for span in &mut spans {
                events.add_to(span);
            }
        }
        Ok(Some(spans))
    }

    /// Visits traces of one tenant whose spans overlap [start_ns, end_ns], newest first
    /// (heads first, newest payload first, then blocks newest to oldest; within a block the
    /// newest traces first, in runs read in file order so each run reads a page once; a
    /// [`ScanFloor`](super::index::ScanFloor) raised meanwhile ends the block's scan early),
    /// one call per trace per head payload or
    /// block: a trace split over several is visited once per fragment, and `filter` applies
    /// to each fragment. Blocks and traces the filter rules out are skipped by the index,
    /// before any decoding. Blocking.
    pub fn scan(
        &self,
        tenant: &str,
        filter: &ScanFilter,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<ScanStats, StoreError> {
        if self.late.is_empty() {
            return self.scan_spans(tenant, filter, visit);
        }
        // Span ids of traces whose fragments were looked up whole, for this scan.
        let mut whole: HashMap<TraceId, HashSet<SpanId>> = HashMap::new();
        let mut with_late = |spans: &[Span]| {
            let late = match spans.first() {
                Some(first) => self.late.of_trace(tenant, &first.trace_id),
                None => Vec::new(),
            };
            if late.is_empty() {
                return visit(spans);
            }
            let late = self.rating_this_fragment(tenant, spans, late, &mut whole);
            let events =
                ScoreEvents::for_spans(spans[0].trace_id, spans, &late, Fallback::RootOnly);
            if events.is_empty() {
                return visit(spans);
            }
            let mut owned = spans.to_vec();
            for span in &mut owned {
                events.add_to(span);
            }
            visit(&owned)
        };
        self.scan_spans(tenant, filter, &mut with_late)
    }

    /// Of `late`, the scores a scan adds to the fragment `spans`: those rating one of its
    /// spans, and, when it holds the root, those whose rated span the trace does not hold
    /// (found by looking the trace up whole, once per trace and scan; if that fails, they
    /// go on the root). Scores rating a span of another fragment are left to that one.
    fn rating_this_fragment(
        &self,
        tenant: &str,
        spans: &[Span],
        late: Vec<Score>,
        whole: &mut HashMap<TraceId, HashSet<SpanId>>,
    ) -> Vec<Score> {
        let here: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
        let has_root = spans.iter().any(|s| s.is_root());
        let elsewhere = |s: &Score| s.span_id.is_some_and(|id| !here.contains(&id));
        if !has_root || !late.iter().any(elsewhere) {
            return late;
        }
        let id = spans[0].trace_id;
        let all = whole.entry(id).or_insert_with(|| match self.find_trace(tenant, &id) {
            Ok(found) => found.unwrap_or_default().iter().map(|s| s.span_id).collect(),
            Err(e) => {
                tracing::debug!(exporter = %self.name(), trace_id = %id, error = %e, "hot store: could not look a trace up whole for its late scores; they go on the root");
                HashSet::new()
            }
        });
        late.into_iter()
            .filter(|s| !elsewhere(s) || s.span_id.is_some_and(|id| !all.contains(&id)))
            .collect()
    }

    /// [`Self::scan`] without late scores.
    fn scan_spans(
        &self,
        tenant: &str,
        filter: &ScanFilter,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<ScanStats, StoreError> {
        let mut stats = ScanStats::default();
        let Some(state) = self.tenant(tenant) else {
            return Ok(stats);
        };
        let (entries, blocks) = Self::snapshot(&state);
        let mut seen = (0, 0);
        for entry in entries {
            if entry.scan(&state.name, filter, visit, &mut seen).is_break() {
                (stats.traces, stats.spans) = seen;
                return Ok(stats);
            }
        }
        (stats.traces, stats.spans) = seen;
        let decode_tenant = state.decode_tenant();
        for block in blocks {
            if !block.index.may_match(filter) {
                continue;
            }
            let mut candidates = block.index.candidates_with_start(filter);
            if candidates.is_empty() {
                continue;
            }
            stats.blocks += 1;
            if let Some(kept) = self.with_span(&block, &candidates, filter, &mut stats)? {
                candidates = kept;
            }
            // Newest first, so the first runs decoded are those a newest-first search keeps,
            // and the floor they raise rules out the rest of the block (and older blocks).
            candidates.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.start.cmp(&b.1.start)));
            let mut runs = NewestRuns::new(candidates, SCAN_CHUNK_ROWS.0, SCAN_CHUNK_ROWS.1);
            while let Some(run) = runs.next_run(filter.floor.get()) {
                let flow =
                    self.visit_chunk(&block, &run, decode_tenant.as_ref(), visit, &mut stats)?;
                if flow.is_break() {
                    return Ok(stats);
                }
            }
        }
        Ok(stats)
    }

    /// With [`ScanFilter::same_span`], the traces of `chunk` (in file order) that have a span
    /// of the wanted services lasting long enough, from those two columns alone; `None`
    /// without it (every candidate goes on).
    fn with_span(
        &self,
        block: &Block,
        chunk: &[Candidate],
        filter: &ScanFilter,
        stats: &mut ScanStats,
    ) -> Result<Option<Vec<Candidate>>, StoreError> {
        let (true, Some(services), Some(min)) = (
            filter.same_span,
            filter.service_names.as_deref(),
            filter.min_span_duration_ns,
        ) else {
            return Ok(None);
        };
        let ranges: Vec<_> = chunk.iter().map(|(_, rows, _)| rows.clone()).collect();
        let Some(hits) = ranges_with_span(
            block,
            &ranges,
            services,
            min,
            &self.footers,
            &mut stats.bytes,
        )?
        else {
            return Ok(Some(Vec::new()));
        };
        Ok(Some(
            chunk
                .iter()
                .zip(hits)
                .filter(|(_, hit)| *hit)
                .map(|(c, _)| c.clone())
                .collect(),
        ))
    }

    /// Decodes the rows of `chunk`'s traces of `block` (in file order) in one read and
    /// visits each trace.
    fn visit_chunk(
        &self,
        block: &Block,
        chunk: &[Candidate],
        tenant: Option<&Arc<str>>,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
        stats: &mut ScanStats,
    ) -> Result<ControlFlow<()>, StoreError> {
        if chunk.is_empty() {
            return Ok(ControlFlow::Continue(()));
        }
        let ranges: Vec<_> = chunk.iter().map(|(_, rows, _)| rows.clone()).collect();
        let Some(spans) = read_rows(block, &ranges, tenant, &self.footers, &mut stats.bytes)?
        else {
            return Ok(ControlFlow::Continue(()));
        };
        let wanted: usize = ranges.iter().map(|r| r.len()).sum();
        if spans.len() != wanted {
            return Err(io_error("read", &block.path)(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "expected {wanted} rows, decoded {}; delete the block if this persists",
                    spans.len()
                ),
            )));
        }
        let mut offset = 0;
        for rows in &ranges {
            let slice = offset..offset + rows.len();
            offset = slice.end;
            stats.traces += 1;
            stats.spans += slice.len();
            if visit(&spans[slice]).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// A block's candidates, newest first, handed out in runs of at most `first` rows, then
/// twice as many each time up to `max` (a single trace over the bound is a run of its own),
/// each run in file order so reading it decompresses each page once. Candidates that start
/// before the floor given to [`Self::next_run`] are never handed out.
#[derive(Debug)]
struct NewestRuns {
    /// Newest first.
    candidates: Vec<Candidate>,
    next: usize,
    rows: usize,
    first: usize,
    max: usize,
}

impl NewestRuns {
    fn new(candidates: Vec<Candidate>, first: usize, max: usize) -> Self {
        Self {
            candidates,
            next: 0,
            rows: 0,
            first,
            max,
        }
    }

    /// The next run of candidates starting at or after `floor`; `None` when none is left.
    fn next_run(&mut self, floor: u64) -> Option<Vec<Candidate>> {
        let rest = self.candidates.get(self.next..).unwrap_or_default();
        // Newest first: once one starts before the floor, so do all after it.
        let live = rest.iter().take_while(|c| c.2 >= floor).count();
        if live == 0 {
            self.next = self.candidates.len();
            return None;
        }
        self.rows = (self.rows * 2).max(self.first).min(self.max).max(1);
        let mut n = 0;
        let mut total = 0;
        while n < live && (n == 0 || total + rest[n].1.len() <= self.rows) {
            total += rest[n].1.len();
            n += 1;
        }
        let mut run = rest[..n].to_vec();
        self.next += n;
        run.sort_by_key(|c| c.1.start);
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn candidates(lens: &[usize], starts: &[u64]) -> Vec<Candidate> {
        let mut row = 0;
        let mut all: Vec<Candidate> = lens
            .iter()
            .zip(starts)
            .enumerate()
            .map(|(i, (&n, &start))| {
                let r = row..row + n;
                row += n;
                (TraceId([i as u8; 16]), r, start)
            })
            .collect();
        all.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.start.cmp(&b.1.start)));
        all
    }

    proptest! {
        #[test]
        fn runs_hand_out_every_candidate_newest_first_in_file_order_within_the_bound(
            lens in proptest::collection::vec(1usize..50, 0..60),
            starts in proptest::collection::vec(0u64..1_000, 60),
            first in 1usize..40, max in 1usize..120,
        ) {
            let all = candidates(&lens, &starts);
            let mut runs = NewestRuns::new(all.clone(), first, max);
            let mut handed: Vec<Candidate> = Vec::new();
            let mut limit = 0;
            let mut newest_before = u64::MAX;
            while let Some(run) = runs.next_run(0) {
                limit = (limit * 2).max(first).min(max);
                let rows: usize = run.iter().map(|c| c.1.len()).sum();
                prop_assert!(!run.is_empty());
                prop_assert!(rows <= limit || run.len() == 1, "{rows} rows in {} traces", run.len());
                prop_assert!(run.windows(2).all(|w| w[0].1.start < w[1].1.start), "file order");
                // Every run is no newer than the one before it.
                let newest = run.iter().map(|c| c.2).max().unwrap_or(0);
                prop_assert!(newest <= newest_before);
                newest_before = run.iter().map(|c| c.2).min().unwrap_or(0);
                handed.extend(run);
            }
            handed.sort_by_key(|c| c.1.start);
            let mut want = all;
            want.sort_by_key(|c| c.1.start);
            prop_assert_eq!(handed, want);
        }

        #[test]
        fn runs_never_hand_out_a_candidate_that_starts_before_the_floor(
            lens in proptest::collection::vec(1usize..50, 0..60),
            starts in proptest::collection::vec(0u64..1_000, 60),
            floors in proptest::collection::vec(0u64..1_000, 1..20),
        ) {
            let all = candidates(&lens, &starts);
            let mut runs = NewestRuns::new(all.clone(), 4, 64);
            let mut floor = 0;
            let mut handed = 0;
            for raise in floors {
                floor = floor.max(raise);
                let Some(run) = runs.next_run(floor) else { break };
                prop_assert!(run.iter().all(|c| c.2 >= floor));
                handed += run.len();
            }
            // Nothing at or after the final floor is skipped while runs are asked for.
            while let Some(run) = runs.next_run(floor) {
                prop_assert!(run.iter().all(|c| c.2 >= floor));
                handed += run.len();
            }
            let at_or_after = all.iter().filter(|c| c.2 >= floor).count();
            prop_assert!(handed >= at_or_after);
        }
    }
}
