//! Evaluates conditions on the spans of one trace.
//!
//! [`TraceCtx`] holds one trace's spans and what is computed once per trace, on first use:
//! the root span, the trace's duration and id, and the nested-set numbering of its tree.
//! [`for_each_value`] hands each value an attribute has on a span to a callback, borrowed
//! from the span (an array attribute, or an event attribute over several events, has several);
//! a comparison holds when it holds for any of them. [`compare`] is TraceQL's type-aware
//! comparison, where a string of digits compares with a number as the number it spells.

use super::ast::{AttrScope, Attribute, CmpOp, Expr, Intrinsic, Operand, SpansetExpr};
use super::pipeline::{self, Group};
use super::value::{KindKw, StatusKw, Val, Value, parse_go_duration};
use std::borrow::Cow;
use std::cell::OnceCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use tracegate_model::facts::FactValue;
use tracegate_model::proto::common::v1::{KeyValue, any_value};
use tracegate_model::{Span, SpanId, attr, keys};

/// One trace under evaluation.
#[derive(Debug)]
pub(crate) struct TraceCtx<'a> {
    pub spans: &'a [Span],
    root: OnceCell<Option<&'a Span>>,
    duration: OnceCell<u64>,
    trace_id: OnceCell<String>,
    tree: OnceCell<Tree>,
}

/// Nested-set numbers and child counts, by span index.
#[derive(Debug)]
struct Tree {
    left: Vec<Option<i64>>,
    right: Vec<Option<i64>>,
    parent: Vec<Option<i64>>,
    children: Vec<i64>,
}

impl<'a> TraceCtx<'a> {
    pub fn new(spans: &'a [Span]) -> Self {
        Self {
            spans,
            root: OnceCell::new(),
            duration: OnceCell::new(),
            trace_id: OnceCell::new(),
            tree: OnceCell::new(),
        }
    }

    /// The position of `span` in the trace's spans, if it is one of them (by address, else
    /// by span id).
    pub fn index_of(&self, span: &Span) -> Option<usize> {
        let size = std::mem::size_of::<Span>().max(1);
        let offset = (span as *const Span as usize).wrapping_sub(self.spans.as_ptr() as usize);
        let i = offset / size;
        if offset.is_multiple_of(size) && self.spans.get(i).is_some_and(|s| std::ptr::eq(s, span)) {
            return Some(i);
        }
        self.spans.iter().position(|s| s.span_id == span.span_id)
    }

    /// The earliest span without a parent.
    fn root(&self) -> Option<&'a Span> {
        *self.root.get_or_init(|| {
            self.spans
                .iter()
                .filter(|s| s.is_root())
                .min_by_key(|s| s.start_time_unix_nano)
        })
    }

    /// Latest end minus earliest start.
    fn duration(&self) -> u64 {
        *self.duration.get_or_init(|| {
            let start = self.spans.iter().map(|s| s.start_time_unix_nano).min();
            let end = self.spans.iter().map(|s| s.end_time_unix_nano).max();
            match (start, end) {
                (Some(s), Some(e)) => e.saturating_sub(s),
                _ => 0,
            }
        })
    }

    fn trace_id(&self) -> &str {
        self.trace_id.get_or_init(|| {
            self.spans
                .first()
                .map(|s| s.trace_id.to_hex())
                .unwrap_or_default()
        })
    }

    fn tree(&self) -> &Tree {
        self.tree.get_or_init(|| build_tree(self.spans))
    }
}

