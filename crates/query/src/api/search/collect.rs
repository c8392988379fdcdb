//! [`Collector`]: the `limit` newest (by start time) traces of one tenant's scan that match
//! a query.
//!
//! The backend visits a trace once per storage block that holds part of it, newest block
//! first, but a block's traces are in storage order, not by start time. Each visit is
//! evaluated on its own; a trace that matches is kept (its spans cloned) and later
//! fragments of it are merged in. Fragments that do not match are held too, up to
//! `max_pending_spans` spans (oldest evicted first), so that a trace whose match needs
//! spans from two blocks (a root in one, an error in the other) still matches once both
//! are seen.
//!
//! Once `limit` traces match, a newer match replaces the oldest one, and the collector
//! raises the scan's [`ScanFloor`] to the oldest kept start: the store then skips traces
//! and whole blocks that start before it. So the answer is the newest `limit` matches
//! however the store ordered them, and the scan still stops reading early.

use crate::api::tql::Query;
use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::ControlFlow;
use tracegate_model::{Span, TraceId};
use tracegate_store::ScanFloor;

/// Trace ids a collector remembers as let go (evicted or too old), so a later fragment
/// of one is not taken for a new trace. Past this, a fragment may come back as a partial
/// trace: rare, and bounded.
const MAX_LET_GO: usize = 65_536;

/// A kept trace's rank: its earliest start, then (on a tie) the smaller id first, as
/// [`super::response::newest_first`] orders them. The smallest rank is the oldest.
type Rank = (u64, Reverse<TraceId>);

/// Collects matching traces during a scan.
#[derive(Debug)]
pub struct Collector<'q> {
    query: &'q Query,
    limit: usize,
    max_pending_spans: usize,
    floor: ScanFloor,
    /// Matching traces kept, by id, with their rank.
    matched: HashMap<TraceId, (Rank, Vec<Span>)>,
    ranks: BTreeSet<Rank>,
    /// Matching traces evicted by newer ones, or too old to be kept.
    let_go: HashSet<TraceId>,
    /// Fragments that did not match (yet), by trace.
    pending: HashMap<TraceId, Vec<Span>>,
    pending_order: VecDeque<TraceId>,
    pending_spans: usize,
    /// Fragments that could not be held for lack of room.
    dropped_fragments: u64,
}

impl<'q> Collector<'q> {
    /// A collector for `limit` traces, raising `floor` once it holds them.
    pub fn new(query: &'q Query, limit: usize, max_pending_spans: usize, floor: ScanFloor) -> Self {
        Self {
            query,
            limit: limit.max(1),
            max_pending_spans,
            floor,
            matched: HashMap::new(),
            ranks: BTreeSet::new(),
            let_go: HashSet::new(),
            pending: HashMap::new(),
            pending_order: VecDeque::new(),
            pending_spans: 0,
            dropped_fragments: 0,
        }
    }

    /// Takes one visited fragment (all of one trace). Never stops the scan: the floor
    /// does that.
    pub fn visit(&mut self, spans: &[Span]) -> ControlFlow<()> {
        let Some(first) = spans.first() else {
            return ControlFlow::Continue(());
        };
        let id = first.trace_id;
        if self.let_go.contains(&id) {
            return ControlFlow::Continue(());
        }
        if let Some((rank, held)) = self.matched.get_mut(&id) {
            merge(held, spans);
            let moved = (earliest(held), rank.1);
            if moved != *rank {
                self.ranks.remove(rank);
                self.ranks.insert(moved);
                *rank = moved;
            }
            return ControlFlow::Continue(());
        }
        if let Some(mut held) = self.pending.remove(&id) {
            self.pending_spans = self.pending_spans.saturating_sub(held.len());
            merge(&mut held, spans);
            if self.query.evaluate(&held).is_empty() {
                self.hold(id, held);
            } else {
                self.accept(id, held);
            }
        } else if self.query.evaluate(spans).is_empty() {
            self.hold(id, spans.to_vec());
        } else {
            self.accept(id, spans.to_vec());
        }
        ControlFlow::Continue(())
    }

    fn accept(&mut self, id: TraceId, spans: Vec<Span>) {
        let rank = (earliest(&spans), Reverse(id));
        if self.matched.len() >= self.limit {
            let Some(&oldest) = self.ranks.first() else {
                return;
            };
            if rank <= oldest {
                self.let_go(id);
                return;
            }
            self.ranks.remove(&oldest);
            self.matched.remove(&oldest.1.0);
            self.let_go(oldest.1.0);
        }
        self.ranks.insert(rank);
        self.matched.insert(id, (rank, spans));
        if self.matched.len() >= self.limit
            && let Some(&(start, _)) = self.ranks.first()
        {
            self.floor.raise(start);
        }
    }

