//! The two histogram kinds a series can hold, cumulative since the series started:
//!
//! - [`ExplicitHist`]: explicit upper bounds, `le`-inclusive (`counts[i]` counts values in
//!   `(bounds[i-1], bounds[i]]`, the last slot those above every bound), with the latest
//!   [`Exemplar`] per bucket when exemplars are on;
//! - [`ExpoHist`]: a base-2 exponential histogram as OpenTelemetry's SDKs keep it. It starts
//!   at scale 20; when a value falls outside the buckets it has and covering both would take
//!   more than `max_size` buckets, it halves its resolution (scale − 1, merging bucket pairs)
//!   as often as needed. Bucket `i` at scale `s` covers `(2^(i·2^-s), 2^((i+1)·2^-s)]`, and
//!   bucket `i` at scale `s` lies inside bucket `i >> 1` at scale `s − 1`, so merging is
//!   exact. Values are durations: zero (and anything not above 0) counts in the zero bucket.
//!
//! Neither allocates when it records, except an exponential histogram growing its range.

use crate::snapshot::{Exemplar, ExponentialHistogram, Histogram};
use std::sync::Arc;

/// Where an observation came from, for exemplars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The trace.
    pub trace_id: [u8; 16],
    /// The span.
    pub span_id: [u8; 8],
    /// When it was observed (ns since the Unix epoch).
    pub time_unix_nano: u64,
}

/// A histogram with explicit bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplicitHist {
    bounds: Arc<[f64]>,
    counts: Box<[u64]>,
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
    /// One slot per bucket when exemplars are on.
    exemplars: Option<Box<[Option<Exemplar>]>>,
}

/// The bucket of `value` among `bounds`: the first bound `>= value`, or `bounds.len()`.
/// Short bound lists are counted branch-free (the compiler vectorises it), which beats a
/// binary search's chain of dependent loads.
#[inline]
pub fn bucket_index(bounds: &[f64], value: f64) -> usize {
    if bounds.len() <= 32 {
        bounds.iter().map(|b| usize::from(*b < value)).sum()
    } else {
        bounds.partition_point(|b| *b < value)
    }
}

