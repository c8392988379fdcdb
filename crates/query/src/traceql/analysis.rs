//! What a parsed query tells a store before evaluation: the attributes to show in search
//! results, and [`Hints`] — facts every matching trace has, for cheap prefiltering.

use super::ast::{AttrScope, Attribute, CmpOp, Expr, Intrinsic, Operand, SpansetExpr, Stage};
use super::value::Value;
use tracegate_model::keys;

/// Facts every matching trace must have, for a store to prefilter cheaply. Conservative:
/// `None` means "no constraint".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hints {
    /// Some span's resource `service.name` is one of these.
    pub service_names: Option<Vec<String>>,
    /// Some span lasts at least this long.
    pub min_span_duration_ns: Option<u64>,
    /// The trace lasts at least this long.
    pub min_trace_duration_ns: Option<u64>,
    /// One and the same span has both facts above: its resource's `service.name` is one of
    /// `service_names` and it lasts at least `min_span_duration_ns` (as in
    /// `{resource.service.name="x" && duration>1s}`). A store can then check the two columns
    /// together, span by span, before decoding anything. False when the two may come from
    /// different spans (`{resource.service.name="x"} && {duration>1s}`).
    pub same_span: bool,
}

impl Hints {
    /// Both hold: keep every constraint (the smaller service list, the larger minimums).
    fn and(self, other: Hints) -> Hints {
        let service_names = match (self.service_names, other.service_names) {
            (Some(a), Some(b)) => Some(if b.len() < a.len() { b } else { a }),
            (a, b) => a.or(b),
        };
        Hints {
            service_names,
            min_span_duration_ns: max_opt(self.min_span_duration_ns, other.min_span_duration_ns),
            min_trace_duration_ns: max_opt(self.min_trace_duration_ns, other.min_trace_duration_ns),
            same_span: false,
        }
    }

    /// Either holds: keep only what both sides constrain, loosened to cover both.
    fn or(self, other: Hints) -> Hints {
        let service_names = match (self.service_names, other.service_names) {
            (Some(mut a), Some(b)) => {
                for s in b {
                    if !a.contains(&s) {
                        a.push(s);
                    }
                }
                Some(a)
            }
            _ => None,
        };
        let min = |a: Option<u64>, b: Option<u64>| Some(a?.min(b?));
        Hints {
            service_names,
            min_span_duration_ns: min(self.min_span_duration_ns, other.min_span_duration_ns),
            min_trace_duration_ns: min(self.min_trace_duration_ns, other.min_trace_duration_ns),
            same_span: false,
        }
    }
}

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// The hints of a whole query: its spanset expression and its filter stages.
pub(crate) fn query_hints(expr: &SpansetExpr, stages: &[Stage]) -> Hints {
    let mut hints = spanset_hints(expr);
    for stage in stages {
        if let Stage::Filter(e) = stage {
            hints = hints.and(expr_hints(e));
        }
    }
    hints.same_span = hints.service_names.is_some()
        && hints.min_span_duration_ns.is_some()
        && one_span_filter(expr, stages);
    hints
}

/// Whether the span-level hints all describe each matching span: one spanset filter and no
/// filter stages, so every span the query returns satisfies the whole condition, and with it
/// every span-level fact the hints draw from it. `rootServiceName` (a fact of the trace's
/// root, not of the matching span) rules it out.
fn one_span_filter(expr: &SpansetExpr, stages: &[Stage]) -> bool {
    fn mentions_root_service(e: &Expr) -> bool {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                mentions_root_service(a) || mentions_root_service(b)
            }
            Expr::Not(e) => mentions_root_service(e),
            Expr::Cmp(c) => [&c.lhs, &c.rhs].into_iter().any(|o| {
                matches!(
                    o,
                    Operand::Attr(Attribute::Intrinsic(Intrinsic::TraceRootService))
                )
            }),
            Expr::Attr(a) => matches!(a, Attribute::Intrinsic(Intrinsic::TraceRootService)),
            Expr::Bool(_) => false,
        }
    }
    match expr {
        SpansetExpr::Filter(e) => {
            !mentions_root_service(e) && !stages.iter().any(|s| matches!(s, Stage::Filter(_)))
        }
        _ => false,
    }
}

fn spanset_hints(expr: &SpansetExpr) -> Hints {
    match expr {
        SpansetExpr::Filter(e) => expr_hints(e),
        SpansetExpr::And(a, b) => spanset_hints(a).and(spanset_hints(b)),
        SpansetExpr::Or(a, b) => spanset_hints(a).or(spanset_hints(b)),
        SpansetExpr::Pipeline(e, stages) => query_hints(e, stages),
    }
}

fn expr_hints(expr: &Expr) -> Hints {
    match expr {
        Expr::And(a, b) => expr_hints(a).and(expr_hints(b)),
        Expr::Or(a, b) => expr_hints(a).or(expr_hints(b)),
        Expr::Cmp(c) => {
            // Attribute on the left, literal on the right.
            let (attr, op, lit) = match (&c.lhs, &c.rhs) {
                (Operand::Attr(a), Operand::Lit(v)) => (a, c.op, v),
                (Operand::Lit(v), Operand::Attr(a)) => match c.op.flipped() {
                    Some(op) => (a, op, v),
                    None => return Hints::default(),
                },
                _ => return Hints::default(),
            };
            comparison_hints(attr, op, lit)
        }
        Expr::Bool(_) | Expr::Attr(_) | Expr::Not(_) => Hints::default(),
    }
}

