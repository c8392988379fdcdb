//! TraceQL: parsing a query, and evaluating it over the spans of one trace.
//!
//! [`parse`] turns text into a [`Query`] (or a [`ParseError`] with the byte position, or
//! naming a construct that is valid TraceQL but not supported yet). [`Query::evaluate`] runs
//! it on one trace's spans and returns the matching [`SpanSet`]s; [`Query::hints`] tells a
//! store what every matching trace has, so it can skip the rest cheaply, and
//! [`Query::output_attributes`] which attributes search results show.
//!
//! ```
//! use tracegate_query::traceql::{parse, Hints};
//!
//! let q = parse(r#"{resource.service.name="checkout" && duration>100ms} | count() > 1"#).unwrap();
//! assert_eq!(q.hints().service_names, Some(vec!["checkout".to_owned()]));
//! assert_eq!(q.hints().min_span_duration_ns, Some(100_000_001));
//! assert!(q.evaluate(&[]).is_empty());
//!
//! let err = parse("{ .a = }").unwrap_err();
//! assert_eq!(err.to_string(), r#"invalid TraceQL at position 7: expected a value after "=", found "}""#);
//! let err = parse("{ } >> { }").unwrap_err();
//! assert!(err.is_unsupported());
//! assert_eq!(err.to_string(), r#"unsupported TraceQL: the structural operator ">>" is not supported yet"#);
//! ```
//!
//! What is supported (TEMPO_API.md §4.3 phase 1, and the pipelines of phase 2):
//! - spanset filters `{ … }` with `&&`, `||`, `!` and parentheses; `{}` and `{ true }` match
//!   every span; `{a} && {b}` (both non-empty, union of spans) and `{a} || {b}` (union);
//! - comparisons `= != > >= < <= =~ !~`; regular expressions are Rust's `regex` syntax (close
//!   to Go's RE2), anchored at both ends, compiled once per query;
//! - `span.x`, `resource.x`, `.x` (span, else resource), `event.x`, `link.x`,
//!   `instrumentation.x`, quoted names (`span."a b"`); the intrinsics of [`Intrinsic`];
//! - literals: strings, integers, floats, Go durations, `true`/`false`, `nil`, status and kind
//!   keywords. Comparisons are type-aware: a string attribute of digits compares with a
//!   number as a number (values decoded from Parquet may be strings);
//! - pipelines: `| { … }`, `| count() > 2`, `| avg|min|max|sum(attr) op value`,
//!   `| select(…)`, `| by(…)`, `| coalesce()`, also inside parentheses
//!   (`({a} | count() > 1) && {b}`); a query may start with a stage (`count() > 1`); the
//!   hint `with(most_recent=true)` is parsed and otherwise ignored.
//!
//! Refused as unsupported, by name: structural operators (`>>`, `>`, `~`, `!>>`, `&>>`, …),
//! metrics functions (`rate()`, `quantile_over_time()`, …), arithmetic, the `parent.` scope.
//! Bounded: [`MAX_QUERY_BYTES`], [`MAX_DEPTH`] of nesting, [`MAX_NODES`] conditions and
//! operators, [`MAX_REGEXES`] regular expressions.
//!
//! For the read path: [`Query::needs_whole_trace`] says whether a trace's fragments can be
//! evaluated apart, and [`TraceView`] reads many attribute values of one trace, computing its
//! root, duration and tree once.
//!
//! Semantics follow Tempo: a filter selects the matching spans of a trace; the trace matches
//! when the resulting spanset is non-empty; pipeline stages apply per spanset. `trace:duration`
//! is the latest end minus the earliest start; the root is the earliest span without a
//! parent (none: root intrinsics are nil). Derived facts (`tracegate.category`, …) are seen
//! both as typed [`tracegate_model::SpanFacts`] and as `tracegate.*` attributes.
//!
//! Module map: `lexer` (tokens), `parser` (recursive descent), [`ast`] (syntax tree and its
//! canonical text), [`value`] (values, Go durations), `eval` (conditions on spans), `pipeline`
//! (stages), `analysis` (hints, output attributes, whole-trace needs), `error`
//! ([`ParseError`]).

mod analysis;
pub mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
mod pipeline;
pub mod value;

#[cfg(test)]
mod tests;

pub use analysis::Hints;
pub use ast::{
    AggFunc, Aggregate, AttrScope, Attribute, Cmp, CmpOp, Expr, Intrinsic, Operand, SpansetExpr,
    Stage,
};
pub use error::ParseError;
pub use lexer::MAX_QUERY_BYTES;
pub use parser::{MAX_DEPTH, MAX_NODES, MAX_REGEXES};
pub use value::{KindKw, StatusKw, Value, format_go_duration};

use std::fmt;
use tracegate_model::Span;

/// A parsed TraceQL query, ready to evaluate on any number of traces.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    expr: SpansetExpr,
    stages: Vec<Stage>,
    with: Vec<(String, Value)>,
    output: Vec<Attribute>,
    hints: Hints,
}

/// Parses a TraceQL query.
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let parsed = parser::parse_query(query)?;
    let output = analysis::output_attributes(&parsed.expr, &parsed.stages);
    let hints = analysis::query_hints(&parsed.expr, &parsed.stages);
    Ok(Query {
        expr: parsed.expr,
        stages: parsed.stages,
        with: parsed.hints,
        output,
        hints,
    })
}

