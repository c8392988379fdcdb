//! The decision cache: trace id → decision, so late and over-cap fragments follow the
//! decision made on their trace.
//!
//! Entries are fixed-size: the 16-byte trace id, the deciding policy's index, the outcome,
//! the probability (as `f32`) and the expiry (whole seconds of the sampler's clock), in a
//! hash map, with a FIFO of (id, expiry) giving the eviction order. Decisions expire
//! `late_window` after they were made; when the cache is full the oldest is evicted.
//!
//! Both are allocated once, at their full size, from `max_bytes`: the map's buckets (a
//! power of two, at most 7/8 full) at [`SLOT_BYTES`] each and the FIFO at [`FIFO_BYTES`]
//! an entry. [`DecisionCache::bytes`] is what was allocated, and [`DecisionCache::capacity`]
//! how many traces it remembers: about 53 B per remembered trace.

use std::collections::{HashMap, VecDeque};
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

#[derive(Debug, Clone, Copy)]
struct Entry {
    expires_s: u32,
    decision: CachedDecision,
}

/// Bytes per bucket of the map: key, value and the control byte.
pub const SLOT_BYTES: usize = std::mem::size_of::<(TraceId, Entry)>() + 1;
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
    map: HashMap<TraceId, Entry>,
    fifo: VecDeque<(TraceId, u32)>,
    capacity: usize,
    window_s: u32,
    stats: CacheStats,
}

/// How many entries fit in `max_bytes`: the largest bucket count B (a power of two) with
/// B × SLOT_BYTES + (7B/8) × FIFO_BYTES ≤ max_bytes; 7B/8 entries.
fn entries_for(max_bytes: u64) -> usize {
    let per_bucket = (SLOT_BYTES + FIFO_BYTES * 7 / 8) as u64;
    let buckets = max_bytes / per_bucket.max(1);
    if buckets < 8 {
        return 0;
    }
    let buckets = 1u64 << (63 - buckets.leading_zeros());
    usize::try_from(buckets / 8 * 7).unwrap_or(0)
}

impl DecisionCache {
    /// A cache using at most `max_bytes` that remembers decisions for `window_s` seconds;
    /// `max_bytes` below [`MIN_BYTES`] gives a cache that remembers nothing.
    pub fn new(max_bytes: u64, window_s: u32) -> Self {
        let capacity = if max_bytes < MIN_BYTES {
            0
        } else {
            entries_for(max_bytes)
        };
        Self {
            map: HashMap::with_capacity(capacity),
            fifo: VecDeque::with_capacity(capacity),
            capacity,
            window_s: window_s.max(1),
            stats: CacheStats::default(),
        }
    }

    /// Traces it can remember at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Decisions held now.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Bytes allocated for the map and the FIFO (what `max_bytes` bounds).
    pub fn bytes(&self) -> usize {
        if self.map.capacity() == 0 {
            return 0;
        }
        let buckets = (self.map.capacity() * 8 / 7).next_power_of_two();
        buckets * SLOT_BYTES + self.fifo.capacity() * FIFO_BYTES
    }

    /// Drops decisions that expired at or before `now_s`.
    fn expire(&mut self, now_s: u32) {
        while let Some(&(id, expires)) = self.fifo.front() {
            if expires > now_s {
                break;
            }
            self.fifo.pop_front();
            self.remove_if(id, expires);
        }
    }

    /// Removes `id` if its entry is the one the FIFO item (of `expires`) stands for.
    fn remove_if(&mut self, id: TraceId, expires: u32) -> bool {
        if self.map.get(&id).is_some_and(|e| e.expires_s == expires) {
            self.map.remove(&id);
            return true;
        }
        false
    }

    /// The decision remembered for `id`, counted as a hit or a miss.
    pub fn get(&mut self, id: &TraceId, now_s: u32) -> Option<CachedDecision> {
        self.expire(now_s);
        let found = self.map.get(id).map(|e| e.decision);
        if found.is_some() {
            self.stats.hits += 1;
        } else {
            self.stats.misses += 1;
        }
        found
    }

    /// Remembers `decision` for `id` until `late_window` after `now_s`.
    pub fn insert(&mut self, id: TraceId, decision: CachedDecision, now_s: u32) {
        if self.capacity == 0 {
            return;
        }
        self.expire(now_s);
        let expires_s = now_s.saturating_add(self.window_s);
        if let Some(e) = self.map.get_mut(&id) {
            e.decision = decision;
            if e.expires_s == expires_s {
                return;
            }
            e.expires_s = expires_s;
        } else {
            // Make room first: the map never grows past the capacity it was allocated with.
            while self.map.len() >= self.capacity && self.evict_oldest() {}
            self.map.insert(
                id,
                Entry {
                    expires_s,
                    decision,
                },
            );
        }
        if self.fifo.len() == self.capacity {
            self.evict_oldest();
        }
        self.fifo.push_back((id, expires_s));
    }

    /// Pops the FIFO's oldest item, evicting its decision if still live; false when empty.
    fn evict_oldest(&mut self) -> bool {
        let Some((old, expires)) = self.fifo.pop_front() else {
            return false;
        };
        if self.remove_if(old, expires) {
            self.stats.evictions += 1;
        }
        true
    }

    /// What happened since the last call.
    pub fn take_stats(&mut self) -> CacheStats {
        std::mem::take(&mut self.stats)
    }
}
