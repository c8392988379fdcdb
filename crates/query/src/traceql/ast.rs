//! The syntax tree of a TraceQL query, and its canonical text form.
//!
//! A query is a [`SpansetExpr`] (spanset filters `{ … }` joined by `&&` / `||`) followed by
//! pipeline [`Stage`]s. Inside a filter, an [`Expr`] combines [`Cmp`] comparisons of
//! [`Operand`]s, which are literals ([`Value`]) or [`Attribute`]s (scoped attributes or
//! [`Intrinsic`]s). `Display` writes every node back as TraceQL that parses to the same tree.

mod intrinsic;

use super::value::{Value, write_quoted};
use std::fmt;

/// Where a named attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttrScope {
    /// `span.x`: the span's own attributes (and tracegate's derived facts).
    Span,
    /// `resource.x`: the resource's attributes.
    Resource,
    /// `.x`: the span's attribute, else the resource's.
    Unscoped,
    /// `event.x`: an attribute of any of the span's events.
    Event,
    /// `link.x`: an attribute of any of the span's links.
    Link,
    /// `instrumentation.x`: an attribute of the instrumentation scope.
    Instrumentation,
}

impl AttrScope {
    /// The prefix written before the name: `span.`, `resource.`, `.`, …
    pub fn prefix(self) -> &'static str {
        match self {
            AttrScope::Span => "span.",
            AttrScope::Resource => "resource.",
            AttrScope::Unscoped => ".",
            AttrScope::Event => "event.",
            AttrScope::Link => "link.",
            AttrScope::Instrumentation => "instrumentation.",
        }
    }
}

pub use intrinsic::Intrinsic;

/// One attribute or intrinsic a query names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    /// A built-in field (`name`, `status`, `trace:id`, …).
    Intrinsic(Intrinsic),
    /// A named attribute in a scope (`span.http.method`, `resource.service.name`, `.foo`).
    Named {
        /// Where it is looked up.
        scope: AttrScope,
        /// The attribute key, unquoted (`service.name`, `a b`).
        name: String,
    },
}

impl Attribute {
    /// A named attribute.
    pub fn named(scope: AttrScope, name: impl Into<String>) -> Self {
        Attribute::Named {
            scope,
            name: name.into(),
        }
    }

    /// The key Tempo uses in search results: the unscoped name (`service.name`, `status`).
    pub fn output_key(&self) -> String {
        match self {
            Attribute::Intrinsic(i) => i.as_str().to_owned(),
            Attribute::Named { name, .. } => name.clone(),
        }
    }

    /// Intrinsic (`name`, `status`, `duration`, `trace:id`, …) rather than an attribute.
    pub fn is_intrinsic(&self) -> bool {
        matches!(self, Attribute::Intrinsic(_))
    }

    /// The scope name Tempo's tags API files it under: "resource", "span", "intrinsic",
    /// "event", "link", "instrumentation"; unscoped attributes: "span".
    pub fn scope_name(&self) -> &'static str {
        match self {
            Attribute::Intrinsic(_) => "intrinsic",
            Attribute::Named { scope, .. } => match scope {
                AttrScope::Span | AttrScope::Unscoped => "span",
                AttrScope::Resource => "resource",
                AttrScope::Event => "event",
                AttrScope::Link => "link",
                AttrScope::Instrumentation => "instrumentation",
            },
        }
    }
}

/// True when `name` can be written without quotes after a scope prefix.
fn is_bare_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-')
        && name.chars().all(super::lexer::is_attribute_char)
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Intrinsic(i) => f.write_str(i.as_str()),
            Attribute::Named { scope, name } => {
                f.write_str(scope.prefix())?;
                if is_bare_name(name) {
                    f.write_str(name)
                } else {
                    // Attribute names only unescape `\"` and `\\`.
                    f.write_str("\"")?;
                    for c in name.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")
                }
            }
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=~` (fully anchored regular expression)
    Re,
    /// `!~`
    NotRe,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Re => "=~",
            CmpOp::NotRe => "!~",
        }
    }

    /// The operator with its sides swapped (`1 < x` is `x > 1`); regex operators have none.
    pub fn flipped(self) -> Option<CmpOp> {
        Some(match self {
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::Ne => CmpOp::Ne,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Re | CmpOp::NotRe => return None,
        })
    }
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A literal.
    Lit(Value),
    /// An attribute or intrinsic of the span.
    Attr(Attribute),
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Lit(v) => write!(f, "{v}"),
            Operand::Attr(a) => write!(f, "{a}"),
        }
    }
}

/// A compiled regular expression, anchored at both ends, kept with its source text.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The expression as written in the query.
    pub source: String,
    /// `\A(?:source)\z`, compiled once per query.
    pub regex: regex::Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// A comparison: `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cmp {
    /// Left side.
    pub lhs: Operand,
    /// Operator.
    pub op: CmpOp,
    /// Right side.
    pub rhs: Operand,
    /// For `=~` / `!~`: the right side, compiled.
    pub pattern: Option<Pattern>,
}

