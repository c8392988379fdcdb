//! The `tail_sampling` processor's metrics: its names and events.

use metrics::{counter, gauge};

/// Metric names of the `tail_sampling` processor.
pub mod sampling_names {
    #![allow(missing_docs)]
    pub const SAMPLING_DECISIONS: &str = "tracegate_sampling_decisions_total";
    pub const SAMPLING_NOT_SAMPLED_TRACES: &str = "tracegate_sampling_not_sampled_traces_total";
    pub const SAMPLING_NOT_SAMPLED_SPANS: &str = "tracegate_sampling_not_sampled_spans_total";
    pub const SAMPLING_CACHE_HITS: &str = "tracegate_sampling_cache_hits_total";
    pub const SAMPLING_CACHE_MISSES: &str = "tracegate_sampling_cache_misses_total";
    pub const SAMPLING_CACHE_EVICTIONS: &str = "tracegate_sampling_cache_evictions_total";
    pub const SAMPLING_CACHE_BYTES: &str = "tracegate_sampling_cache_bytes";
    pub const SAMPLING_CACHE_ENTRIES: &str = "tracegate_sampling_cache_entries";
}

pub(super) fn describe_sampling() {
    use metrics::{Unit, describe_counter, describe_gauge};
    use sampling_names::*;
    describe_counter!(
        SAMPLING_DECISIONS,
        Unit::Count,
        "Traces (and fragments) decided, by processor, deciding policy (`none` when none matched) and outcome (sampled, not_sampled)."
    );
    describe_counter!(
        SAMPLING_NOT_SAMPLED_TRACES,
        Unit::Count,
        "Traces and fragments marked not sampled (still passed on: exporters that honour sampling leave their spans out)."
    );
    describe_counter!(
        SAMPLING_NOT_SAMPLED_SPANS,
        Unit::Count,
        "Spans of traces marked not sampled."
    );
    describe_counter!(
        SAMPLING_CACHE_HITS,
        Unit::Count,
        "Late and over-cap fragments that followed their trace's remembered decision."
    );
    describe_counter!(
        SAMPLING_CACHE_MISSES,
        Unit::Count,
        "Fragments whose trace's decision was not remembered (expired, evicted or not yet made), decided on their own spans."
    );
    describe_counter!(
        SAMPLING_CACHE_EVICTIONS,
        Unit::Count,
        "Remembered decisions pushed out before `late_window` to make room."
    );
    describe_gauge!(
        SAMPLING_CACHE_BYTES,
        Unit::Bytes,
        "Bytes allocated for the decision cache (bounded by `decision_cache.max_bytes`)."
    );
    describe_gauge!(
        SAMPLING_CACHE_ENTRIES,
        Unit::Count,
        "Decisions the cache holds now."
    );
}

/// `processor`'s `policy` decided `traces` traces, kept (`sampled`) or not.
pub fn sampling_decisions(processor: &str, policy: &str, sampled: bool, traces: u64) {
    let outcome = if sampled { "sampled" } else { "not_sampled" };
    counter!(sampling_names::SAMPLING_DECISIONS, "processor" => processor.to_owned(), "policy" => policy.to_owned(), "outcome" => outcome)
        .increment(traces);
}

/// `processor` marked `traces` traces with `spans` spans not sampled.
pub fn sampling_not_sampled(processor: &str, traces: u64, spans: u64) {
    counter!(sampling_names::SAMPLING_NOT_SAMPLED_TRACES, "processor" => processor.to_owned())
        .increment(traces);
    counter!(sampling_names::SAMPLING_NOT_SAMPLED_SPANS, "processor" => processor.to_owned())
        .increment(spans);
}

/// `processor`'s decision cache: hits, misses and evictions since the last report, and the
/// bytes allocated and decisions held now.
pub fn sampling_cache(
    processor: &str,
    hits: u64,
    misses: u64,
    evictions: u64,
    bytes: u64,
    entries: u64,
) {
    let label = || processor.to_owned();
    counter!(sampling_names::SAMPLING_CACHE_HITS, "processor" => label()).increment(hits);
    counter!(sampling_names::SAMPLING_CACHE_MISSES, "processor" => label()).increment(misses);
    counter!(sampling_names::SAMPLING_CACHE_EVICTIONS, "processor" => label()).increment(evictions);
    gauge!(sampling_names::SAMPLING_CACHE_BYTES, "processor" => label()).set(bytes as f64);
    gauge!(sampling_names::SAMPLING_CACHE_ENTRIES, "processor" => label()).set(entries as f64);
}
