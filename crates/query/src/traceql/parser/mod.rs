//! A recursive-descent parser from [`Token`]s to the syntax tree, with the byte position of
//! every error.
//!
//! Grammar (lowest precedence first):
//! ```text
//! query     := spansets ( "|" stage )* ( "with" "(" hint ( "," hint )* ")" )? EOF
//! spansets  := sp_and ( "||" sp_and )*
//! sp_and    := sp_atom ( "&&" sp_atom )*
//! sp_atom   := "{" expr? "}" | "(" spansets ( "|" stage )* ")"
//! expr      := and ( "||" and )*
//! and       := unary ( "&&" unary )*
//! unary     := "!" unary | "(" expr ")" | operand ( cmp_op operand )?
//! operand   := literal | attribute | intrinsic
//! stage     := "{" expr? "}" | agg cmp_op literal | "select(" attrs ")" | "by(" attrs ")"
//!            | "coalesce()"
//! agg       := "count()" | ("avg" | "min" | "max" | "sum") "(" attribute ")"
//! ```
//! Structural operators, metrics functions, arithmetic and the `parent.` scope are valid
//! TraceQL that this parser refuses as unsupported, naming them.
//!
//! This file holds the spanset and condition levels; `operands` reads literals and names,
//! `stages` the pipeline and hints, `checks` types, regular expressions and ids.

mod checks;
mod operands;
mod stages;

use super::ParseError;
use super::ast::{Attribute, Cmp, CmpOp, Expr, Operand, SpansetExpr, Stage};
use super::lexer::{Tok, Token, tokenize};
use super::value::Value;
use checks::{check_types, compile_regex, example_comparison, normalize_ids};

/// How deeply parentheses and `!` may nest, so that parsing cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// The most conditions and `&&` / `||` operators a query may have, so that evaluating,
/// printing and dropping its tree stay within a thread's stack.
pub const MAX_NODES: usize = 1024;

/// The most regular expressions a query may have.
pub const MAX_REGEXES: usize = 64;

/// What [`parse_query`] produces.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub expr: SpansetExpr,
    pub stages: Vec<Stage>,
    pub hints: Vec<(String, Value)>,
}

/// Parses a whole query.
pub(crate) fn parse_query(text: &str) -> Result<Parsed, ParseError> {
    let mut p = Parser::new(text)?;
    let mut stages = Vec::new();
    // A query may start with a stage (`count() > 2`, `select(.a)`): it applies to `{}`.
    let starts_with_stage = matches!(&p.peek().tok, Tok::Word(w)
        if matches!(w.as_str(), "count" | "avg" | "min" | "max" | "sum" | "select" | "by")
            || METRICS_FUNCTIONS.contains(&w.as_str()));
    let expr = if starts_with_stage {
        stages.push(p.stage()?);
        SpansetExpr::Filter(Expr::Bool(true))
    } else {
        p.spansets()?
    };
    while p.eat(&Tok::Pipe) {
        stages.push(p.stage()?);
    }
    let mut hints = Vec::new();
    if matches!(&p.peek().tok, Tok::Word(w) if w == "with") {
        hints = p.with_hints()?;
    }
    let t = p.peek();
    if t.tok != Tok::Eof {
        let message = if stages.is_empty() {
            format!(
                "expected \"|\", \"&&\", \"||\" or the end of the query after the spanset filter, found {}",
                describe(&t.tok)
            )
        } else {
            format!(
                "expected \"|\" or the end of the query after the pipeline stage, found {}",
                describe(&t.tok)
            )
        };
        return Err(ParseError::invalid(t.start, message));
    }
    Ok(Parsed {
        expr,
        stages,
        hints,
    })
}

/// Parses one attribute or intrinsic name and nothing else.
pub(crate) fn parse_attribute(text: &str) -> Result<Attribute, ParseError> {
    let mut p = Parser::new(text)?;
    let t = p.next();
    let attr = p.attribute_of(&t)?.ok_or_else(|| {
        ParseError::invalid(
            t.start,
            format!(
                "expected an attribute (span.x, resource.x, .x) or an intrinsic (name, status, …), found {}",
                describe(&t.tok)
            ),
        )
    })?;
    let end = p.peek();
    if end.tok != Tok::Eof {
        return Err(ParseError::invalid(
            end.start,
            format!(
                "expected the end after the attribute, found {}",
                describe(&end.tok)
            ),
        ));
    }
    Ok(attr)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
    nodes: usize,
    regexes: usize,
}