/// One attribute or intrinsic name, as in the tag-values path: `resource.service.name`,
/// `span.http.method`, `.foo`, `name`, `status`, `span:name`, `span."a b"`.
pub fn parse_identifier(text: &str) -> Result<Attribute, ParseError> {
    parser::parse_attribute(text)
}

/// One spanset a query matched in a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanSet<'a> {
    /// The matching spans, by start time.
    pub spans: Vec<&'a Span>,
    /// How many matched.
    pub matched: usize,
    /// Pipeline outputs, e.g. `("count()", Int(3))`, `("avg(duration)", Duration(..))`,
    /// `("by(resource.service.name)", Str(..))`.
    pub attributes: Vec<(String, Value)>,
}

impl Query {
    /// The spansets of one trace (all its spans, any order) that the query matches; empty
    /// when the trace does not match.
    pub fn evaluate<'a>(&self, spans: &'a [Span]) -> Vec<SpanSet<'a>> {
        let ctx = eval::TraceCtx::new(spans);
        let selected = eval::eval_spansets(&self.expr, &ctx);
        let indices: Vec<usize> = selected
            .iter()
            .enumerate()
            .filter_map(|(i, on)| on.then_some(i))
            .collect();
        if indices.is_empty() {
            return Vec::new();
        }
        let groups = pipeline::run(
            &self.stages,
            vec![pipeline::Group {
                spans: indices,
                attributes: Vec::new(),
            }],
            &ctx,
        );
        groups
            .into_iter()
            .filter(|g| !g.spans.is_empty())
            .map(|g| {
                let mut matched: Vec<&'a Span> = g.spans.iter().map(|&i| &spans[i]).collect();
                matched.sort_by_key(|s| s.start_time_unix_nano);
                SpanSet {
                    matched: matched.len(),
                    spans: matched,
                    attributes: g.attributes,
                }
            })
            .collect()
    }

    /// True when the query matches the trace.
    pub fn matches(&self, spans: &[Span]) -> bool {
        !self.evaluate(spans).is_empty()
    }

    /// The attributes to show per span in search results: those the query's conditions and
    /// `select(...)` refer to, deduplicated, in order of appearance. Intrinsics that results
    /// show in fields of their own (name, duration, ids, root name and service, trace
    /// duration) are left out.
    pub fn output_attributes(&self) -> &[Attribute] {
        &self.output
    }

    /// Facts every matching trace must have, for a store to prefilter cheaply. Conservative:
    /// `None` means "no constraint".
    pub fn hints(&self) -> Hints {
        self.hints.clone()
    }

    /// True when evaluating part of a trace (a fragment, such as one block's spans of it) can
    /// give another result than evaluating the whole trace: the query uses trace-level
    /// intrinsics (`traceDuration`, `rootName`, …), the span tree (`nestedSetParent`,
    /// `childCount`), `{a} && {b}`, aggregates or `by`. When false, the spans matching the
    /// whole trace are exactly the union of those matching its fragments.
    pub fn needs_whole_trace(&self) -> bool {
        analysis::needs_whole_trace(&self.expr, &self.stages)
    }

    /// True when the query asks for the most recent traces (`with(most_recent=true)`).
    pub fn most_recent(&self) -> bool {
        self.with
            .iter()
            .any(|(k, v)| k == "most_recent" && *v == Value::Bool(true))
    }

    /// The spanset expression before the pipeline.
    pub fn spanset_expr(&self) -> &SpansetExpr {
        &self.expr
    }

    /// The pipeline stages, in order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }
}

impl std::str::FromStr for Query {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// The query in canonical form; parsing it gives the same query.
impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        for stage in &self.stages {
            write!(f, " | {stage}")?;
        }
        if !self.with.is_empty() {
            f.write_str(" with(")?;
            for (i, (k, v)) in self.with.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl Attribute {
    /// The value for one span of a trace (`trace` = all the trace's spans, for trace-level
    /// intrinsics such as `trace:rootName`); `None` when it has none. For a multi-valued
    /// attribute (an event attribute, an array), the first value. To read many values of one
    /// trace, [`TraceView`] computes the trace-level facts once.
    pub fn value_of(&self, span: &Span, trace: &[Span]) -> Option<Value> {
        TraceView::new(trace).value_of(self, span)
    }
}

/// One trace's spans, keeping what attribute lookups compute once per trace (the root, the
/// trace's duration and id, the span tree) between calls.
#[derive(Debug)]
pub struct TraceView<'a> {
    ctx: eval::TraceCtx<'a>,
}

impl<'a> TraceView<'a> {
    /// A view of all the spans of one trace.
    pub fn new(spans: &'a [Span]) -> Self {
        Self {
            ctx: eval::TraceCtx::new(spans),
        }
    }

    /// The value of `attribute` on `span`, one of the view's spans (or a span with the id
    /// of one); as [`Attribute::value_of`].
    pub fn value_of(&self, attribute: &Attribute, span: &Span) -> Option<Value> {
        let index = self.ctx.index_of(span);
        eval::first_value(attribute, span, index, &self.ctx)
    }
}
