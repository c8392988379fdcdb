//! Waits between upload attempts: exponential backoff with equal jitter.
//!
//! After the n-th retryable failure in a row the base wait is `initial · 2ⁿ⁻¹`, capped at
//! `max`, and the wait is drawn uniformly from `[base / 2, base]` ("equal jitter"): half of
//! it keeps the exponential spacing, the random half keeps many files (or many gateways)
//! that failed together from retrying in step. A permanent failure (credentials, a missing
//! bucket) waits at the `max` cadence straight away, with the same jitter, so that an
//! operator's fix is picked up within about `max` and nothing else is hammered meanwhile.
//!
//! The random source is a seeded [`StdRng`], so tests can replay a sequence exactly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// The waits of one file's upload attempts.
#[derive(Debug)]
pub(crate) struct Backoff {
    max: Duration,
    /// The base of the next retryable wait.
    base: Duration,
    /// Failures so far.
    failures: u32,
    rng: StdRng,
}

impl Backoff {
    /// Starts at `initial` and doubles up to `max` (at least `initial`), drawing jitter from
    /// `seed`.
    pub(crate) fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            max: max.max(initial),
            base: initial,
            failures: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The wait after a retryable failure; the base doubles for the next one.
    pub(crate) fn retryable(&mut self) -> Duration {
        let base = self.base;
        self.base = base.saturating_mul(2).min(self.max);
        self.failures = self.failures.saturating_add(1);
        self.jittered(base)
    }

    /// The wait after a permanent failure: the `max` cadence.
    pub(crate) fn permanent(&mut self) -> Duration {
        self.base = self.max;
        self.failures = self.failures.saturating_add(1);
        self.jittered(self.max)
    }

    /// True once the failures have gone on for a while: at least
    /// [`Backoff::SATURATED_AFTER`] in a row, and the next wait is at `max`.
    pub(crate) fn saturated(&self) -> bool {
        self.failures >= Self::SATURATED_AFTER && self.base >= self.max
    }

    /// Failures in a row before [`Backoff::saturated`] can hold.
    pub(crate) const SATURATED_AFTER: u32 = 3;

    /// A wait drawn uniformly from `[base / 2, base]`.
    fn jittered(&mut self, base: Duration) -> Duration {
        let half = base / 2;
        let span = u64::try_from((base - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.rng.random_range(0..=span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn golden_bases_double_to_the_maximum() {
        // With the defaults (500ms up to 30s), the bases of the first retries, worked out by
        // hand: 0.5, 1, 2, 4, 8, 16, 30, 30 seconds.
        let mut b = Backoff::new(500 * MS, 30_000 * MS, 7);
        let bases = [500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
        for (i, base) in bases.iter().enumerate() {
            // After 6 waits the next base is 30s, the maximum.
            assert_eq!(b.saturated(), i >= 6, "after {i} waits");
            let wait = b.retryable();
            assert!(
                wait >= MS * (base / 2) && wait <= MS * *base,
                "wait {i}: {wait:?} not in [{}ms, {base}ms]",
                base / 2
            );
        }
        assert!(b.saturated());
    }

    #[test]
    fn the_same_seed_replays_the_same_waits_and_jitter_varies_them() {
        let waits = |seed| {
            let mut b = Backoff::new(100 * MS, 100 * MS, seed);
            (0..20).map(|_| b.retryable()).collect::<Vec<_>>()
        };
        assert_eq!(waits(3), waits(3));
        assert_ne!(waits(3), waits(4));
        let distinct: std::collections::HashSet<_> = waits(3).into_iter().collect();
        assert!(
            distinct.len() > 10,
            "jitter spreads the waits: {distinct:?}"
        );
    }

    #[test]
    fn a_permanent_failure_waits_at_the_maximum_cadence() {
        let mut b = Backoff::new(10 * MS, 1_000 * MS, 1);
        for _ in 0..10 {
            let wait = b.permanent();
            assert!(wait >= 500 * MS && wait <= 1_000 * MS, "{wait:?}");
        }
        assert!(b.saturated());
        // A retryable failure after it goes on from the maximum.
        assert!(b.retryable() >= 500 * MS);
    }

    #[test]
    fn a_backoff_without_room_to_grow_saturates_after_a_few_failures() {
        let mut b = Backoff::new(20 * MS, 20 * MS, 1);
        for _ in 0..Backoff::SATURATED_AFTER {
            assert!(
                !b.saturated(),
                "not after one failure, though initial == max"
            );
            b.retryable();
        }
        assert!(b.saturated());
    }

    proptest! {
        #[test]
        fn waits_stay_within_half_to_all_of_the_base(
            seed in any::<u64>(),
            initial_ms in 1u64..10_000,
            extra_ms in 0u64..100_000,
            failures in 1usize..40,
        ) {
            let initial = Duration::from_millis(initial_ms);
            let max = Duration::from_millis(initial_ms + extra_ms);
            let mut b = Backoff::new(initial, max, seed);
            let mut base = initial;
            for _ in 0..failures {
                let wait = b.retryable();
                prop_assert!(wait >= base / 2 && wait <= base, "{:?} vs base {:?}", wait, base);
                prop_assert!(wait <= max);
                base = (base * 2).min(max);
            }
        }
    }
}
