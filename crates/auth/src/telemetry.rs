//! The metrics this crate records; names live here.

/// Refused requests, by listener and reason.
pub const FAILURES_TOTAL: &str = "tracegate_auth_failures_total";
/// Changes of `auth.tokens_file` that took effect.
pub const TOKENS_FILE_RELOADS_TOTAL: &str = "tracegate_auth_tokens_file_reloads_total";
/// Changes of `auth.tokens_file` that could not be used (the previous tokens stay).
pub const TOKENS_FILE_RELOAD_FAILURES_TOTAL: &str =
    "tracegate_auth_tokens_file_reload_failures_total";
/// Bearer tokens accepted now.
pub const TOKENS: &str = "tracegate_auth_tokens";

pub(crate) fn failure(listener: &str, reason: crate::Reason) {
    metrics::counter!(FAILURES_TOTAL, "listener" => listener.to_owned(), "reason" => reason.label())
        .increment(1);
}

pub(crate) fn reloaded(tokens: usize) {
    metrics::counter!(TOKENS_FILE_RELOADS_TOTAL).increment(1);
    self::tokens(tokens);
}

pub(crate) fn reload_failed() {
    metrics::counter!(TOKENS_FILE_RELOAD_FAILURES_TOTAL).increment(1);
}

pub(crate) fn tokens(count: usize) {
    metrics::gauge!(TOKENS).set(count as f64);
}

/// Describes the metrics, for the HELP lines. Call once after the recorder is installed.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_counter!(
        FAILURES_TOTAL,
        Unit::Count,
        "Requests refused by authentication, by listener and reason (missing, malformed, invalid_token, invalid_certificate, tenant_mismatch)."
    );
    describe_counter!(
        TOKENS_FILE_RELOADS_TOTAL,
        Unit::Count,
        "Changes of auth.tokens_file that took effect."
    );
    describe_counter!(
        TOKENS_FILE_RELOAD_FAILURES_TOTAL,
        Unit::Count,
        "Changes of auth.tokens_file that could not be read or parsed; the previous tokens stay in force."
    );
    describe_gauge!(TOKENS, Unit::Count, "Bearer tokens accepted now.");
}
