//! [`Window`]: a sliding window over processing time, kept as [`SUB_WINDOWS`] sub-windows
//! of equal width, each with its sample count, error count, sum, min, max and (for
//! percentile rules) an HDR histogram.
//!
//! **Time error bound.** A window of width `W` is split into sub-windows of width
//! `s = W / SUB_WINDOWS` aligned on multiples of `s` since the epoch. At time `t`, the window
//! holds the sub-window containing `t` and the `SUB_WINDOWS - 1` before it, so it covers the
//! last `W - s` to `W`: a sample older than `W` is always forgotten, a sample younger than
//! `W - s` (95 % of the window, with 20 sub-windows) is always counted, and one in between
//! may be either.
//!
//! **Value error bound.** Counts, sums, min and max are exact. Percentiles come from HDR
//! histograms (2 significant digits, merged at evaluation, never from sorting samples): a
//! sample is recorded as an integer number of [`Window::unit`]s (1 µs for seconds, 1 µUSD
//! for costs, 1 token), and the percentile reported is the midpoint of the histogram bucket
//! holding the nearest-rank sample, so it is within [`RELATIVE_ERROR`] (1 %) of the exact
//! nearest-rank percentile, plus one unit.
//!
//! **Memory.** A sub-window's histogram is made on its first sample and holds 128 four-byte
//! counters per power of two between 256 units and its largest value: about 9 KiB for
//! durations up to 10 s, 13 KiB up to 1 h. A window holds at most [`SUB_WINDOWS`] of them;
//! windows of rules with no percentile hold none (40 B per sub-window).

use hdrhistogram::Histogram;
use std::collections::VecDeque;

/// Sub-windows per window.
pub const SUB_WINDOWS: u64 = 20;

/// Relative error of a percentile (2 significant digits: bucket widths ≤ 1/128 of their
/// values, so the midpoint is within 0.4 %; 1 % is stated with margin).
pub const RELATIVE_ERROR: f64 = 0.01;

const SIGFIG: u8 = 2;

/// What a window holds over its span.
#[derive(Debug, Clone, Default)]
struct Sub {
    /// `start / width` of this sub-window.
    index: u64,
    count: u64,
    errors: u64,
    sum: f64,
    min: f64,
    max: f64,
    /// u32 counters (saturating) halve the memory of the per-sub-window histograms.
    hist: Option<Histogram<u32>>,
}

/// A sliding window of samples; see the module docs for its error bounds.
#[derive(Debug, Clone)]
pub struct Window {
    sub_ns: u64,
    /// Scale from a sample's value to histogram units; `None`: no histograms.
    scale: Option<f64>,
    /// Oldest first; at most [`SUB_WINDOWS`], strictly increasing indices.
    subs: VecDeque<Sub>,
}

/// The aggregates of a window at one time.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Samples that erred.
    pub errors: u64,
    /// Sum of values.
    pub sum: f64,
    /// Smallest value (`+inf` with no samples).
    pub min: f64,
    /// Largest value (`-inf` with no samples).
    pub max: f64,
    hist: Option<Histogram<u64>>,
    scale: f64,
}

impl Summary {
    /// Mean value; `None` with no samples.
    pub fn avg(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// The `q` quantile (0 < q ≤ 1) by nearest rank, within the module's error bound;
    /// `None` with no samples or no histograms.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let hist = self.hist.as_ref()?;
        let n = hist.len();
        if n == 0 {
            return None;
        }
        let r = rank(q, n);
        let mut seen = 0u64;
        for v in hist.iter_recorded() {
            seen += v.count_at_value();
            if seen >= r {
                let value = hist.median_equivalent(v.value_iterated_to());
                return Some(value as f64 / self.scale);
            }
        }
        None
    }
}

/// The nearest rank (1-based) of quantile `q` among `n` samples: `ceil(q·n)`, at least 1,
/// with `q·n` first rounded to 9 decimals so 0.95 · 100 is rank 95, not 96.
pub fn rank(q: f64, n: u64) -> u64 {
    let x = ((q * n as f64) * 1e9).round() / 1e9;
    (x.ceil() as u64).clamp(1, n)
}

