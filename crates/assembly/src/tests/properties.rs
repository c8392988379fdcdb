//! Property tests: random trees, shuffled arrival orders, random batch splits, interleaved
//! traces, late arrivals, and every bound set small.
//!
//! A simulator plays the topology's part: it routes spans to shards by trace id, ticks each
//! shard exactly at its next deadline, and logs every trace released with the time it came
//! out. The checks then hold for every run:
//! - every input span comes out exactly once;
//! - spans of one trace come out together, in one whole trace, unless they came late or over
//!   the cap (or the trace was evicted and they came after);
//! - a trace released `complete` comes out exactly `idle_after_root` after its last span, and
//!   one released at `max_wait` exactly `max_wait` after its first;
//! - the bounds hold after every call.
//!
//! With loose bounds, a model computed per trace says exactly when and why it is released.

use super::*;
use crate::HeldCounts;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use tracegate_model::{Fragment, ReleaseReason, SpanBatch, keys};
use tracegate_pipeline::{Assembler, ByteSize, shard_of};

/// One random trace: span `i > 0` has a parent among the spans before it; span 0 is the root,
/// or, for an orphan, the child of a span that never comes.
#[derive(Debug, Clone)]
struct TraceSpec {
    parents: Vec<usize>,
    has_root: bool,
    payload: usize,
}

fn trace_spec() -> impl Strategy<Value = TraceSpec> {
    (1usize..12, prop::bool::weighted(0.8), 0usize..300).prop_flat_map(|(n, has_root, payload)| {
        prop::collection::vec(any::<prop::sample::Index>(), n).prop_map(move |picks| TraceSpec {
            parents: picks
                .iter()
                .enumerate()
                .map(|(i, p)| if i == 0 { 0 } else { p.index(i) })
                .collect(),
            has_root,
            payload,
        })
    })
}

/// Arrival plan: a seed for the shuffle, the batch splits and the gaps between batches.
#[derive(Debug, Clone)]
struct Scenario {
    traces: Vec<TraceSpec>,
    seed: u64,
    drain_at_end: bool,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(trace_spec(), 1..8),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(traces, seed, drain_at_end)| Scenario {
            traces,
            seed,
            drain_at_end,
        })
}

/// splitmix64: the scenario's own deterministic randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The batches of a scenario, each with its arrival time, in order.
fn plan(s: &Scenario) -> Vec<(u64, Vec<Span>)> {
    let svc = service("svc");
    let mut spans = Vec::new();
    for (t, spec) in s.traces.iter().enumerate() {
        let trace = trace_id(t as u64);
        for (i, &p) in spec.parents.iter().enumerate() {
            let id = i as u64;
            let parent = match (i, spec.has_root) {
                (0, true) => None,
                (0, false) => Some(999),
                _ => Some(p as u64),
            };
            spans.push(span(trace, id, parent, &svc, "op", spec.payload));
        }
    }
    let mut rng = Rng(s.seed);
    // Fisher–Yates: any arrival order, traces interleaved.
    for i in (1..spans.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        spans.swap(i, j);
    }
    let mut batches = Vec::new();
    let mut t = 0;
    let mut current = Vec::new();
    for span in spans {
        current.push(span);
        if rng.below(3) == 0 {
            batches.push((t, std::mem::take(&mut current)));
            // Mostly short gaps; sometimes long enough to go idle, hit max_wait, or come late.
            t += match rng.below(10) {
                0..=5 => rng.below(500) * MS,
                6..=7 => rng.below(4_000) * MS,
                _ => rng.below(40_000) * MS,
            };
        }
    }
    if !current.is_empty() {
        batches.push((t, current));
    }
    batches
}

#[derive(Debug)]
struct Released {
    at: u64,
    shard: usize,
    trace: Trace,
}

struct Sim {
    shards: Vec<Shard>,
    log: Vec<Released>,
    now: u64,
}

impl Sim {
    fn new(config: &TraceAssemblyConfig) -> Self {
        Self {
            shards: config.build_shards(),
            log: Vec::new(),
            now: 0,
        }
    }