/// How a token is named in messages.
fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Eof => "the end of the query".to_owned(),
        Tok::Str(s) => format!("the string {}", super::ast::quoted(s)),
        Tok::Int(i) => format!("the number {i}"),
        Tok::Float(f) => format!("the number {}", Value::Float(*f)),
        Tok::Duration(d) => format!("the duration {}", Value::Duration(*d)),
        Tok::Word(w) => format!("{w:?}"),
        Tok::ScopedIntrinsic(s, n) => format!("\"{s}:{n}\""),
        Tok::Attr(scope, name) => {
            let scope = if scope.is_empty() {
                String::new()
            } else {
                format!("{scope}.")
            };
            format!("the attribute \"{scope}{name}\"")
        }
        other => format!("\"{}\"", symbol(other)),
    }
}

/// The text of a punctuation token.
fn symbol(tok: &Tok) -> &'static str {
    match tok {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Pipe => "|",
        Tok::AndAnd => "&&",
        Tok::OrOr => "||",
        Tok::Not => "!",
        Tok::Eq => "=",
        Tok::Ne => "!=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Re => "=~",
        Tok::NotRe => "!~",
        Tok::Minus => "-",
        Tok::Structural(s) | Tok::Arith(s) => s,
        _ => "?",
    }
}

fn cmp_op(tok: &Tok) -> Option<CmpOp> {
    Some(match tok {
        Tok::Eq => CmpOp::Eq,
        Tok::Ne => CmpOp::Ne,
        Tok::Gt => CmpOp::Gt,
        Tok::Ge => CmpOp::Ge,
        Tok::Lt => CmpOp::Lt,
        Tok::Le => CmpOp::Le,
        Tok::Re => CmpOp::Re,
        Tok::NotRe => CmpOp::NotRe,
        _ => return None,
    })
}

/// Metrics functions (TraceQL metrics, phase 3).
const METRICS_FUNCTIONS: [&str; 11] = [
    "rate",
    "count_over_time",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "quantile_over_time",
    "histogram_over_time",
    "compare",
    "topk",
    "bottomk",
];

impl Parser {
    fn new(text: &str) -> Result<Self, ParseError> {
        Ok(Self {
            tokens: tokenize(text)?,
            at: 0,
            depth: 0,
            nodes: 0,
            regexes: 0,
        })
    }

    fn peek(&self) -> &Token {
        // `tokenize` always ends with Eof, and `next` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.at += 1;
        }
        t
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if &self.peek().tok == tok {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &Tok, context: &str) -> Result<Token, ParseError> {
        let t = self.next();
        if &t.tok == tok {
            Ok(t)
        } else {
            Err(ParseError::invalid(
                t.start,
                format!(
                    "expected \"{}\" {context}, found {}",
                    symbol(tok),
                    describe(&t.tok)
                ),
            ))
        }
    }

