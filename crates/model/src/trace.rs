//! Whole traces: every span of one trace id, as released by trace assembly.

use crate::ids::TraceId;
use crate::span::Span;

/// Why trace assembly let a trace go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReleaseReason {
    /// The root arrived and no span came for `idle_after_root`.
    Complete,
    /// `max_wait` passed since the first span.
    MaxWait,
    /// A memory bound forced it out early.
    Evicted,
    /// The gateway is shutting down.
    Shutdown,
}

impl ReleaseReason {
    /// The name used in metrics and the archive.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::MaxWait => "max_wait",
            Self::Evicted => "evicted",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Why a [`Trace`] holds only part of its trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fragment {
    /// Spans that arrived after their trace was released. `release_reason` is the original
    /// trace's, so a later sampling decision can follow it.
    Late,
    /// Spans beyond `max_spans_per_trace`, passed straight through.
    OverCap,
}

impl Fragment {
    /// The name used in metrics and the archive.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Late => "late",
            Self::OverCap => "over_cap",
        }
    }
}

/// Every span of one trace id, or a marked fragment of one.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The trace id every span shares.
    pub trace_id: TraceId,
    /// The spans, in arrival order.
    pub spans: Vec<Span>,
    /// Why the trace was released.
    pub release_reason: ReleaseReason,
    /// True when every parent id names a span of the trace.
    pub tree_whole: bool,
    /// `None` for a whole trace; otherwise what kind of fragment this is.
    pub fragment: Option<Fragment>,
}

impl Trace {
    /// True when this is a whole trace with its root, released because it went idle, and
    /// every parent id resolves.
    pub fn is_complete(&self) -> bool {
        self.fragment.is_none()
            && self.release_reason == ReleaseReason::Complete
            && self.tree_whole
            && self.root().is_some()
    }

    /// The root span: the first span with no parent.
    pub fn root(&self) -> Option<&Span> {
        self.spans.iter().find(|s| s.is_root())
    }

    /// Earliest start, ns since the epoch.
    pub fn start_time_unix_nano(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.start_time_unix_nano)
            .min()
            .unwrap_or(0)
    }

    /// Latest end, ns since the epoch.
    pub fn end_time_unix_nano(&self) -> u64 {
        self.spans
            .iter()
            .map(|s| s.end_time_unix_nano)
            .max()
            .unwrap_or(0)
    }
}
