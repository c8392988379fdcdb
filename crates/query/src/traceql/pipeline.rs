//! Applies the pipeline stages after the spanset expression to each spanset of a trace.
//!
//! A [`Group`] is a spanset under evaluation: span indices in the trace, in order, and the
//! attributes stages recorded on it (`count()`, `by(…)`). Filters keep spans, aggregates keep
//! spansets, `by` splits them and `coalesce` merges them; empty spansets are dropped.

use super::ast::{AggFunc, Aggregate, Attribute, Stage};
use super::eval::{Num, TraceCtx, compare, eval_expr, first_value, number};
use super::value::Value;
use std::collections::HashMap;

/// A spanset under evaluation.
#[derive(Debug, Default)]
pub(crate) struct Group {
    /// Indices into the trace's spans, ascending.
    pub spans: Vec<usize>,
    /// Pipeline outputs, in the order the stages recorded them.
    pub attributes: Vec<(String, Value)>,
}

/// Runs `stages` over `groups`.
pub(crate) fn run(stages: &[Stage], mut groups: Vec<Group>, ctx: &TraceCtx<'_>) -> Vec<Group> {
    for stage in stages {
        groups = match stage {
            Stage::Filter(expr) => groups
                .into_iter()
                .filter_map(|mut g| {
                    g.spans.retain(|&i| eval_expr(expr, i, ctx));
                    (!g.spans.is_empty()).then_some(g)
                })
                .collect(),
            Stage::Aggregate {
                aggregate,
                op,
                value,
            } => groups
                .into_iter()
                .filter_map(|mut g| {
                    let result = aggregate_value(aggregate, &g.spans, ctx);
                    if !compare(*op, &result.as_val(), &value.as_val(), None) {
                        return None;
                    }
                    g.attributes.push((aggregate.to_string(), result));
                    Some(g)
                })
                .collect(),
            Stage::Select(_) => groups,
            Stage::By(attrs) => groups
                .into_iter()
                .flat_map(|g| split_by(attrs, g, ctx))
                .collect(),
            Stage::Coalesce => {
                if groups.len() <= 1 {
                    groups
                } else {
                    let mut spans: Vec<usize> = groups.into_iter().flat_map(|g| g.spans).collect();
                    spans.sort_unstable();
                    spans.dedup();
                    vec![Group {
                        spans,
                        attributes: Vec::new(),
                    }]
                }
            }
        };
        if groups.is_empty() {
            break;
        }
    }
    groups
}

/// Splits one spanset by the values of `attrs`, groups in order of first appearance; each
/// records `by(attr)` = its value.
fn split_by(attrs: &[Attribute], group: Group, ctx: &TraceCtx<'_>) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for &i in &group.spans {
        let span = &ctx.spans[i];
        let values: Vec<Value> = attrs
            .iter()
            .map(|a| first_value(a, span, Some(i), ctx).unwrap_or(Value::Nil))
            .collect();
        // `Debug` tells types apart ("1" the string from 1 the number).
        let key = format!("{values:?}");
        let at = *index.entry(key).or_insert_with(|| {
            let mut attributes = group.attributes.clone();
            attributes.extend(
                attrs
                    .iter()
                    .zip(&values)
                    .map(|(a, v)| (format!("by({a})"), v.clone())),
            );
            out.push(Group {
                spans: Vec::new(),
                attributes,
            });
            out.len() - 1
        });
        out[at].spans.push(i);
    }
    out
}

/// The value of an aggregate over some spans of the trace. Durations stay durations, integers
/// stay integers (except for `avg`), anything else is a float; `nil` when no span has a
/// number.
pub(crate) fn aggregate_value(aggregate: &Aggregate, spans: &[usize], ctx: &TraceCtx<'_>) -> Value {
    let Some(attr) = &aggregate.attr else {
        return Value::Int(i64::try_from(spans.len()).unwrap_or(i64::MAX));
    };
    let mut all_durations = true;
    let mut all_ints = true;
    let mut nums: Vec<Num> = Vec::with_capacity(spans.len());
    for &i in spans {
        let Some(v) = first_value(attr, &ctx.spans[i], Some(i), ctx) else {
            continue;
        };
        let val = v.as_val();
        let Some(n) = number(&val) else { continue };
        all_durations &= matches!(v, Value::Duration(_));
        all_ints &= matches!(n, Num::Int(_));
        nums.push(n);
    }
    if nums.is_empty() {
        return Value::Nil;
    }
    let ints = || {
        nums.iter().map(|n| match n {
            Num::Int(i) => *i,
            Num::Float(f) => *f as i128,
        })
    };
    let floats = || nums.iter().map(|n| n.as_f64());
    let count = nums.len();
    let int_result = |x: i128| {
        if all_durations {
            Value::Duration(u64::try_from(x.max(0)).unwrap_or(u64::MAX))
        } else {
            Value::Int(i64::try_from(x).unwrap_or(if x < 0 { i64::MIN } else { i64::MAX }))
        }
    };
    match aggregate.func {
        AggFunc::Count => Value::Int(i64::try_from(count).unwrap_or(i64::MAX)),
        AggFunc::Min if all_ints => int_result(ints().min().unwrap_or(0)),
        AggFunc::Max if all_ints => int_result(ints().max().unwrap_or(0)),
        AggFunc::Sum if all_ints => int_result(ints().sum()),
        AggFunc::Avg if all_durations => {
            let sum: i128 = ints().sum();
            int_result((sum + count as i128 / 2) / count as i128)
        }
        AggFunc::Min => Value::Float(floats().fold(f64::INFINITY, f64::min)),
        AggFunc::Max => Value::Float(floats().fold(f64::NEG_INFINITY, f64::max)),
        AggFunc::Sum => Value::Float(floats().sum()),
        AggFunc::Avg => Value::Float(floats().sum::<f64>() / count as f64),
    }
}
