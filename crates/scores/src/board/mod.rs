//! The [`ScoreBoard`]: where scores meet the traces they rate.
//!
//! One board is shared (`Arc`) by the `scores` log processor and every trace-assembly shard.
//! It holds two bounded structures, each split into [`SHARDS`] mutex-guarded shards so the
//! assembly shards and the logs pipeline rarely wait for one another:
//!
//! - **the index of recent LLM calls**: `gen_ai.response.id` and the application's request
//!   id ([`REQUEST_ID_KEYS`](tracegate_model::keys::REQUEST_ID_KEYS)) of every span that carries one → (tenant, trace id,
//!   span id). Fed by [`ScoreBoard::remember`] at assembly ingest (and by LLM log records
//!   with trace context); read by [`ScoreBoard::join`] for scores that lack a trace id.
//!   Bounded by [`BoardLimits::max_calls`] entries and [`BoardLimits::call_ttl_ns`]; oldest
//!   forgotten first.
//! - **pending scores**: joined scores kept by (tenant, trace id) by
//!   [`ScoreBoard::post`] until assembly releases the trace and [`ScoreBoard::attach`] moves
//!   them into [`Trace::scores`](tracegate_model::Trace::scores). Bounded in scores, bytes and age; every score let go is
//!   counted.
//!
//! Time is an argument (`*_at(…, now_ns)`) so tests are exact; the plain methods read the
//! board's clock (the wall clock unless [`ScoreBoard::with_clock`] gave another). Each
//! shard treats a time earlier than one it has seen as the latest seen.
//!
//! Files: `keys.rs` (the keyed hashes and the attribute scan), `calls.rs` (an index shard),
//! `pending.rs` (a pending shard), `attach.rs` (release time); this file holds the board
//! and its joins.

mod attach;
mod calls;
mod keys;
mod pending;

use crate::telemetry;
use calls::{Call, CallShard, Change};
use keys::{CallIds, Hashers, IdKind, IdText, scan};
use pending::{Dropped, PendingLimits, PendingShard};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tracegate_model::{LogKind, LogRecord, Score, ScoreJoin, Span, SpanId, TraceId};

/// Shards of each structure (a power of two).
pub const SHARDS: usize = 16;

const NS_PER_S: u64 = 1_000_000_000;

/// The board's bounds. Counts are global: split exactly between the [`SHARDS`] shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardLimits {
    /// Ids remembered (a call with both a response and a request id takes two). Default
    /// 200000.
    pub max_calls: usize,
    /// How long an id is remembered, ns. Default 1 hour.
    pub call_ttl_ns: u64,
    /// Scores pending at once. Default 100000.
    pub max_pending: usize,
    /// Estimated bytes of pending scores ([`Score::estimated_bytes`]). Default 64 MiB.
    pub max_pending_bytes: usize,
    /// How long a score waits for its trace, ns: at least trace assembly's `max_wait`, or a
    /// score that comes before its trace's first span may go before the trace does. Default
    /// 60 s.
    pub pending_ttl_ns: u64,
}

impl Default for BoardLimits {
    fn default() -> Self {
        Self {
            max_calls: 200_000,
            call_ttl_ns: 3600 * NS_PER_S,
            max_pending: 100_000,
            max_pending_bytes: 64 << 20,
            pending_ttl_ns: 60 * NS_PER_S,
        }
    }
}

/// The share of `total` shard `i` of [`SHARDS`] gets: the parts sum exactly to `total`.
fn share(total: usize, i: usize) -> usize {
    total / SHARDS + usize::from(i < total % SHARDS)
}

/// What the board holds and has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoardStats {
    /// Ids in the index.
    pub index_entries: usize,
    /// Scores pending.
    pub pending_scores: usize,
    /// Estimated bytes of pending scores.
    pub pending_bytes: usize,
    /// Scores `join` could not join.
    pub join_misses: u64,
    /// Pending scores let go at `pending_ttl_ns`.
    pub pending_expired: u64,
    /// Pending scores let go for room.
    pub pending_full: u64,
}

/// Bytes the board has allocated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoardMemory {
    /// The index: hash tables from their capacity, expiry queues from theirs.
    pub index_bytes: usize,
    /// Ids in the index.
    pub index_entries: usize,
}

impl BoardMemory {
    /// Bytes per remembered id.
    pub fn bytes_per_entry(&self) -> f64 {
        self.index_bytes as f64 / self.index_entries.max(1) as f64
    }
}