/// Numbers the spans' tree depth first, children by start time, as Tempo's nested sets:
/// `left` on the way down, `right` on the way up, `parent` = the parent's `left` (-1 on a
/// root). Spans whose parent is missing are numbered as subtrees of their own with an
/// unknown `parent`; spans in a parent cycle are not numbered.
fn build_tree(spans: &[Span]) -> Tree {
    let n = spans.len();
    let mut by_id: HashMap<SpanId, usize> = HashMap::with_capacity(n);
    for (i, s) in spans.iter().enumerate() {
        by_id.entry(s.span_id).or_insert(i);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut tops = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.and_then(|p| by_id.get(&p).copied()) {
            Some(p) if p != i => children[p].push(i),
            _ => tops.push(i),
        }
    }
    let by_start = |v: &mut Vec<usize>| v.sort_by_key(|&i| (spans[i].start_time_unix_nano, i));
    by_start(&mut tops);
    children.iter_mut().for_each(by_start);
    let mut tree = Tree {
        left: vec![None; n],
        right: vec![None; n],
        parent: vec![None; n],
        children: children.iter().map(|c| c.len() as i64).collect(),
    };
    let mut counter = 0i64;
    // (span, next child to visit)
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for &top in &tops {
        if spans[top].is_root() {
            tree.parent[top] = Some(-1);
        }
        counter += 1;
        tree.left[top] = Some(counter);
        stack.push((top, 0));
        while let Some((node, next)) = stack.pop() {
            if let Some(&child) = children[node].get(next) {
                stack.push((node, next + 1));
                if tree.left[child].is_none() {
                    counter += 1;
                    tree.left[child] = Some(counter);
                    tree.parent[child] = tree.left[node];
                    stack.push((child, 0));
                }
            } else {
                counter += 1;
                tree.right[node] = Some(counter);
            }
        }
    }
    tree
}

/// Lowercase hex of raw id bytes.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Calls `f` with each value of an OTLP value (each element of an array); true as soon as
/// `f` returns true.
fn emit<'v>(v: &'v any_value::Value, f: &mut dyn FnMut(Val<'v>) -> bool) -> bool {
    use any_value::Value as V;
    match v {
        V::StringValue(s) => f(Val::Str(Cow::Borrowed(s))),
        V::IntValue(i) => f(Val::Int(*i)),
        V::DoubleValue(d) => f(Val::Float(*d)),
        V::BoolValue(b) => f(Val::Bool(*b)),
        V::BytesValue(b) => f(Val::Str(Cow::Owned(hex(b)))),
        V::ArrayValue(a) => {
            let mut any = false;
            let mut seen = false;
            for e in a.values.iter().filter_map(|e| e.value.as_ref()) {
                seen = true;
                if emit(e, f) {
                    any = true;
                    break;
                }
            }
            any || (!seen && f(Val::Nil))
        }
        V::KvlistValue(_) | V::StringValueStrindex(_) => f(Val::Nil),
    }
}

fn fact_val(v: FactValue) -> Val<'static> {
    match v {
        FactValue::Str(s) => Val::Str(Cow::Borrowed(s)),
        FactValue::Int(i) => Val::Int(i),
        FactValue::Bool(b) => Val::Bool(b),
    }
}

/// A span attribute, or the derived fact written under that key.
fn span_attr<'v>(span: &'v Span, name: &str) -> Option<Result<&'v any_value::Value, Val<'v>>> {
    if let Some(v) = attr::get(&span.attributes, name) {
        return Some(Ok(v));
    }
    span.facts.get(name).map(|f| Err(fact_val(f)))
}

/// A resource attribute; `service.name` falls back to the resource's service name.
fn resource_attr<'v>(span: &'v Span, name: &str) -> Option<Result<&'v any_value::Value, Val<'v>>> {
    if let Some(v) = attr::get(&span.resource.attributes, name) {
        return Some(Ok(v));
    }
    (name == keys::SERVICE_NAME && !span.resource.service_name.is_empty())
        .then(|| Err(Val::Str(Cow::Borrowed(span.resource.service_name.as_str()))))
}

fn emit_found<'v>(
    found: Option<Result<&'v any_value::Value, Val<'v>>>,
    f: &mut dyn FnMut(Val<'v>) -> bool,
) -> bool {
    match found {
        Some(Ok(v)) => emit(v, f),
        Some(Err(v)) => f(v),
        None => f(Val::Nil),
    }
}

/// Calls `f` with every value `key` has among several attribute lists (events, links); with
/// `Nil` once when none has it.
fn emit_each<'v, I>(lists: I, key: &str, f: &mut dyn FnMut(Val<'v>) -> bool) -> bool
where
    I: Iterator<Item = &'v [KeyValue]>,
{
    let mut seen = false;
    for list in lists {
        if let Some(v) = attr::get(list, key) {
            seen = true;
            if emit(v, f) {
                return true;
            }
        }
    }
    !seen && f(Val::Nil)
}