    /// Ticks every shard at each of its deadlines up to `t`, in time order.
    fn advance(&mut self, t: u64) {
        loop {
            let next = self
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.next_deadline().map(|d| (d, i)))
                .min();
            let Some((deadline, i)) = next.filter(|&(d, _)| d <= t) else {
                break;
            };
            assert!(deadline >= self.now, "a deadline in the past");
            self.now = deadline;
            let mut out = Vec::new();
            self.shards[i].tick(deadline, &mut out);
            assert!(!out.is_empty(), "a tick at the deadline released nothing");
            self.record(i, deadline, out);
        }
        self.now = self.now.max(t);
    }

    fn ingest(&mut self, t: u64, spans: Vec<Span>) {
        self.advance(t);
        let n = self.shards.len();
        let mut parts: Vec<Vec<Span>> = (0..n).map(|_| Vec::new()).collect();
        for span in spans {
            parts[shard_of(&span.trace_id, n)].push(span);
        }
        for (i, spans) in parts.into_iter().enumerate() {
            if spans.is_empty() {
                continue;
            }
            let mut out = Vec::new();
            self.shards[i].ingest(SpanBatch { spans }, t, &mut out);
            self.record(i, t, out);
        }
    }

    fn finish(&mut self, drain: bool) {
        if drain {
            for i in 0..self.shards.len() {
                let mut out = Vec::new();
                self.shards[i].drain(&mut out);
                self.record(i, self.now, out);
            }
        } else {
            self.advance(u64::MAX / 2);
        }
        for s in &self.shards {
            assert_eq!(s.held(), HeldCounts::default());
            assert_eq!(s.next_deadline(), None);
        }
        assert_eq!(self.shards[0].bytes_held_total(), 0);
    }

    fn record(&mut self, shard: usize, at: u64, out: Vec<Trace>) {
        self.check_bounds(shard);
        self.log
            .extend(out.into_iter().map(|trace| Released { at, shard, trace }));
    }

    fn check_bounds(&self, i: usize) {
        let s = &self.shards[i];
        s.check();
        let limits = s.limits();
        let held = s.held();
        assert!(held.traces <= limits.max_traces, "max_traces exceeded");
        let total = s.bytes_held_total();
        assert_eq!(
            total,
            self.shards.iter().map(|s| s.held().bytes).sum::<usize>(),
            "shared byte counter out of step"
        );
        assert!(
            total <= limits.max_bytes || held.bytes <= limits.fair_share_bytes,
            "max_bytes exceeded by a shard over its share"
        );
    }
}

fn key(s: &Span) -> (TraceId, SpanId) {
    (s.trace_id, s.span_id)
}

