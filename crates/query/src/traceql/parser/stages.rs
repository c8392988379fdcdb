//! Parsing the pipeline after the spanset expression: `| { … }`, aggregates compared with a
//! value, `select(…)`, `by(…)`, `coalesce()`, and the `with(…)` hints at the end.

use super::{METRICS_FUNCTIONS, Parser, cmp_op, describe};
use crate::traceql::ParseError;
use crate::traceql::ast::{AggFunc, Aggregate, Attribute, CmpOp, Stage};
use crate::traceql::lexer::Tok;
use crate::traceql::value::Value;

impl Parser {
    pub(super) fn stage(&mut self) -> Result<Stage, ParseError> {
        let t = self.next();
        let word = match &t.tok {
            Tok::LBrace => return Ok(Stage::Filter(self.filter_body(t.start)?)),
            Tok::Word(w) => w.clone(),
            other => {
                return Err(ParseError::invalid(
                    t.start,
                    format!(
                        "expected a pipeline stage after \"|\" (a filter {{ … }}, count(), avg(…), select(…), by(…)), found {}",
                        describe(other)
                    ),
                ));
            }
        };
        if METRICS_FUNCTIONS.contains(&word.as_str()) {
            return Err(ParseError::unsupported(
                t.start,
                format!("the metrics function {word}()"),
            ));
        }
        let func = match word.as_str() {
            "count" => Some(AggFunc::Count),
            "avg" => Some(AggFunc::Avg),
            "min" => Some(AggFunc::Min),
            "max" => Some(AggFunc::Max),
            "sum" => Some(AggFunc::Sum),
            _ => None,
        };
        if let Some(func) = func {
            return self.aggregate_stage(func);
        }
        match word.as_str() {
            "select" => Ok(Stage::Select(self.attribute_list("select")?)),
            "by" => Ok(Stage::By(self.attribute_list("by")?)),
            "coalesce" => {
                self.expect(&Tok::LParen, "after \"coalesce\"")?;
                self.expect(&Tok::RParen, "after \"coalesce(\"")?;
                Ok(Stage::Coalesce)
            }
            other => Err(ParseError::invalid(
                t.start,
                format!(
                    "unknown pipeline function {other:?}; expected count, avg, min, max, sum, select, by or coalesce"
                ),
            )),
        }
    }

    fn aggregate_stage(&mut self, func: AggFunc) -> Result<Stage, ParseError> {
        let name = func.as_str();
        self.expect(&Tok::LParen, &format!("after \"{name}\""))?;
        let attr = if func == AggFunc::Count {
            None
        } else {
            let t = self.next();
            match self.attribute_of(&t)? {
                Some(a) => Some(a),
                None => {
                    return Err(ParseError::invalid(
                        t.start,
                        format!(
                            "expected an attribute in {name}(…), as in {name}(duration), found {}",
                            describe(&t.tok)
                        ),
                    ));
                }
            }
        };
        let close_context = format!("to close {name}(");
        self.expect(&Tok::RParen, &close_context)?;
        let aggregate = Aggregate { func, attr };
        self.refuse_arithmetic()?;
        let op_token = self.next();
        let op = match cmp_op(&op_token.tok) {
            Some(op @ (CmpOp::Re | CmpOp::NotRe)) => {
                return Err(ParseError::invalid(
                    op_token.start,
                    format!(
                        "{aggregate} is a number; compare it with =, !=, >, >=, < or <=, not {}",
                        op.as_str()
                    ),
                ));
            }
            Some(op) => op,
            None => {
                return Err(ParseError::invalid(
                    op_token.start,
                    format!(
                        "expected a comparison after {aggregate}, as in {aggregate} > 2, found {}",
                        describe(&op_token.tok)
                    ),
                ));
            }
        };
        let v = self.next();
        if let Tok::Word(w) = &v.tok
            && matches!(w.as_str(), "count" | "avg" | "min" | "max" | "sum")
        {
            return Err(ParseError::unsupported(
                v.start,
                format!("comparing {aggregate} with another aggregate"),
            ));
        }
        let value = match self.literal_of(&v)? {
            Some(value @ (Value::Int(_) | Value::Float(_) | Value::Duration(_))) => value,
            _ => {
                return Err(ParseError::invalid(
                    v.start,
                    format!("expected a number or a duration after \"{}\"", op.as_str()),
                ));
            }
        };
        self.refuse_arithmetic()?;
        Ok(Stage::Aggregate {
            aggregate,
            op,
            value,
        })
    }

    fn attribute_list(&mut self, name: &str) -> Result<Vec<Attribute>, ParseError> {
        self.expect(&Tok::LParen, &format!("after \"{name}\""))?;
        let mut out = Vec::new();
        loop {
            let t = self.next();
            match self.attribute_of(&t)? {
                Some(a) => out.push(a),
                None => {
                    return Err(ParseError::invalid(
                        t.start,
                        format!(
                            "expected an attribute in {name}(…), as in {name}(span.http.method), found {}",
                            describe(&t.tok)
                        ),
                    ));
                }
            }
            let sep = self.next();
            match sep.tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(out),
                other => {
                    return Err(ParseError::invalid(
                        sep.start,
                        format!(
                            "expected \",\" or \")\" in {name}(…), found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
    }

    /// `with(name = value, …)`: query hints, kept but not acted on.
    pub(super) fn with_hints(&mut self) -> Result<Vec<(String, Value)>, ParseError> {
        self.next();
        self.expect(&Tok::LParen, "after \"with\"")?;
        let mut hints = Vec::new();
        loop {
            let t = self.next();
            let Tok::Word(name) = t.tok else {
                return Err(ParseError::invalid(
                    t.start,
                    format!(
                        "expected a hint name in with(…), as in with(most_recent=true), found {}",
                        describe(&t.tok)
                    ),
                ));
            };
            self.expect(&Tok::Eq, &format!("after the hint {name:?}"))?;
            let v = self.next();
            let Some(value) = self.literal_of(&v)? else {
                return Err(ParseError::invalid(
                    v.start,
                    format!("expected a value for the hint {name:?}"),
                ));
            };
            hints.push((name, value));
            let sep = self.next();
            match sep.tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(hints),
                other => {
                    return Err(ParseError::invalid(
                        sep.start,
                        format!(
                            "expected \",\" or \")\" in with(…), found {}",
                            describe(&other)
                        ),
                    ));
                }
            }
        }
    }
}
