//! Writing the breakdown onto the spans as attributes.

use crate::analysis::Breakdown;
use crate::category::{Category, categorize};
use tracegate_genai::ttft;
use tracegate_model::{Span, attr, keys};

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

fn ns(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Writes the breakdown's facts onto the spans it was computed from:
/// `tracegate.category`, `tracegate.self_time_ns`, `tracegate.critical_path_ns`; on LLM
/// spans `tracegate.prefill_ns`, `tracegate.decode_ns` and `tracegate.ttft_source` (unless
/// enrichment already set it); `tracegate.network_ns` on server spans of a cross-service
/// call; `tracegate.skew_adjusted_ns` on shifted spans; and the tree marks.
///
/// Span times are left as received: the skew shift is recorded, not applied.
pub fn annotate(spans: &mut [Span], breakdown: &Breakdown) {
    for (span, facts) in spans.iter_mut().zip(&breakdown.spans) {
        clear_owned(span);
        let a = &mut span.attributes;
        a.reserve(4);
        a.push(attr::string(
            keys::TRACEGATE_CATEGORY,
            facts.category.as_str(),
        ));
        a.push(attr::int(
            keys::TRACEGATE_SELF_TIME_NS,
            ns(facts.self_time_ns),
        ));
        a.push(attr::int(
            keys::TRACEGATE_CRITICAL_PATH_NS,
            ns(facts.critical_path_ns),
        ));
        if let Some(net) = facts.network_ns {
            a.push(attr::int(keys::TRACEGATE_NETWORK_NS, ns(net)));
        }
        if facts.skew_adjusted_ns != 0 {
            a.push(attr::int(
                keys::TRACEGATE_SKEW_ADJUSTED_NS,
                facts.skew_adjusted_ns,
            ));
        }
        for (on, key) in [
            (facts.orphan, keys::TRACEGATE_ORPHAN),
            (facts.cycle_broken, keys::TRACEGATE_CYCLE_BROKEN),
            (facts.duplicate_id, keys::TRACEGATE_DUPLICATE_SPAN_ID),
        ] {
            if on {
                a.push(attr::boolean(key, true));
            }
        }
        if facts.category == Category::Llm {
            write_llm_stages(
                span,
                facts.llm.map(|l| (l.prefill_ns, l.decode_ns, l.source)),
            );
        }
    }
}

/// The facts that need no tree (category and LLM stages), for trace fragments whose tree
/// is not all there.
pub fn annotate_span_only(spans: &mut [Span]) {
    for span in spans {
        clear_owned(span);
        let category = categorize(span);
        span.attributes
            .push(attr::string(keys::TRACEGATE_CATEGORY, category.as_str()));
        if category == Category::Llm {
            let stages = ttft::extract(span)
                .map(|t| (t.ns, span.duration_ns().saturating_sub(t.ns), t.source));
            write_llm_stages(span, stages);
        }
    }
}

fn write_llm_stages(span: &mut Span, stages: Option<(u64, u64, ttft::TtftSource)>) {
    let has_source = attr::get(&span.attributes, keys::TRACEGATE_TTFT_SOURCE).is_some();
    let a = &mut span.attributes;
    match stages {
        Some((prefill, decode, source)) => {
            a.push(attr::int(keys::TRACEGATE_PREFILL_NS, ns(prefill)));
            a.push(attr::int(keys::TRACEGATE_DECODE_NS, ns(decode)));
            if !has_source {
                a.push(attr::string(keys::TRACEGATE_TTFT_SOURCE, source.as_str()));
            }
        }
        None if !has_source => {
            a.push(attr::string(keys::TRACEGATE_TTFT_SOURCE, TTFT_SOURCE_NONE));
        }
        None => {}
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
