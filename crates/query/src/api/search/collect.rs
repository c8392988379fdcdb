//! [`Collector`]: the traces of one tenant's scan that match a query, at most `limit`.
//!
//! The backend visits a trace once per storage block that holds part of it, newest first.
//! Each visit is evaluated on its own; a trace that matches is kept (its spans cloned) and
//! later fragments of it are merged in. Fragments that do not match are held too, up to
//! `max_pending_spans` spans (oldest evicted first), so that a trace whose match needs
//! spans from two blocks (a root in one, an error in the other) still matches once both
//! are seen. The scan stops once `limit` traces match.

use crate::api::tql::Query;
use std::collections::{HashMap, HashSet, VecDeque};
use std::ops::ControlFlow;
use tracegate_model::{Span, TraceId};

/// Collects matching traces during a scan.
#[derive(Debug)]
pub struct Collector<'q> {
    query: &'q Query,
    limit: usize,
    max_pending_spans: usize,
    /// Matching traces, in the order first matched.
    matched: Vec<Vec<Span>>,
    matched_index: HashMap<TraceId, usize>,
    /// Fragments that did not match (yet), by trace.
    pending: HashMap<TraceId, Vec<Span>>,
    pending_order: VecDeque<TraceId>,
    pending_spans: usize,
    /// Fragments that could not be held for lack of room.
    dropped_fragments: u64,
}

impl<'q> Collector<'q> {
    /// A collector for `limit` traces.
    pub fn new(query: &'q Query, limit: usize, max_pending_spans: usize) -> Self {
        Self {
            query,
            limit: limit.max(1),
            max_pending_spans,
            matched: Vec::new(),
            matched_index: HashMap::new(),
            pending: HashMap::new(),
            pending_order: VecDeque::new(),
            pending_spans: 0,
            dropped_fragments: 0,
        }
    }

    /// Takes one visited fragment (all of one trace).
    pub fn visit(&mut self, spans: &[Span]) -> ControlFlow<()> {
        let Some(first) = spans.first() else {
            return ControlFlow::Continue(());
        };
        let id = first.trace_id;
        if let Some(&i) = self.matched_index.get(&id) {
            merge(&mut self.matched[i], spans);
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
        if self.matched.len() >= self.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn accept(&mut self, id: TraceId, spans: Vec<Span>) {
        self.matched_index.insert(id, self.matched.len());
        self.matched.push(spans);
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

    /// The matching traces' spans, in the order they first matched.
    pub fn finish(self) -> Vec<Vec<Span>> {
        if self.dropped_fragments > 0 {
            tracing::debug!(
                dropped = self.dropped_fragments,
                "search held too many non-matching trace fragments; some were not merged"
            );
        }
        self.matched
    }
}

/// Adds to `into` the spans of `more` whose span ids it does not have yet.
fn merge(into: &mut Vec<Span>, more: &[Span]) {
    let seen: HashSet<_> = into.iter().map(|s| s.span_id).collect();
    into.extend(more.iter().filter(|s| !seen.contains(&s.span_id)).cloned());
}