impl Window {
    /// A window `width_ns` long. With `unit` (the histogram's unit in the value's own units,
    /// such as `1e-6` for µs when values are seconds), sub-windows keep a histogram.
    pub fn new(width_ns: u64, unit: Option<f64>) -> Self {
        Self {
            sub_ns: (width_ns / SUB_WINDOWS).max(1),
            scale: unit.map(|u| 1.0 / u),
            subs: VecDeque::new(),
        }
    }

    /// The histogram unit: 1 for values counted in whole units (tokens), else 1e-6 (µs for
    /// seconds, µUSD for costs).
    pub fn unit(whole_units: bool) -> f64 {
        if whole_units { 1.0 } else { 1e-6 }
    }

    /// The width of one sub-window, ns.
    pub fn sub_window_ns(&self) -> u64 {
        self.sub_ns
    }

    /// Records one sample at `now_ns`. Samples from before the newest sub-window (the clock
    /// went back) go into the newest one.
    pub fn record(&mut self, now_ns: u64, error: bool, value: f64) {
        let index = now_ns / self.sub_ns;
        let newest = self.subs.back().map(|s| s.index);
        if newest.is_none_or(|n| index > n) {
            self.subs.push_back(Sub {
                index,
                min: f64::INFINITY,
                max: f64::NEG_INFINITY,
                ..Sub::default()
            });
            self.expire(now_ns);
        }
        let Some(sub) = self.subs.back_mut() else {
            return;
        };
        sub.count += 1;
        sub.errors += u64::from(error);
        sub.sum += value;
        sub.min = sub.min.min(value);
        sub.max = sub.max.max(value);
        if let Some(scale) = self.scale {
            if sub.hist.is_none() {
                // Fails only for more than 5 significant digits.
                sub.hist = Histogram::new(SIGFIG).ok();
            }
            let Some(hist) = sub.hist.as_mut() else {
                return;
            };
            let scaled = (value.max(0.0) * scale).round();
            let scaled = if scaled.is_finite() && scaled < (i64::MAX / 4) as f64 {
                scaled as u64
            } else {
                (i64::MAX / 4) as u64
            };
            if hist.record(scaled).is_err() {
                hist.saturating_record(scaled);
            }
        }
    }

    /// Drops sub-windows that are entirely older than the window at `now_ns`.
    pub fn expire(&mut self, now_ns: u64) {
        let index = now_ns / self.sub_ns;
        let oldest_kept = index.saturating_sub(SUB_WINDOWS - 1);
        while self.subs.front().is_some_and(|s| s.index < oldest_kept) {
            self.subs.pop_front();
        }
    }

