//! The classic (`le`) bucket view of a histogram that both text formats render: cumulative
//! counts per upper bound, ending with `+Inf`, and the exemplar that belongs to each bucket.
//!
//! An explicit histogram maps one to one. An exponential one becomes a bucket per
//! exponential bucket at its boundaries: the negative buckets from the most negative up
//! (`le` = −base^index, the bucket's upper edge), the zero bucket (`le` = zero threshold),
//! then the positive buckets (`le` = base^(index+1)). Exemplars of an exponential histogram
//! go to the bucket their value falls in (the newest wins).

use crate::snapshot::{Exemplar, ExponentialHistogram, Histogram};

/// One `_bucket` line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bucket {
    /// Inclusive upper bound; `+Inf` for the last.
    pub le: f64,
    /// Count of values at most `le`.
    pub cumulative: u64,
    /// The exemplar of this bucket, if any.
    pub exemplar: Option<Exemplar>,
}

/// The classic buckets of an explicit histogram.
pub(crate) fn explicit(h: &Histogram) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(h.bounds.len() + 1);
    let mut cumulative = 0u64;
    for i in 0..=h.bounds.len() {
        cumulative = cumulative.saturating_add(h.counts.get(i).copied().unwrap_or(0));
        out.push(Bucket {
            le: h.bounds.get(i).copied().unwrap_or(f64::INFINITY),
            cumulative,
            exemplar: h.exemplars.get(i).copied().flatten(),
        });
    }
    out
}

/// The upper boundary of exponential bucket `index` at `scale`: base^(index+1), base =
/// 2^(2^-scale).
pub(crate) fn upper_bound(scale: i32, index: i64) -> f64 {
    ((index + 1) as f64 * 2f64.powi(-scale)).exp2()
}

/// The classic buckets of an exponential histogram, at its bucket boundaries.
pub(crate) fn exponential(h: &ExponentialHistogram) -> Vec<Bucket> {
    let mut out: Vec<Bucket> =
        Vec::with_capacity(h.negative_counts.len() + h.positive_counts.len() + 2);
    let mut cumulative = 0u64;
    let mut push = |out: &mut Vec<Bucket>, le: f64, count: u64| {
        cumulative = cumulative.saturating_add(count);
        match out.last_mut() {
            // A bound that does not increase (odd data) folds into the previous line.
            Some(last) if le <= last.le => last.cumulative = cumulative,
            _ => out.push(Bucket {
                le,
                cumulative,
                exemplar: None,
            }),
        }
    };
    // Negative bucket i holds magnitudes (base^(o+i), base^(o+i+1)]: values up to
    // -base^(o+i). The largest magnitudes come first.
    for (i, &count) in h.negative_counts.iter().enumerate().rev() {
        let index = i64::from(h.negative_offset) + i as i64;
        push(&mut out, -upper_bound(h.scale, index - 1), count);
    }
    push(&mut out, h.zero_threshold.max(0.0), h.zero_count);
    for (i, &count) in h.positive_counts.iter().enumerate() {
        let index = i64::from(h.positive_offset) + i as i64;
        push(&mut out, upper_bound(h.scale, index), count);
    }
    let total = cumulative;
    match out.last_mut() {
        Some(last) if last.le == f64::INFINITY => last.cumulative = total,
        _ => out.push(Bucket {
            le: f64::INFINITY,
            cumulative: total,
            exemplar: None,
        }),
    }
    for exemplar in &h.exemplars {
        let at = out.partition_point(|b| b.le < exemplar.value);
        if let Some(bucket) = out.get_mut(at) {
            bucket.exemplar = Some(*exemplar);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn explicit_is_cumulative_with_inf() {
        let h = Histogram {
            bounds: Arc::from(vec![1.0, 2.0]),
            counts: vec![1, 0, 2],
            sum: 7.5,
            count: 3,
            min: None,
            max: None,
            exemplars: vec![],
        };
        let got: Vec<(f64, u64)> = explicit(&h).iter().map(|b| (b.le, b.cumulative)).collect();
        assert_eq!(got, vec![(1.0, 1), (2.0, 1), (f64::INFINITY, 3)]);
    }

    #[test]
    fn exponential_at_boundaries() {
        // Scale 0: base 2. Positive offset 1: buckets (2,4], (4,8]. Negative offset 0:
        // magnitudes (1,2]. Zero bucket threshold 0.5.
        let h = ExponentialHistogram {
            scale: 0,
            zero_count: 1,
            zero_threshold: 0.5,
            positive_offset: 1,
            positive_counts: vec![2, 3],
            negative_offset: 0,
            negative_counts: vec![4],
            sum: 0.0,
            count: 10,
            min: None,
            max: None,
            exemplars: vec![Exemplar {
                value: 5.0,
                time_unix_nano: 1,
                trace_id: [1; 16],
                span_id: [2; 8],
            }],
        };
        let got = exponential(&h);
        let pairs: Vec<(f64, u64)> = got.iter().map(|b| (b.le, b.cumulative)).collect();
        assert_eq!(
            pairs,
            vec![
                (-1.0, 4),
                (0.5, 5),
                (4.0, 7),
                (8.0, 10),
                (f64::INFINITY, 10)
            ]
        );
        assert_eq!(got[3].exemplar.map(|e| e.value), Some(5.0));
        assert!(
            got.iter()
                .enumerate()
                .all(|(i, b)| i == 3 || b.exemplar.is_none())
        );
    }

    #[test]
    fn exponential_negative_scale_bounds() {
        assert_eq!(upper_bound(-1, 0), 4.0);
        assert_eq!(upper_bound(-1, 1), 16.0);
        assert_eq!(upper_bound(1, 1), 2.0);
        assert!((upper_bound(1, 0) - std::f64::consts::SQRT_2).abs() < 1e-15);
    }

    proptest::proptest! {
        #[test]
        fn exponential_buckets_are_cumulative_and_end_at_the_count(
            scale in -4i32..=12,
            positive_offset in -40i32..40,
            negative_offset in -40i32..40,
            positive_counts in proptest::collection::vec(0u64..50, 0..30),
            negative_counts in proptest::collection::vec(0u64..50, 0..30),
            zero_count in 0u64..5,
        ) {
            let count = positive_counts.iter().chain(&negative_counts).sum::<u64>() + zero_count;
            let h = ExponentialHistogram {
                scale, zero_count, zero_threshold: 0.0, positive_offset, positive_counts,
                negative_offset, negative_counts, sum: 0.0, count, min: None, max: None, exemplars: vec![],
            };
            let buckets = exponential(&h);
            proptest::prop_assert!(buckets.windows(2).all(|w| w[0].le < w[1].le), "le increases");
            proptest::prop_assert!(buckets.windows(2).all(|w| w[0].cumulative <= w[1].cumulative));
            let last = buckets.last().unwrap();
            proptest::prop_assert_eq!(last.le, f64::INFINITY);
            proptest::prop_assert_eq!(last.cumulative, count);
        }
    }
}
