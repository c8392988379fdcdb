//! A recursive-descent parser from [`Token`]s to the syntax tree, with the byte position of
//! every error.
//!
//! Grammar (lowest precedence first):
//! ```text
//! query     := spansets ( "|" stage )* ( "with" "(" hint ( "," hint )* ")" )? EOF
//! spansets  := sp_and ( "||" sp_and )*
//! sp_and    := sp_atom ( "&&" sp_atom )*
//! sp_atom   := "{" expr? "}" | "(" spansets ")"
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

use super::ParseError;
use super::ast::{
    AggFunc, Aggregate, AttrScope, Attribute, Cmp, CmpOp, Expr, Intrinsic, Operand, Pattern,
    SpansetExpr, Stage,
};
use super::lexer::{Tok, Token, tokenize};
use super::value::{KindKw, StatusKw, Value};

/// How deeply parentheses and `!` may nest, so that parsing cannot exhaust the stack.
pub const MAX_DEPTH: usize = 64;

/// The most bytes a compiled regular expression may take.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The most bytes of lazy-DFA cache one regular expression may use.
const REGEX_DFA_LIMIT: usize = 256 * 1024;

/// The most conditions and `&&` / `||` operators a query may have, so that evaluating,
/// printing and dropping its tree stay within a thread's stack.
pub const MAX_NODES: usize = 1024;

/// The most regular expressions a query may have.
pub const MAX_REGEXES: usize = 64;

/// What [`parse_tokens`] produces.
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
                if self.peek().tok == Tok::Pipe {
                    return Err(ParseError::unsupported(
                        self.peek().start,
                        "a pipeline inside parentheses",
                    ));
                }
                self.expect(&Tok::RParen, "to close the parenthesis")?;
                self.leave();
                inner
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

    /// The literal `t` (with a following number when `t` is `-`) starts, if any.
    fn literal_of(&mut self, t: &Token) -> Result<Option<Value>, ParseError> {
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
    fn attribute_of(&mut self, t: &Token) -> Result<Option<Attribute>, ParseError> {
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
                None if matches!(
                    (scope.as_str(), name.as_str()),
                    ("event", "timeSinceStart") | ("span", "parent")
                ) =>
                {
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

    // ---- pipeline ----

    fn stage(&mut self) -> Result<Stage, ParseError> {
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
    fn with_hints(&mut self) -> Result<Vec<(String, Value)>, ParseError> {
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

/// Compiles the right side of `=~` / `!~`, anchored at both ends as Tempo does.
fn compile_regex(rhs: &Operand, at: usize, op: CmpOp) -> Result<Pattern, ParseError> {
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
                    super::ast::quoted(source)
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
fn normalize_ids(lhs: Operand, op: CmpOp, rhs: Operand) -> (Operand, Operand) {
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
fn example_comparison(i: Intrinsic) -> &'static str {
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
fn check_types(lhs: &Operand, op: CmpOp, rhs: &Operand, at: usize) -> Result<(), ParseError> {
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
