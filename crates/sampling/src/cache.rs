//! The decision cache: trace id → decision, so late and over-cap fragments follow the
//! decision made on their trace.
//!
//! Entries are fixed-size ([`SLOT_BYTES`]): the 16-byte trace id, the deciding policy's
//! index, the outcome, the probability (as `f32`) and the expiry (whole seconds of the
//! sampler's clock). They live in an open-addressing table (linear probing, deletion by
//! backward shift, so no tombstones and no rehashing) at most 3/4 full, with a FIFO of
//! (id, expiry) ([`FIFO_BYTES`] each) giving the eviction order. Decisions expire
//! `late_window` after they were made; when the cache is full the oldest is evicted.
//!
//! Both are allocated once, from `max_bytes`, and never grow: [`DecisionCache::bytes`] is
//! what was allocated (at most `max_bytes`), [`DecisionCache::capacity`] how many traces it
//! remembers, 4/3 × 28 + 20 ≈ 57 B per remembered trace. The slot is picked from a keyed
//! SipHash of the id, so ids chosen by a client cannot be made to collide.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use tracegate_model::TraceId;

/// A remembered decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CachedDecision {
    /// Index of the deciding policy; [`crate::NONE_INDEX`] for none.
    pub policy: u16,
    /// The outcome.
    pub sampled: bool,
    /// The probability, at `f32` precision.
    pub probability: f32,
}

/// One slot: `expires_s == 0` marks it empty (live expiries are at least 1).
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: TraceId,
    expires_s: u32,
    decision: CachedDecision,
}

const EMPTY: Slot = Slot {
    id: TraceId([0; 16]),
    expires_s: 0,
    decision: CachedDecision {
        policy: 0,
        sampled: false,
        probability: 0.0,
    },
};

/// Bytes per table slot.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();
/// Bytes per FIFO entry.
pub const FIFO_BYTES: usize = std::mem::size_of::<(TraceId, u32)>();
/// The smallest non-zero `max_bytes`.
pub const MIN_BYTES: u64 = 4096;

/// What the cache did since it was last asked ([`DecisionCache::take_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Fragments that found their trace's decision.
    pub hits: u64,
    /// Fragments that did not.
    pub misses: u64,
    /// Live decisions pushed out to make room.
    pub evictions: u64,
}

/// See the module docs.
#[derive(Debug)]
pub struct DecisionCache {
    slots: Vec<Slot>,
    len: usize,
    fifo: VecDeque<(TraceId, u32)>,
    capacity: usize,
    window_s: u32,
    hasher: RandomState,
    stats: CacheStats,
}

impl DecisionCache {
    /// A cache using at most `max_bytes` that remembers decisions for `window_s` seconds;
    /// `max_bytes` below [`MIN_BYTES`] gives a cache that remembers nothing.
    pub fn new(max_bytes: u64, window_s: u32) -> Self {
        // S slots hold 3S/4 entries: S × SLOT + 3S/4 × FIFO ≤ max_bytes.
        let slots = if max_bytes < MIN_BYTES {
            0
        } else {
            let per_slot = (SLOT_BYTES * 4 + FIFO_BYTES * 3) as u64;
            usize::try_from(max_bytes.saturating_mul(4) / per_slot).unwrap_or(0)
        };
        let capacity = slots / 4 * 3;
        Self {
            slots: vec![EMPTY; if capacity == 0 { 0 } else { slots }],
            len: 0,
            fifo: VecDeque::with_capacity(capacity),
            capacity,
            window_s: window_s.max(1),
            hasher: RandomState::new(),
            stats: CacheStats::default(),
        }
    }

