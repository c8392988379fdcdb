//! The `latency_breakdown` processor's config.

use serde::Deserialize;

/// `processors.latency_breakdown`. Every field has a default, so `latency_breakdown: {}`
/// is a complete config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencyBreakdownConfig {
    /// Shift a server subtree that lies outside its client span to fit inside it, as
    /// Jaeger does, before computing the breakdown. The spans' times are left as received;
    /// the shift is recorded in `tracegate.skew_adjusted_ns`. Default `true`.
    pub clock_skew_adjustment: bool,
}

impl Default for LatencyBreakdownConfig {
    fn default() -> Self {
        Self {
            clock_skew_adjustment: true,
        }
    }
}