fn comparison_hints(attr: &Attribute, op: CmpOp, lit: &Value) -> Hints {
    let service = match attr {
        Attribute::Named {
            scope: AttrScope::Resource,
            name,
        } => name == keys::SERVICE_NAME,
        Attribute::Intrinsic(Intrinsic::TraceRootService) => true,
        _ => false,
    };
    if service {
        let names = match (op, lit) {
            (CmpOp::Eq, Value::Str(s)) => Some(vec![s.clone()]),
            (CmpOp::Re, Value::Str(pattern)) => literal_alternatives(pattern),
            _ => None,
        };
        return Hints {
            service_names: names,
            ..Hints::default()
        };
    }
    let floor = match (op, lit) {
        (CmpOp::Gt, Value::Duration(d)) => d.checked_add(1),
        (CmpOp::Ge | CmpOp::Eq, Value::Duration(d)) => Some(*d),
        _ => None,
    };
    match attr {
        Attribute::Intrinsic(Intrinsic::Duration) => Hints {
            min_span_duration_ns: floor,
            ..Hints::default()
        },
        Attribute::Intrinsic(Intrinsic::TraceDuration) => Hints {
            min_trace_duration_ns: floor,
            ..Hints::default()
        },
        _ => Hints::default(),
    }
}

/// The strings an anchored regular expression matches when it is only literal alternatives
/// (`a|b\.c`, as Grafana writes a multi-value `=~`); `None` when it is anything more.
fn literal_alternatives(pattern: &str) -> Option<Vec<String>> {
    let mut out = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '|' => out.push(String::new()),
            '\\' => {
                let escaped = chars.next()?;
                if !escaped.is_ascii_punctuation() {
                    return None;
                }
                out.last_mut()?.push(escaped);
            }
            '.' | '^' | '$' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' => return None,
            c => out.last_mut()?.push(c),
        }
    }
    if out.iter().any(String::is_empty) {
        return None;
    }
    out.dedup();
    Some(out)
}

/// Intrinsics search results show elsewhere than in a span's attributes.
fn shown_elsewhere(attr: &Attribute) -> bool {
    matches!(
        attr,
        Attribute::Intrinsic(
            Intrinsic::Name
                | Intrinsic::Duration
                | Intrinsic::TraceDuration
                | Intrinsic::TraceRootName
                | Intrinsic::TraceRootService
                | Intrinsic::TraceId
                | Intrinsic::SpanId
        )
    )
}

/// The attributes the query's conditions and `select(…)` name, deduplicated, in order of
/// appearance, without those results show elsewhere (name, duration, ids, root name and
/// service, trace duration).
pub(crate) fn output_attributes(expr: &SpansetExpr, stages: &[Stage]) -> Vec<Attribute> {
    let mut out = Vec::new();
    let mut push = |a: &Attribute| {
        if !shown_elsewhere(a) && !out.contains(a) {
            out.push(a.clone());
        }
    };
    spanset_attributes(expr, &mut push);
    stage_attributes(stages, &mut push);
    out
}

fn stage_attributes(stages: &[Stage], push: &mut impl FnMut(&Attribute)) {
    for stage in stages {
        match stage {
            Stage::Filter(e) => expr_attributes(e, push),
            Stage::Select(attrs) => attrs.iter().for_each(&mut *push),
            Stage::Aggregate { .. } | Stage::By(_) | Stage::Coalesce => {}
        }
    }
}

fn spanset_attributes(expr: &SpansetExpr, push: &mut impl FnMut(&Attribute)) {
    match expr {
        SpansetExpr::Filter(e) => expr_attributes(e, push),
        SpansetExpr::And(a, b) | SpansetExpr::Or(a, b) => {
            spanset_attributes(a, push);
            spanset_attributes(b, push);
        }
        SpansetExpr::Pipeline(e, stages) => {
            spanset_attributes(e, push);
            stage_attributes(stages, push);
        }
    }
}

fn expr_attributes(expr: &Expr, push: &mut impl FnMut(&Attribute)) {
    match expr {
        Expr::Bool(_) => {}
        Expr::Attr(a) => push(a),
        Expr::Cmp(c) => {
            for side in [&c.lhs, &c.rhs] {
                if let Operand::Attr(a) = side {
                    push(a);
                }
            }
        }
        Expr::Not(e) => expr_attributes(e, push),
        Expr::And(a, b) | Expr::Or(a, b) => {
            expr_attributes(a, push);
            expr_attributes(b, push);
        }
    }
}

/// True when a span's match depends on more than the span (trace-level intrinsics, the
/// tree, `{a} && {b}`, aggregates, `by`), so evaluating a fragment of a trace can differ
/// from evaluating the whole trace.
pub(crate) fn needs_whole_trace(expr: &SpansetExpr, stages: &[Stage]) -> bool {
    fn spanset(e: &SpansetExpr) -> bool {
        match e {
            SpansetExpr::Filter(e) => condition(e),
            SpansetExpr::And(..) => true,
            SpansetExpr::Or(a, b) => spanset(a) || spanset(b),
            SpansetExpr::Pipeline(e, stages) => needs_whole_trace(e, stages),
        }
    }
    fn condition(e: &Expr) -> bool {
        let mut whole = false;
        expr_attributes(e, &mut |a| whole |= needs_trace(a));
        whole
    }
    fn needs_trace(a: &Attribute) -> bool {
        matches!(
            a,
            Attribute::Intrinsic(
                Intrinsic::TraceRootName
                    | Intrinsic::TraceRootService
                    | Intrinsic::TraceDuration
                    | Intrinsic::NestedSetParent
                    | Intrinsic::NestedSetLeft
                    | Intrinsic::NestedSetRight
                    | Intrinsic::ChildCount
            )
        )
    }
    spanset(expr)
        || stages.iter().any(|s| match s {
            Stage::Filter(e) => condition(e),
            Stage::Aggregate { .. } | Stage::By(_) => true,
            Stage::Select(_) | Stage::Coalesce => false,
        })
}