/// Runs a scenario and checks what holds for every config. Returns the log and arrival times.
fn run(
    config: &TraceAssemblyConfig,
    s: &Scenario,
) -> (Vec<Released>, HashMap<(TraceId, SpanId), u64>, u64) {
    let batches = plan(s);
    let mut arrival = HashMap::new();
    for (t, spans) in &batches {
        for span in spans {
            assert!(arrival.insert(key(span), *t).is_none());
        }
    }
    let end = batches.last().map_or(0, |b| b.0);
    let mut sim = Sim::new(config);
    for (t, spans) in batches {
        sim.ingest(t, spans);
    }
    sim.finish(s.drain_at_end);
    let log = sim.log;
    let limits = config.limits(config.shards);

    // Every input span comes out exactly once.
    let mut seen = HashMap::new();
    for r in &log {
        for span in &r.trace.spans {
            assert_eq!(span.trace_id, r.trace.trace_id);
            *seen.entry(key(span)).or_insert(0) += 1;
        }
    }
    assert_eq!(seen.len(), arrival.len(), "spans lost");
    assert!(seen.values().all(|&n| n == 1), "spans duplicated");

    // Per trace id, in release order.
    let mut by_id: BTreeMap<TraceId, Vec<&Released>> = BTreeMap::new();
    for r in &log {
        by_id.entry(r.trace.trace_id).or_default().push(r);
    }
    let idle = limits.idle_after_root_ns;
    let max_wait = limits.max_wait_ns;
    for events in by_id.values() {
        let mut last_whole: Option<&Released> = None;
        let mut pending_over_cap = false;
        for (n, r) in events.iter().enumerate() {
            let t = &r.trace;
            let late = t
                .spans
                .iter()
                .filter(|s| has_attr(s, keys::TRACEGATE_LATE))
                .count();
            let over = t
                .spans
                .iter()
                .filter(|s| has_attr(s, keys::TRACEGATE_OVER_CAP))
                .count();
            match t.fragment {
                None => {
                    let over_capped = pending_over_cap;
                    assert_eq!(late + over, 0, "a whole trace with marked spans");
                    assert!(t.spans.len() <= limits.max_spans_per_trace);
                    assert!(!t.spans.is_empty());
                    assert_eq!(t.tree_whole, crate::shard::tree_whole(&t.spans));
                    if pending_over_cap {
                        assert_eq!(t.spans.len(), limits.max_spans_per_trace);
                        pending_over_cap = false;
                    }
                    let first = t.spans.iter().map(|s| arrival[&key(s)]).min().unwrap_or(0);
                    // Activity includes spans passed through over the cap while it was held.
                    let last = events[..n]
                        .iter()
                        .filter(|e| e.trace.fragment == Some(Fragment::OverCap))
                        .flat_map(|e| &e.trace.spans)
                        .chain(&t.spans)
                        .map(|s| arrival[&key(s)])
                        .filter(|&a| a >= first)
                        .max()
                        .unwrap_or(0);
                    match t.release_reason {
                        ReleaseReason::Complete => {
                            // Its root may have passed through over the cap.
                            assert!(
                                over_capped || t.root().is_some(),
                                "complete without a root: {:#?}",
                                events
                                    .iter()
                                    .map(|e| (
                                        e.at,
                                        e.trace.fragment,
                                        e.trace.release_reason,
                                        e.trace
                                            .spans
                                            .iter()
                                            .map(|s| (
                                                s.span_id,
                                                s.parent_span_id,
                                                arrival[&key(s)]
                                            ))
                                            .collect::<Vec<_>>()
                                    ))
                                    .collect::<Vec<_>>()
                            );
                            assert_eq!(r.at, last + idle, "not released exactly when idle");
                            assert!(r.at <= first + max_wait);
                        }
                        ReleaseReason::MaxWait => {
                            assert_eq!(r.at, first + max_wait, "not released exactly at max_wait");
                        }
                        ReleaseReason::Shutdown => assert!(s.drain_at_end),
                        _ => {}
                    }
                    if let Some(prev) = last_whole {
                        // A second whole trace for one id: the first must have been forgotten.
                        let releases_between = log
                            .iter()
                            .filter(|e| {
                                e.shard == r.shard
                                    && e.trace.fragment.is_none()
                                    && e.at >= prev.at
                                    && e.at <= first
                            })
                            .count();
                        assert!(
                            limits.late_window_ns == 0
                                || limits.max_remembered == 0
                                || first >= prev.at + limits.late_window_ns
                                || releases_between > limits.max_remembered,
                            "a trace came out in two whole parts while remembered"
                        );
                    }
                    last_whole = Some(r);
                }
                Some(Fragment::Late) => {
                    assert_eq!(late, t.spans.len());
                    let prev = last_whole.expect("a late fragment before any release");
                    assert_eq!(t.release_reason, prev.trace.release_reason);
                    assert!(r.at < prev.at + limits.late_window_ns);
                }
                Some(Fragment::OverCap) => {
                    assert_eq!(over, t.spans.len());
                    assert_eq!(t.release_reason, ReleaseReason::Evicted);
                    pending_over_cap = true;
                }
                Some(_) => unreachable!(),
            }
        }
        assert!(
            !pending_over_cap,
            "over-cap spans of a trace never released"
        );
    }
    (log, arrival, end)
}

