//! The per-trace summary the archive's `traces` table needs.

use crate::analysis::Breakdown;
use crate::category::Category;
use tracegate_model::Span;

/// One of the largest shares of a trace's critical path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contributor {
    /// Span name.
    pub name: String,
    /// Service that emitted the span.
    pub service: String,
    /// The span's critical-path time, ns.
    pub ns: u64,
}

/// Where one trace's time went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceSummary {
    /// The root's duration (with no single root: first start to last end), ns.
    pub duration_ns: u64,
    /// Critical-path ns per category, indexed by [`Category::index`]; sums exactly to
    /// `duration_ns`.
    pub critical_path_ns: [u64; Category::COUNT],
    /// The three spans with the largest critical-path time, largest first (ties: earliest
    /// start, then span id). Fewer when fewer spans are on the path.
    pub top_contributors: Vec<Contributor>,
}

impl TraceSummary {
    /// Critical-path ns of one category.
    pub fn category_ns(&self, category: Category) -> u64 {
        self.critical_path_ns[category.index()]
    }

    /// The categories with time on the critical path, largest first.
    pub fn categories(&self) -> Vec<(Category, u64)> {
        let mut out: Vec<(Category, u64)> = Category::ALL
            .into_iter()
            .map(|c| (c, self.category_ns(c)))
            .filter(|(_, ns)| *ns > 0)
            .collect();
        out.sort_by_key(|(c, ns)| (std::cmp::Reverse(*ns), *c));
        out
    }
}

impl Breakdown {
    /// The summary of this breakdown of `spans` (the spans it was computed from).
    pub fn summary(&self, spans: &[Span]) -> TraceSummary {
        let mut on_path: Vec<usize> = (0..self.spans.len().min(spans.len()))
            .filter(|&i| self.spans[i].critical_path_ns > 0)
            .collect();
        on_path.sort_by_key(|&i| {
            (
                std::cmp::Reverse(self.spans[i].critical_path_ns),
                self.spans[i].start_ns,
                spans[i].span_id,
            )
        });
        TraceSummary {
            duration_ns: self.duration_ns(),
            critical_path_ns: self.by_category,
            top_contributors: on_path
                .into_iter()
                .take(3)
                .map(|i| Contributor {
                    name: spans[i].name.clone(),
                    service: spans[i].service_name().to_owned(),
                    ns: self.spans[i].critical_path_ns,
                })
                .collect(),
        }
    }
}
