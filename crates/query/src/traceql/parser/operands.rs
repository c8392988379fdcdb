//! Reading one operand's token: a literal (with a leading minus folded in), or an attribute
//! or intrinsic name, refusing unknown bare words and the unsupported `parent` forms.

use super::{METRICS_FUNCTIONS, Parser};
use crate::traceql::ParseError;
use crate::traceql::ast::{AttrScope, Attribute, Intrinsic};
use crate::traceql::lexer::{Tok, Token};
use crate::traceql::value::{KindKw, StatusKw, Value};

impl Parser {
    /// The literal `t` (with a following number when `t` is `-`) starts, if any.
    pub(super) fn literal_of(&mut self, t: &Token) -> Result<Option<Value>, ParseError> {
        Ok(Some(match &t.tok {
            Tok::Str(s) => Value::Str(s.clone()),
            Tok::Int(i) => Value::Int(i64::try_from(*i).map_err(|_| {
                ParseError::invalid(
                    t.start,
                    format!("the integer {i} is too large (the most is {})", i64::MAX),
                )
            })?),
            Tok::Float(f) => Value::Float(*f),
            Tok::Duration(d) => Value::Duration(*d),
            Tok::Minus => {
                let n = self.next();
                match n.tok {
                    Tok::Int(i) if i <= i64::MAX as u64 + 1 => {
                        Value::Int((i as i128).wrapping_neg() as i64)
                    }
                    Tok::Int(i) => {
                        return Err(ParseError::invalid(
                            t.start,
                            format!("the integer -{i} is too small (the least is {})", i64::MIN),
                        ));
                    }
                    Tok::Float(f) => Value::Float(-f),
                    Tok::Duration(_) => {
                        return Err(ParseError::invalid(
                            t.start,
                            "a duration cannot be negative",
                        ));
                    }
                    _ => {
                        return Err(ParseError::unsupported(t.start, "arithmetic (\"-\")"));
                    }
                }
            }
            Tok::Word(w) => match w.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "nil" => Value::Nil,
                w => {
                    if let Some(s) = StatusKw::from_keyword(w) {
                        Value::Status(s)
                    } else if let Some(k) = KindKw::from_keyword(w) {
                        Value::Kind(k)
                    } else {
                        return Ok(None);
                    }
                }
            },
            _ => return Ok(None),
        }))
    }

    /// The attribute or intrinsic `t` names, if any.
    pub(super) fn attribute_of(&mut self, t: &Token) -> Result<Option<Attribute>, ParseError> {
        Ok(Some(match &t.tok {
            Tok::Attr(scope, name) => {
                let scope = match scope.as_str() {
                    "" => AttrScope::Unscoped,
                    "span" => AttrScope::Span,
                    "resource" => AttrScope::Resource,
                    "event" => AttrScope::Event,
                    "link" => AttrScope::Link,
                    "instrumentation" => AttrScope::Instrumentation,
                    other => {
                        return Err(ParseError::unsupported(
                            t.start,
                            format!("the {other}. scope"),
                        ));
                    }
                };
                Attribute::named(scope, name.clone())
            }
            Tok::ScopedIntrinsic(scope, name) => match Intrinsic::from_scoped(scope, name) {
                Some(i) => Attribute::Intrinsic(i),
                None if matches!((scope.as_str(), name.as_str()), ("span", "parent")) => {
                    return Err(ParseError::unsupported(
                        t.start,
                        format!("the intrinsic \"{scope}:{name}\""),
                    ));
                }
                None => {
                    return Err(ParseError::invalid(
                        t.start,
                        format!(
                            "unknown intrinsic \"{scope}:{name}\"; to name an attribute write \"{scope}.{name}\""
                        ),
                    ));
                }
            },
            Tok::Word(w) => match Intrinsic::from_legacy(w) {
                Some(i) => Attribute::Intrinsic(i),
                None if w == "parent" => {
                    return Err(ParseError::unsupported(t.start, "the intrinsic \"parent\""));
                }
                None if is_keyword(w) => return Ok(None),
                None => {
                    return Err(ParseError::invalid(
                        t.start,
                        format!(
                            "unknown name {w:?}; an attribute needs a scope, as in span.{w}, resource.{w} or .{w}"
                        ),
                    ));
                }
            },
            _ => return Ok(None),
        }))
    }
}

/// Words that are TraceQL keywords but not intrinsics (so not attribute names either).
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "true"
            | "false"
            | "nil"
            | "with"
            | "by"
            | "select"
            | "coalesce"
            | "count"
            | "avg"
            | "min"
            | "max"
            | "sum"
    ) || StatusKw::from_keyword(word).is_some()
        || KindKw::from_keyword(word).is_some()
        || METRICS_FUNCTIONS.contains(&word)
}
