//! What a shard reports about itself: its counters, what it holds, and the memory it uses
//! besides the spans.

/// What a shard has done since it was built. The same events go to the `assembly_*` metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Traces released because they went idle after their root.
    pub released_complete: u64,
    /// Traces released at `max_wait`.
    pub released_max_wait: u64,
    /// Traces released early because a bound was reached.
    pub released_evicted: u64,
    /// Traces released at shutdown.
    pub released_shutdown: u64,
    /// Evictions because `max_traces` was reached.
    pub evicted_max_traces: u64,
    /// Evictions because `max_bytes` was exceeded.
    pub evicted_max_bytes: u64,
    /// Spans that arrived after their trace was released.
    pub late_spans: u64,
    /// Spans passed through beyond `max_spans_per_trace`.
    pub over_cap_spans: u64,
}

/// What a shard holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeldCounts {
    /// Traces held.
    pub traces: usize,
    /// Spans held.
    pub spans: usize,
    /// Estimated bytes of the spans held, with the resources and scopes they keep alive.
    pub bytes: usize,
}

/// Memory a shard uses besides the spans' own data, from `size_of` and capacities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Spans held.
    pub held_spans: usize,
    /// The chain link of each held span's slot.
    pub span_links: usize,
    /// Slots allocated but free (the arena keeps its peak).
    pub free_slots: usize,
    /// Trace records, allocated capacity.
    pub trace_records: usize,
    /// The trace id index, estimated from its capacity.
    pub trace_index: usize,
    /// Remembered ids of released traces, for late spans: not per held span, and bounded by
    /// `max_remembered`.
    pub remembered: usize,
}

impl MemoryUsage {
    /// Bytes per held span for holding it: its link, plus its share of the trace records, the
    /// index and the free slots. Remembered ids are not counted.
    pub fn overhead_per_held_span(&self) -> f64 {
        let total = self.span_links + self.free_slots + self.trace_records + self.trace_index;
        total as f64 / self.held_spans.max(1) as f64
    }
}

/// Approximate bytes of a hash map with `capacity`: hashbrown keeps at least one empty bucket
/// in eight, in a power-of-two table, with one control byte per bucket.
pub(crate) fn map_bytes<K, V>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity.saturating_mul(8) / 7).next_power_of_two();
    buckets * (std::mem::size_of::<(K, V)>() + 1)
}
