//! The breakdown against a reference implementation (issue 18, item 5).
//!
//! `properties.rs` checks that time is conserved, which an implementation putting all the time
//! on the root would also pass. Here a second implementation of the definitions in the
//! crate's documentation, written to be obviously right rather than fast (recursion, `i128`
//! arithmetic, quadratic scans), is compared span by span with [`analyze`] on random trees:
//! random fan-out, overlapping children, children outside their parent, zero-length and
//! inverted spans, CLIENT → SERVER hops (so skew adjustment runs), and timestamps near 0,
//! near `i64::MAX` and near `u64::MAX`.
//!
//! The definitions, as the crate documents them:
//! - **tree**: a span's parent is the span its parent id names; a missing parent hangs under
//!   the root; the root is the one span with no parent id, else a virtual root from the
//!   first start to the last end holds every span without a parent. (The trees here have
//!   unique ids and no cycles; `properties.rs` covers those.)
//! - **skew**: top down, a span moves by its parent's shift; a SERVER child of a CLIENT span
//!   that lies outside it (where it would be placed) is moved to the client's centre (a server
//!   longer than its client: to the client's start). A shift is an `i64` (it saturates), and
//!   a span is never placed before 0 or past `u64::MAX`: its duration is kept.
//! - **self time**: duration minus the union of the children's intervals clipped to the span.
//! - **critical path**: children are clipped to their clipped parent (one entirely outside
//!   it, or under a dropped parent, is dropped); from the root's end, repeatedly enter the
//!   last-finishing child not yet entered that ends at or before the current point (ties:
//!   earliest start, then span id); the time between is the parent's.

mod common;

use common::*;
use proptest::prelude::*;
use tracegate_breakdown::{Breakdown, Options, analyze};
use tracegate_model::{Span, SpanKind};

/// What the reference gives for one span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Facts {
    start: u64,
    end: u64,
    shift: i64,
    self_time: u64,
    critical: u64,
}

/// The reference implementation. Index `spans.len()` is the virtual root.
struct Oracle<'a> {
    spans: &'a [Span],
    skew: bool,
    children: Vec<Vec<usize>>,
    start: Vec<u64>,
    end: Vec<u64>,
    shift: Vec<i64>,
    clip: Vec<Option<(u64, u64)>>,
    critical: Vec<u64>,
    entered: Vec<bool>,
}

impl<'a> Oracle<'a> {
    fn run(spans: &'a [Span], skew: bool) -> (Vec<Facts>, u64, u64) {
        let n = spans.len();
        let virt = n;
        let roots: Vec<usize> = (0..n)
            .filter(|&i| spans[i].parent_span_id.is_none())
            .collect();
        let root = if roots.len() == 1 { roots[0] } else { virt };
        let mut children = vec![Vec::new(); n + 1];
        for (i, s) in spans.iter().enumerate() {
            if i == root {
                continue;
            }
            let parent = s
                .parent_span_id
                .and_then(|p| spans.iter().position(|o| o.span_id == p))
                .unwrap_or(root);
            children[parent].push(i);
        }
        let mut o = Oracle {
            spans,
            skew,
            children,
            start: spans.iter().map(|s| s.start_time_unix_nano).collect(),
            end: spans
                .iter()
                .map(|s| s.end_time_unix_nano.max(s.start_time_unix_nano))
                .collect(),
            shift: vec![0; n + 1],
            clip: vec![None; n + 1],
            critical: vec![0; n + 1],
            entered: vec![false; n + 1],
        };
        o.start.push(0);
        o.end.push(0);
        o.place_children(root);
        if root == virt {
            o.start[virt] = o.start[..n].iter().copied().min().unwrap_or(0);
            o.end[virt] = o.end[..n].iter().copied().max().unwrap_or(0);
        }
        o.clip[root] = Some((o.start[root], o.end[root]));
        o.clip_children(root);
        let end = o.end[root];
        o.walk(root, end);
        let facts = (0..n)
            .map(|i| Facts {
                start: o.start[i],
                end: o.end[i],
                shift: o.shift[i],
                self_time: o.self_time(i),
                critical: o.critical[i],
            })
            .collect();
        (facts, o.start[root], o.end[root])
    }

