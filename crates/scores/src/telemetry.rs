//! The score join's metrics: their names, descriptions, and one function per event.
//!
//! Names follow the workspace's `tracegate_<component>_<name>_<unit>[_total]`
//! (`tracegate_pipeline::telemetry`).

use metrics::{counter, gauge};

/// Metric names.
pub mod names {
    #![allow(missing_docs)]
    pub const SCORES: &str = "tracegate_scores_total";
    pub const JOIN_MISSES: &str = "tracegate_score_join_misses_total";
    pub const INDEX_ENTRIES: &str = "tracegate_score_index_entries";
    pub const PENDING_SCORES: &str = "tracegate_score_pending_scores";
    pub const PENDING_DROPPED: &str = "tracegate_score_pending_dropped_total";
}

/// Registers the descriptions of every metric here with the installed recorder. The binary
/// calls it once at start, beside the pipeline's own.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(
        names::SCORES,
        Unit::Count,
        "Quality scores recognised, by source (log, span_event, feedback_span) and how they were joined to their trace (trace_context, response_id, request_id, unresolved)."
    );
    describe_counter!(
        names::JOIN_MISSES,
        Unit::Count,
        "Scores without trace context that the index of recent LLM calls could not join, by reason (no_id: the score names no response or request id; not_found: no remembered call has it). The score is kept, unresolved."
    );
    describe_gauge!(
        names::INDEX_ENTRIES,
        Unit::Count,
        "Response and request ids of recent LLM calls the score join remembers (bounded by `index.max_entries`)."
    );
    describe_gauge!(
        names::PENDING_SCORES,
        Unit::Count,
        "Joined scores waiting for trace assembly to release their trace."
    );
    describe_counter!(
        names::PENDING_DROPPED,
        Unit::Count,
        "Pending scores let go before their trace was released, by reason (expired: older than `pending.ttl`, usually because the trace had been released before the score came; full: pushed out by `pending.max_scores` or `pending.max_bytes`). They still reach the scores table through the logs pipeline."
    );
}

/// A score was recognised and joined (or not).
pub fn score(source: &'static str, joined_by: &'static str) {
    counter!(names::SCORES, "source" => source, "joined_by" => joined_by).increment(1);
}

/// A score could not be joined.
pub fn join_miss(reason: &'static str) {
    counter!(names::JOIN_MISSES, "reason" => reason).increment(1);
}

/// The index now holds `entries` ids.
pub fn index_entries(entries: usize) {
    gauge!(names::INDEX_ENTRIES).set(entries as f64);
}

/// `scores` are now pending.
pub fn pending_scores(scores: usize) {
    gauge!(names::PENDING_SCORES).set(scores as f64);
}

/// `count` pending scores were let go for `reason` (`expired`, `full`).
pub fn pending_dropped(reason: &'static str, count: usize) {
    if count > 0 {
        counter!(names::PENDING_DROPPED, "reason" => reason).increment(count as u64);
    }
}
