//! `evaluation_score`: keep traces that a quality score rates low.
//!
//! It reads [`Trace::scores`]: the evaluations and feedback trace assembly attached at
//! release (those joined while the trace was held, and those its spans carry as
//! `gen_ai.evaluation.result` events or feedback spans). A trace scored after its release
//! cannot be kept by it: the decision is made once, at release.

use tracegate_model::{Score, Trace};

/// `evaluation_score`, compiled: labels are trimmed; names compare exactly.
#[derive(Debug, Clone)]
pub struct EvaluationScore {
    pub(crate) name: Option<String>,
    pub(crate) max_value: Option<f64>,
    pub(crate) labels: Vec<String>,
}

impl EvaluationScore {
    pub(crate) fn new(name: Option<String>, max_value: Option<f64>, labels: Vec<String>) -> Self {
        Self {
            name: name.map(|n| n.trim().to_owned()),
            max_value,
            labels: labels.into_iter().map(|l| l.trim().to_owned()).collect(),
        }
    }

    fn matches_score(&self, score: &Score) -> bool {
        if self.name.as_deref().is_some_and(|n| n != score.name) {
            return false;
        }
        let low = self
            .max_value
            .is_some_and(|max| score.value.is_some_and(|v| v <= max));
        let labelled = score.label.as_deref().is_some_and(|label| {
            let label = label.trim();
            self.labels.iter().any(|l| l.eq_ignore_ascii_case(label))
        });
        low || labelled
    }

    /// True when any of the trace's scores of the evaluation named (or any, with no name)
    /// has a value at most `max_value` or a label in `labels`.
    pub(crate) fn matches(&self, trace: &Trace) -> bool {
        trace.scores.iter().any(|s| self.matches_score(s))
    }
}