/// Calls `f` with each value `attribute` has on span `index` of the trace (`Nil` once when it
/// has none); true as soon as `f` returns true.
pub(crate) fn for_each_value<'v, 'a: 'v>(
    attribute: &'v Attribute,
    span: &'v Span,
    index: Option<usize>,
    ctx: &'v TraceCtx<'a>,
    f: &mut dyn FnMut(Val<'v>) -> bool,
) -> bool {
    match attribute {
        Attribute::Named { scope, name } => match scope {
            AttrScope::Span => emit_found(span_attr(span, name), f),
            AttrScope::Resource => emit_found(resource_attr(span, name), f),
            AttrScope::Unscoped => emit_found(
                span_attr(span, name).or_else(|| resource_attr(span, name)),
                f,
            ),
            AttrScope::Event => emit_each(span.events.iter().map(|e| &e.attributes[..]), name, f),
            AttrScope::Link => emit_each(span.links.iter().map(|l| &l.attributes[..]), name, f),
            AttrScope::Instrumentation => {
                emit_found(attr::get(&span.scope.attributes, name).map(Ok), f)
            }
        },
        Attribute::Intrinsic(i) => intrinsic(*i, span, index, ctx, f),
    }
}

fn intrinsic<'v, 'a: 'v>(
    which: Intrinsic,
    span: &'v Span,
    index: Option<usize>,
    ctx: &'v TraceCtx<'a>,
    f: &mut dyn FnMut(Val<'v>) -> bool,
) -> bool {
    let str_of = |s: &'v str| Val::Str(Cow::Borrowed(s));
    let tree_value = |pick: fn(&Tree, usize) -> Option<i64>| {
        index
            .and_then(|i| pick(ctx.tree(), i))
            .map_or(Val::Nil, Val::Int)
    };
    let v = match which {
        Intrinsic::Name => str_of(&span.name),
        Intrinsic::Status => Val::Status(StatusKw::from_code(span.status.code)),
        Intrinsic::StatusMessage => str_of(&span.status.message),
        Intrinsic::Kind => Val::Kind(KindKw::from_code(span.kind as i32)),
        Intrinsic::Duration => Val::Duration(span.duration_ns()),
        Intrinsic::SpanId => Val::Str(Cow::Owned(span.span_id.to_hex())),
        Intrinsic::ParentId => span
            .parent_span_id
            .map_or(Val::Nil, |p| Val::Str(Cow::Owned(p.to_hex()))),
        Intrinsic::ChildCount => tree_value(|t, i| t.children.get(i).copied()),
        Intrinsic::NestedSetParent => tree_value(|t, i| t.parent.get(i).copied().flatten()),
        Intrinsic::NestedSetLeft => tree_value(|t, i| t.left.get(i).copied().flatten()),
        Intrinsic::NestedSetRight => tree_value(|t, i| t.right.get(i).copied().flatten()),
        Intrinsic::TraceId => str_of(ctx.trace_id()),
        Intrinsic::TraceRootName => ctx.root().map_or(Val::Nil, |r| str_of(&r.name)),
        Intrinsic::TraceRootService => ctx.root().map_or(Val::Nil, |r| str_of(r.service_name())),
        Intrinsic::TraceDuration => Val::Duration(ctx.duration()),
        Intrinsic::EventName => {
            for e in &span.events {
                if f(str_of(&e.name)) {
                    return true;
                }
            }
            return span.events.is_empty() && f(Val::Nil);
        }
        Intrinsic::EventTimeSinceStart => {
            for e in &span.events {
                let since = e.time_unix_nano.saturating_sub(span.start_time_unix_nano);
                if f(Val::Duration(since)) {
                    return true;
                }
            }
            return span.events.is_empty() && f(Val::Nil);
        }
        Intrinsic::LinkTraceId | Intrinsic::LinkSpanId => {
            for l in &span.links {
                let id = if which == Intrinsic::LinkTraceId {
                    &l.trace_id
                } else {
                    &l.span_id
                };
                if f(Val::Str(Cow::Owned(hex(id)))) {
                    return true;
                }
            }
            return span.links.is_empty() && f(Val::Nil);
        }
        Intrinsic::InstrumentationName => str_of(&span.scope.name),
        Intrinsic::InstrumentationVersion => str_of(&span.scope.version),
    };
    f(v)
}

