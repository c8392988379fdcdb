//! One shard of trace assembly: the state machine that holds spans until their trace is
//! whole.

use crate::arena::{NIL, SLOT_OVERHEAD, SpanArena};
use crate::context::ContextBytes;
use crate::stats::map_bytes;
use crate::table::TraceTable;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tracegate_model::{
    Fragment, ReleaseReason, Span, SpanBatch, SpanId, Trace, TraceId, attr, keys,
};
use tracegate_pipeline::{Assembler, telemetry};
use tracegate_scores::ScoreBoard;

pub use crate::stats::{HeldCounts, MemoryUsage, ShardStats};

/// The limits of one shard, in nanoseconds and counts. Built by
/// [`TraceAssemblyConfig::limits`](crate::TraceAssemblyConfig::limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Release a rooted trace this long after its last span.
    pub idle_after_root_ns: u64,
    /// Release any trace this long after its first span.
    pub max_wait_ns: u64,
    /// Remember a released trace id this long.
    pub late_window_ns: u64,
    /// Released trace ids this shard remembers.
    pub max_remembered: usize,
    /// Traces this shard holds.
    pub max_traces: usize,
    /// Spans held per trace.
    pub max_spans_per_trace: usize,
    /// Estimated bytes held across every shard sharing the byte counter.
    pub max_bytes: usize,
    /// This shard's share of `max_bytes`: while the total is over `max_bytes`, a shard above
    /// its share evicts its oldest traces.
    pub fair_share_bytes: usize,
}

#[derive(Debug, Clone, Copy)]
struct Remembered {
    released_ns: u64,
    reason: ReleaseReason,
}

/// Counts of one call, turned into metrics once at its end.
#[derive(Debug, Default)]
struct Tally {
    complete: usize,
    max_wait: usize,
    evicted_traces: usize,
    evicted_bytes: usize,
    shutdown: usize,
    late: usize,
    over_cap: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    MaxTraces,
    MaxBytes,
}

/// One shard of trace assembly: a pure state machine with no I/O and no clock of its own.
///
/// See the [crate documentation](crate) for the rules. Times are nanoseconds on any monotonic
/// clock; a time earlier than one already seen is taken as the latest seen.
#[derive(Debug)]
pub struct Shard {
    index: usize,
    limits: Limits,
    /// Estimated bytes held by every shard built together.
    bytes_total: Arc<AtomicUsize>,
    by_id: FxHashMap<TraceId, u32>,
    traces: TraceTable,
    spans: SpanArena,
    bytes_held: usize,
    /// Sizes of the resource and scope last charged, valid for one call.
    context: ContextBytes,
    remembered: FxHashMap<TraceId, Remembered>,
    /// Remembered ids in release order, which is also expiry order.
    forget_order: VecDeque<(u64, TraceId)>,
    /// Fragments made by the current call: trace id and kind to their index in `released`.
    fragments: FxHashMap<(TraceId, bool), usize>,
    now_ns: u64,
    stats: ShardStats,
    /// The score join, when one is set: fed every span at ingest, and filling each released
    /// trace's `scores`.
    scores: Option<Arc<ScoreBoard>>,
}

impl Shard {
    /// A shard numbered `index` (for metrics) with `limits`, adding what it holds to
    /// `bytes_total`, which all shards of one processor share.
    pub fn new(index: usize, limits: Limits, bytes_total: Arc<AtomicUsize>) -> Self {
        Self {
            index,
            limits,
            bytes_total,
            by_id: FxHashMap::default(),
            traces: TraceTable::default(),
            spans: SpanArena::default(),
            bytes_held: 0,
            context: ContextBytes::default(),
            remembered: FxHashMap::default(),
            forget_order: VecDeque::new(),
            fragments: FxHashMap::default(),
            now_ns: 0,
            stats: ShardStats::default(),
            scores: None,
        }
    }

    /// The same shard, feeding `board`'s index of LLM calls from every span it ingests and
    /// attaching scores ([`ScoreBoard::attach`]) to every trace and fragment it releases.
    pub fn with_scores(mut self, board: Arc<ScoreBoard>) -> Self {
        self.scores = Some(board);
        self
    }

