//! The storage interface the API reads through: [`Backend`], implemented by the binary over
//! the hot store and the archive, and the types that cross it.

use std::ops::ControlFlow;
use tracegate_model::{Span, TraceId};

/// Where the API reads traces. Both methods block (they read disk and decode); the API calls
/// them inside `tokio::task::spawn_blocking`.
pub trait Backend: Send + Sync + 'static {
    /// Every span of one trace of one tenant, or `None` when the tenant has no such trace.
    /// `window` is the request's `start`/`end` (ns since the epoch, inclusive), when it gave
    /// them: a store may skip blocks and partitions wholly outside it, as Tempo does, and may
    /// still return a trace it finds without looking there.
    fn trace(
        &self,
        tenant: &str,
        id: &TraceId,
        window: Option<(u64, u64)>,
    ) -> Result<Option<TraceLookup>, BackendError>;

    /// Visits traces of one tenant whose spans overlap `[start_ns, end_ns]`, newest first, one
    /// call per trace per storage block: a trace split over blocks may be visited more than
    /// once, as fragments. `visit` returns `Break` to stop the scan early. `request.hints` let
    /// the store skip blocks and traces before decoding; they are conservative, so a store may
    /// also ignore them.
    fn scan(
        &self,
        tenant: &str,
        request: &ScanRequest,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<ScanStats, BackendError>;
}

/// One trace found by [`Backend::trace`].
#[derive(Debug, Clone, Default)]
pub struct TraceLookup {
    /// The trace's spans, in any order; duplicates (same span id) are allowed and removed.
    pub spans: Vec<Span>,
    /// Set when the store knows the spans are incomplete (a block could not be read, say),
    /// with why; v2 answers `PARTIAL` with this message.
    pub partial: Option<String>,
}

/// What [`Backend::scan`] visits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanRequest {
    /// Start of the window, ns since the epoch.
    pub start_ns: u64,
    /// End of the window, ns since the epoch (inclusive).
    pub end_ns: u64,
    /// Facts every wanted trace has, from the query.
    pub hints: super::tql::Hints,
    /// Raised by a search that holds its `limit` results: traces starting before it can no
    /// longer be among them, so a store may skip them (and blocks that end before it).
    pub floor: tracegate_store::ScanFloor,
}

/// What a scan read, reported in the responses' `metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Traces (or fragments) visited or examined.
    pub inspected_traces: u64,
    /// Spans visited or examined.
    pub inspected_spans: u64,
    /// Bytes read.
    pub inspected_bytes: u64,
    /// Blocks (the in-memory head counts as one) read.
    pub blocks: u32,
}

impl ScanStats {
    /// Adds another scan's figures (federated queries scan several tenants).
    pub fn add(&mut self, other: ScanStats) {
        self.inspected_traces = self.inspected_traces.saturating_add(other.inspected_traces);
        self.inspected_spans = self.inspected_spans.saturating_add(other.inspected_spans);
        self.inspected_bytes = self.inspected_bytes.saturating_add(other.inspected_bytes);
        self.blocks = self.blocks.saturating_add(other.blocks);
    }
}

/// A storage failure. The API answers 500 with the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BackendError {
    message: String,
}

impl BackendError {
    /// An error with a message that says what failed and where.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}