fn operand_values<'v, 'a: 'v>(
    operand: &'v Operand,
    span: &'v Span,
    index: Option<usize>,
    ctx: &'v TraceCtx<'a>,
    f: &mut dyn FnMut(Val<'v>) -> bool,
) -> bool {
    match operand {
        Operand::Lit(v) => f(v.as_val()),
        Operand::Attr(a) => for_each_value(a, span, index, ctx, f),
    }
}

/// Whether condition `expr` holds on span `index` of the trace.
pub(crate) fn eval_expr<'v, 'a: 'v>(expr: &'v Expr, index: usize, ctx: &'v TraceCtx<'a>) -> bool {
    let span = &ctx.spans[index];
    match expr {
        Expr::Bool(b) => *b,
        Expr::Attr(a) => for_each_value(a, span, Some(index), ctx, &mut |v| v == Val::Bool(true)),
        Expr::Not(e) => !eval_expr(e, index, ctx),
        Expr::And(a, b) => eval_expr(a, index, ctx) && eval_expr(b, index, ctx),
        Expr::Or(a, b) => eval_expr(a, index, ctx) || eval_expr(b, index, ctx),
        Expr::Cmp(c) => {
            let nil = |o: &Operand| matches!(o, Operand::Lit(Value::Nil));
            if nil(&c.lhs) || nil(&c.rhs) {
                let other = if nil(&c.lhs) { &c.rhs } else { &c.lhs };
                let exists = operand_values(other, span, Some(index), ctx, &mut |v| v != Val::Nil);
                return match c.op {
                    CmpOp::Eq => !exists,
                    CmpOp::Ne => exists,
                    _ => false,
                };
            }
            let regex = c.pattern.as_ref().map(|p| &p.regex);
            operand_values(&c.lhs, span, Some(index), ctx, &mut |l| {
                operand_values(&c.rhs, span, Some(index), ctx, &mut |r| {
                    compare(c.op, &l, &r, regex)
                })
            })
        }
    }
}

/// Which spans of the trace a spanset expression selects.
pub(crate) fn eval_spansets(expr: &SpansetExpr, ctx: &TraceCtx<'_>) -> Vec<bool> {
    match expr {
        SpansetExpr::Filter(e) => (0..ctx.spans.len()).map(|i| eval_expr(e, i, ctx)).collect(),
        SpansetExpr::And(a, b) => {
            let mut l = eval_spansets(a, ctx);
            if !l.contains(&true) {
                return l;
            }
            let r = eval_spansets(b, ctx);
            if !r.contains(&true) {
                return r;
            }
            l.iter_mut().zip(r).for_each(|(x, y)| *x |= y);
            l
        }
        SpansetExpr::Or(a, b) => {
            let mut l = eval_spansets(a, ctx);
            let r = eval_spansets(b, ctx);
            l.iter_mut().zip(r).for_each(|(x, y)| *x |= y);
            l
        }
        SpansetExpr::Pipeline(e, stages) => {
            let selected = eval_spansets(e, ctx);
            let spans: Vec<usize> = (0..selected.len()).filter(|&i| selected[i]).collect();
            let mut out = vec![false; ctx.spans.len()];
            if spans.is_empty() {
                return out;
            }
            let group = Group {
                spans,
                attributes: Vec::new(),
            };
            for g in pipeline::run(stages, vec![group], ctx) {
                for i in g.spans {
                    out[i] = true;
                }
            }
            out
        }
    }
}

/// A number read from a value, exact for integers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// The number a value holds or spells (`"1000"` is 1000).
pub(crate) fn number(v: &Val<'_>) -> Option<Num> {
    match v {
        Val::Int(i) => Some(Num::Int(i128::from(*i))),
        Val::Duration(d) => Some(Num::Int(i128::from(*d))),
        Val::Float(f) => Some(Num::Float(*f)),
        Val::Str(s) => {
            let t = s.trim();
            t.parse::<i64>()
                .map(|i| Num::Int(i128::from(i)))
                .ok()
                .or_else(|| t.parse::<f64>().ok().map(Num::Float))
        }
        _ => None,
    }
}

fn compare_numbers(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        _ => a.as_f64().partial_cmp(&b.as_f64()),
    }
}