    /// Traces it can remember at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Decisions held now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated for the table and the FIFO (what `max_bytes` bounds).
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * SLOT_BYTES + self.fifo.capacity() * FIFO_BYTES
    }

    fn home(&self, id: &TraceId) -> usize {
        let h = self.hasher.hash_one(id.0);
        ((u128::from(h) * self.slots.len() as u128) >> 64) as usize
    }

    fn next(&self, i: usize) -> usize {
        if i + 1 == self.slots.len() { 0 } else { i + 1 }
    }

    /// `Ok(slot)` holding `id`, or `Err(empty slot)` where it would go.
    fn find(&self, id: &TraceId) -> Result<usize, usize> {
        let mut i = self.home(id);
        loop {
            let s = &self.slots[i];
            if s.expires_s == 0 {
                return Err(i);
            }
            if s.id == *id {
                return Ok(i);
            }
            i = self.next(i);
        }
    }

    /// Empties slot `i`, shifting back later entries of the probe run.
    fn remove_at(&mut self, mut hole: usize) {
        let n = self.slots.len();
        let mut j = hole;
        loop {
            j = self.next(j);
            let s = self.slots[j];
            if s.expires_s == 0 {
                break;
            }
            let home = self.home(&s.id);
            // Move it into the hole unless its home lies after the hole (cyclically).
            if (j + n - home) % n >= (j + n - hole) % n {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }

    /// Removes `id` if its entry is the one a FIFO item of `expires` stands for.
    fn remove_if(&mut self, id: &TraceId, expires: u32) -> bool {
        match self.find(id) {
            Ok(i) if self.slots[i].expires_s == expires => {
                self.remove_at(i);
                true
            }
            _ => false,
        }
    }

    /// Drops decisions that expired at or before `now_s`.
    fn expire(&mut self, now_s: u32) {
        while let Some(&(id, expires)) = self.fifo.front() {
            if expires > now_s {
                break;
            }
            self.fifo.pop_front();
            self.remove_if(&id, expires);
        }
    }

    /// Pops the FIFO's oldest item, evicting its decision if still live; false when empty.
    fn evict_oldest(&mut self) -> bool {
        let Some((old, expires)) = self.fifo.pop_front() else {
            return false;
        };
        if self.remove_if(&old, expires) {
            self.stats.evictions += 1;
        }
        true
    }

    /// The decision remembered for `id`, counted as a hit or a miss.
    pub fn get(&mut self, id: &TraceId, now_s: u32) -> Option<CachedDecision> {
        if self.capacity == 0 {
            self.stats.misses += 1;
            return None;
        }
        self.expire(now_s);
        match self.find(id) {
            Ok(i) => {
                self.stats.hits += 1;
                Some(self.slots[i].decision)
            }
            Err(_) => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Remembers `decision` for `id` until `late_window` after `now_s`.
    pub fn insert(&mut self, id: TraceId, decision: CachedDecision, now_s: u32) {
        if self.capacity == 0 {
            return;
        }
        self.expire(now_s);
        let expires_s = now_s.saturating_add(self.window_s).max(1);
        match self.find(&id) {
            Ok(i) => {
                let slot = &mut self.slots[i];
                slot.decision = decision;
                if slot.expires_s == expires_s {
                    return;
                }
                slot.expires_s = expires_s;
            }
            Err(_) => {
                while self.len >= self.capacity && self.evict_oldest() {}
                // Evictions shift entries: look again for the free slot.
                if let Err(i) = self.find(&id) {
                    self.slots[i] = Slot {
                        id,
                        expires_s,
                        decision,
                    };
                    self.len += 1;
                }
            }
        }
        if self.fifo.len() == self.capacity {
            self.evict_oldest();
        }
        self.fifo.push_back((id, expires_s));
    }

    /// What happened since the last call.
    pub fn take_stats(&mut self) -> CacheStats {
        std::mem::take(&mut self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u32) -> TraceId {
        let mut b = [0u8; 16];
        b[12..].copy_from_slice(&i.to_be_bytes());
        TraceId(b)
    }

    const D: CachedDecision = CachedDecision {
        policy: 1,
        sampled: true,
        probability: 1.0,
    };

    #[test]
    fn removal_keeps_every_other_entry_findable() {
        let mut c = DecisionCache::new(MIN_BYTES, 10);
        let cap = c.capacity() as u32;
        for i in 0..cap {
            c.insert(id(i), D, 1);
        }
        // Evict half by expiring: insert them again later, then age out the first round.
        for i in (0..cap).step_by(2) {
            assert!(c.remove_if(&id(i), 11));
        }
        for i in 0..cap {
            assert_eq!(c.find(&id(i)).is_ok(), i % 2 == 1, "id {i}");
        }
        assert_eq!(c.len(), (cap / 2) as usize);
    }

    #[test]
    fn entries_expire_after_the_window() {
        let mut c = DecisionCache::new(MIN_BYTES, 10);
        c.insert(id(1), D, 5);
        assert_eq!(c.get(&id(1), 14), Some(D));
        assert_eq!(c.get(&id(1), 15), None);
        assert!(c.is_empty());
        assert_eq!(
            c.take_stats(),
            CacheStats {
                hits: 1,
                misses: 1,
                evictions: 0
            }
        );
    }
}
