//! Checks and rewrites of one comparison once parsed: operand types (as Tempo's validation
//! refuses `status > ok` or `rootServiceName = 1`), regular expressions compiled once and
//! anchored, and trace/span id literals normalized to full-width lowercase hex.

use crate::traceql::ParseError;
use crate::traceql::ast::{Attribute, CmpOp, Intrinsic, Operand, Pattern};
use crate::traceql::value::Value;

/// The most bytes a compiled regular expression may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The most bytes of lazy-DFA cache one regular expression may use.
const REGEX_DFA_LIMIT: usize = 256 * 1024;

/// Compiles the right side of `=~` / `!~`, anchored at both ends as Tempo does.
pub(super) fn compile_regex(rhs: &Operand, at: usize, op: CmpOp) -> Result<Pattern, ParseError> {
    let Operand::Lit(Value::Str(source)) = rhs else {
        return Err(ParseError::invalid(
            at,
            format!(
                "the right side of \"{}\" must be a string holding a regular expression",
                op.as_str()
            ),
        ));
    };
    let regex = regex::RegexBuilder::new(&format!(r"\A(?:{source})\z"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_LIMIT)
        .build()
        .map_err(|e| {
            let detail = e.to_string();
            let detail = detail.lines().last().unwrap_or("").trim();
            ParseError::invalid(
                at,
                format!(
                    "invalid regular expression {}: {detail}",
                    crate::traceql::ast::quoted(source)
                ),
            )
        })?;
    Ok(Pattern {
        source: source.clone(),
        regex,
    })
}

/// Trace and span ids compare as lowercase hex of their full width, so `trace:id = "ABC"`
/// matches the id `00…0abc` as Tempo's trimmed ids would.
pub(super) fn normalize_ids(lhs: Operand, op: CmpOp, rhs: Operand) -> (Operand, Operand) {
    if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
        return (lhs, rhs);
    }
    let width = |o: &Operand| match o {
        Operand::Attr(Attribute::Intrinsic(Intrinsic::TraceId | Intrinsic::LinkTraceId)) => {
            Some(32)
        }
        Operand::Attr(Attribute::Intrinsic(
            Intrinsic::SpanId | Intrinsic::ParentId | Intrinsic::LinkSpanId,
        )) => Some(16),
        _ => None,
    };
    let fix = |o: Operand, width: usize| match o {
        Operand::Lit(Value::Str(s))
            if s.len() <= width && s.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Operand::Lit(Value::Str(format!("{:0>width$}", s.to_ascii_lowercase())))
        }
        other => other,
    };
    match (width(&lhs), width(&rhs)) {
        (Some(w), None) => (lhs, fix(rhs, w)),
        (None, Some(w)) => (fix(lhs, w), rhs),
        _ => (lhs, rhs),
    }
}

/// A comparison to suggest for an intrinsic used on its own.
pub(super) fn example_comparison(i: Intrinsic) -> &'static str {
    match i {
        Intrinsic::Status => "status = error",
        Intrinsic::Kind => "kind = server",
        Intrinsic::Duration | Intrinsic::TraceDuration => "duration > 100ms",
        Intrinsic::NestedSetParent
        | Intrinsic::NestedSetLeft
        | Intrinsic::NestedSetRight
        | Intrinsic::ChildCount => "nestedSetParent < 0",
        _ => "name = \"GET /\"",
    }
}

/// The type of what an operand can be, when the query alone tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Str,
    Number,
    Bool,
    Status,
    SpanKind,
    Nil,
    /// An attribute: any type.
    Any,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::Str => "a string",
            Type::Number => "a number",
            Type::Bool => "a boolean",
            Type::Status => "a status",
            Type::SpanKind => "a span kind",
            Type::Nil => "nil",
            Type::Any => "a value",
        }
    }
}

fn type_of(o: &Operand) -> Type {
    match o {
        Operand::Lit(v) => match v {
            Value::Nil => Type::Nil,
            Value::Bool(_) => Type::Bool,
            Value::Int(_) | Value::Float(_) | Value::Duration(_) => Type::Number,
            Value::Str(_) => Type::Str,
            Value::Status(_) => Type::Status,
            Value::Kind(_) => Type::SpanKind,
        },
        Operand::Attr(Attribute::Named { .. }) => Type::Any,
        Operand::Attr(Attribute::Intrinsic(i)) => match i {
            Intrinsic::Status => Type::Status,
            Intrinsic::Kind => Type::SpanKind,
            Intrinsic::Duration
            | Intrinsic::TraceDuration
            | Intrinsic::EventTimeSinceStart
            | Intrinsic::ChildCount
            | Intrinsic::NestedSetParent
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight => Type::Number,
            _ => Type::Str,
        },
    }
}

/// Refuses comparisons that can never hold because of the operands' types, as Tempo's
/// validation does: `rootServiceName = 1`, `status > ok`, `duration = "x"`, `1 = "a"`.
/// Attributes have no known type, and compare with anything.
pub(super) fn check_types(
    lhs: &Operand,
    op: CmpOp,
    rhs: &Operand,
    at: usize,
) -> Result<(), ParseError> {
    let (l, r) = (type_of(lhs), type_of(rhs));
    let ordering = matches!(op, CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le);
    let regex = matches!(op, CmpOp::Re | CmpOp::NotRe);
    let unordered = |k: Type| matches!(k, Type::Bool | Type::Status | Type::SpanKind | Type::Nil);
    let problem = if regex && !matches!(l, Type::Str | Type::Any) {
        Some(format!(
            "{} ({lhs}) cannot match a regular expression",
            l.name()
        ))
    } else if ordering && (unordered(l) || unordered(r)) {
        let k = if unordered(l) { l } else { r };
        Some(format!(
            "{} has no order; compare it with = or !=",
            k.name()
        ))
    } else if !regex
        && l != Type::Any
        && r != Type::Any
        && l != Type::Nil
        && r != Type::Nil
        && l != r
    {
        Some(format!(
            "cannot compare {} ({lhs}) with {} ({rhs})",
            l.name(),
            r.name()
        ))
    } else {
        None
    };
    match problem {
        Some(p) => Err(ParseError::invalid(at, p)),
        None => Ok(()),
    }
}
