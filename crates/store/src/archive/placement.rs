//! Which hour partition a row goes to, with client timestamps that may be far off.
//!
//! A row belongs to the hour its start time falls in ([`HourPartition::of_unix_nanos`]) while
//! that start is within a window around the time it arrives: no more than `past_window`
//! before, no more than `future_window` after. A start outside the window (a client clock
//! years off, a zero timestamp, a replay of old data) is placed in the hour of its arrival
//! instead. The row's `start_time` column keeps the client's value either way, so queries
//! that filter on it still find it; only the `dt=`/`hour=` directory differs.
//!
//! So the hours one gateway writes to at any moment are bounded by the window (169 with the
//! defaults of 7 days and 1 hour), whatever the clients send; the exporter's
//! `max_open_partitions` bounds the buffers open at once further.

use crate::layout::HourPartition;
use std::time::Duration;

/// Where a row was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    /// In the hour of its start time.
    AsStarted,
    /// Its start was more than `past_window` before its arrival: in the arrival hour.
    TooOld,
    /// Its start was more than `future_window` after its arrival: in the arrival hour.
    TooNew,
}

impl Placement {
    /// The `reason` label of a clamped row.
    pub(crate) fn reason(self) -> Option<&'static str> {
        match self {
            Placement::AsStarted => None,
            Placement::TooOld => Some("too_old"),
            Placement::TooNew => Some("too_new"),
        }
    }
}

/// The window of start times kept in their own hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlacementPolicy {
    past_ns: u64,
    future_ns: u64,
}

impl PlacementPolicy {
    /// Starts up to `past` before arrival and up to `future` after it keep their hour.
    pub(crate) fn new(past: Duration, future: Duration) -> Self {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Self {
            past_ns: ns(past),
            future_ns: ns(future),
        }
    }

    /// How far before its arrival a row may start and keep its hour.
    pub(crate) fn past_window(self) -> Duration {
        Duration::from_nanos(self.past_ns)
    }

    /// The partition of a row starting at `start` (ns since the epoch) that arrived at `now`.
    pub(crate) fn place(self, start: u64, now: u64) -> (HourPartition, Placement) {
        if start < now.saturating_sub(self.past_ns) {
            (HourPartition::of_unix_nanos(now), Placement::TooOld)
        } else if start > now.saturating_add(self.future_ns) {
            (HourPartition::of_unix_nanos(now), Placement::TooNew)
        } else {
            (HourPartition::of_unix_nanos(start), Placement::AsStarted)
        }
    }
}

/// The wall clock, in ns since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: u64 = 3_600 * 1_000_000_000;
    /// 2026-11-22T06:30:00Z.
    const NOW: u64 = 1_795_329_000 * 1_000_000_000;

    fn defaults() -> PlacementPolicy {
        PlacementPolicy::new(
            Duration::from_secs(7 * 24 * 3_600),
            Duration::from_secs(3_600),
        )
    }

    fn at(start: u64) -> (String, Placement) {
        let (p, how) = defaults().place(start, NOW);
        (p.to_string(), how)
    }

    #[test]
    fn golden_placements() {
        use Placement::*;
        let arrival = "dt=2026-11-22/hour=06".to_owned();
        // Within the window: the start's own hour, edges included.
        assert_eq!(at(NOW), (arrival.clone(), AsStarted));
        assert_eq!(
            at(NOW - 7 * 24 * HOUR),
            ("dt=2026-11-15/hour=06".to_owned(), AsStarted)
        );
        assert_eq!(
            at(NOW + HOUR),
            ("dt=2026-11-22/hour=07".to_owned(), AsStarted)
        );
        // Just outside: the arrival hour.
        assert_eq!(at(NOW - 7 * 24 * HOUR - 1), (arrival.clone(), TooOld));
        assert_eq!(at(NOW + HOUR + 1), (arrival.clone(), TooNew));
        // A zero timestamp and the largest one.
        assert_eq!(at(0), (arrival.clone(), TooOld));
        assert_eq!(at(u64::MAX), (arrival, TooNew));
        assert_eq!(TooOld.reason(), Some("too_old"));
        assert_eq!(AsStarted.reason(), None);
    }

    #[test]
    fn near_the_epoch_the_window_saturates() {
        let p = defaults();
        assert_eq!(p.place(0, HOUR).1, Placement::AsStarted);
        assert_eq!(p.place(u64::MAX, u64::MAX).1, Placement::AsStarted);
    }

    proptest! {
        #[test]
        fn every_row_lands_within_the_window_or_in_its_arrival_hour(
            start in any::<u64>(),
            now in 0u64..(u64::MAX / 2),
            past_h in 0u64..400,
            future_h in 0u64..48,
        ) {
            let policy = PlacementPolicy::new(
                Duration::from_secs(past_h * 3_600),
                Duration::from_secs(future_h * 3_600),
            );
            let (partition, how) = policy.place(start, now);
            let hour = partition.hours_since_epoch();
            let lowest = now.saturating_sub(past_h * HOUR) / HOUR;
            let highest = now.saturating_add(future_h * HOUR) / HOUR;
            prop_assert!(lowest <= hour && hour <= highest);
            match how {
                Placement::AsStarted => prop_assert_eq!(partition, HourPartition::of_unix_nanos(start)),
                _ => prop_assert_eq!(partition, HourPartition::of_unix_nanos(now)),
            }
        }
    }
}
