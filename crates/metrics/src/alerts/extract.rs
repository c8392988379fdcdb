//! Reading a rule's keys and values from spans and traces, through `tracegate_model`'s
//! accessors; the definitions are in the rule language's docs ([`super::rule`]).

use super::rule::{Condition, Key, Literal, ValueKind, kind_name, status_name};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tracegate_model::{Category, Span, StatusCode, Trace, attr, keys};

/// The span's category: the breakdown's fact, else a `tracegate.category` attribute.
pub fn category(span: &Span) -> Option<Category> {
    span.facts.category.or_else(|| {
        attr::get_str(&span.attributes, keys::TRACEGATE_CATEGORY).and_then(Category::from_name)
    })
}

fn status_code(span: &Span) -> StatusCode {
    StatusCode::try_from(span.status.code).unwrap_or(StatusCode::Unset)
}

fn provider(span: &Span) -> Option<&str> {
    attr::get_str(&span.attributes, keys::GEN_AI_PROVIDER_NAME)
        .or_else(|| attr::get_str(&span.attributes, keys::GEN_AI_SYSTEM))
}

/// Appends the text form of `key` on `span` to `out`; false when the span has no such key.
pub fn key_text(span: &Span, key: &Key, out: &mut String) -> bool {
    let value: Option<&Value> = match key {
        Key::Category => return push(out, category(span).map(Category::as_str)),
        Key::Service => return push(out, Some(span.service_name())),
        Key::Name => return push(out, Some(&span.name)),
        Key::Kind => return push(out, Some(kind_name(span.kind))),
        Key::Status => return push(out, Some(status_name(status_code(span)))),
        Key::Model => {
            return push(
                out,
                attr::get_str(&span.attributes, keys::GEN_AI_REQUEST_MODEL),
            );
        }
        Key::Provider => return push(out, provider(span)),
        Key::Attr(k) => span.attr(k),
        Key::Resource(k) => attr::get(&span.resource.attributes, k),
    };
    match value {
        Some(v) => {
            attr::render_into(Some(v), out);
            true
        }
        None => false,
    }
}

fn push(out: &mut String, s: Option<&str>) -> bool {
    match s {
        Some(s) => {
            out.push_str(s);
            true
        }
        None => false,
    }
}

/// True when `span` meets every condition. `scratch` is reused for text forms.
pub fn matches(span: &Span, conds: &[Condition], scratch: &mut String) -> bool {
    conds.iter().all(|c| {
        let equal = match (&c.key, &c.value) {
            (Key::Category, Literal::Category(want)) => category(span) == Some(*want),
            (Key::Kind, Literal::Kind(want)) => span.kind == *want,
            (Key::Status, Literal::Status(want)) => status_code(span) == *want,
            (key, Literal::Text(want)) => {
                scratch.clear();
                key_text(span, key, scratch) && scratch == want
            }
            // The parser types the literal by its key, so no other pair occurs.
            _ => false,
        };
        equal == c.equal
    })
}

fn tokens(span: &Span, key: &str) -> Option<f64> {
    attr::get_i64(&span.attributes, key).map(|t| t as f64)
}

/// The span's value of `kind`, in the value's unit; `None` when it has none.
pub fn span_value(span: &Span, kind: ValueKind) -> Option<f64> {
    match kind {
        ValueKind::Duration => Some(span.duration_ns() as f64 / 1e9),
        ValueKind::Ttft => {
            attr::get_f64(&span.attributes, keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
                .or_else(|| span.facts.llm.map(|l| l.prefill_ns as f64 / 1e9))
        }
        ValueKind::Cost => attr::get_f64(&span.attributes, keys::TRACEGATE_COST_USD),
        ValueKind::InputTokens => tokens(span, keys::GEN_AI_USAGE_INPUT_TOKENS),
        ValueKind::OutputTokens => tokens(span, keys::GEN_AI_USAGE_OUTPUT_TOKENS),
        ValueKind::Tokens => {
            match (
                tokens(span, keys::GEN_AI_USAGE_INPUT_TOKENS),
                tokens(span, keys::GEN_AI_USAGE_OUTPUT_TOKENS),
            ) {
                (None, None) => None,
                (i, o) => Some(i.unwrap_or(0.0) + o.unwrap_or(0.0)),
            }
        }
    }
}

/// The trace's value of `kind`: its duration (critical-path window, else the root's
/// duration, else first start to last end), the TTFT of its earliest-starting span with
/// one, or the sum of its spans' costs or tokens. `None` when no span has the value.
pub fn trace_value(trace: &Trace, kind: ValueKind) -> Option<f64> {
    match kind {
        ValueKind::Duration => {
            let ns = match (&trace.critical_path, trace.root()) {
                (Some(cp), _) => cp.duration_ns,
                (None, Some(root)) => root.duration_ns(),
                (None, None) => trace
                    .end_time_unix_nano()
                    .saturating_sub(trace.start_time_unix_nano()),
            };
            Some(ns as f64 / 1e9)
        }
        ValueKind::Ttft => trace
            .spans
            .iter()
            .filter_map(|s| span_value(s, kind).map(|v| (s.start_time_unix_nano, v)))
            .min_by_key(|(start, _)| *start)
            .map(|(_, v)| v),
        _ => trace
            .spans
            .iter()
            .filter_map(|s| span_value(s, kind))
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v)),
    }
}

/// True when any span of the trace has ERROR status.
pub fn trace_errs(trace: &Trace) -> bool {
    trace.spans.iter().any(Span::is_error)
}

/// The span that stands for the trace in `by` grouping: its root, else its first span.
pub fn representative(trace: &Trace) -> Option<&Span> {
    trace.root().or_else(|| trace.spans.first())
}