    /// True when no sub-window is held.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// The aggregates at `now_ns` (expiring first).
    pub fn summary(&mut self, now_ns: u64) -> Summary {
        self.expire(now_ns);
        let mut out = Summary {
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            scale: self.scale.unwrap_or(1.0),
            ..Summary::default()
        };
        for sub in &self.subs {
            out.count += sub.count;
            out.errors += sub.errors;
            out.sum += sub.sum;
            out.min = out.min.min(sub.min);
            out.max = out.max.max(sub.max);
            if let Some(h) = &sub.hist {
                if out.hist.is_none() {
                    out.hist = Histogram::new(SIGFIG).ok();
                }
                if let Some(m) = out.hist.as_mut() {
                    // Only the buckets that hold samples are visited.
                    for v in h.iter_recorded() {
                        let (value, n) = (v.value_iterated_to(), u64::from(v.count_at_value()));
                        if m.record_n(value, n).is_err() {
                            m.saturating_record_n(value, n);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEC: u64 = 1_000_000_000;

    fn exact_quantile(mut values: Vec<f64>, q: f64) -> f64 {
        values.sort_by(f64::total_cmp);
        values[(rank(q, values.len() as u64) - 1) as usize]
    }

    proptest! {
        #[test]
        fn p95_is_within_the_stated_error_of_the_exact_p95(
            values in prop::collection::vec(0.0001f64..120.0, 1..2000),
            spread in 0u64..60,
        ) {
            let mut w = Window::new(60 * SEC, Some(Window::unit(false)));
            let t0 = 1_700_000_000 * SEC;
            for (i, v) in values.iter().enumerate() {
                // Spread over sub-windows, all inside the window.
                w.record(t0 + (i as u64 % (spread + 1)) * SEC / 2, false, *v);
            }
            let now = t0 + 30 * SEC;
            for q in [0.5, 0.95, 0.99, 0.999] {
                let got = w.summary(now).quantile(q).unwrap();
                let exact = exact_quantile(values.clone(), q);
                let bound = RELATIVE_ERROR * exact + 1e-6;
                prop_assert!((got - exact).abs() <= bound, "q {q}: got {got}, exact {exact}");
            }
            let s = w.summary(now);
            prop_assert_eq!(s.count, values.len() as u64);
            let sum: f64 = values.iter().sum();
            prop_assert!((s.sum - sum).abs() < 1e-6 * sum.max(1.0));
        }

        #[test]
        fn token_p99_is_within_one_percent(values in prop::collection::vec(0u32..100_000, 1..500)) {
            let mut w = Window::new(60 * SEC, Some(Window::unit(true)));
            for v in &values {
                w.record(SEC, false, f64::from(*v));
            }
            let got = w.summary(SEC).quantile(0.99).unwrap();
            let exact = exact_quantile(values.iter().map(|v| f64::from(*v)).collect(), 0.99);
            prop_assert!((got - exact).abs() <= RELATIVE_ERROR * exact + 1.0);
        }
    }

    #[test]
    fn forgets_samples_older_than_the_window_within_one_sub_window() {
        // 100 s window: 5 s sub-windows.
        let mut w = Window::new(100 * SEC, None);
        assert_eq!(w.sub_window_ns(), 5 * SEC);
        let t0 = 1_000 * SEC; // a sub-window boundary
        w.record(t0, true, 1.0);
        w.record(t0 + 4 * SEC, false, 2.0);
        w.record(t0 + 50 * SEC, false, 3.0);
        let s = w.summary(t0 + 60 * SEC);
        assert_eq!((s.count, s.errors, s.sum), (3, 1, 6.0));
        assert_eq!((s.min, s.max), (1.0, 3.0));
        // Younger than W - s = 95 s: still counted.
        assert_eq!(w.summary(t0 + 99 * SEC).count, 3);
        // The first sub-window [t0, t0+5s) leaves once t0+100s is reached: both of its
        // samples are older than W - s and younger than W + s.
        let s = w.summary(t0 + 100 * SEC);
        assert_eq!((s.count, s.errors, s.sum), (1, 0, 3.0));
        // Aged 99 s (between W - s and W): still in its sub-window; aged W: always gone.
        assert_eq!(w.summary(t0 + 149 * SEC).count, 1);
        assert_eq!(w.summary(t0 + 150 * SEC).count, 0);
        assert!(w.is_empty());
    }

    #[test]
    fn never_counts_a_sample_older_than_the_window() {
        let width = 60 * SEC;
        let mut w = Window::new(width, None);
        let mut times = Vec::new();
        let mut t = 7 * SEC + 123;
        for i in 0..500u64 {
            t += (i * 7919) % (2 * SEC);
            w.record(t, false, 1.0);
            times.push(t);
            let now = t;
            let count = w.summary(now).count;
            let older_than_w = times.iter().filter(|x| now - **x >= width).count() as u64;
            let younger_than_w_minus_s = times
                .iter()
                .filter(|x| now - **x < width - w.sub_window_ns())
                .count() as u64;
            assert!(count <= times.len() as u64 - older_than_w, "at {now}");
            assert!(count >= younger_than_w_minus_s, "at {now}");
        }
    }

    #[test]
    fn empty_window_has_no_quantile_or_average() {
        let mut w = Window::new(10 * SEC, Some(1e-6));
        let s = w.summary(SEC);
        assert_eq!(s.count, 0);
        assert_eq!(s.quantile(0.95), None);
        assert_eq!(s.avg(), None);
    }

    #[test]
    fn rank_is_nearest_rank() {
        assert_eq!(rank(0.95, 100), 95);
        assert_eq!(rank(0.95, 101), 96);
        assert_eq!(rank(0.5, 1), 1);
        assert_eq!(rank(0.001, 10), 1);
        assert_eq!(rank(0.999, 1000), 999);
    }
}
