//! Timestamps at the edges of `u64` and `i64` (issue 18, item 4): clock-skew shifts that
//! would overflow `i64` when added up saturate instead of panicking (the tests run in debug
//! builds, where an overflow panics), and every invariant still holds.

mod common;

use common::*;
use tracegate_breakdown::{Breakdown, Options, analyze};
use tracegate_model::{Span, SpanKind};

const HALF: u64 = i64::MAX as u64;

/// A span with raw nanosecond times.
fn at(n: u64, parent: Option<u64>, start: u64, end: u64, kind: SpanKind, svc: &str) -> Span {
    let mut s = span(n, parent, 0, 0).kind(kind).service(svc);
    s.start_time_unix_nano = start;
    s.end_time_unix_nano = end;
    s
}

/// Durations kept, shares summing to the window, segments tiling it.
fn check(spans: &[Span], b: &Breakdown) {
    for (s, f) in spans.iter().zip(&b.spans) {
        assert_eq!(f.end_ns - f.start_ns, s.duration_ns(), "duration kept");
        assert!(f.critical_path_ns <= s.duration_ns());
        assert!(f.self_time_ns <= s.duration_ns());
    }
    let virtual_ns: u64 = b
        .segments
        .iter()
        .filter(|s| s.span.is_none())
        .map(|s| s.end_ns - s.start_ns)
        .sum();
    let path: u64 = b.spans.iter().map(|s| s.critical_path_ns).sum();
    assert_eq!(path + virtual_ns, b.duration_ns());
    assert_eq!(b.by_category.iter().sum::<u64>(), b.duration_ns());
    let mut t = b.start_ns;
    for seg in &b.segments {
        assert_eq!(seg.start_ns, t);
        t = seg.end_ns;
    }
}

/// CLIENT → SERVER → CLIENT → SERVER, where the first hop needs a shift past `i64::MAX` and
/// the second another one on top of it: the sum of the two overflowed `i64`.
#[test]
fn skew_shifts_that_would_overflow_i64_saturate() {
    let q = 1u64 << 62;
    let spans = vec![
        at(1, None, u64::MAX - 10, u64::MAX, SpanKind::Client, "a"),
        at(2, Some(1), 0, 1, SpanKind::Server, "b"),
        at(3, Some(2), q, q + 1, SpanKind::Client, "b"),
        at(4, Some(3), 0, 1, SpanKind::Server, "c"),
    ];
    let b = analyze(&spans, &Options::default());
    check(&spans, &b);
    // The server is 2^64 - 6 ns behind its client: the shift saturates at i64::MAX.
    assert_eq!(b.spans[1].skew_adjusted_ns, i64::MAX);
    assert_eq!(b.spans[1].start_ns, HALF);
    // Its subtree moves with it.
    assert_eq!(b.spans[2].skew_adjusted_ns, i64::MAX);
    assert_eq!(b.spans[2].start_ns, q + HALF);
    // The second server needs 2^62 + 2^63 - 1 ns from where it started: saturated too.
    assert_eq!(b.spans[3].skew_adjusted_ns, i64::MAX);
    assert_eq!(b.spans[3].start_ns, HALF);
}

/// The same downwards: a server far after its client gets a negative shift (never a positive
/// one from an `as i64` wrap), saturating at `i64::MIN`.
#[test]
fn negative_skew_shifts_saturate_at_i64_min() {
    let q = 1u64 << 62;
    let spans = vec![
        at(1, None, 0, 10, SpanKind::Client, "a"),
        at(2, Some(1), u64::MAX - 1, u64::MAX, SpanKind::Server, "b"),
        at(
            3,
            Some(2),
            u64::MAX - q,
            u64::MAX - q + 1,
            SpanKind::Client,
            "b",
        ),
        at(4, Some(3), u64::MAX - 1, u64::MAX, SpanKind::Server, "c"),
    ];
    let b = analyze(&spans, &Options::default());
    check(&spans, &b);
    assert_eq!(b.spans[1].skew_adjusted_ns, i64::MIN);
    assert_eq!(b.spans[1].start_ns, u64::MAX - 1 - (HALF + 1));
    assert_eq!(b.spans[2].skew_adjusted_ns, i64::MIN);
    assert_eq!(b.spans[3].skew_adjusted_ns, i64::MIN);
}

/// Every pairing of edge timestamps for a client, its server and the server's own client and
/// server: nothing panics and the invariants hold, with and without skew adjustment.
#[test]
fn edge_timestamps_in_every_position() {
    let edges = [
        0,
        1,
        HALF - 1,
        HALF,
        HALF + 1,
        HALF + 2,
        u64::MAX - 1,
        u64::MAX,
    ];
    let mut runs = 0;
    for &a in &edges {
        for &b in &edges {
            for &c in &edges {
                for &d in &edges {
                    let spans = vec![
                        at(1, None, a.min(b), a.max(b), SpanKind::Client, "a"),
                        at(2, Some(1), c, d, SpanKind::Server, "b"),
                        at(3, Some(2), d.min(a), d.max(a), SpanKind::Client, "b"),
                        at(4, Some(3), b, c, SpanKind::Server, "c"),
                        at(5, Some(9), c.min(b), c.max(b), SpanKind::Server, "d"),
                    ];
                    for skew in [true, false] {
                        let out = analyze(
                            &spans,
                            &Options {
                                clock_skew_adjustment: skew,
                            },
                        );
                        check(&spans, &out);
                        runs += 1;
                    }
                }
            }
        }
    }
    assert_eq!(runs, 2 * edges.len().pow(4));
}