    fn let_go(&mut self, id: TraceId) {
        if self.let_go.len() < MAX_LET_GO {
            self.let_go.insert(id);
        }
    }

    fn hold(&mut self, id: TraceId, spans: Vec<Span>) {
        if spans.len() > self.max_pending_spans {
            self.dropped_fragments += 1;
            return;
        }
        while self.pending_spans + spans.len() > self.max_pending_spans {
            let Some(old) = self.pending_order.pop_front() else {
                break;
            };
            if let Some(evicted) = self.pending.remove(&old) {
                self.pending_spans = self.pending_spans.saturating_sub(evicted.len());
                self.dropped_fragments += 1;
            }
        }
        self.pending_spans += spans.len();
        self.pending.insert(id, spans);
        self.pending_order.push_back(id);
    }

    /// Fragments given up for lack of room.
    pub fn dropped_fragments(&self) -> u64 {
        self.dropped_fragments
    }

    /// The matching traces' spans, newest first.
    pub fn finish(self) -> Vec<Vec<Span>> {
        if self.dropped_fragments > 0 {
            tracing::debug!(
                dropped = self.dropped_fragments,
                "search held too many non-matching trace fragments; some were not merged"
            );
        }
        let mut matched = self.matched;
        self.ranks
            .iter()
            .rev()
            .filter_map(|rank| matched.remove(&rank.1.0).map(|(_, spans)| spans))
            .collect()
    }
}

/// The earliest start of `spans`.
fn earliest(spans: &[Span]) -> u64 {
    spans
        .iter()
        .map(|s| s.start_time_unix_nano)
        .min()
        .unwrap_or(0)
}