/// Where the board reads the time, ns.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The wall clock, ns since the Unix epoch (0 before it).
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Joins scores to traces; see the [module docs](self).
pub struct ScoreBoard {
    hashers: Hashers,
    calls: [Mutex<CallShard>; SHARDS],
    pending: [Mutex<PendingShard>; SHARDS],
    limits: Mutex<BoardLimits>,
    index_entries: AtomicUsize,
    pending_scores: AtomicUsize,
    join_misses: AtomicU64,
    pending_expired: AtomicU64,
    pending_full: AtomicU64,
    clock: Clock,
}

impl fmt::Debug for ScoreBoard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScoreBoard")
            .field("limits", &self.limits())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Default for ScoreBoard {
    fn default() -> Self {
        Self::new(BoardLimits::default())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A shard's state stays consistent at every await-free step, so a panic elsewhere
    // leaves nothing half-done: keep using it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ScoreBoard {
    /// A board with `limits`, on the wall clock.
    pub fn new(limits: BoardLimits) -> Self {
        Self::with_clock(limits, Arc::new(wall_clock_ns))
    }

    /// A board with `limits`, shared.
    pub fn shared(limits: BoardLimits) -> Arc<Self> {
        Arc::new(Self::new(limits))
    }

    /// A board with `limits` reading the time from `clock` (ns, any origin, used by every
    /// method without `_at`).
    pub fn with_clock(limits: BoardLimits, clock: Clock) -> Self {
        Self {
            hashers: Hashers::new(),
            calls: std::array::from_fn(|i| {
                Mutex::new(CallShard::new(
                    share(limits.max_calls, i),
                    limits.call_ttl_ns,
                ))
            }),
            pending: std::array::from_fn(|i| {
                Mutex::new(PendingShard::new(pending_limits(&limits, i)))
            }),
            limits: Mutex::new(limits),
            index_entries: AtomicUsize::new(0),
            pending_scores: AtomicUsize::new(0),
            join_misses: AtomicU64::new(0),
            pending_expired: AtomicU64::new(0),
            pending_full: AtomicU64::new(0),
            clock,
        }
    }

    /// The time on the board's clock.
    pub fn now_ns(&self) -> u64 {
        (self.clock)()
    }

    /// The bounds in force.
    pub fn limits(&self) -> BoardLimits {
        *lock(&self.limits)
    }

    /// Applies new bounds (the `scores` processor's config), forgetting and letting go of
    /// whatever no longer fits. With several `scores` processors, the last built wins.
    pub fn set_limits(&self, limits: BoardLimits) {
        *lock(&self.limits) = limits;
        for (i, shard) in self.calls.iter().enumerate() {
            let mut shard = lock(shard);
            let removed = shard.set_limits(share(limits.max_calls, i), limits.call_ttl_ns);
            self.count_entries(Change { added: 0, removed });
            drop(shard);
        }
        for (i, shard) in self.pending.iter().enumerate() {
            let mut shard = lock(shard);
            let before = shard.scores();
            let dropped = shard.set_limits(pending_limits(&limits, i));
            self.count_pending(before, shard.scores());
            drop(shard);
            self.count_dropped(dropped);
        }
        telemetry::index_entries(self.index_entries.load(Ordering::Relaxed));
        telemetry::pending_scores(self.pending_scores.load(Ordering::Relaxed));
    }

    /// What the board holds and has done.
    pub fn stats(&self) -> BoardStats {
        BoardStats {
            index_entries: self.index_entries.load(Ordering::Relaxed),
            pending_scores: self.pending_scores.load(Ordering::Relaxed),
            pending_bytes: self.pending.iter().map(|s| lock(s).bytes()).sum(),
            join_misses: self.join_misses.load(Ordering::Relaxed),
            pending_expired: self.pending_expired.load(Ordering::Relaxed),
            pending_full: self.pending_full.load(Ordering::Relaxed),
        }
    }

    /// Bytes the index has allocated, from its structures' capacities.
    pub fn memory(&self) -> BoardMemory {
        let mut memory = BoardMemory::default();
        for shard in &self.calls {
            let shard = lock(shard);
            memory.index_bytes += shard.allocated_bytes();
            memory.index_entries += shard.len();
        }
        memory
    }

    // ---- the index of recent LLM calls ----

    /// Remembers `span`'s response id and request id, if it has either, at the board's
    /// clock. One pass over its attributes; nothing allocated, no lock taken and no clock
    /// read for a span with neither. Returns whether it had one (a non-empty string or an
    /// integer).
    pub fn remember(&self, span: &Span) -> bool {
        let ids = scan(&span.attributes);
        if !ids.any() {
            return false;
        }
        self.remember_ids(
            span.tenant(),
            &ids,
            span.trace_id,
            span.span_id,
            self.now_ns(),
        )
    }

    /// As [`Self::remember`], at `now_ns`.
    pub fn remember_at(&self, span: &Span, now_ns: u64) -> bool {
        let ids = scan(&span.attributes);
        if !ids.any() {
            return false;
        }
        self.remember_ids(span.tenant(), &ids, span.trace_id, span.span_id, now_ns)
    }

    /// Remembers an LLM log record's ids (`facts.kind` [`LogKind::LlmCall`], with a trace
    /// and span id): a team that logs inside its spans gets its scores joined through its
    /// logs too. Returns whether anything was remembered.
    pub fn remember_log_at(&self, record: &LogRecord, now_ns: u64) -> bool {
        if record.facts.kind != LogKind::LlmCall {
            return false;
        }
        let (Some(trace_id), Some(span_id)) = (record.trace_id, record.span_id) else {
            return false;
        };
        let mut ids = scan(&record.attributes);
        if ids.request.is_none()
            && let Some(v) = record.field("request_id")
        {
            ids.request = Some((1, v));
        }
        if !ids.any() {
            return false;
        }
        // An LLM log record is the model call itself, but a span should win the entry.
        ids.llm = false;
        self.remember_ids(record.tenant(), &ids, trace_id, span_id, now_ns)
    }

    fn remember_ids(
        &self,
        tenant: &str,
        ids: &CallIds<'_>,
        trace_id: TraceId,
        span_id: SpanId,
        now_ns: u64,
    ) -> bool {
        let call = Call {
            trace_id,
            span_id,
            at_ns: now_ns,
            llm: ids.llm,
        };
        let mut total = None;
        let mut any = false;
        let ids = [
            (IdKind::Response, ids.response),
            (IdKind::Request, ids.request.map(|(_, v)| v)),
        ];
        for (kind, value) in ids {
            let Some(id) = value.and_then(IdText::of) else {
                continue;
            };
            any = true;
            let key = self.hashers.call(kind, tenant, id.as_str());
            let mut shard = lock(&self.calls[shard_of(&key)]);
            let change = shard.insert(key, call, now_ns);
            total = self.count_entries(change).or(total);
        }
        if let Some(total) = total {
            telemetry::index_entries(total);
        }
        any
    }

    /// Adds a shard's change to the global entry count, and returns the new total if it
    /// changed. Called with the shard's lock held, so each shard's additions reach the
    /// counter before its removals of the same entries: the count never goes below zero.
    fn count_entries(&self, change: Change) -> Option<usize> {
        if change == Change::default() {
            return None;
        }
        let before = self
            .index_entries
            .fetch_add(change.added, Ordering::Relaxed);
        self.index_entries
            .fetch_sub(change.removed, Ordering::Relaxed);
        Some((before + change.added).saturating_sub(change.removed))
    }

    fn lookup(&self, kind: IdKind, tenant: &str, id: &str, now_ns: u64) -> Option<Call> {
        let key = self.hashers.call(kind, tenant, id.trim());
        let mut shard = lock(&self.calls[shard_of(&key)]);
        let (call, removed) = shard.get(&key, now_ns);
        let total = self.count_entries(Change { added: 0, removed });
        drop(shard);
        if let Some(total) = total {
            telemetry::index_entries(total);
        }
        call
    }

    /// Joins `score` (of `tenant`) to its trace at the board's clock; see
    /// [`Self::join_at`].
    pub fn join(&self, score: &mut Score, tenant: &str) -> ScoreJoin {
        self.join_at(score, tenant, self.now_ns())
    }

    /// Joins `score` to its trace and counts it (`tracegate_scores_total`): a score with a
    /// trace id is joined by [`ScoreJoin::TraceContext`]; else its response id, then its
    /// request id, are looked up in the index, which fills trace, span and `joined_by`;
    /// else it stays [`ScoreJoin::Unresolved`] and the miss is counted.
    pub fn join_at(&self, score: &mut Score, tenant: &str, now_ns: u64) -> ScoreJoin {
        let how = self.resolve(score, tenant, now_ns);
        telemetry::score(score.source.as_str(), how.as_str());
        how
    }

    /// [`Self::join_at`] without counting the score.
    fn resolve(&self, score: &mut Score, tenant: &str, now_ns: u64) -> ScoreJoin {
        if score.trace_id.is_some() {
            if score.joined_by == ScoreJoin::Unresolved {
                score.joined_by = ScoreJoin::TraceContext;
            }
            return score.joined_by;
        }
        let by_response = score
            .response_id
            .as_deref()
            .and_then(|id| self.lookup(IdKind::Response, tenant, id, now_ns))
            .map(|c| (c, ScoreJoin::ResponseId));
        let found = by_response.or_else(|| {
            score
                .request_id
                .as_deref()
                .and_then(|id| self.lookup(IdKind::Request, tenant, id, now_ns))
                .map(|c| (c, ScoreJoin::RequestId))
        });
        match found {
            Some((call, how)) => {
                score.trace_id = Some(call.trace_id);
                score.span_id = Some(call.span_id);
                score.joined_by = how;
            }
            None => {
                score.joined_by = ScoreJoin::Unresolved;
                self.join_misses.fetch_add(1, Ordering::Relaxed);
                let named = score.response_id.is_some() || score.request_id.is_some();
                telemetry::join_miss(if named { "not_found" } else { "no_id" });
            }
        }
        score.joined_by
    }

    // ---- pending scores ----

    /// Keeps a joined `score` of `tenant` until its trace is released, at the board's clock.
    /// Returns whether it was kept (an unjoined score never is).
    pub fn post(&self, score: Score, tenant: &str) -> bool {
        self.post_at(score, tenant, self.now_ns())
    }

    /// As [`Self::post`], at `now_ns`.
    pub fn post_at(&self, score: Score, tenant: &str, now_ns: u64) -> bool {
        let Some(trace_id) = score.trace_id else {
            return false;
        };
        let key = (self.hashers.tenant(tenant), trace_id);
        let mut shard = lock(&self.pending[pending_shard(&trace_id)]);
        let before = shard.scores();
        let (kept, dropped) = shard.post(key, score, now_ns);
        let total = self.count_pending(before, shard.scores());
        drop(shard);
        if let Some(total) = total {
            telemetry::pending_scores(total);
        }
        self.count_dropped(dropped);
        kept
    }

    /// Adds a shard's change (from `before` to `after` scores) to the global pending count,
    /// and returns the new total if it changed. Called with the shard's lock held (see
    /// [`Self::count_entries`]).
    fn count_pending(&self, before: usize, after: usize) -> Option<usize> {
        if after > before {
            let added = after - before;
            Some(self.pending_scores.fetch_add(added, Ordering::Relaxed) + added)
        } else if before > after {
            let removed = before - after;
            let was = self.pending_scores.fetch_sub(removed, Ordering::Relaxed);
            Some(was.saturating_sub(removed))
        } else {
            None
        }
    }

    fn count_dropped(&self, dropped: Dropped) {
        self.pending_expired
            .fetch_add(dropped.expired as u64, Ordering::Relaxed);
        self.pending_full
            .fetch_add(dropped.full as u64, Ordering::Relaxed);
        telemetry::pending_dropped("expired", dropped.expired);
        telemetry::pending_dropped("full", dropped.full);
    }
}

fn pending_limits(limits: &BoardLimits, i: usize) -> PendingLimits {
    PendingLimits {
        max_scores: share(limits.max_pending, i),
        max_bytes: share(limits.max_pending_bytes, i),
        ttl_ns: limits.pending_ttl_ns,
    }
}

fn shard_of(key: &keys::CallKey) -> usize {
    (key[1] >> 60) as usize % SHARDS
}

fn pending_shard(trace_id: &TraceId) -> usize {
    (trace_id.shard_hash() >> 32) as usize % SHARDS
}

/// Approximate bytes of a hash map with `capacity`: hashbrown keeps at least one empty
/// bucket in eight, in a power-of-two table, with one control byte per bucket (plus one
/// group of trailing control bytes).
pub(crate) fn map_bytes<K, V>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity.saturating_mul(8) / 7).next_power_of_two();
    buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
}

#[cfg(test)]
impl ScoreBoard {
    /// Checks every shard's invariants.
    pub(crate) fn check(&self) {
        let mut entries = 0;
        for shard in &self.calls {
            let shard = lock(shard);
            shard.check();
            entries += shard.len();
        }
        assert_eq!(entries, self.index_entries.load(Ordering::Relaxed));
        assert!(entries <= self.limits().max_calls);
        let mut pending = 0;
        for shard in &self.pending {
            let shard = lock(shard);
            shard.check();
            pending += shard.scores();
        }
        assert_eq!(pending, self.pending_scores.load(Ordering::Relaxed));
    }
}
