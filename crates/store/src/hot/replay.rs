//! After a restart with the write-ahead log on: the replayed spans a block already held.
//!
//! The log replays every record at or after the hot store's checkpoint, and the checkpoint
//! only moves once a block is on disk, so some replayed spans are in blocks written before
//! the crash. [`without_stored`] looks each replayed trace up in the blocks that were on
//! disk at start (by the index, so only blocks holding the trace are read) and leaves out
//! the spans whose id is there; the caller reports those durable at once. Only replayed
//! spans are checked (`Release::is_replayed`), so once the replay is over this costs one
//! comparison per span.

use super::reader::read_rows;
use super::store::HotStore;
use crate::error::StoreError;
use std::collections::{HashMap, HashSet};
use tracegate_model::{Span, SpanBatch, SpanId, Trace, TraceId};
use tracegate_pipeline::Payload;
use tracegate_pipeline::durability::{OriginCounts, Release};

impl HotStore {
    /// The span ids of trace `id` of `tenant` in the blocks that were on disk at start.
    fn stored_before_start(
        &self,
        tenant: &str,
        id: &TraceId,
    ) -> Result<HashSet<SpanId>, StoreError> {
        let mut ids = HashSet::new();
        let Some(newest) = self.newest_at_start() else {
            return Ok(ids);
        };
        let Some(state) = self.tenant(tenant) else {
            return Ok(ids);
        };
        let blocks: Vec<_> = state
            .read()
            .blocks
            .iter()
            .filter(|b| b.id <= newest)
            .filter_map(|b| Some((b.clone(), b.index.rows_of(id)?)))
            .collect();
        let decode_tenant = state.decode_tenant();
        let mut bytes = 0;
        for (block, rows) in blocks {
            if let Some(spans) = read_rows(
                &block,
                &[rows],
                decode_tenant.as_ref(),
                &self.footers,
                &mut bytes,
            )? {
                ids.extend(
                    spans
                        .iter()
                        .filter(|s| s.trace_id == *id)
                        .map(|s| s.span_id),
                );
            }
        }
        Ok(ids)
    }
}

/// `payload` without its replayed spans that a block held before the restart, with the log
/// records of those left out; `None` when none are left out. Blocking.
pub fn without_stored(
    store: &HotStore,
    release: &Release,
    payload: &Payload,
) -> Result<Option<(Payload, OriginCounts)>, StoreError> {
    if store.newest_at_start().is_none() || !payload.spans().any(|s| release.is_replayed(s)) {
        return Ok(None);
    }
    let mut stored: HashMap<(&str, TraceId), HashSet<SpanId>> = HashMap::new();
    for span in payload.spans().filter(|s| release.is_replayed(s)) {
        let key = (span.tenant(), span.trace_id);
        if let std::collections::hash_map::Entry::Vacant(slot) = stored.entry(key) {
            slot.insert(store.stored_before_start(key.0, &key.1)?);
        }
    }
    if stored.values().all(HashSet::is_empty) {
        return Ok(None);
    }
    let mut skipped = OriginCounts::default();
    let mut keep = |s: &Span| {
        let known = release.is_replayed(s)
            && stored
                .get(&(s.tenant(), s.trace_id))
                .is_some_and(|ids| ids.contains(&s.span_id));
        if known {
            skipped.add(s.origin);
        }
        !known
    };
    let kept = match payload {
        Payload::Logs(_) => return Ok(None),
        Payload::Spans(batch) => Payload::Spans(SpanBatch {
            spans: batch.spans.iter().filter(|s| keep(s)).cloned().collect(),
        }),
        Payload::Traces(traces) => Payload::Traces(
            traces
                .iter()
                .filter_map(|t| {
                    let spans: Vec<Span> = t.spans.iter().filter(|s| keep(s)).cloned().collect();
                    (!spans.is_empty()).then(|| Trace {
                        trace_id: t.trace_id,
                        spans,
                        release_reason: t.release_reason,
                        tree_whole: t.tree_whole,
                        fragment: t.fragment,
                        critical_path: t.critical_path.clone(),
                        sampling: t.sampling.clone(),
                        scores: t.scores.clone(),
                    })
                })
                .collect(),
        ),
    };
    Ok(Some((kept, skipped)))
}