/// A boolean condition on one span, inside `{ … }`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `true` / `false`.
    Bool(bool),
    /// An attribute on its own: true when its value is `true`.
    Attr(Attribute),
    /// A comparison.
    Cmp(Box<Cmp>),
    /// `!expr`.
    Not(Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn fmt_prec(&self, f: &mut fmt::Formatter<'_>, parent: u8) -> fmt::Result {
        match self {
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Attr(a) => write!(f, "{a}"),
            Expr::Cmp(c) => write!(f, "{} {} {}", c.lhs, c.op.as_str(), c.rhs),
            // Parentheses only around `&&` and `||` (which bind looser than `!`): each one
            // counts towards the parser's MAX_DEPTH, so adding them to `!!!x` could turn a
            // query that parsed into canonical text that does not.
            Expr::Not(e) => {
                f.write_str("!")?;
                e.fmt_prec(f, 4)
            }
            Expr::And(a, b) => binary(
                f,
                parent,
                2,
                "&&",
                |f| a.fmt_prec(f, 2),
                |f| b.fmt_prec(f, 3),
            ),
            Expr::Or(a, b) => binary(
                f,
                parent,
                1,
                "||",
                |f| a.fmt_prec(f, 1),
                |f| b.fmt_prec(f, 2),
            ),
        }
    }
}

/// Writes `a op b`, in parentheses when the parent binds tighter.
fn binary(
    f: &mut fmt::Formatter<'_>,
    parent: u8,
    own: u8,
    op: &str,
    a: impl FnOnce(&mut fmt::Formatter<'_>) -> fmt::Result,
    b: impl FnOnce(&mut fmt::Formatter<'_>) -> fmt::Result,
) -> fmt::Result {
    let paren = parent > own;
    if paren {
        f.write_str("(")?;
    }
    a(f)?;
    write!(f, " {op} ")?;
    b(f)?;
    if paren {
        f.write_str(")")?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_prec(f, 0)
    }
}

/// Spanset filters and their combinations.
#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    /// `{ expr }`: the spans for which `expr` holds. `{}` is `{ true }`.
    Filter(Expr),
    /// `a && b`: both non-empty; the union of their spans.
    And(Box<SpansetExpr>, Box<SpansetExpr>),
    /// `a || b`: the union of their spans.
    Or(Box<SpansetExpr>, Box<SpansetExpr>),
    /// `(a | stage …)`: the spans of the spansets the stages keep.
    Pipeline(Box<SpansetExpr>, Vec<Stage>),
}

impl SpansetExpr {
    fn fmt_prec(&self, f: &mut fmt::Formatter<'_>, parent: u8) -> fmt::Result {
        match self {
            SpansetExpr::Filter(Expr::Bool(true)) => f.write_str("{}"),
            SpansetExpr::Filter(e) => write!(f, "{{ {e} }}"),
            SpansetExpr::And(a, b) => binary(
                f,
                parent,
                2,
                "&&",
                |f| a.fmt_prec(f, 2),
                |f| b.fmt_prec(f, 3),
            ),
            SpansetExpr::Or(a, b) => binary(
                f,
                parent,
                1,
                "||",
                |f| a.fmt_prec(f, 1),
                |f| b.fmt_prec(f, 2),
            ),
            SpansetExpr::Pipeline(e, stages) => {
                write!(f, "({e}")?;
                for stage in stages {
                    write!(f, " | {stage}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for SpansetExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_prec(f, 0)
    }
}

/// An aggregate over the spans of a spanset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggFunc {
    /// `count()`
    Count,
    /// `avg(attr)`
    Avg,
    /// `min(attr)`
    Min,
    /// `max(attr)`
    Max,
    /// `sum(attr)`
    Sum,
}

impl AggFunc {
    /// The function's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::Sum => "sum",
        }
    }
}

/// An aggregate: `count()` or `avg(attr)` etc.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Which aggregate.
    pub func: AggFunc,
    /// Its argument; `None` for `count()`.
    pub attr: Option<Attribute>,
}

impl fmt::Display for Aggregate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.attr {
            Some(a) => write!(f, "{}({a})", self.func.as_str()),
            None => write!(f, "{}()", self.func.as_str()),
        }
    }
}

/// One stage of the pipeline after the spanset expression, applied to each spanset.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `| { expr }`: keeps the spans of each spanset for which `expr` holds.
    Filter(Expr),
    /// `| count() > 2`, `| avg(duration) > 1s`: keeps the spansets whose aggregate compares
    /// true, and records the aggregate among their attributes.
    Aggregate {
        /// The aggregate.
        aggregate: Aggregate,
        /// The operator.
        op: CmpOp,
        /// The value compared with.
        value: Value,
    },
    /// `| select(a, b)`: shows these attributes in results.
    Select(Vec<Attribute>),
    /// `| by(a)`: splits each spanset by the value of the attributes.
    By(Vec<Attribute>),
    /// `| coalesce()`: merges all spansets into one.
    Coalesce,
}

fn write_list(f: &mut fmt::Formatter<'_>, attrs: &[Attribute]) -> fmt::Result {
    for (i, a) in attrs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Filter(Expr::Bool(true)) => f.write_str("{}"),
            Stage::Filter(e) => write!(f, "{{ {e} }}"),
            Stage::Aggregate {
                aggregate,
                op,
                value,
            } => write!(f, "{aggregate} {} {value}", op.as_str()),
            Stage::Select(attrs) => {
                f.write_str("select(")?;
                write_list(f, attrs)?;
                f.write_str(")")
            }
            Stage::By(attrs) => {
                f.write_str("by(")?;
                write_list(f, attrs)?;
                f.write_str(")")
            }
            Stage::Coalesce => f.write_str("coalesce()"),
        }
    }
}

/// Writes a string the way the lexer reads strings (for messages naming a literal).
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::new();
    let _ = write_quoted(s, &mut out);
    out
}