    /// The score board, if one is set.
    pub fn scores(&self) -> Option<&Arc<ScoreBoard>> {
        self.scores.as_ref()
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What the shard holds now.
    pub fn held(&self) -> HeldCounts {
        HeldCounts {
            traces: self.traces.len(),
            spans: self.spans.live(),
            bytes: self.bytes_held,
        }
    }

    /// Estimated bytes held by this shard and every shard sharing its counter.
    pub fn bytes_held_total(&self) -> usize {
        self.bytes_total.load(Ordering::Relaxed)
    }

    /// What the shard has done so far.
    pub fn stats(&self) -> ShardStats {
        self.stats
    }

    /// Memory used besides the spans' own data.
    pub fn memory(&self) -> MemoryUsage {
        let held_spans = self.spans.live();
        let slots = self.spans.allocated_bytes();
        let span_size = std::mem::size_of::<Span>();
        MemoryUsage {
            held_spans,
            span_links: held_spans * SLOT_OVERHEAD,
            free_slots: slots.saturating_sub(held_spans * (span_size + SLOT_OVERHEAD)),
            trace_records: self.traces.allocated_bytes(),
            trace_index: map_bytes::<TraceId, u32>(self.by_id.capacity()),
            remembered: map_bytes::<TraceId, Remembered>(self.remembered.capacity())
                + self.forget_order.capacity() * std::mem::size_of::<(u64, TraceId)>(),
        }
    }

    /// Takes the clock forward to `now_ns`; it never goes back.
    fn advance(&mut self, now_ns: u64) -> u64 {
        self.now_ns = self.now_ns.max(now_ns);
        self.now_ns
    }

    /// Releases every trace whose deadline is at or before `now`, earliest first, and forgets
    /// released ids older than `late_window`.
    fn expire(&mut self, now: u64, released: &mut Vec<Trace>, tally: &mut Tally) {
        let mut freed = 0;
        loop {
            let idle = self
                .traces
                .idlest()
                .map(|(i, h)| (h.last_ns.saturating_add(self.limits.idle_after_root_ns), i));
            let age = self
                .traces
                .oldest()
                .map(|(i, h)| (h.first_ns.saturating_add(self.limits.max_wait_ns), i));
            let (deadline, index, reason) = match (idle, age) {
                (Some((di, ii)), Some((da, _))) if di <= da => (di, ii, ReleaseReason::Complete),
                (_, Some((da, ia))) => (da, ia, ReleaseReason::MaxWait),
                (Some((di, ii)), None) => (di, ii, ReleaseReason::Complete),
                (None, None) => break,
            };
            if deadline > now {
                break;
            }
            freed += self.release(index, reason, now, released);
            match reason {
                ReleaseReason::Complete => tally.complete += 1,
                _ => tally.max_wait += 1,
            }
        }
        self.bytes_total.fetch_sub(freed, Ordering::Relaxed);
        self.forget_expired(now);
    }

    /// Releases the trace at `index`, remembers its id, and returns the bytes it held.
    fn release(
        &mut self,
        index: u32,
        reason: ReleaseReason,
        now: u64,
        released: &mut Vec<Trace>,
    ) -> usize {
        let Some(held) = self.traces.remove(index) else {
            return 0;
        };
        self.by_id.remove(&held.trace_id);
        if !self.fragments.is_empty() {
            // Spans over the cap of a later incarnation of this id make a fragment of their own.
            self.fragments.remove(&(held.trace_id, false));
        }
        let spans = self.spans.take_chain(held.head, held.spans as usize);
        self.bytes_held -= held.bytes;
        let tree_whole = tree_whole(&spans);
        released.push(Trace {
            trace_id: held.trace_id,
            spans,
            release_reason: reason,
            tree_whole,
            fragment: None,
            critical_path: None,
            sampling: None,
            scores: Vec::new(),
        });
        self.remember(held.trace_id, reason, now);
        match reason {
            ReleaseReason::Complete => self.stats.released_complete += 1,
            ReleaseReason::MaxWait => self.stats.released_max_wait += 1,
            ReleaseReason::Evicted => self.stats.released_evicted += 1,
            _ => self.stats.released_shutdown += 1,
        }
        held.bytes
    }

    /// Releases the oldest trace early, marked evicted.
    fn evict_oldest(
        &mut self,
        bound: Bound,
        now: u64,
        released: &mut Vec<Trace>,
        tally: &mut Tally,
    ) -> bool {
        let Some((index, _)) = self.traces.oldest() else {
            return false;
        };
        let freed = self.release(index, ReleaseReason::Evicted, now, released);
        self.bytes_total.fetch_sub(freed, Ordering::Relaxed);
        match bound {
            Bound::MaxTraces => {
                tally.evicted_traces += 1;
                self.stats.evicted_max_traces += 1;
            }
            Bound::MaxBytes => {
                tally.evicted_bytes += 1;
                self.stats.evicted_max_bytes += 1;
            }
        }
        true
    }

    /// While the shards together hold more than `max_bytes` and this one holds more than its
    /// share, evicts its oldest traces.
    fn enforce_bytes(&mut self, now: u64, released: &mut Vec<Trace>, tally: &mut Tally) {
        while self.bytes_held > self.limits.fair_share_bytes
            && self.bytes_total.load(Ordering::Relaxed) > self.limits.max_bytes
            && self.evict_oldest(Bound::MaxBytes, now, released, tally)
        {}
    }

    fn remember(&mut self, trace_id: TraceId, reason: ReleaseReason, now: u64) {
        if self.limits.max_remembered == 0 || self.limits.late_window_ns == 0 {
            return;
        }
        while self.forget_order.len() >= self.limits.max_remembered {
            self.forget_front();
        }
        self.remembered.insert(
            trace_id,
            Remembered {
                released_ns: now,
                reason,
            },
        );
        self.forget_order.push_back((now, trace_id));
    }

    fn forget_expired(&mut self, now: u64) {
        while let Some(&(released_ns, _)) = self.forget_order.front() {
            if released_ns.saturating_add(self.limits.late_window_ns) > now {
                break;
            }
            self.forget_front();
        }
    }

    fn forget_front(&mut self) {
        if let Some((released_ns, id)) = self.forget_order.pop_front()
            && self
                .remembered
                .get(&id)
                .is_some_and(|r| r.released_ns == released_ns)
        {
            self.remembered.remove(&id);
        }
    }

    /// Adds `span` to the fragment of its kind this call is building for its trace.
    fn push_fragment(
        &mut self,
        mut span: Span,
        kind: Fragment,
        reason: ReleaseReason,
        released: &mut Vec<Trace>,
    ) {
        let late = kind == Fragment::Late;
        let key = if late {
            keys::TRACEGATE_LATE
        } else {
            keys::TRACEGATE_OVER_CAP
        };
        span.attributes.push(attr::boolean(key, true));
        let trace_id = span.trace_id;
        if let Some(&at) = self.fragments.get(&(trace_id, late))
            && let Some(trace) = released.get_mut(at)
        {
            trace.spans.push(span);
            return;
        }
        self.fragments.insert((trace_id, late), released.len());
        released.push(Trace {
            trace_id,
            spans: vec![span],
            release_reason: reason,
            tree_whole: false,
            fragment: Some(kind),
            critical_path: None,
            sampling: None,
            scores: Vec::new(),
        });
    }

    /// Holds `span` in the trace at `index`, or gives it back when the trace is full.
    #[allow(
        clippy::result_large_err,
        reason = "the span is handed back by move, so the caller passes it on, never drops it"
    )]
    fn hold(&mut self, index: u32, span: Span, now: u64) -> Result<usize, Span> {
        let Some(held) = self.traces.get(index) else {
            return Err(span);
        };
        if held.spans as usize >= self.limits.max_spans_per_trace {
            // Over the cap the span passes through, but it still shows the trace is active.
            self.traces.touch(index, now, span.is_root());
            return Err(span);
        }
        let tail = held.tail;
        let bytes = self.context.charge(&span, self.spans.get(tail));
        let root = span.is_root();
        let slot = self.spans.push(span)?;
        if tail != NIL {
            self.spans.set_next(tail, slot);
        }
        if let Some(held) = self.traces.get_mut(index) {
            if held.head == NIL {
                held.head = slot;
            }
            held.tail = slot;
            held.spans += 1;
            held.bytes += bytes;
        }
        self.traces.touch(index, now, root);
        self.bytes_held += bytes;
        Ok(bytes)
    }

    /// Ends a call that released `released[start..]`.
    fn finish_call(&mut self, released: &mut [Trace], start: usize, tally: &Tally) {
        // Fragments are whole only if their spans' parents are all among them.
        for &at in self.fragments.values() {
            if let Some(trace) = released.get_mut(at) {
                trace.tree_whole = tree_whole(&trace.spans);
            }
        }
        self.fragments.clear();
        // Every release path (complete, max_wait, evicted, shutdown, late and over-cap
        // fragments) ends here, each trace whole by now.
        if let Some(board) = &self.scores
            && let Some(new) = released.get_mut(start..)
        {
            for trace in new {
                board.attach(trace);
            }
        }
        let released_counts = [
            (ReleaseReason::Complete, tally.complete),
            (ReleaseReason::MaxWait, tally.max_wait),
            (
                ReleaseReason::Evicted,
                tally.evicted_traces + tally.evicted_bytes,
            ),
            (ReleaseReason::Shutdown, tally.shutdown),
        ];
        for (reason, count) in released_counts {
            if count > 0 {
                telemetry::assembly_released(reason.as_str(), count);
            }
        }
        if tally.evicted_traces > 0 {
            telemetry::assembly_evicted("max_traces", tally.evicted_traces);
        }
        if tally.evicted_bytes > 0 {
            telemetry::assembly_evicted("max_bytes", tally.evicted_bytes);
        }
        if tally.late > 0 {
            telemetry::assembly_late_spans(tally.late);
        }
        if tally.over_cap > 0 {
            telemetry::assembly_over_cap_spans(tally.over_cap);
        }
        let held = self.held();
        telemetry::assembly_held(self.index, held.traces, held.spans, held.bytes);
    }
}

