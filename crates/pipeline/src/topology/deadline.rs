//! The one shutdown deadline every stage gives up at, and the count of what it cost.

use crate::telemetry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// Passed when `service.shutdown_timeout` has run out since shutdown was requested. Every
/// await that can block during shutdown races it; the stage that gives up counts what it
/// still held with [`Deadline::lost`].
#[derive(Debug, Clone, Default)]
pub(super) struct Deadline {
    passed: CancellationToken,
    unflushed: Arc<AtomicU64>,
}

impl Deadline {
    /// Resolves once the deadline has passed (never before shutdown starts).
    pub(super) fn passed(&self) -> WaitForCancellationFuture<'_> {
        self.passed.cancelled()
    }

    /// Whether the deadline has passed.
    pub(super) fn is_passed(&self) -> bool {
        self.passed.is_cancelled()
    }

    /// Marks the deadline passed: every stage gives up now.
    pub(super) fn expire(&self) {
        self.passed.cancel();
    }

    /// `stage` gave up at the deadline with `spans` still queued or buffered.
    pub(super) fn lost(&self, stage: &str, spans: usize) {
        telemetry::shutdown_unflushed(stage, spans);
        self.unflushed.fetch_add(spans as u64, Ordering::Relaxed);
    }

    /// Spans given up on so far.
    pub(super) fn unflushed(&self) -> u64 {
        self.unflushed.load(Ordering::Relaxed)
    }
}
