//! Whole traces: every span of one trace id, as released by trace assembly.

use crate::ids::TraceId;
use crate::schema::CRITICAL_PATH_CATEGORIES;
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

/// One of the largest shares of a trace's critical path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contributor {
    /// Span name.
    pub name: String,
    /// Service that emitted the span.
    pub service: String,
    /// The span's critical-path time, ns.
    pub ns: u64,
}

/// Where a whole trace's time went, as the latency breakdown found it: what the archive's
/// `traces` table records about the critical path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CriticalPathSummary {
    /// The window the critical path covers: the root's duration (with no single root, first
    /// start to last end), ns.
    pub duration_ns: u64,
    /// Critical-path ns per category, indexed like [`CRITICAL_PATH_CATEGORIES`]. Sums exactly
    /// to `duration_ns`; `network` (a client's time outside the server span it called) exists
    /// only here, never as a span's own category.
    pub by_category: [u64; CRITICAL_PATH_CATEGORIES.len()],
    /// The (at most) three spans with the largest critical-path time, largest first.
    pub top: Vec<Contributor>,
}

impl CriticalPathSummary {
    /// Critical-path ns of the category named `category` (a `tracegate.category` value, or
    /// `network`); 0 for a name not in [`CRITICAL_PATH_CATEGORIES`].
    pub fn category_ns(&self, category: &str) -> u64 {
        CRITICAL_PATH_CATEGORIES
            .iter()
            .position(|(name, _)| *name == category)
            .map_or(0, |i| self.by_category[i])
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
    /// The critical-path summary of a whole trace, once the latency breakdown has analysed
    /// it; `None` before that and for fragments. Boxed: traces move often, summaries are read
    /// once, by the archive.
    pub critical_path: Option<Box<CriticalPathSummary>>,
    /// The tail sampler's decision, once a sampler has seen the trace; `None` before that
    /// (or with no sampler): every exporter keeps the trace.
    pub sampling: Option<Sampling>,
    /// The evaluations and feedback joined to the trace while it was held, and those its own
    /// spans carry (span events, feedback spans), once the `scores` processor has run; see
    /// [`crate::score`]. `tail_sampling`'s `evaluation_score` policy reads them, and the
    /// archive's `traces` row carries them.
    pub scores: Vec<crate::score::Score>,
}

/// A tail-sampling decision for one trace (or fragment).
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// Whether the trace's spans are kept by exporters that honour sampling.
    pub sampled: bool,
    /// The policy that decided (its name in config), shared by every trace it decided.
    pub policy: std::sync::Arc<str>,
    /// The probability the trace was kept with: 1.0 for a rule-based keep, the policy's
    /// rate for a probabilistic one, so counts over sampled data scale back up by 1/p.
    pub probability: f64,
}

impl Trace {
    /// False only when a sampler decided not to keep the trace.
    pub fn is_sampled(&self) -> bool {
        self.sampling.as_ref().is_none_or(|s| s.sampled)
    }

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