    /// Skew, top down.
    fn place_children(&mut self, p: usize) {
        let virt = self.spans.len();
        for c in self.children[p].clone() {
            let length = self.end[c] - self.start[c];
            let original = self.start[c];
            let mut delta = i128::from(self.shift[p]);
            if self.skew
                && p != virt
                && self.spans[p].kind == SpanKind::Client
                && self.spans[c].kind == SpanKind::Server
            {
                let (ps, pe) = (self.start[p], self.end[p]);
                let at = place(original, length, delta);
                if at < ps || u128::from(at) + u128::from(length) > u128::from(pe) {
                    let client = pe - ps;
                    let target = if length > client {
                        ps
                    } else {
                        ps + (client - length) / 2
                    };
                    delta = i128::from(target) - i128::from(original);
                }
            }
            let delta = delta.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            self.shift[c] = i64::try_from(delta).unwrap_or(i64::MAX);
            self.start[c] = place(original, length, delta);
            self.end[c] = self.start[c] + length;
            self.place_children(c);
        }
    }

    /// Self time: the span's nanoseconds that no child (clipped to it) covers, counted over
    /// the elementary intervals between all the endpoints.
    fn self_time(&self, p: usize) -> u64 {
        let (s, e) = (self.start[p], self.end[p]);
        let kids: Vec<(u64, u64)> = self.children[p]
            .iter()
            .map(|&c| (self.start[c].max(s), self.end[c].min(e)))
            .filter(|(a, b)| a < b)
            .collect();
        let mut points: Vec<u64> = kids.iter().flat_map(|&(a, b)| [a, b]).collect();
        points.extend([s, e]);
        points.sort_unstable();
        points.dedup();
        let covered: u64 = points
            .windows(2)
            .filter(|w| kids.iter().any(|&(a, b)| a <= w[0] && w[1] <= b))
            .map(|w| w[1] - w[0])
            .sum();
        (e - s) - covered
    }

    fn clip_children(&mut self, p: usize) {
        for c in self.children[p].clone() {
            self.clip[c] = match self.clip[p] {
                Some((ps, pe)) if self.end[c] >= ps && self.start[c] <= pe => {
                    Some((self.start[c].max(ps), self.end[c].min(pe)))
                }
                _ => None,
            };
            self.clip_children(c);
        }
    }

    /// The critical path of `node` from `t` back to its clipped start.
    fn walk(&mut self, node: usize, mut t: u64) {
        let Some((from, _)) = self.clip[node] else {
            return;
        };
        loop {
            let next = self.children[node]
                .iter()
                .copied()
                .filter(|&c| !self.entered[c])
                .filter_map(|c| self.clip[c].map(|(cs, ce)| (c, cs, ce)))
                .filter(|&(_, _, ce)| ce <= t)
                .min_by_key(|&(c, cs, ce)| (std::cmp::Reverse(ce), cs, self.spans[c].span_id));
            let Some((c, cs, ce)) = next else { break };
            self.entered[c] = true;
            self.critical[node] += t - ce;
            self.walk(c, ce);
            t = cs;
        }
        self.critical[node] += t - from;
    }
}

/// Where a span starting at `start` lands when moved by `delta`: never before 0, never so
/// late that its end would pass `u64::MAX`.
fn place(start: u64, length: u64, delta: i128) -> u64 {
    let at = (i128::from(start) + delta).clamp(0, i128::from(u64::MAX - length));
    u64::try_from(at).unwrap_or(u64::MAX)
}

fn facts_of(b: &Breakdown) -> Vec<Facts> {
    b.spans
        .iter()
        .map(|f| Facts {
            start: f.start_ns,
            end: f.end_ns,
            shift: f.skew_adjusted_ns,
            self_time: f.self_time_ns,
            critical: f.critical_path_ns,
        })
        .collect()
}

