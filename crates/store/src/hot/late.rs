//! Late scores: scores that reach the hot store through a `logs` pipeline after their trace
//! was released ([`LateScores`]), kept per tenant by trace id until the trace is read.
//!
//! Bounded in entries and in estimated bytes, for all tenants together: past either bound
//! the oldest score (by arrival) goes first, as does any score older than the hot store's
//! `retention`; each eviction is counted by its reason ([`Evicted`]). A score equal to one
//! already kept for its trace ([`same_score`]: name, value, label, span and time) is not kept
//! twice, so a log record the write-ahead log replays adds nothing new.
//!
//! Tenants are apart: the key is (exact tenant name, trace id), so one tenant's lookups never
//! see another's scores. The bounds are shared, like the blocks' `max_bytes`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tracegate_model::{Score, TraceId};

/// Bytes counted per kept score besides the score itself: the map entry, the order queue
/// and the tenant's `Arc`.
const ENTRY_BYTES: usize = 96;

/// Whether `a` and `b` are the same score of one trace: the same name, value, label, rated
/// span and time. Values compare by their bits, so two NaNs are the same.
pub(super) fn same_score(a: &Score, b: &Score) -> bool {
    a.name == b.name
        && a.value.map(f64::to_bits) == b.value.map(f64::to_bits)
        && a.label == b.label
        && a.span_id == b.span_id
        && a.time_unix_nano == b.time_unix_nano
}

/// One kept score.
#[derive(Debug)]
pub(super) struct Kept {
    /// Arrival order, unique.
    seq: u64,
    /// When it arrived, ms since the epoch (by the store's clock).
    pub(super) arrived_ms: u64,
    /// The exact tenant.
    pub(super) tenant: Arc<str>,
    /// The score; its `trace_id` is set.
    pub(super) score: Score,
    /// Its estimated bytes.
    bytes: usize,
    /// Bytes of its record in the file.
    frame_bytes: usize,
}

/// What the bounds evicted, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Evicted {
    /// Older than `retention`.
    pub(super) age: usize,
    /// Over `max_scores`.
    pub(super) entries: usize,
    /// Over `max_bytes`.
    pub(super) bytes: usize,
}

impl Evicted {
    /// Adds `other`.
    pub(super) fn merge(&mut self, other: Evicted) {
        self.age += other.age;
        self.entries += other.entries;
        self.bytes += other.bytes;
    }

    /// Scores evicted for any reason.
    pub(super) fn total(&self) -> usize {
        self.age + self.entries + self.bytes
    }
}

/// The late scores of every tenant. See the [module docs](self).
#[derive(Debug)]
pub(super) struct LateScores {
    max_scores: usize,
    max_bytes: usize,
    retention_ms: u64,
    /// Tenant → trace → its scores, oldest first.
    by_trace: HashMap<Arc<str>, HashMap<TraceId, Vec<Arc<Kept>>>>,
    /// Every kept score, oldest first.
    order: VecDeque<Arc<Kept>>,
    bytes: usize,
    /// Bytes of the kept scores' records in the file: its live size.
    frame_bytes: usize,
    next_seq: u64,
    /// The newest arrival time: later arrivals are never older, so `order` stays sorted by
    /// age even when the clock steps back.
    last_ms: u64,
}

impl LateScores {
    /// An empty store with these bounds.
    pub(super) fn new(max_scores: usize, max_bytes: usize, retention_ms: u64) -> Self {
        Self {
            max_scores: max_scores.max(1),
            max_bytes: max_bytes.max(1),
            retention_ms,
            by_trace: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            frame_bytes: 0,
            next_seq: 0,
            last_ms: 0,
        }
    }

