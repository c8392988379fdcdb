//! The per-trace summary the archive's `traces` table needs.

use crate::analysis::Breakdown;
use crate::category::Category;
use tracegate_model::schema::CRITICAL_PATH_CATEGORIES;
use tracegate_model::{CriticalPathSummary, Span};

/// One of the largest shares of a trace's critical path (the model's type, which the
/// archive reads from [`Trace::critical_path`](tracegate_model::Trace::critical_path)).
pub use tracegate_model::Contributor;

// `TraceSummary::critical_path_ns` moves into `CriticalPathSummary::by_category` as it
// stands, so the two orders must be one.
const _: () = {
    assert!(Category::COUNT == CRITICAL_PATH_CATEGORIES.len());
    let mut i = 0;
    while i < Category::COUNT {
        let a = Category::ALL[i].as_str().as_bytes();
        let b = CRITICAL_PATH_CATEGORIES[i].0.as_bytes();
        assert!(a.len() == b.len());
        let mut j = 0;
        while j < a.len() {
            assert!(a[j] == b[j]);
            j += 1;
        }
        i += 1;
    }
};

/// How many of the largest contributors a summary lists.
const TOP: usize = 3;

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

impl From<TraceSummary> for CriticalPathSummary {
    /// The model's form of the summary, for [`Trace::critical_path`](tracegate_model::Trace):
    /// a move, as [`Category::ALL`] and [`CRITICAL_PATH_CATEGORIES`] list the categories in
    /// the same order.
    fn from(summary: TraceSummary) -> Self {
        CriticalPathSummary {
            duration_ns: summary.duration_ns,
            by_category: summary.critical_path_ns,
            top: summary.top_contributors,
        }
    }
}

impl Breakdown {
    /// The summary of this breakdown of `spans` (the spans it was computed from).
    ///
    /// One pass keeps the three largest shares in place (no per-span allocation, no sort), as
    /// the processor runs this on every trace.
    pub fn summary(&self, spans: &[Span]) -> TraceSummary {
        let rank = |i: usize| {
            (
                std::cmp::Reverse(self.spans[i].critical_path_ns),
                self.spans[i].start_ns,
                spans[i].span_id,
            )
        };
        let mut top: [Option<usize>; TOP] = [None; TOP];
        for i in 0..self.spans.len().min(spans.len()) {
            if self.spans[i].critical_path_ns == 0 {
                continue;
            }
            // Insertion into the sorted slots: a better candidate pushes the rest down.
            let mut carry = i;
            for slot in &mut top {
                match *slot {
                    None => {
                        *slot = Some(carry);
                        break;
                    }
                    Some(held) if rank(carry) < rank(held) => {
                        *slot = Some(carry);
                        carry = held;
                    }
                    Some(_) => {}
                }
            }
        }
        TraceSummary {
            duration_ns: self.duration_ns(),
            critical_path_ns: self.by_category,
            top_contributors: top
                .into_iter()
                .flatten()
                .map(|i| Contributor {
                    name: spans[i].name.clone(),
                    service: spans[i].service_name().to_owned(),
                    ns: self.spans[i].critical_path_ns,
                })
                .collect(),
        }
    }
}
