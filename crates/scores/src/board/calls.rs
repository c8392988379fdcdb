//! One shard of the index of recent LLM calls: id key → (trace, span), bounded in entries
//! and age, oldest forgotten first.
//!
//! Keys are 128-bit keyed hashes of (kind, tenant, id) ([`super::keys::CallKey`]), so an
//! entry holds no text: 16 bytes of key, 40 of value, one control byte in the hash table,
//! and 24 bytes in the expiry queue.

use super::keys::CallKey;
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use tracegate_model::{SpanId, TraceId};

/// What the index says about one id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Call {
    /// The call's trace.
    pub trace_id: TraceId,
    /// The call's span.
    pub span_id: SpanId,
    /// When it was remembered (board clock, ns).
    pub at_ns: u64,
    /// Whether the span looked like the model call itself (`gen_ai.operation.name`,
    /// `gen_ai.request.model` or `gen_ai.response.id`), not an enclosing span.
    pub llm: bool,
}

/// What an insert did to the shard's entry count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Change {
    pub added: usize,
    pub removed: usize,
}

#[derive(Debug, Default)]
pub(crate) struct CallShard {
    map: FxHashMap<CallKey, Call>,
    /// Keys in insertion order, which is expiry order; an entry replaced later leaves a
    /// stale one here, skipped when it reaches the front.
    order: VecDeque<(u64, CallKey)>,
    /// Most entries (and queue slots).
    pub cap: usize,
    pub ttl_ns: u64,
    now_ns: u64,
}

impl CallShard {
    pub(crate) fn new(cap: usize, ttl_ns: u64) -> Self {
        Self {
            cap,
            ttl_ns,
            ..Default::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn advance(&mut self, now_ns: u64) -> u64 {
        self.now_ns = self.now_ns.max(now_ns);
        self.now_ns
    }

    /// Remembers `call` under `key`. Within one trace, the first span wins unless a later
    /// one is the model call and the first was not; a call of another trace replaces the
    /// entry (ids should be unique, so the latest call is the likelier one meant).
    pub(crate) fn insert(&mut self, key: CallKey, mut call: Call, now_ns: u64) -> Change {
        let now = self.advance(now_ns);
        let mut change = Change {
            removed: self.expire(now),
            added: 0,
        };
        if self.cap == 0 {
            return change;
        }
        call.at_ns = now;
        if let Some(old) = self.map.get_mut(&key)
            && old.trace_id == call.trace_id
        {
            if call.llm && !old.llm {
                old.span_id = call.span_id;
                old.llm = true;
            }
            return change;
        }
        while self.order.len() >= self.cap {
            change.removed += self.pop_front();
        }
        if self.map.insert(key, call).is_none() {
            change.added += 1;
        }
        self.order.push_back((now, key));
        change
    }

    /// The live entry for `key`, if any, and the entries expired on the way.
    pub(crate) fn get(&mut self, key: &CallKey, now_ns: u64) -> (Option<Call>, usize) {
        let now = self.advance(now_ns);
        let removed = self.expire(now);
        let call = self
            .map
            .get(key)
            .filter(|c| c.at_ns.saturating_add(self.ttl_ns) > now)
            .copied();
        (call, removed)
    }

    /// Applies new bounds, forgetting the oldest entries over the new `cap`.
    pub(crate) fn set_limits(&mut self, cap: usize, ttl_ns: u64) -> usize {
        self.cap = cap;
        self.ttl_ns = ttl_ns;
        let mut removed = self.expire(self.now_ns);
        while self.order.len() > self.cap {
            removed += self.pop_front();
        }
        removed
    }

    fn expire(&mut self, now: u64) -> usize {
        let mut removed = 0;
        while let Some(&(at, _)) = self.order.front() {
            if at.saturating_add(self.ttl_ns) > now {
                break;
            }
            removed += self.pop_front();
        }
        removed
    }

    /// Drops the front of the queue, and its entry if it is still the live one.
    fn pop_front(&mut self) -> usize {
        let Some((at, key)) = self.order.pop_front() else {
            return 0;
        };
        if self.map.get(&key).is_some_and(|c| c.at_ns == at) {
            self.map.remove(&key);
            1
        } else {
            0
        }
    }

    /// Bytes allocated: the table from its capacity, and the queue's.
    pub(crate) fn allocated_bytes(&self) -> usize {
        super::map_bytes::<CallKey, Call>(self.map.capacity())
            + self.order.capacity() * std::mem::size_of::<(u64, CallKey)>()
    }

    #[cfg(test)]
    pub(crate) fn check(&self) {
        assert!(self.map.len() <= self.order.len());
        assert!(self.order.len() <= self.cap);
        for (key, call) in &self.map {
            assert!(self.order.contains(&(call.at_ns, *key)));
        }
    }
}
