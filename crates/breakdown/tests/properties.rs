//! Invariants of the breakdown on random traces: random trees (with missing parents, parent
//! cycles, several roots), random times (children outside parents, zero lengths), random
//! kinds and services (so skew adjustment and network gaps run).

mod common;

use common::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use tracegate_breakdown::{Breakdown, Category, Options, analyze};
use tracegate_model::{Span, SpanId, SpanKind};

/// Parent choice for span i: none, an earlier span (a proper tree), any span (cycles and
/// self-loops possible), or a missing id.
#[derive(Debug, Clone)]
enum Parent {
    Root,
    Earlier(usize),
    Any(usize),
    Missing,
}

fn arb_trace() -> impl Strategy<Value = Vec<Span>> {
    let one = (
        prop_oneof![
            1 => Just(Parent::Root),
            12 => any::<usize>().prop_map(Parent::Earlier),
            1 => any::<usize>().prop_map(Parent::Any),
            1 => Just(Parent::Missing),
        ],
        0u64..1000,
        0u64..400,
        0u8..3,
        0u8..2,
        0u8..4,
    );
    prop::collection::vec(one, 1..40).prop_map(|rows| {
        let n = rows.len() as u64;
        rows.into_iter()
            .enumerate()
            .map(|(i, (parent, start, len, kind, service, cat))| {
                let i = i as u64;
                let parent = match parent {
                    Parent::Root => None,
                    Parent::Earlier(p) if i > 0 => Some(p as u64 % i + 1),
                    Parent::Earlier(_) => None,
                    Parent::Any(p) => Some(p as u64 % n + 1),
                    Parent::Missing => Some(10_000 + i),
                };
                let mut s = span(i + 1, parent, start, start + len);
                s.kind = [SpanKind::Internal, SpanKind::Client, SpanKind::Server][kind as usize];
                s = s.service(["a", "b"][service as usize]);
                match cat {
                    0 => s.with("gen_ai.operation.name", "chat"),
                    1 => s.with("db.system.name", "qdrant"),
                    2 => s.with("http.request.method", "GET"),
                    _ => s,
                }
            })
            .collect()
    })
}

fn check(spans: &[Span], b: &Breakdown) -> Result<(), TestCaseError> {
    let virtual_ns: u64 = b
        .segments
        .iter()
        .filter(|s| s.span.is_none())
        .map(|s| s.end_ns - s.start_ns)
        .sum();
    let path: u64 = b.spans.iter().map(|s| s.critical_path_ns).sum();
    prop_assert_eq!(path + virtual_ns, b.duration_ns());
    if let Some(r) = b.root {
        prop_assert_eq!(virtual_ns, 0);
        prop_assert_eq!(b.duration_ns(), spans[r].duration_ns());
    }
    prop_assert_eq!(b.by_category.iter().sum::<u64>(), b.duration_ns());
    let summary = b.summary(spans);
    prop_assert_eq!(
        summary.critical_path_ns.iter().sum::<u64>(),
        summary.duration_ns
    );
    // The top three are what sorting every span on the path would give.
    let mut on_path: Vec<usize> = (0..spans.len())
        .filter(|&i| b.spans[i].critical_path_ns > 0)
        .collect();
    on_path.sort_by_key(|&i| {
        (
            std::cmp::Reverse(b.spans[i].critical_path_ns),
            b.spans[i].start_ns,
            spans[i].span_id,
        )
    });
    let top: Vec<(&str, u64)> = summary
        .top_contributors
        .iter()
        .map(|c| (c.name.as_str(), c.ns))
        .collect();
    let sorted: Vec<(&str, u64)> = on_path
        .iter()
        .take(3)
        .map(|&i| (spans[i].name.as_str(), b.spans[i].critical_path_ns))
        .collect();
    prop_assert_eq!(top, sorted);
    let mut at = b.start_ns;
    for seg in &b.segments {
        prop_assert_eq!(seg.start_ns, at);
        prop_assert!(seg.end_ns > seg.start_ns);
        at = seg.end_ns;
    }
    for (s, f) in spans.iter().zip(&b.spans) {
        prop_assert!(f.self_time_ns <= s.duration_ns());
        prop_assert!(f.critical_path_ns <= s.duration_ns());
        prop_assert_eq!(f.end_ns - f.start_ns, s.duration_ns());
        prop_assert_ne!(f.category, Category::Network);
    }
    prop_assert_eq!(b.order.len(), spans.len());
    Ok(())
}

/// The facts keyed by span id, with indices turned into ids, so two runs on differently
/// ordered input compare.
type Keyed = (
    BTreeMap<SpanId, (String, Option<SpanId>)>,
    Vec<(Option<SpanId>, u64, u64, Category)>,
    Vec<SpanId>,
    [u64; Category::COUNT],
);

fn keyed(spans: &[Span], b: &Breakdown) -> Keyed {
    let facts = spans
        .iter()
        .zip(&b.spans)
        .map(|(s, f)| {
            let mut f = f.clone();
            let parent = f.parent.take().map(|p| spans[p].span_id);
            (s.span_id, (format!("{f:?}"), parent))
        })
        .collect();
    let segments = b
        .segments
        .iter()
        .map(|s| {
            (
                s.span.map(|i| spans[i].span_id),
                s.start_ns,
                s.end_ns,
                s.category,
            )
        })
        .collect();
    let order = b.order.iter().map(|&i| spans[i].span_id).collect();
    (facts, segments, order, b.by_category)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn invariants_hold(spans in arb_trace(), skew in any::<bool>()) {
        let b = analyze(&spans, &Options { clock_skew_adjustment: skew });
        check(&spans, &b)?;
    }

    #[test]
    fn input_order_does_not_matter(
        (spans, shuffled) in arb_trace().prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle()))
    ) {
        let options = Options::default();
        let a = analyze(&spans, &options);
        let b = analyze(&shuffled, &options);
        prop_assert_eq!(keyed(&spans, &a), keyed(&shuffled, &b));
    }
}
