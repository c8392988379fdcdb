//! The in-flight byte budget one receiver's listeners share (`max_in_flight_bytes`).
//!
//! Like the Collector's `memory_limiter`, but counted per request instead of sampled from
//! the heap: every request holds a [`Reservation`] from the moment it is admitted until it
//! is answered, and grows it as its memory grows:
//! - the body as it arrives on the wire, chunk by chunk;
//! - the decompressed body, once decompressed;
//! - [`DECODED_BYTES_PER_BYTE`] times the protobuf size, for the decoded request and the span
//!   batch made from it.
//!
//! A request is refused when it arrives while the budget is at or over its limit, or when a
//! step would take it over; the transports answer with a retryable status. Dropping the
//! reservation (request answered, connection gone, timeout) gives its bytes back.

use metrics::Gauge;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes reserved for the decoded form of a request, per byte of its protobuf encoding. prost's
/// structs (a `String` or `Vec` header per id, name and attribute) and the span batch built
/// from them take about 1.5 to 2 times the wire size for span-heavy input; 2 is the
/// conservative end.
pub(crate) const DECODED_BYTES_PER_BYTE: usize = 2;

/// What a request would hold, at most, once read, decompressed (with a zstd decoder's window,
/// held while it inflates) and decoded: the bound that `max_in_flight_bytes` must allow for
/// one request of the largest size.
pub(crate) fn worst_case_request(max_request_bytes: u64, max_decompressed_bytes: u64) -> u64 {
    let window = super::body::ZSTD_MAX_DECODER_BYTES as u64;
    max_request_bytes
        .saturating_add(max_decompressed_bytes.saturating_mul(1 + DECODED_BYTES_PER_BYTE as u64))
        .saturating_add(window)
}

/// The budget was (or would have gone) over its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverBudget {
    /// The limit, for the message.
    pub(crate) limit: usize,
}

impl OverBudget {
    /// What the client is told.
    pub(crate) fn message(self) -> String {
        format!(
            "the receiver holds its limit of bytes in flight (max_in_flight_bytes {} bytes), \
             retry later",
            self.limit
        )
    }
}

/// The shared budget. Cloned as an `Arc` into both listeners.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: usize,
    used: AtomicUsize,
    gauge: Gauge,
}

impl Budget {
    /// A budget of `limit` bytes; `gauge` shows the bytes in use.
    pub(crate) fn new(limit: usize, gauge: Gauge) -> Arc<Self> {
        gauge.set(0.0);
        Arc::new(Self {
            limit,
            used: AtomicUsize::new(0),
            gauge,
        })
    }

    /// Bytes reserved now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Admits a request with nothing reserved yet, unless the budget is at or over its limit.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<Reservation, OverBudget> {
        if self.used() >= self.limit {
            return Err(OverBudget { limit: self.limit });
        }
        Ok(Reservation {
            budget: self.clone(),
            held: AtomicUsize::new(0),
        })
    }

    /// Takes `bytes` unless that would pass the limit.
    fn take(&self, bytes: usize) -> Result<(), OverBudget> {
        let over = OverBudget { limit: self.limit };
        let mut used = self.used();
        loop {
            let next = used.checked_add(bytes).ok_or(over)?;
            if next > self.limit {
                return Err(over);
            }
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    // Deltas, not `set`: concurrent updates cannot leave a stale value behind.
                    self.gauge.increment(bytes as f64);
                    return Ok(());
                }
                Err(actual) => used = actual,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        self.gauge.decrement(bytes as f64);
    }
}

/// One request's share of the budget, given back on drop. `grow` takes `&self`, so the gRPC
/// body stream and handler can share one reservation behind an `Arc`.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    held: AtomicUsize,
}

impl Reservation {
    /// Reserves `bytes` more, or refuses if the budget would pass its limit (holding what it
    /// had: the caller refuses the request, and the drop gives everything back).
    pub(crate) fn grow(&self, bytes: usize) -> Result<(), OverBudget> {
        self.budget.take(bytes)?;
        self.held.fetch_add(bytes, Ordering::AcqRel);
        Ok(())
    }

    /// A new, empty reservation against the same budget, for work that must own its share
    /// (inflating on the blocking pool); hand it back with [`Self::absorb`].
    pub(crate) fn split(&self) -> Reservation {
        Reservation {
            budget: self.budget.clone(),
            held: AtomicUsize::new(0),
        }
    }

    /// Takes over what `other` holds, without touching the budget: the bytes stay reserved
    /// until this reservation is dropped.
    pub(crate) fn absorb(&self, mut other: Reservation) {
        let moved = std::mem::take(other.held.get_mut());
        self.held.fetch_add(moved, Ordering::AcqRel);
    }

    /// Bytes this request holds.
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(*self.held.get_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn budget(limit: usize) -> Arc<Budget> {
        Budget::new(limit, Gauge::noop())
    }

    #[test]
    fn golden_admit_grow_refuse_release() {
        let b = budget(100);
        let first = b.admit().unwrap();
        first.grow(60).unwrap();
        let second = b.admit().unwrap();
        // 60 + 50 would pass 100: refused, and the 60 stay held.
        assert_eq!(second.grow(50), Err(OverBudget { limit: 100 }));
        second.grow(40).unwrap();
        assert_eq!(b.used(), 100);
        // At the limit nothing new is admitted, not even an empty request.
        assert!(b.admit().is_err());
        drop(first);
        assert_eq!(b.used(), 40);
        let third = b.admit().unwrap();
        third.grow(60).unwrap();
        drop((second, third));
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn a_huge_request_overflows_into_a_refusal_not_a_wrap() {
        let b = budget(usize::MAX);
        let r = b.admit().unwrap();
        r.grow(usize::MAX - 1).unwrap();
        assert!(r.grow(2).is_err());
        assert_eq!(r.held(), usize::MAX - 1);
    }

    #[test]
    fn the_worst_case_counts_wire_decompressed_and_decoded_bytes() {
        // 8 MiB on the wire, inflating to 64 MiB through an 8 MiB zstd window, decoding to
        // about twice that.
        assert_eq!(
            worst_case_request(8 << 20, 64 << 20),
            (8 << 20) + (64 << 20) * 3 + (8 << 20) + (192 << 10)
        );
        assert_eq!(worst_case_request(u64::MAX, 1), u64::MAX);
    }

    proptest! {
        /// Whatever the order of grows and drops, the budget never passes its limit, always
        /// equals what the live reservations hold, and is 0 once they are all gone.
        #[test]
        fn used_is_the_sum_of_live_reservations_and_never_over_the_limit(
            limit in 1usize..1000,
            steps in proptest::collection::vec((0usize..8, 0usize..400, any::<bool>()), 1..60),
        ) {
            let b = budget(limit);
            let mut live: Vec<Reservation> = Vec::new();
            for (slot, bytes, drop_it) in steps {
                if drop_it && !live.is_empty() {
                    live.swap_remove(slot % live.len());
                } else if slot % 2 == 0 || live.is_empty() {
                    if let Ok(r) = b.admit() {
                        let _ = r.grow(bytes);
                        live.push(r);
                    }
                } else {
                    let n = live.len();
                    let _ = live[slot % n].grow(bytes);
                }
                prop_assert!(b.used() <= limit);
                prop_assert_eq!(b.used(), live.iter().map(Reservation::held).sum::<usize>());
            }
            live.clear();
            prop_assert_eq!(b.used(), 0);
        }
    }
}