/// How two values relate: ordered, only equal or not, or not comparable.
enum Relation {
    Ordered(Ordering),
    Equal(bool),
    None,
}

fn relate(l: &Val<'_>, r: &Val<'_>) -> Relation {
    use Val as V;
    let bool_of = |s: &str| match s.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    };
    match (l, r) {
        (V::Nil, _) | (_, V::Nil) => Relation::None,
        (V::Str(a), V::Str(b)) => Relation::Ordered(a.as_ref().cmp(b.as_ref())),
        (V::Bool(a), V::Bool(b)) => Relation::Equal(a == b),
        (V::Bool(a), V::Str(s)) | (V::Str(s), V::Bool(a)) => {
            bool_of(s).map_or(Relation::None, |b| Relation::Equal(*a == b))
        }
        (V::Status(a), V::Status(b)) => Relation::Equal(a == b),
        (V::Status(a), V::Str(s)) | (V::Str(s), V::Status(a)) => {
            Relation::Equal(a.as_str() == s.as_ref())
        }
        (V::Status(a), V::Int(i)) | (V::Int(i), V::Status(a)) => Relation::Equal(a.code() == *i),
        (V::Kind(a), V::Kind(b)) => Relation::Equal(a == b),
        (V::Kind(a), V::Str(s)) | (V::Str(s), V::Kind(a)) => {
            Relation::Equal(a.as_str() == s.as_ref())
        }
        (V::Kind(a), V::Int(i)) | (V::Int(i), V::Kind(a)) => Relation::Equal(a.code() == *i),
        (V::Status(_) | V::Kind(_) | V::Bool(_), _)
        | (_, V::Status(_) | V::Kind(_) | V::Bool(_)) => Relation::None,
        _ => {
            // Numbers, durations and strings that spell them (`"1.5s"` against a duration).
            let num = |v: &Val<'_>, other: &Val<'_>| {
                number(v).or_else(|| match (v, other) {
                    (V::Str(s), V::Duration(_)) => {
                        parse_go_duration(s).map(|d| Num::Int(i128::from(d)))
                    }
                    _ => None,
                })
            };
            match (num(l, r), num(r, l)) {
                (Some(a), Some(b)) => {
                    compare_numbers(a, b).map_or(Relation::None, Relation::Ordered)
                }
                _ => Relation::None,
            }
        }
    }
}

/// The text a regular expression is matched against.
fn regex_text<'s>(v: &'s Val<'_>) -> Option<Cow<'s, str>> {
    match v {
        Val::Str(s) => Some(Cow::Borrowed(s.as_ref())),
        Val::Status(s) => Some(Cow::Borrowed(s.as_str())),
        Val::Kind(k) => Some(Cow::Borrowed(k.as_str())),
        Val::Int(i) => Some(Cow::Owned(i.to_string())),
        Val::Float(f) => Some(Cow::Owned(f.to_string())),
        Val::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Val::Duration(_) | Val::Nil => None,
    }
}

/// TraceQL's comparison of two values. Values of types that do not compare (a string that
/// is not a number against a number, anything against nil) satisfy no operator, `!=`
/// included, as in Tempo.
pub(crate) fn compare(op: CmpOp, l: &Val<'_>, r: &Val<'_>, regex: Option<&regex::Regex>) -> bool {
    match op {
        CmpOp::Re | CmpOp::NotRe => {
            let (Some(re), Some(text)) = (regex, regex_text(l)) else {
                return false;
            };
            re.is_match(&text) == (op == CmpOp::Re)
        }
        _ => match relate(l, r) {
            Relation::Ordered(o) => match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Re | CmpOp::NotRe => false,
            },
            Relation::Equal(eq) => match op {
                CmpOp::Eq => eq,
                CmpOp::Ne => !eq,
                _ => false,
            },
            Relation::None => false,
        },
    }
}

/// The first value of `attribute` on `span` (`None` for nil), owned.
pub(crate) fn first_value(
    attribute: &Attribute,
    span: &Span,
    index: Option<usize>,
    ctx: &TraceCtx<'_>,
) -> Option<Value> {
    let mut out = None;
    for_each_value(attribute, span, index, ctx, &mut |v| {
        if v == Val::Nil {
            return false;
        }
        out = Some(v.to_value());
        true
    });
    out
}