impl Assembler for Shard {
    fn ingest(&mut self, batch: SpanBatch, now_ns: u64, released: &mut Vec<Trace>) {
        let start = released.len();
        let now = self.advance(now_ns);
        let mut tally = Tally::default();
        self.context.reset();
        // Deadlines at or before `now` have passed: a span arriving now for such a trace is
        // late, whatever order the caller ticks and ingests in.
        self.expire(now, released, &mut tally);
        let mut added = 0;
        let mut last: Option<(TraceId, u32)> = None;
        for span in batch.spans {
            if let Some(board) = &self.scores {
                board.remember(&span);
            }
            let trace_id = span.trace_id;
            let index = match last {
                Some((id, index)) if id == trace_id => Some(index),
                _ => self.by_id.get(&trace_id).copied(),
            };
            let index = match index {
                Some(index) => index,
                None => {
                    if let Some(r) = self.remembered.get(&trace_id) {
                        let reason = r.reason;
                        self.push_fragment(span, Fragment::Late, reason, released);
                        tally.late += 1;
                        continue;
                    }
                    if self.traces.len() >= self.limits.max_traces {
                        self.bytes_total.fetch_add(added, Ordering::Relaxed);
                        added = 0;
                        self.evict_oldest(Bound::MaxTraces, now, released, &mut tally);
                    }
                    match self.traces.insert(trace_id, now) {
                        Some(index) => {
                            self.by_id.insert(trace_id, index);
                            index
                        }
                        None => {
                            self.push_fragment(
                                span,
                                Fragment::OverCap,
                                ReleaseReason::Evicted,
                                released,
                            );
                            tally.over_cap += 1;
                            continue;
                        }
                    }
                }
            };
            last = Some((trace_id, index));
            match self.hold(index, span, now) {
                Ok(bytes) => added += bytes,
                Err(span) => {
                    self.push_fragment(span, Fragment::OverCap, ReleaseReason::Evicted, released);
                    tally.over_cap += 1;
                }
            }
        }
        self.bytes_total.fetch_add(added, Ordering::Relaxed);
        self.enforce_bytes(now, released, &mut tally);
        self.stats.late_spans += tally.late as u64;
        self.stats.over_cap_spans += tally.over_cap as u64;
        self.finish_call(released, start, &tally);
    }

