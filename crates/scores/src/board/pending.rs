//! One shard of the pending scores: joined scores waiting, by (tenant, trace id), for trace
//! assembly to release their trace. Bounded in scores, bytes and age; oldest trace's
//! scores let go first.

use super::keys::TenantKey;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use tracegate_model::{Score, TraceId};

pub(crate) type PendingKey = (TenantKey, TraceId);

#[derive(Debug)]
struct Held {
    first_ns: u64,
    bytes: usize,
    scores: Vec<Score>,
}

/// What a call let go: pending scores expired and pushed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub expired: usize,
    pub full: usize,
}

/// Bounds of one shard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PendingLimits {
    pub max_scores: usize,
    pub max_bytes: usize,
    pub ttl_ns: u64,
}

#[derive(Debug, Default)]
pub(crate) struct PendingShard {
    map: FxHashMap<PendingKey, Held>,
    /// Keys by first post, which is expiry order. A key taken by `take` leaves a stale
    /// entry, skipped at the front; the queue is kept within twice `max_scores`.
    order: VecDeque<(u64, PendingKey)>,
    scores: usize,
    bytes: usize,
    limits: PendingLimits,
    now_ns: u64,
}

impl PendingShard {
    pub(crate) fn new(limits: PendingLimits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }

    pub(crate) fn scores(&self) -> usize {
        self.scores
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn advance(&mut self, now_ns: u64) -> u64 {
        self.now_ns = self.now_ns.max(now_ns);
        self.now_ns
    }

    /// Keeps `score` for `key` until [`Self::take`]. Returns whether it was kept, and what
    /// was let go to make room.
    pub(crate) fn post(&mut self, key: PendingKey, score: Score, now_ns: u64) -> (bool, Dropped) {
        let now = self.advance(now_ns);
        let mut dropped = Dropped {
            expired: self.expire(now),
            full: 0,
        };
        let bytes = score.estimated_bytes();
        if self.limits.max_scores == 0 || bytes > self.limits.max_bytes {
            dropped.full += 1;
            return (false, dropped);
        }
        while (self.scores >= self.limits.max_scores || self.bytes + bytes > self.limits.max_bytes)
            && !self.order.is_empty()
        {
            dropped.full += self.pop_front();
        }
        self.scores += 1;
        self.bytes += bytes;
        if let Some(held) = self.map.get_mut(&key) {
            held.bytes += bytes;
            held.scores.push(score);
            return (true, dropped);
        }
        while self.order.len() >= self.limits.max_scores.saturating_mul(2) {
            dropped.full += self.pop_front();
        }
        self.map.insert(
            key,
            Held {
                first_ns: now,
                bytes,
                scores: vec![score],
            },
        );
        self.order.push_back((now, key));
        (true, dropped)
    }

    /// Takes every score pending for `key`, and what expired on the way.
    pub(crate) fn take(&mut self, key: &PendingKey, now_ns: u64) -> (Vec<Score>, Dropped) {
        let now = self.advance(now_ns);
        let dropped = Dropped {
            expired: self.expire(now),
            full: 0,
        };
        match self.map.remove(key) {
            Some(held) => {
                self.scores -= held.scores.len();
                self.bytes -= held.bytes;
                (held.scores, dropped)
            }
            None => (Vec::new(), dropped),
        }
    }

    /// Applies new bounds, letting go of what no longer fits (counted as `full`).
    pub(crate) fn set_limits(&mut self, limits: PendingLimits) -> Dropped {
        self.limits = limits;
        let mut dropped = Dropped {
            expired: self.expire(self.now_ns),
            full: 0,
        };
        while (self.scores > limits.max_scores || self.bytes > limits.max_bytes)
            && !self.order.is_empty()
        {
            dropped.full += self.pop_front();
        }
        dropped
    }

    fn expire(&mut self, now: u64) -> usize {
        let mut expired = 0;
        while let Some(&(at, _)) = self.order.front() {
            if at.saturating_add(self.limits.ttl_ns) > now {
                break;
            }
            expired += self.pop_front();
        }
        expired
    }

    /// Drops the front of the queue and, if it is still live, its scores; returns how many.
    fn pop_front(&mut self) -> usize {
        let Some((at, key)) = self.order.pop_front() else {
            return 0;
        };
        if self.map.get(&key).is_some_and(|h| h.first_ns == at)
            && let Some(held) = self.map.remove(&key)
        {
            self.scores -= held.scores.len();
            self.bytes -= held.bytes;
            return held.scores.len();
        }
        0
    }

    #[cfg(test)]
    pub(crate) fn check(&self) {
        assert!(self.scores <= self.limits.max_scores);
        assert!(self.bytes <= self.limits.max_bytes);
        let counted: usize = self.map.values().map(|h| h.scores.len()).sum();
        assert_eq!(counted, self.scores);
        assert!(self.order.len() <= self.limits.max_scores.saturating_mul(2));
    }
}