    /// Keeps `score` (which must have a trace id; others are refused) of `tenant`, arrived
    /// at `arrived_ms`. Returns the kept entry, or `None` when it is a duplicate, has no
    /// trace or is too old already; then the evictions its room took.
    pub(super) fn insert(
        &mut self,
        tenant: &Arc<str>,
        score: Score,
        arrived_ms: u64,
        now_ms: u64,
    ) -> (Option<Arc<Kept>>, Evicted) {
        let mut evicted = Evicted::default();
        let Some(trace) = score.trace_id else {
            return (None, evicted);
        };
        let arrived_ms = arrived_ms.max(self.last_ms);
        if now_ms.saturating_sub(arrived_ms) >= self.retention_ms {
            return (None, evicted);
        }
        if self
            .by_trace
            .get(&**tenant)
            .and_then(|t| t.get(&trace))
            .is_some_and(|v| v.iter().any(|k| same_score(&k.score, &score)))
        {
            return (None, evicted);
        }
        let bytes = score.estimated_bytes() + tenant.len() + ENTRY_BYTES;
        let frame_bytes = super::late_log::encode(arrived_ms, tenant, &score).len();
        if bytes > self.max_bytes {
            evicted.bytes += 1;
            return (None, evicted);
        }
        evicted.merge(self.expire(now_ms));
        while self.order.len() >= self.max_scores {
            self.pop_oldest();
            evicted.entries += 1;
        }
        while self.bytes + bytes > self.max_bytes {
            self.pop_oldest();
            evicted.bytes += 1;
        }
        self.last_ms = arrived_ms;
        let kept = Arc::new(Kept {
            seq: self.next_seq,
            arrived_ms,
            tenant: tenant.clone(),
            score,
            bytes,
            frame_bytes,
        });
        self.next_seq += 1;
        self.bytes += bytes;
        self.frame_bytes += frame_bytes;
        self.order.push_back(kept.clone());
        self.by_trace
            .entry(tenant.clone())
            .or_default()
            .entry(trace)
            .or_default()
            .push(kept.clone());
        (Some(kept), evicted)
    }

    /// Drops the scores that arrived `retention` or more before `now_ms`.
    pub(super) fn expire(&mut self, now_ms: u64) -> Evicted {
        let mut evicted = Evicted::default();
        while self
            .order
            .front()
            .is_some_and(|k| now_ms.saturating_sub(k.arrived_ms) >= self.retention_ms)
        {
            self.pop_oldest();
            evicted.age += 1;
        }
        evicted
    }

    fn pop_oldest(&mut self) {
        let Some(old) = self.order.pop_front() else {
            return;
        };
        self.bytes -= old.bytes;
        self.frame_bytes -= old.frame_bytes;
        let trace = old.score.trace_id.unwrap_or_default();
        if let Some(traces) = self.by_trace.get_mut(&*old.tenant) {
            if let Some(list) = traces.get_mut(&trace) {
                list.retain(|k| k.seq != old.seq);
                if list.is_empty() {
                    traces.remove(&trace);
                }
            }
            if traces.is_empty() {
                self.by_trace.remove(&*old.tenant);
            }
        }
    }

    /// The scores of `tenant`'s trace `id`, oldest first (clones: the caller reads them
    /// without the lock).
    pub(super) fn of_trace(&self, tenant: &str, id: &TraceId) -> Vec<Score> {
        self.by_trace
            .get(tenant)
            .and_then(|t| t.get(id))
            .map(|v| v.iter().map(|k| k.score.clone()).collect())
            .unwrap_or_default()
    }

    /// Every kept score, oldest first (what a compaction writes).
    pub(super) fn iter(&self) -> impl Iterator<Item = &Arc<Kept>> {
        self.order.iter()
    }

    /// Scores kept.
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// Their estimated bytes.
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes of their records in the file.
    pub(super) fn frame_bytes(&self) -> u64 {
        self.frame_bytes as u64
    }

    /// Whether no score is kept (a scan asks before looking up each trace).
    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tracegate_model::SpanId;

    const HOUR_MS: u64 = 3_600_000;

    fn score(trace: u8, name: &str, value: f64) -> Score {
        Score {
            name: name.into(),
            value: Some(value),
            trace_id: Some(TraceId([trace; 16])),
            span_id: Some(SpanId([trace; 8])),
            time_unix_nano: 7,
            ..Default::default()
        }
    }