/// Times near the edges of `u64` and of `i64`, and ordinary ones.
fn arb_base() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1_700_000_000_000_000_000u64),
        Just(i64::MAX as u64 - 500),
        Just(i64::MAX as u64 + 1),
        Just(u64::MAX - 1_500),
    ]
}

/// One span's shape: parent choice, own base (or the trace's), offset, length, kind, service.
type Row = (u8, usize, Option<u64>, u64, u64, u8, u8);

fn arb_trace() -> impl Strategy<Value = Vec<Span>> {
    let length = prop_oneof![
        8 => 0u64..1_000,
        1 => Just(u64::MAX / 2),
        1 => Just(u64::MAX),
    ];
    let row = (
        0u8..16,
        any::<usize>(),
        prop::option::weighted(0.2, arb_base()),
        0u64..1_000,
        length,
        0u8..3,
        0u8..2,
    );
    (arb_base(), prop::collection::vec(row, 1..30)).prop_map(|(base, rows): (u64, Vec<Row>)| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (parent, pick, own, offset, length, kind, service))| {
                let i = i as u64;
                let parent = match parent {
                    0 => None,
                    1 => Some(10_000 + i),
                    _ if i == 0 => None,
                    _ => Some(pick as u64 % i + 1),
                };
                let mut s = span(i + 1, parent, 0, 0)
                    .kind([SpanKind::Internal, SpanKind::Client, SpanKind::Server][kind as usize])
                    .service(["a", "b"][service as usize]);
                let start = own.unwrap_or(base).saturating_add(offset);
                s.start_time_unix_nano = start;
                // One span in sixteen ends before it starts.
                s.end_time_unix_nano = if offset % 16 == 0 {
                    start.saturating_sub(length)
                } else {
                    start.saturating_add(length)
                };
                s
            })
            .collect()
    })
}

fn compare(spans: &[Span], skew: bool) -> Result<(), TestCaseError> {
    let b = analyze(
        spans,
        &Options {
            clock_skew_adjustment: skew,
        },
    );
    let (expected, start, end) = Oracle::run(spans, skew);
    prop_assert_eq!((b.start_ns, b.end_ns), (start, end), "analysed window");
    let got = facts_of(&b);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        prop_assert_eq!(g, e, "span {} of {}", i, spans.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn analysis_matches_the_reference_implementation(spans in arb_trace(), skew in any::<bool>()) {
        compare(&spans, skew)?;
    }
}

/// The reference itself, on a case worked by hand: R 0..100 with A 10..40 and B 20..60
/// overlapping, C 60..90, and D 95..120 partly outside R. Self time of R: 100 minus the union
/// 10..60, 60..90, 95..100 = 100 - 85 = 15. The walk from 100: D (clipped 95..100) ends at
/// 100, so R owns nothing; D owns 95..100 (5); back in R at 95, C ends at 90: R owns 90..95
/// (5), C owns 60..90 (30); B ends at 60: B owns 20..60 (40); A ends at 40 > 20, so it is
/// skipped; R owns 0..20 (20). R = 25, A = 0, B = 40, C = 30, D = 5.
#[test]
fn the_reference_gives_the_hand_worked_answer() {
    let spans = vec![
        span(1, None, 0, 100),
        span(2, Some(1), 10, 40),
        span(3, Some(1), 20, 60),
        span(4, Some(1), 60, 90),
        span(5, Some(1), 95, 120),
    ];
    let (facts, start, end) = Oracle::run(&spans, true);
    assert_eq!((start, end), (0, 100 * MS));
    let ms = |f: &Facts| (f.self_time / MS, f.critical / MS);
    let got: Vec<(u64, u64)> = facts.iter().map(ms).collect();
    assert_eq!(got, [(15, 25), (30, 0), (40, 40), (30, 30), (25, 5)]);
    compare(&spans, true).unwrap();
}
