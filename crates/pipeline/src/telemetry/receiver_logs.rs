//! The OTLP receivers' events for the second signal: log records accepted and refused, and
//! export requests labelled by `signal` (`traces` or `logs`).
//!
//! Spans keep their own counters ([`super::receiver_accepted`], [`super::receiver_refused`]);
//! log records get counters of their own, so a dashboard summing spans is not thrown off by
//! log records. Requests share one counter, told apart by the `signal` label.

use super::names;
use metrics::counter;

/// A receiver accepted log records into its `logs` pipelines.
pub fn receiver_accepted_log_records(receiver: &str, transport: &'static str, records: usize) {
    receiver_accepted_log_records_of(receiver, transport, None, records);
}

/// As [`receiver_accepted_log_records`], labelled with the (bounded) `tenant` when
/// multi-tenancy is on ([`super::tenant_label`]).
pub fn receiver_accepted_log_records_of(
    receiver: &str,
    transport: &'static str,
    tenant: Option<&str>,
    records: usize,
) {
    match super::tenant_label(tenant) {
        Some(t) => counter!(names::RECEIVER_ACCEPTED_LOG_RECORDS, "receiver" => receiver.to_owned(), "transport" => transport, "tenant" => t.to_string()),
        None => counter!(names::RECEIVER_ACCEPTED_LOG_RECORDS, "receiver" => receiver.to_owned(), "transport" => transport),
    }
    .increment(records as u64);
}

/// A receiver refused log records; `reason` says why (`pipeline_full`, `invalid_id`, ...).
pub fn receiver_refused_log_records(
    receiver: &str,
    transport: &'static str,
    reason: &'static str,
    records: usize,
) {
    receiver_refused_log_records_of(receiver, transport, None, reason, records);
}

/// As [`receiver_refused_log_records`], labelled with the (bounded) `tenant` when
/// multi-tenancy is on.
pub fn receiver_refused_log_records_of(
    receiver: &str,
    transport: &'static str,
    tenant: Option<&str>,
    reason: &'static str,
    records: usize,
) {
    match super::tenant_label(tenant) {
        Some(t) => counter!(names::RECEIVER_REFUSED_LOG_RECORDS, "receiver" => receiver.to_owned(), "transport" => transport, "reason" => reason, "tenant" => t.to_string()),
        None => counter!(names::RECEIVER_REFUSED_LOG_RECORDS, "receiver" => receiver.to_owned(), "transport" => transport, "reason" => reason),
    }
    .increment(records as u64);
}

/// A receiver finished an export request of `signal` (`traces`, `logs`) with `outcome`
/// (`ok`, `partial`, `bad_request`, `pipeline_full`, `no_pipeline`, ...).
pub fn receiver_signal_request(
    receiver: &str,
    transport: &'static str,
    signal: &'static str,
    outcome: &'static str,
) {
    counter!(names::RECEIVER_REQUESTS, "receiver" => receiver.to_owned(), "transport" => transport, "signal" => signal, "outcome" => outcome)
        .increment(1);
}

/// Registers the descriptions of the log-record counters.
pub(super) fn describe_receiver_logs() {
    use metrics::{Unit, describe_counter};
    describe_counter!(
        names::RECEIVER_ACCEPTED_LOG_RECORDS,
        Unit::Count,
        "Log records accepted into a logs pipeline."
    );
    describe_counter!(
        names::RECEIVER_REFUSED_LOG_RECORDS,
        Unit::Count,
        "Log records refused, by reason."
    );
}