    /// Counts one more node of the tree, refusing more than [`MAX_NODES`].
    fn node(&mut self, at: usize) -> Result<(), ParseError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ParseError::invalid(
                at,
                format!("the query has more than {MAX_NODES} conditions and operators"),
            ));
        }
        Ok(())
    }

    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::invalid(
                at,
                format!("the query nests parentheses or \"!\" more than {MAX_DEPTH} deep"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- spansets ----

    fn spansets(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_and()?;
        while self.eat(&Tok::OrOr) {
            let rhs = self.spanset_and()?;
            self.node(self.peek().start)?;
            lhs = SpansetExpr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn spanset_and(&mut self) -> Result<SpansetExpr, ParseError> {
        let mut lhs = self.spanset_atom()?;
        while self.eat(&Tok::AndAnd) {
            let rhs = self.spanset_atom()?;
            self.node(self.peek().start)?;
            lhs = SpansetExpr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn spanset_atom(&mut self) -> Result<SpansetExpr, ParseError> {
        let t = self.next();
        let atom = match &t.tok {
            Tok::LBrace => SpansetExpr::Filter(self.filter_body(t.start)?),
            Tok::LParen => {
                self.enter(t.start)?;
                let inner = self.spansets()?;
                let mut stages = Vec::new();
                while self.eat(&Tok::Pipe) {
                    self.node(self.peek().start)?;
                    stages.push(self.stage()?);
                }
                self.expect(&Tok::RParen, "to close the parenthesis")?;
                self.leave();
                if stages.is_empty() {
                    inner
                } else {
                    SpansetExpr::Pipeline(Box::new(inner), stages)
                }
            }
            Tok::Not => {
                return Err(ParseError::invalid(
                    t.start,
                    "\"!\" cannot negate a spanset; negate the condition inside it, as in { !(span.a = 1) }",
                ));
            }
            other => {
                return Err(ParseError::invalid(
                    t.start,
                    format!(
                        "expected a spanset filter \"{{ … }}\", found {}",
                        describe(other)
                    ),
                ));
            }
        };
        let next = self.peek();
        let structural = match &next.tok {
            Tok::Structural(s) => Some(*s),
            Tok::Gt => Some(">"),
            Tok::Lt => Some("<"),
            Tok::NotRe => Some("!~"),
            _ => None,
        };
        if let Some(op) = structural {
            return Err(ParseError::unsupported(
                next.start,
                format!("the structural operator {op:?}"),
            ));
        }
        if let Tok::Arith(op) = &next.tok {
            return Err(ParseError::unsupported(
                next.start,
                format!("arithmetic between spansets ({op:?})"),
            ));
        }
        Ok(atom)
    }

    /// After `{`: a condition (or none) and `}`.
    fn filter_body(&mut self, open: usize) -> Result<Expr, ParseError> {
        if self.eat(&Tok::RBrace) {
            return Ok(Expr::Bool(true));
        }
        let expr = self.expr()?;
        let t = self.next();
        if t.tok != Tok::RBrace {
            let message = match &t.tok {
                Tok::Eof => format!(
                    "the spanset filter opened at position {open} is not closed with \"}}\""
                ),
                other => format!(
                    "expected \"&&\", \"||\" or \"}}\" after the condition, found {}",
                    describe(other)
                ),
            };
            return Err(ParseError::invalid(t.start, message));
        }
        Ok(expr)
    }

    // ---- conditions ----

    fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.and()?;
        while self.eat(&Tok::OrOr) {
            let rhs = self.and()?;
            self.node(self.peek().start)?;
            lhs = Expr::Or(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        while self.eat(&Tok::AndAnd) {
            let rhs = self.unary()?;
            self.node(self.peek().start)?;
            lhs = Expr::And(Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::Not => {
                self.next();
                self.enter(t.start)?;
                let inner = self.unary()?;
                self.leave();
                Ok(Expr::Not(Box::new(inner)))
            }
            Tok::LParen => {
                self.next();
                self.enter(t.start)?;
                let inner = self.expr()?;
                self.expect(&Tok::RParen, "to close the parenthesis")?;
                self.leave();
                self.refuse_arithmetic()?;
                Ok(inner)
            }
            _ => self.comparison(),
        }
    }

    fn refuse_arithmetic(&self) -> Result<(), ParseError> {
        match &self.peek().tok {
            Tok::Arith(op) => Err(ParseError::unsupported(
                self.peek().start,
                format!("arithmetic ({op:?})"),
            )),
            Tok::Minus => Err(ParseError::unsupported(
                self.peek().start,
                "arithmetic (\"-\")",
            )),
            _ => Ok(()),
        }
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let first = self.peek().clone();
        self.node(first.start)?;
        let Some(lhs) = self.operand()? else {
            let message = if first.tok == Tok::Eof || first.tok == Tok::RBrace {
                "expected a condition".to_owned()
            } else {
                format!(
                    "expected an attribute, an intrinsic or a value, found {}",
                    describe(&first.tok)
                )
            };
            return Err(ParseError::invalid(first.start, message));
        };
        self.refuse_arithmetic()?;
        let op_token = self.peek().clone();
        let Some(op) = cmp_op(&op_token.tok) else {
            return match lhs {
                Operand::Attr(Attribute::Intrinsic(i)) => Err(ParseError::invalid(
                    first.start,
                    format!(
                        "{} is not a condition; compare it, as in {}",
                        i.as_str(),
                        example_comparison(i)
                    ),
                )),
                Operand::Attr(a) => Ok(Expr::Attr(a)),
                Operand::Lit(Value::Bool(b)) => Ok(Expr::Bool(b)),
                Operand::Lit(v) => Err(ParseError::invalid(
                    first.start,
                    format!("the value {v} is not a condition; compare it, as in span.a = {v}"),
                )),
            };
        };
        self.next();
        let rhs_token = self.peek().clone();
        let Some(rhs) = self.operand()? else {
            return Err(ParseError::invalid(
                rhs_token.start,
                format!(
                    "expected a value after \"{}\", found {}",
                    op.as_str(),
                    describe(&rhs_token.tok)
                ),
            ));
        };
        self.refuse_arithmetic()?;
        let pattern = match op {
            CmpOp::Re | CmpOp::NotRe => {
                self.regexes += 1;
                if self.regexes > MAX_REGEXES {
                    return Err(ParseError::invalid(
                        op_token.start,
                        format!("the query has more than {MAX_REGEXES} regular expressions"),
                    ));
                }
                Some(compile_regex(&rhs, rhs_token.start, op)?)
            }
            _ => None,
        };
        check_types(&lhs, op, &rhs, first.start)?;
        let (lhs, rhs) = normalize_ids(lhs, op, rhs);
        Ok(Expr::Cmp(Box::new(Cmp {
            lhs,
            op,
            rhs,
            pattern,
        })))
    }

    /// The operand at the next token; `None` when the token cannot start one.
    fn operand(&mut self) -> Result<Option<Operand>, ParseError> {
        let t = self.next();
        if let Some(v) = self.literal_of(&t)? {
            return Ok(Some(Operand::Lit(v)));
        }
        Ok(self.attribute_of(&t)?.map(Operand::Attr))
    }
}
