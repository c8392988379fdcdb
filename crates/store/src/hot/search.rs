//! The two reads of a [`HotStore`] the query API serves: [`HotStore::find_trace`] (every
//! span of one trace, from the heads and the blocks whose index holds it, deduplicated) and
//! [`HotStore::scan`] (traces newest first, pruned by the blocks' indexes before decoding,
//! decoded in runs of rows in file order).
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

/// A trace of a block the index lets through, and its rows.
type Candidate = (TraceId, std::ops::Range<usize>);

/// Rows of one block decoded at a time by [`HotStore::scan`] (more for a larger trace):
/// few at first, so a search that stops at its limit decodes little, then doubling.
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
    /// (heads first, newest payload first, then blocks newest to oldest; within a block in
    /// trace id order, which reads each page once), one call per trace per head payload or
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
            let candidates = block.index.candidates(filter);
            if candidates.is_empty() {
                continue;
            }
            stats.blocks += 1;
            for chunk in row_chunks(&candidates, SCAN_CHUNK_ROWS.0, SCAN_CHUNK_ROWS.1) {
                let kept;
                let chunk = match self.with_span(&block, chunk, filter, &mut stats)? {
                    Some(k) => {
                        kept = k;
                        &kept[..]
                    }
                    None => chunk,
                };
                let flow =
                    self.visit_chunk(&block, chunk, decode_tenant.as_ref(), visit, &mut stats)?;
                if flow.is_break() {
                    return Ok(stats);
                }
            }
        }
        Ok(stats)
    }

    /// With [`ScanFilter::same_span`], the traces of `chunk` that have a span of the wanted
    /// services lasting long enough, from those two columns alone; `None` without it (every
    /// candidate goes on).
    fn with_span(
        &self,
        block: &Block,
        chunk: &[(TraceId, std::ops::Range<usize>)],
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
        let ranges: Vec<_> = chunk.iter().map(|(_, rows)| rows.clone()).collect();
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
        chunk: &[(TraceId, std::ops::Range<usize>)],
        tenant: Option<&Arc<str>>,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
        stats: &mut ScanStats,
    ) -> Result<ControlFlow<()>, StoreError> {
        if chunk.is_empty() {
            return Ok(ControlFlow::Continue(()));
        }
        let ranges: Vec<_> = chunk.iter().map(|(_, rows)| rows.clone()).collect();
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

/// `candidates` (in file order) in runs of at most `first` rows, then twice as many each
/// time up to `max` (a single trace over the bound is a run of its own).
fn row_chunks(
    candidates: &[(TraceId, std::ops::Range<usize>)],
    first: usize,
    max: usize,
) -> impl Iterator<Item = &[(TraceId, std::ops::Range<usize>)]> {
    let mut rest = candidates;
    let mut rows = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        rows = (rows * 2).max(first).min(max).max(1);
        let mut n = 0;
        let mut total = 0;
        while n < rest.len() && (n == 0 || total + rest[n].1.len() <= rows) {
            total += rest[n].1.len();
            n += 1;
        }
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn row_chunks_cover_every_candidate_in_order_within_the_bound(
            lens in proptest::collection::vec(1usize..50, 0..60), first in 1usize..40, max in 1usize..120,
        ) {
            let mut start = 0;
            let candidates: Vec<_> = lens
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let r = start..start + n;
                    start += n;
                    (TraceId([i as u8; 16]), r)
                })
                .collect();
            let chunks: Vec<_> = row_chunks(&candidates, first, max).collect();
            let flat: Vec<_> = chunks.iter().flat_map(|c| c.iter().cloned()).collect();
            prop_assert_eq!(&flat, &candidates);
            let mut limit = 0;
            for c in &chunks {
                limit = (limit * 2).max(first).min(max);
                let rows: usize = c.iter().map(|(_, r)| r.len()).sum();
                prop_assert!(!c.is_empty());
                prop_assert!(rows <= limit || c.len() == 1, "{rows} rows in {} traces", c.len());
            }
        }
    }
}