    fn tick(&mut self, now_ns: u64, released: &mut Vec<Trace>) {
        let start = released.len();
        let now = self.advance(now_ns);
        let mut tally = Tally::default();
        self.expire(now, released, &mut tally);
        self.enforce_bytes(now, released, &mut tally);
        self.finish_call(released, start, &tally);
    }

    fn next_deadline(&self) -> Option<u64> {
        let idle = self
            .traces
            .idlest()
            .map(|(_, h)| h.last_ns.saturating_add(self.limits.idle_after_root_ns));
        let age = self
            .traces
            .oldest()
            .map(|(_, h)| h.first_ns.saturating_add(self.limits.max_wait_ns));
        match (idle, age) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn drain(&mut self, released: &mut Vec<Trace>) {
        let start = released.len();
        let now = self.now_ns;
        let mut tally = Tally::default();
        let mut freed = 0;
        while let Some((index, _)) = self.traces.oldest() {
            freed += self.release(index, ReleaseReason::Shutdown, now, released);
            tally.shutdown += 1;
        }
        self.bytes_total.fetch_sub(freed, Ordering::Relaxed);
        self.finish_call(released, start, &tally);
    }
}

/// True when every parent id names a span of `spans`.
pub(crate) fn tree_whole(spans: &[Span]) -> bool {
    if spans.len() <= 32 {
        return spans.iter().all(|s| {
            s.parent_span_id
                .is_none_or(|p| spans.iter().any(|o| o.span_id == p))
        });
    }
    let mut ids: Vec<SpanId> = spans.iter().map(|s| s.span_id).collect();
    ids.sort_unstable();
    spans.iter().all(|s| {
        s.parent_span_id
            .is_none_or(|p| ids.binary_search(&p).is_ok())
    })
}

#[cfg(test)]
pub(crate) fn held_record_size() -> usize {
    std::mem::size_of::<crate::table::Held>()
}

#[cfg(test)]
impl Shard {
    /// Checks the internal structures agree.
    pub(crate) fn check(&self) {
        self.traces.check();
        assert_eq!(self.by_id.len(), self.traces.len());
        for (id, &i) in &self.by_id {
            assert_eq!(self.traces.get(i).map(|h| h.trace_id), Some(*id));
        }
        assert_eq!(self.fragments.len(), 0);
    }
}