impl ExplicitHist {
    /// An empty histogram over `bounds` (increasing), with exemplar slots if `exemplars`.
    pub fn new(bounds: Arc<[f64]>, exemplars: bool) -> Self {
        let n = bounds.len() + 1;
        Self {
            counts: vec![0; n].into_boxed_slice(),
            exemplars: exemplars.then(|| vec![None; n].into_boxed_slice()),
            bounds,
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    /// Records `value`; a NaN is ignored.
    pub fn record(&mut self, value: f64, origin: &Origin) {
        if value.is_nan() {
            return;
        }
        let i = bucket_index(&self.bounds, value);
        if let Some(c) = self.counts.get_mut(i) {
            *c += 1;
        }
        self.sum += value;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if let Some(slot) = self.exemplars.as_mut().and_then(|e| e.get_mut(i)) {
            *slot = Some(Exemplar {
                value,
                time_unix_nano: origin.time_unix_nano,
                trace_id: origin.trace_id,
                span_id: origin.span_id,
            });
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of the values.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Per-bucket counts (not cumulative).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The snapshot value.
    pub fn snapshot(&self) -> Histogram {
        Histogram {
            bounds: self.bounds.clone(),
            counts: self.counts.to_vec(),
            sum: self.sum,
            count: self.count,
            min: (self.count > 0).then_some(self.min),
            max: (self.count > 0).then_some(self.max),
            exemplars: self
                .exemplars
                .as_ref()
                .map(|e| e.to_vec())
                .unwrap_or_default(),
        }
    }

    /// Heap bytes owned (the bounds are shared by the family and not counted).
    pub fn heap_bytes(&self) -> usize {
        self.counts.len() * std::mem::size_of::<u64>()
            + self
                .exemplars
                .as_ref()
                .map_or(0, |e| e.len() * std::mem::size_of::<Option<Exemplar>>())
    }
}

/// The finest scale OTel SDKs start at.
pub const MAX_SCALE: i32 = 20;
/// The coarsest scale: base `2^1024`, where every finite double fits in two buckets.
pub const MIN_SCALE: i32 = -10;
/// Exemplars kept by an exponential histogram (the newest).
pub const EXPO_EXEMPLARS: usize = 4;

/// A base-2 exponential histogram of non-negative values.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpoHist {
    scale: i32,
    max_size: usize,
    zero_count: u64,
    /// Index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
    sum: f64,
    count: u64,
    min: f64,
    max: f64,
    exemplars_on: bool,
    /// The newest exemplars, a ring: `next` is where the next one goes.
    exemplars: Vec<Exemplar>,
    next: usize,
}

/// The index at `scale` of the bucket holding `value` (> 0, finite).
pub fn expo_index(value: f64, scale: i32) -> i32 {
    let value = value.max(f64::MIN_POSITIVE);
    let bits = value.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let exact_power = bits & ((1u64 << 52) - 1) == 0;
    if scale <= 0 {
        // At scale 0 bucket e covers (2^e, 2^(e+1)]: 2^e itself is the upper end of e − 1.
        let i0 = if exact_power { exp - 1 } else { exp };
        return i0 >> -scale;
    }
    if exact_power {
        return (exp << scale) - 1;
    }
    let i = (value.log2() * f64::from(1u32 << scale)).floor();
    i as i32
}

/// The lower boundary of bucket `index` at `scale`: `2^(index·2^-scale)`.
pub fn expo_lower_bound(index: i32, scale: i32) -> f64 {
    (f64::from(index) * (-f64::from(scale)).exp2()).exp2()
}

impl ExpoHist {
    /// An empty histogram of at most `max_size` buckets (at least 2).
    pub fn new(max_size: usize, exemplars: bool) -> Self {
        Self {
            scale: MAX_SCALE,
            max_size: max_size.max(2),
            zero_count: 0,
            offset: 0,
            counts: Vec::new(),
            sum: 0.0,
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            exemplars_on: exemplars,
            exemplars: Vec::new(),
            next: 0,
        }
    }

    /// Records `value`; NaN and infinities are ignored.
    pub fn record(&mut self, value: f64, origin: &Origin) {
        if !value.is_finite() {
            return;
        }
        self.sum += value;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.exemplars_on {
            let e = Exemplar {
                value,
                time_unix_nano: origin.time_unix_nano,
                trace_id: origin.trace_id,
                span_id: origin.span_id,
            };
            if self.exemplars.len() < EXPO_EXEMPLARS {
                self.exemplars.push(e);
            } else if let Some(slot) = self.exemplars.get_mut(self.next) {
                *slot = e;
            }
            self.next = (self.next + 1) % EXPO_EXEMPLARS;
        }
        if value <= 0.0 {
            self.zero_count += 1;
            return;
        }
        let mut index = expo_index(value, self.scale);
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(1);
            return;
        }
        let last = self.offset + self.counts.len() as i32 - 1;
        if index < self.offset || index > last {
            let (lo, hi) = (index.min(self.offset), index.max(last));
            let mut change = 0;
            while self.scale - change > MIN_SCALE
                && i64::from(hi >> change) - i64::from(lo >> change) + 1 > self.max_size as i64
            {
                change += 1;
            }
            if change > 0 {
                self.downscale(change);
                index >>= change;
            }
            if index < self.offset {
                let grow = (self.offset - index) as usize;
                self.counts.splice(0..0, std::iter::repeat_n(0, grow));
                self.offset = index;
            } else {
                let len = (index - self.offset + 1) as usize;
                if len > self.counts.len() {
                    self.counts.resize(len, 0);
                }
            }
        }
        if let Some(c) = self.counts.get_mut((index - self.offset) as usize) {
            *c += 1;
        }
    }

    /// Lowers the scale by `change`, merging buckets.
    fn downscale(&mut self, change: i32) {
        let new_offset = self.offset >> change;
        let last = (self.offset + self.counts.len() as i32 - 1) >> change;
        let mut merged = vec![0u64; (last - new_offset + 1) as usize];
        for (k, c) in self.counts.iter().enumerate() {
            let i = ((self.offset + k as i32) >> change) - new_offset;
            if let Some(m) = merged.get_mut(i as usize) {
                *m += c;
            }
        }
        self.counts = merged;
        self.offset = new_offset;
        self.scale -= change;
    }

    /// Current scale.
    pub fn scale(&self) -> i32 {
        self.scale
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The snapshot value.
    pub fn snapshot(&self) -> ExponentialHistogram {
        let mut exemplars = Vec::with_capacity(self.exemplars.len());
        if self.exemplars.len() < EXPO_EXEMPLARS {
            exemplars.extend_from_slice(&self.exemplars);
        } else {
            exemplars.extend_from_slice(&self.exemplars[self.next..]);
            exemplars.extend_from_slice(&self.exemplars[..self.next]);
        }
        ExponentialHistogram {
            scale: self.scale,
            zero_count: self.zero_count,
            zero_threshold: 0.0,
            positive_offset: self.offset,
            positive_counts: self.counts.clone(),
            negative_offset: 0,
            negative_counts: Vec::new(),
            sum: self.sum,
            count: self.count,
            min: (self.count > 0).then_some(self.min),
            max: (self.count > 0).then_some(self.max),
            exemplars,
        }
    }

    /// Heap bytes owned.
    pub fn heap_bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u64>()
            + self.exemplars.capacity() * std::mem::size_of::<Exemplar>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const O: Origin = Origin {
        trace_id: [1; 16],
        span_id: [2; 8],
        time_unix_nano: 7,
    };

    #[test]
    fn explicit_buckets_are_le_inclusive() {
        let mut h = ExplicitHist::new(Arc::from(vec![1.0, 2.0, 5.0]), true);
        for v in [0.5, 1.0, 1.5, 2.0, 5.0, 5.1, 100.0] {
            h.record(v, &O);
        }
        assert_eq!(h.counts(), &[2, 2, 1, 2]);
        assert_eq!(h.count(), 7);
        assert_eq!(h.sum(), 115.1);
        let s = h.snapshot();
        assert_eq!((s.min, s.max), (Some(0.5), Some(100.0)));
        // The latest value per bucket is its exemplar.
        let values: Vec<Option<f64>> = s.exemplars.iter().map(|e| e.map(|e| e.value)).collect();
        assert_eq!(values, [Some(1.0), Some(2.0), Some(5.0), Some(100.0)]);
        assert_eq!(s.exemplars[0].map(|e| e.trace_id), Some([1; 16]));
    }

    #[test]
    fn explicit_without_exemplars_has_none() {
        let mut h = ExplicitHist::new(Arc::from(vec![1.0]), false);
        h.record(3.0, &O);
        assert!(h.snapshot().exemplars.is_empty());
        h.record(f64::NAN, &O);
        assert_eq!(h.count(), 1);
    }

    #[test]
    fn expo_index_golden() {
        // Scale 0: (1, 2] is bucket 0, (2, 4] bucket 1, 1 is the top of bucket -1.
        assert_eq!(expo_index(1.0, 0), -1);
        assert_eq!(expo_index(1.5, 0), 0);
        assert_eq!(expo_index(2.0, 0), 0);
        assert_eq!(expo_index(3.0, 0), 1);
        assert_eq!(expo_index(4.0, 0), 1);
        // Scale 1: base sqrt 2; sqrt 2 < 1.5 <= 2 is bucket 1.
        assert_eq!(expo_index(1.5, 1), 1);
        assert_eq!(expo_index(2.0, 1), 1);
        // Scale -1: base 4: (1, 4] is bucket 0, (4, 16] bucket 1.
        assert_eq!(expo_index(4.0, -1), 0);
        assert_eq!(expo_index(5.0, -1), 1);
        assert_eq!(expo_index(0.5, -1), -1);
    }

    #[test]
    fn expo_rescales_to_stay_within_max_size() {
        let mut h = ExpoHist::new(4, false);
        h.record(1.5, &O);
        assert_eq!(h.scale(), MAX_SCALE);
        h.record(3.0, &O);
        h.record(100.0, &O);
        h.record(0.0, &O);
        let s = h.snapshot();
        assert!(s.positive_counts.len() <= 4, "{s:?}");
        assert_eq!(s.positive_counts.iter().sum::<u64>(), 3);
        assert_eq!(s.zero_count, 1);
        assert_eq!(s.count, 4);
        assert_eq!(s.sum, 104.5);
        // 1.5 and 100 are 6 doublings apart: 4 buckets at scale -1 (base 4) do not cover
        // (1, 256] (bucket 0 to 3 does: 1.5 -> 0, 3 -> 0, 100 -> 3).
        assert_eq!(s.scale, -1);
        assert_eq!(s.positive_offset, 0);
        assert_eq!(s.positive_counts, [2, 0, 0, 1]);
    }

    proptest! {
        #[test]
        fn explicit_placement_matches_bounds(
            mut bounds in proptest::collection::vec(0.0f64..100.0, 0..48),
            values in proptest::collection::vec(0.0f64..120.0, 0..200),
        ) {
            bounds.sort_by(f64::total_cmp);
            bounds.dedup();
            let mut h = ExplicitHist::new(Arc::from(bounds.clone()), false);
            for v in &values { h.record(*v, &O); }
            for (i, c) in h.counts().iter().enumerate() {
                let lower = if i == 0 { f64::NEG_INFINITY } else { bounds[i - 1] };
                let upper = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                let expected = values.iter().filter(|v| **v > lower && **v <= upper).count();
                prop_assert_eq!(*c as usize, expected);
            }
            prop_assert_eq!(h.count() as usize, values.len());
            let sum: f64 = values.iter().sum();
            prop_assert!((h.sum() - sum).abs() <= 1e-9 * sum.max(1.0));
        }

        #[test]
        fn expo_buckets_hold_their_values(
            values in proptest::collection::vec(1e-9f64..1e6, 1..300),
            max_size in 2usize..200,
        ) {
            let mut h = ExpoHist::new(max_size, false);
            for v in &values { h.record(*v, &O); }
            let s = h.snapshot();
            prop_assert!(s.positive_counts.len() <= max_size);
            prop_assert_eq!(s.positive_counts.iter().sum::<u64>(), values.len() as u64);
            prop_assert_eq!(s.count, values.len() as u64);
            // Each value's bucket at the final scale is a bucket of the histogram, and holds it.
            for v in &values {
                let i = expo_index(*v, s.scale);
                prop_assert!(i >= s.positive_offset);
                prop_assert!(((i - s.positive_offset) as usize) < s.positive_counts.len());
                let lo = expo_lower_bound(i, s.scale);
                let hi = expo_lower_bound(i + 1, s.scale);
                let tol = 1e-9;
                prop_assert!(*v > lo * (1.0 - tol) && *v <= hi * (1.0 + tol), "{} not in ({}, {}]", v, lo, hi);
            }
            // The counts are exactly those of placing every value at the final scale.
            let mut expected = vec![0u64; s.positive_counts.len()];
            for v in &values {
                expected[(expo_index(*v, s.scale) - s.positive_offset) as usize] += 1;
            }
            prop_assert_eq!(expected, s.positive_counts);
        }
    }
}
