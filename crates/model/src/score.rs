//! Quality records: one [`Score`] per evaluation or feedback, and how it was joined to the
//! trace it rates.
//!
//! Scores come from three places ([`ScoreSource`]): a `gen_ai.evaluation.result` event (as a
//! log record or as a span event), the seed's quality log (`request_id`, `rating`,
//! `feedback`, …), and OpenInference-style feedback spans that link to the span they rate.
//! They usually arrive after the trace; [`ScoreJoin`] says how the trace and span were
//! found: from the record's own trace context, through `gen_ai.response.id`, through the
//! application's `request_id`, or not at all (the score is kept anyway).

use crate::ids::{SpanId, TraceId};

/// Where a score came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScoreSource {
    /// A log record: a `gen_ai.evaluation.result` event or the seed's quality log.
    #[default]
    Log,
    /// A `gen_ai.evaluation.result` span event.
    SpanEvent,
    /// A feedback span (OpenInference style) linking to the span it rates.
    FeedbackSpan,
}

impl ScoreSource {
    /// The name in the archive's `scores.source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreSource::Log => "log",
            ScoreSource::SpanEvent => "span_event",
            ScoreSource::FeedbackSpan => "feedback_span",
        }
    }
}

/// How a score's trace and span were found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScoreJoin {
    /// Not joined (yet): no ids, and no remembered LLM call matched.
    #[default]
    Unresolved,
    /// The record's own trace and span ids (or the span the event is on, or the link).
    TraceContext,
    /// Through `gen_ai.response.id`, in the index of recent LLM calls.
    ResponseId,
    /// Through the application's `request_id`, in the index of recent LLM calls.
    RequestId,
}

impl ScoreJoin {
    /// The name in the archive's `scores.joined_by` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreJoin::Unresolved => "unresolved",
            ScoreJoin::TraceContext => "trace_context",
            ScoreJoin::ResponseId => "response_id",
            ScoreJoin::RequestId => "request_id",
        }
    }
}

/// One evaluation or feedback.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Score {
    /// What was evaluated: `gen_ai.evaluation.name` (`relevance`), or `user_feedback` /
    /// `rating` for the seed's quality log.
    pub name: String,
    /// The numeric score (`gen_ai.evaluation.score.value`, the seed's `rating`).
    pub value: Option<f64>,
    /// The label (`gen_ai.evaluation.score.label`: `relevant`, `thumbs_down`).
    pub label: Option<String>,
    /// The evaluator's explanation, or the user's feedback text (redacted like any log body).
    pub explanation: Option<String>,
    /// `error.type`, when the evaluation itself failed.
    pub error_type: Option<String>,
    /// The seed's `reviewer_id`.
    pub reviewer_id: Option<String>,
    /// The seed's `annotations`, as JSON text.
    pub annotations: Option<String>,
    /// `gen_ai.response.id` of the rated call, when given.
    pub response_id: Option<String>,
    /// The application's `request_id` of the rated call, when given.
    pub request_id: Option<String>,
    /// The rated trace, once known.
    pub trace_id: Option<TraceId>,
    /// The rated span, once known.
    pub span_id: Option<SpanId>,
    /// How the trace and span were found.
    pub joined_by: ScoreJoin,
    /// Where the score came from.
    pub source: ScoreSource,
    /// When the score was given, ns since the Unix epoch.
    pub time_unix_nano: u64,
    /// The service that sent the score.
    pub service_name: String,
}

impl Score {
    /// Approximate heap size, for byte bounds.
    pub fn estimated_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        std::mem::size_of::<Self>()
            + self.name.len()
            + self.service_name.len()
            + opt(&self.label)
            + opt(&self.explanation)
            + opt(&self.error_type)
            + opt(&self.reviewer_id)
            + opt(&self.annotations)
            + opt(&self.response_id)
            + opt(&self.request_id)
    }

    /// True once the score knows its trace.
    pub fn is_joined(&self) -> bool {
        self.trace_id.is_some()
    }
}