/// Adds to `into` the spans of `more` whose span ids it does not have yet.
fn merge(into: &mut Vec<Span>, more: &[Span]) {
    let seen: HashSet<_> = into.iter().map(|s| s.span_id).collect();
    into.extend(more.iter().filter(|s| !seen.contains(&s.span_id)).cloned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traceql::parse;
    use proptest::prelude::*;
    use std::sync::Arc;
    use tracegate_model::{Resource, Scope, SpanId, SpanKind, Status};

    fn span(trace: u8, n: u8, error: bool) -> Span {
        Span {
            resource: Arc::new(Resource::with_service("svc")),
            scope: Arc::new(Scope::default()),
            trace_id: TraceId([trace; 16]),
            span_id: SpanId([trace, n, 1, 1, 1, 1, 1, 1]),
            parent_span_id: (n > 0).then_some(SpanId([trace, 0, 1, 1, 1, 1, 1, 1])),
            trace_state: String::new(),
            flags: 0,
            name: if n == 0 {
                "root".into()
            } else {
                format!("child-{n}")
            },
            kind: SpanKind::Internal,
            start_time_unix_nano: 1_000 + u64::from(n),
            end_time_unix_nano: 2_000,
            attributes: vec![],
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            status: Status {
                code: if error { 2 } else { 0 },
                message: String::new(),
            },
            facts: Default::default(),
            origin: Default::default(),
        }
    }

    /// Runs the collector over traces split into blocks as `block_of` says; each block
    /// visits its fragments in trace order.
    fn run(
        query: &str,
        traces: &[Vec<Span>],
        block_of: &[Vec<usize>],
        limit: usize,
        room: usize,
    ) -> Vec<Vec<Span>> {
        let q = parse(query).unwrap();
        let mut c = Collector::new(&q, limit, room, ScanFloor::default());
        let blocks = block_of.iter().flatten().max().map_or(0, |m| m + 1);
        'scan: for b in 0..blocks {
            for (t, spans) in traces.iter().enumerate() {
                let fragment: Vec<Span> = spans
                    .iter()
                    .zip(&block_of[t])
                    .filter(|(_, blk)| **blk == b)
                    .map(|(s, _)| s.clone())
                    .collect();
                if !fragment.is_empty() && c.visit(&fragment).is_break() {
                    break 'scan;
                }
            }
        }
        c.finish()
    }

    fn traces_strategy() -> impl Strategy<Value = (Vec<Vec<Span>>, Vec<Vec<usize>>)> {
        prop::collection::vec(
            (1usize..6, any::<u8>(), prop::collection::vec(0usize..3, 6)),
            1..8,
        )
        .prop_map(|specs| {
            let mut traces = Vec::new();
            let mut blocks = Vec::new();
            for (i, (n, error_at, block)) in specs.into_iter().enumerate() {
                let error_at = usize::from(error_at) % n;
                let spans: Vec<Span> = (0..n)
                    .map(|k| span(i as u8 + 1, k as u8, k == error_at && k > 0))
                    .collect();
                blocks.push(block[..n].to_vec());
                traces.push(spans);
            }
            (traces, blocks)
        })
    }

    proptest! {
        #[test]
        fn each_trace_is_found_once_and_whole_however_it_is_split((traces, blocks) in traces_strategy()) {
            let found = run("{}", &traces, &blocks, 100, 1000);
            prop_assert_eq!(found.len(), traces.len());
            for f in &found {
                let id = f[0].trace_id;
                let want = traces.iter().find(|t| t[0].trace_id == id).unwrap();
                prop_assert_eq!(f.len(), want.len());
            }
            // A match that needs two fragments is found when there is room to hold them.
            let both = run(r#"{name="root"} && {status=error}"#, &traces, &blocks, 100, 1000);
            let expected = traces.iter().filter(|t| t.iter().any(|s| s.is_error())).count();
            prop_assert_eq!(both.len(), expected);
        }

        #[test]
        fn the_scan_stops_at_the_limit_and_pending_spans_stay_bounded((traces, blocks) in traces_strategy(), limit in 1usize..4) {
            let found = run("{}", &traces, &blocks, limit, 1000);
            prop_assert_eq!(found.len(), limit.min(traces.len()));
            // No room to hold fragments: still no duplicates, never more than found alone.
            let both = run(r#"{name="root"} && {status=error}"#, &traces, &blocks, 100, 0);
            let ids: HashSet<_> = both.iter().map(|t| t[0].trace_id).collect();
            prop_assert_eq!(ids.len(), both.len());
        }
    }

    proptest! {
        /// Whole traces visited in any order: the answer is the `limit` newest by start
        /// (ties: the smaller id), and the floor ends at the oldest of them.
        #[test]
        fn keeps_the_newest_whatever_the_visit_order(
            starts in prop::collection::vec(0u64..50, 1..30),
            order in any::<u64>(),
            limit in 1usize..6,
        ) {
            let traces: Vec<Vec<Span>> = starts
                .iter()
                .enumerate()
                .map(|(i, &t0)| {
                    (0..2u8)
                        .map(|n| {
                            let mut s = span(i as u8 + 1, n, false);
                            s.start_time_unix_nano = t0 * 10 + u64::from(n);
                            s
                        })
                        .collect()
                })
                .collect();
            let mut visit: Vec<usize> = (0..traces.len()).collect();
            // A deterministic shuffle from the generated seed.
            let mut seed = order | 1;
            for i in (1..visit.len()).rev() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                visit.swap(i, (seed % (i as u64 + 1)) as usize);
            }
            let q = parse("{}").unwrap();
            let floor = ScanFloor::default();
            let mut c = Collector::new(&q, limit, 1000, floor.clone());
            for &i in &visit {
                let _ = c.visit(&traces[i]);
            }
            let got: Vec<TraceId> = c.finish().iter().map(|t| t[0].trace_id).collect();
            let mut want: Vec<(u64, TraceId)> =
                traces.iter().map(|t| (t[0].start_time_unix_nano, t[0].trace_id)).collect();
            want.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            want.truncate(limit);
            prop_assert_eq!(&got, &want.iter().map(|w| w.1).collect::<Vec<_>>());
            let expected_floor = if traces.len() >= limit { want.last().map_or(0, |w| w.0) } else { 0 };
            prop_assert_eq!(floor.get(), expected_floor);
        }
    }

    #[test]
    fn evicts_the_oldest_held_fragment_first() {
        let q = parse(r#"{name="root"} && {status=error}"#).unwrap();
        let mut c = Collector::new(&q, 10, 2, ScanFloor::default());
        // Trace 1's root and trace 2's root are held; trace 3's root evicts trace 1's.
        for t in 1..=3 {
            let _ = c.visit(&[span(t, 0, false)]);
        }
        assert_eq!(c.dropped_fragments(), 1);
        let _ = c.visit(&[span(2, 1, true)]);
        let _ = c.visit(&[span(1, 1, true)]);
        let found = c.finish();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0][0].trace_id, TraceId([2; 16]));
    }
}