    fn names(s: &LateScores, tenant: &str, trace: u8) -> Vec<String> {
        s.of_trace(tenant, &TraceId([trace; 16]))
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    #[test]
    fn golden_entry_bound_evicts_the_oldest_first() {
        let t: Arc<str> = Arc::from("t");
        let mut s = LateScores::new(3, 1 << 20, HOUR_MS);
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            let (kept, evicted) = s.insert(&t, score(1, name, 1.0), i as u64, i as u64);
            assert!(kept.is_some());
            assert_eq!(evicted.entries, usize::from(i == 3));
        }
        assert_eq!(names(&s, "t", 1), ["b", "c", "d"]);
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn golden_byte_bound_and_an_oversized_score() {
        let t: Arc<str> = Arc::from("t");
        let one = score(1, "a", 1.0).estimated_bytes() + 1 + ENTRY_BYTES;
        let mut s = LateScores::new(100, 2 * one + one / 2, HOUR_MS);
        for name in ["a", "b", "c"] {
            s.insert(&t, score(1, name, 1.0), 0, 0);
        }
        assert_eq!(names(&s, "t", 1), ["b", "c"]);
        assert!(s.bytes() <= 2 * one + one / 2);
        let mut big = score(2, "big", 1.0);
        big.explanation = Some("x".repeat(10 * one));
        let (kept, evicted) = s.insert(&t, big, 0, 0);
        assert!(kept.is_none());
        assert_eq!(evicted.bytes, 1);
        assert_eq!(names(&s, "t", 1), ["b", "c"], "nothing evicted for it");
    }

    #[test]
    fn retention_drops_old_scores_and_refuses_stale_ones() {
        let t: Arc<str> = Arc::from("t");
        let mut s = LateScores::new(100, 1 << 20, 10);
        s.insert(&t, score(1, "old", 1.0), 0, 0);
        s.insert(&t, score(1, "new", 1.0), 5, 5);
        assert_eq!(s.expire(9), Evicted::default());
        assert_eq!(
            s.expire(10).age,
            1,
            "an age equal to the retention is too old"
        );
        assert_eq!(names(&s, "t", 1), ["new"]);
        let (kept, _) = s.insert(&t, score(2, "stale", 1.0), 0, 100);
        assert!(kept.is_none());
        assert_eq!(s.expire(100).age, 1);
        assert_eq!(s.len(), 0);
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn tenants_are_apart_and_duplicates_are_kept_once() {
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let mut s = LateScores::new(100, 1 << 20, HOUR_MS);
        assert!(s.insert(&a, score(1, "x", 1.0), 0, 0).0.is_some());
        assert!(
            s.insert(&a, score(1, "x", 1.0), 1, 1).0.is_none(),
            "a duplicate"
        );
        let mut later = score(1, "x", 1.0);
        later.time_unix_nano = 8;
        assert!(s.insert(&a, later, 1, 1).0.is_some(), "another time");
        assert!(
            s.insert(&a, score(1, "x", 0.5), 1, 1).0.is_some(),
            "another value"
        );
        assert!(
            s.insert(&b, score(1, "x", 1.0), 1, 1).0.is_some(),
            "another tenant"
        );
        assert_eq!(names(&s, "a", 1).len(), 3);
        assert_eq!(names(&s, "b", 1), ["x"]);
        assert!(names(&s, "c", 1).is_empty());
        let mut unjoined = score(1, "x", 1.0);
        unjoined.trace_id = None;
        assert!(s.insert(&a, unjoined, 1, 1).0.is_none());
    }

    #[test]
    fn equality_is_name_value_label_span_and_time() {
        let a = score(1, "x", 1.0);
        let mut b = a.clone();
        b.explanation = Some("other words".into());
        b.service_name = "other".into();
        assert!(same_score(&a, &b));
        for change in [
            |s: &mut Score| s.name = "y".into(),
            |s: &mut Score| s.value = None,
            |s: &mut Score| s.label = Some("l".into()),
            |s: &mut Score| s.span_id = None,
            |s: &mut Score| s.time_unix_nano = 0,
        ] {
            let mut c = a.clone();
            change(&mut c);
            assert!(!same_score(&a, &c));
        }
    }

    proptest! {
        #[test]
        fn bounds_hold_and_the_newest_survive(
            ops in proptest::collection::vec((0u8..4, 0u8..3, 0u64..1000, 0usize..200), 1..120),
            max_scores in 1usize..20, max_kib in 1usize..8,
        ) {
            let tenants: [Arc<str>; 3] = [Arc::from("a"), Arc::from("b"), Arc::from("c")];
            let mut s = LateScores::new(max_scores, max_kib * 1024, 500);
            let mut now = 0;
            let mut last = None;
            for (i, (trace, tenant, step, pad)) in ops.iter().enumerate() {
                now += step;
                let mut sc = score(*trace, &format!("s{i}"), 1.0);
                sc.explanation = Some("e".repeat(*pad));
                let (kept, _) = s.insert(&tenants[*tenant as usize], sc, now, now);
                if kept.is_some() {
                    last = Some((tenants[*tenant as usize].clone(), *trace, format!("s{i}")));
                }
                prop_assert!(s.len() <= max_scores);
                prop_assert!(s.bytes() <= max_kib * 1024);
                let ages: Vec<u64> = s.iter().map(|k| k.arrived_ms).collect();
                prop_assert!(ages.windows(2).all(|w| w[0] <= w[1]), "oldest first");
                prop_assert!(s.iter().all(|k| now - k.arrived_ms < 500));
            }
            let total: usize = tenants
                .iter()
                .flat_map(|t| (0..4).map(move |tr| (t.clone(), tr)))
                .map(|(t, tr)| names(&s, &t, tr).len())
                .sum();
            prop_assert_eq!(total, s.len(), "the map and the order agree");
            if let Some((t, tr, name)) = last {
                prop_assert!(names(&s, &t, tr).contains(&name), "the newest is kept");
            }
        }
    }
}
