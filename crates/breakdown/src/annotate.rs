//! Recording the breakdown on the spans, as typed [`SpanFacts`].

use crate::analysis::Breakdown;
use crate::category::{Category, categorize};
use tracegate_genai::ttft;
use tracegate_model::{LlmStages, Span, SpanFacts, TreeTimes, attr, keys};

/// The `tracegate.ttft_source` value on an LLM span that did not stream: no prefill/decode
/// split exists.
pub const TTFT_SOURCE_NONE: &str = "none";

/// Every attribute the breakdown writes and owns (a second run replaces them), apart from
/// `tracegate.ttft_source`, which enrichment may set first.
pub const OWNED_KEYS: [&str; 10] = [
    keys::TRACEGATE_CATEGORY,
    keys::TRACEGATE_SELF_TIME_NS,
    keys::TRACEGATE_CRITICAL_PATH_NS,
    keys::TRACEGATE_PREFILL_NS,
    keys::TRACEGATE_DECODE_NS,
    keys::TRACEGATE_NETWORK_NS,
    keys::TRACEGATE_SKEW_ADJUSTED_NS,
    keys::TRACEGATE_ORPHAN,
    keys::TRACEGATE_CYCLE_BROKEN,
    keys::TRACEGATE_DUPLICATE_SPAN_ID,
];

/// True for a key in [`OWNED_KEYS`]. A `match` compares lengths before bytes, so the common
/// case (a key of some other length) never reads the key's text.
fn is_owned(key: &str) -> bool {
    matches!(
        key,
        keys::TRACEGATE_CATEGORY
            | keys::TRACEGATE_SELF_TIME_NS
            | keys::TRACEGATE_CRITICAL_PATH_NS
            | keys::TRACEGATE_PREFILL_NS
            | keys::TRACEGATE_DECODE_NS
            | keys::TRACEGATE_NETWORK_NS
            | keys::TRACEGATE_SKEW_ADJUSTED_NS
            | keys::TRACEGATE_ORPHAN
            | keys::TRACEGATE_CYCLE_BROKEN
            | keys::TRACEGATE_DUPLICATE_SPAN_ID
    )
}

fn clear_owned(span: &mut Span) {
    if span.attributes.iter().any(|kv| is_owned(&kv.key)) {
        span.attributes.retain(|kv| !is_owned(&kv.key));
    }
}

/// Records the breakdown's facts on the spans it was computed from, as [`SpanFacts`]:
/// category, self time and critical-path share; on LLM spans prefill, decode and (unless
/// enrichment already set `tracegate.ttft_source`) the TTFT source; the network gap on
/// server spans of a cross-service call; the skew shift; and the tree marks. They become
/// `tracegate.*` attributes when the span leaves the gateway (OTLP export, the archive),
/// so this writes no attribute and allocates nothing.
///
/// `tracegate.*` attributes a span already carries under the same keys (from an earlier
/// run, upstream) are removed, so the new facts replace them. Span times are left as
/// received: the skew shift is recorded, not applied.
pub fn annotate(spans: &mut [Span], breakdown: &Breakdown) {
    for (span, facts) in spans.iter_mut().zip(&breakdown.spans) {
        clear_owned(span);
        let mut out = SpanFacts {
            category: Some(facts.category),
            tree: Some(TreeTimes {
                self_time_ns: facts.self_time_ns,
                critical_path_ns: facts.critical_path_ns,
            }),
            network_ns: facts.network_ns,
            skew_adjusted_ns: facts.skew_adjusted_ns,
            orphan: facts.orphan,
            cycle_broken: facts.cycle_broken,
            duplicate_span_id: facts.duplicate_id,
            ..SpanFacts::default()
        };
        if facts.category == Category::Llm {
            llm_stages(
                span,
                &mut out,
                facts.llm.map(|l| (l.prefill_ns, l.decode_ns, l.source)),
            );
        }
        span.facts = out;
    }
}

/// The facts that need no tree (category and LLM stages), for trace fragments whose tree
/// is not all there.
pub fn annotate_span_only(spans: &mut [Span]) {
    for span in spans {
        clear_owned(span);
        let category = categorize(span);
        let mut out = SpanFacts {
            category: Some(category),
            ..SpanFacts::default()
        };
        if category == Category::Llm {
            let stages = ttft::extract(span)
                .map(|t| (t.ns, span.duration_ns().saturating_sub(t.ns), t.source));
            llm_stages(span, &mut out, stages);
        }
        span.facts = out;
    }
}

fn llm_stages(span: &Span, out: &mut SpanFacts, stages: Option<(u64, u64, ttft::TtftSource)>) {
    let has_source = attr::get(&span.attributes, keys::TRACEGATE_TTFT_SOURCE).is_some();
    out.llm = stages.map(|(prefill_ns, decode_ns, _)| LlmStages {
        prefill_ns,
        decode_ns,
    });
    if !has_source {
        out.ttft_source = Some(match stages {
            Some((_, _, source)) => source.as_str(),
            None => TTFT_SOURCE_NONE,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_check_agrees_with_the_owned_list() {
        for key in OWNED_KEYS {
            assert!(is_owned(key), "{key}");
        }
        assert!(!is_owned(keys::TRACEGATE_TTFT_SOURCE));
        assert!(!is_owned("tracegate.cost_usd"));
    }
}