/// When and why a trace is released, and how many of its spans come late, with loose bounds.
fn model(
    spans: &[(u64, bool)],
    limits: &crate::Limits,
    end: u64,
    drain: bool,
) -> (u64, ReleaseReason, usize, usize) {
    let mut sorted = spans.to_vec();
    sorted.sort_by_key(|s| s.0);
    let (idle, max_wait) = (limits.idle_after_root_ns, limits.max_wait_ns);
    let first = sorted[0].0;
    let (mut last, mut rooted, mut held) = (first, false, 0);
    let deadline = |last: u64, rooted: bool| {
        if rooted {
            (last + idle).min(first + max_wait)
        } else {
            first + max_wait
        }
    };
    for &(a, root) in &sorted {
        if a >= deadline(last, rooted) {
            break;
        }
        last = a;
        rooted |= root;
        held += 1;
    }
    let at = deadline(last, rooted);
    let reason = if rooted && last + idle <= first + max_wait {
        ReleaseReason::Complete
    } else {
        ReleaseReason::MaxWait
    };
    if drain && at > end {
        return (end, ReleaseReason::Shutdown, held, spans.len() - held);
    }
    (at, reason, held, spans.len() - held)
}

fn loose(shards: usize) -> TraceAssemblyConfig {
    TraceAssemblyConfig {
        idle_after_root: secs(2),
        max_wait: secs(10),
        late_window: secs(3600),
        shards,
        ..Default::default()
    }
}

fn tight() -> impl Strategy<Value = TraceAssemblyConfig> {
    (
        1u64..4,
        1u64..10,
        0u64..20,
        0usize..4,
        1usize..5,
        1usize..6,
        1usize..20,
        1usize..4,
    )
        .prop_map(
            |(idle, extra_wait, late, remembered, traces, cap, bytes_in_spans, shards)| {
                let one = first_span_bytes(&span(trace_id(0), 0, None, &service("svc"), "op", 150));
                TraceAssemblyConfig {
                    idle_after_root: secs(idle),
                    max_wait: secs(idle + extra_wait),
                    late_window: secs(late),
                    max_remembered: remembered,
                    max_traces: traces,
                    max_spans_per_trace: cap,
                    max_bytes: ByteSize((one * bytes_in_spans) as u64),
                    shards,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// With loose bounds every trace comes out whole, once, exactly when and why the model
    /// says: idle after its root, or at max_wait; later spans come as late fragments.
    #[test]
    fn loose_bounds_release_each_trace_whole_when_the_model_says(
        s in scenario(),
        shards in 1usize..4,
    ) {
        let config = loose(shards);
        prop_assert_eq!(config.validate("p"), Ok(()));
        let (log, arrival, end) = run(&config, &s);
        let limits = config.limits(shards);
        for (t, spec) in s.traces.iter().enumerate() {
            let id = trace_id(t as u64);
            let spans: Vec<(u64, bool)> = (0..spec.parents.len())
                .map(|i| (arrival[&(id, span_id(i as u64))], i == 0 && spec.has_root))
                .collect();
            let (at, reason, held, late) = model(&spans, &limits, end, s.drain_at_end);
            let whole: Vec<&Released> = log
                .iter()
                .filter(|r| r.trace.trace_id == id && r.trace.fragment.is_none())
                .collect();
            prop_assert_eq!(whole.len(), 1, "one whole trace per id");
            prop_assert_eq!(whole[0].at, at);
            prop_assert_eq!(whole[0].trace.release_reason, reason);
            prop_assert_eq!(whole[0].trace.spans.len(), held);
            let came_late: usize = log
                .iter()
                .filter(|r| r.trace.trace_id == id && r.trace.fragment == Some(Fragment::Late))
                .map(|r| r.trace.spans.len())
                .sum();
            prop_assert_eq!(came_late, late);
            if reason == ReleaseReason::Complete && held == spec.parents.len() {
                prop_assert_eq!(whole[0].trace.is_complete(), spec.has_root);
            }
        }
        prop_assert!(log.iter().all(|r| r.trace.release_reason != ReleaseReason::Evicted));
    }

    /// With every bound small, nothing is lost or duplicated, traces still come out together
    /// unless late, over the cap or evicted, and deadlines stay exact.
    #[test]
    fn tight_bounds_lose_and_duplicate_nothing(s in scenario(), config in tight()) {
        prop_assert_eq!(config.validate("p"), Ok(()));
        run(&config, &s);
    }
}
