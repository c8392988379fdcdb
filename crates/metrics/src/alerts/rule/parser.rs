//! The rule language's recursive-descent parser: [`Token`]s → [`Rule`], checking units,
//! names and ranges as it goes so every error points at the token at fault.

use super::lexer::{Token, TokenKind, lex};
use super::{CmpOp, Condition, Func, Key, Literal, Rule, RuleError, ValueKind};
use tracegate_model::{Category, SpanKind, StatusCode};

/// The most `by` keys a rule may group by.
pub const MAX_BY_KEYS: usize = 8;

/// Parses one rule.
pub fn parse(text: &str) -> Result<Rule, RuleError> {
    let tokens = lex(text)?;
    let mut p = Parser { tokens, at: 0 };
    let rule = p.rule()?;
    Ok(rule)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

const AGGREGATES: &str =
    "an aggregate (error_ratio, count, rate, avg, min, max, sum or p1…p99, p99.9)";

impl Parser {
    fn peek(&self) -> &Token {
        // `lex` always ends with `End`, and `bump` never moves past it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != TokenKind::End {
            self.at += 1;
        }
        t
    }

    fn expected(&self, what: &str) -> RuleError {
        let t = self.peek();
        RuleError::new(
            t.pos,
            format!("expected {what}, found {}", t.kind.describe()),
        )
    }

    fn is_word(&self, word: &str) -> bool {
        matches!(&self.peek().kind, TokenKind::Word(w) if w == word)
    }

    fn expect(&mut self, kind: TokenKind, what: &str) -> Result<Token, RuleError> {
        if self.peek().kind == kind {
            Ok(self.bump())
        } else {
            Err(self.expected(what))
        }
    }

    fn rule(&mut self) -> Result<Rule, RuleError> {
        let (func, value, filter) = self.aggregate()?;
        let by = if self.is_word("by") {
            self.bump();
            self.by()?
        } else {
            Vec::new()
        };
        let op = self.cmp()?;
        let threshold = self.threshold(func, value)?;
        if !self.is_word("over") {
            return Err(self.expected("`over` and the window (such as `over 5m`)"));
        }
        self.bump();
        let window = self.bump();
        let window_secs = match window.kind {
            TokenKind::Duration(secs, _) if secs >= 1.0 => secs,
            TokenKind::Duration(_, text) => {
                return Err(RuleError::new(
                    window.pos,
                    format!("the window `{text}` is too short: it must be at least 1s"),
                ));
            }
            other => {
                return Err(RuleError::new(
                    window.pos,
                    format!(
                        "expected the window as a duration with a unit (such as `5m`), found {}",
                        other.describe()
                    ),
                ));
            }
        };
        if self.peek().kind != TokenKind::End {
            return Err(self.expected("the end of the rule"));
        }
        Ok(Rule {
            func,
            value,
            filter,
            by,
            op,
            threshold,
            window_secs,
        })
    }

    #[allow(clippy::type_complexity)]
    fn aggregate(
        &mut self,
    ) -> Result<(Func, Option<ValueKind>, Option<Vec<Condition>>), RuleError> {
        let t = self.peek().clone();
        let TokenKind::Word(word) = &t.kind else {
            return Err(self.expected(AGGREGATES));
        };
        let func = match word.as_str() {
            "error_ratio" => Func::ErrorRatio,
            "count" => Func::Count,
            "rate" => Func::Rate,
            "avg" => Func::Avg,
            "min" => Func::Min,
            "max" => Func::Max,
            "sum" => Func::Sum,
            w if w.starts_with('p') && w[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                Func::Quantile(percentile(&w[1..]).ok_or_else(|| {
                    RuleError::new(
                        t.pos,
                        format!("`{w}` is not a percentile: write p1 to p99, or p99.9"),
                    )
                })?)
            }
            _ => return Err(self.expected(AGGREGATES)),
        };
        self.bump();
        if matches!(func, Func::ErrorRatio | Func::Count | Func::Rate) {
            let filter = self.of()?;
            return Ok((func, None, filter));
        }
        self.expect(TokenKind::LParen, &format!("`(` after `{word}`"))?;
        let v = self.peek().clone();
        let value = match &v.kind {
            TokenKind::Word(w) => ValueKind::ALL.into_iter().find(|k| k.as_str() == w),
            _ => None,
        }
        .ok_or_else(|| {
            self.expected("a value (duration, ttft, cost, tokens, input_tokens or output_tokens)")
        })?;
        self.bump();
        let filter = self.of()?;
        let close = if filter.is_some() {
            "`and` or `)`"
        } else {
            "`of` or `)`"
        };
        self.expect(TokenKind::RParen, close)?;
        Ok((func, Some(value), filter))
    }

    fn of(&mut self) -> Result<Option<Vec<Condition>>, RuleError> {
        if !self.is_word("of") {
            return Ok(None);
        }
        self.bump();
        let mut conds = vec![self.condition()?];
        while self.is_word("and") {
            self.bump();
            conds.push(self.condition()?);
        }
        Ok(Some(conds))
    }

    fn key(&mut self) -> Result<Key, RuleError> {
        const KEYS: &str = "a key (category, service, name, kind, status, model, provider, attr.KEY or resource.KEY)";
        let t = self.peek().clone();
        let TokenKind::Word(w) = &t.kind else {
            return Err(self.expected(KEYS));
        };
        let key = match w.as_str() {
            "category" => Key::Category,
            "service" => Key::Service,
            "name" => Key::Name,
            "kind" => Key::Kind,
            "status" => Key::Status,
            "model" => Key::Model,
            "provider" => Key::Provider,
            w => {
                let (ctor, rest): (fn(String) -> Key, _) = if let Some(rest) =
                    w.strip_prefix("attr.")
                {
                    (Key::Attr, rest)
                } else if let Some(rest) = w.strip_prefix("resource.") {
                    (Key::Resource, rest)
                } else {
                    return Err(RuleError::new(
                        t.pos,
                        format!(
                            "unknown key `{w}`; expected one of category, service, name, kind, status, model, provider, attr.KEY, resource.KEY"
                        ),
                    ));
                };
                if rest.is_empty() {
                    return Err(RuleError::new(
                        t.pos + w.len(),
                        format!("expected an attribute key after `{w}`"),
                    ));
                }
                ctor(rest.to_owned())
            }
        };
        self.bump();
        Ok(key)
    }

    fn condition(&mut self) -> Result<Condition, RuleError> {
        let key = self.key()?;
        let equal = match self.peek().kind {
            TokenKind::Eq => true,
            TokenKind::NotEq => false,
            TokenKind::EqEq => {
                return Err(self.expected("`=` or `!=` (a filter compares with a single `=`)"));
            }
            _ => return Err(self.expected("`=` or `!=`")),
        };
        self.bump();
        let t = self.bump();
        let text = match t.kind {
            TokenKind::Word(w) | TokenKind::Str(w) => w,
            TokenKind::Number(_, text) | TokenKind::Duration(_, text) => text,
            other => {
                return Err(RuleError::new(
                    t.pos,
                    format!(
                        "expected a value to compare `{key}` with, found {}",
                        other.describe()
                    ),
                ));
            }
        };
        let bad = |what: &str, allowed: &str| {
            RuleError::new(
                t.pos,
                format!("unknown {what} `{text}`; expected one of {allowed}"),
            )
        };
        let value = match key {
            Key::Category => Literal::Category(Category::from_name(&text).ok_or_else(|| {
                let all: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
                bad("category", &all.join(", "))
            })?),
            Key::Kind => Literal::Kind(kind(&text).ok_or_else(|| {
                bad(
                    "kind",
                    "server, client, producer, consumer, internal, unspecified",
                )
            })?),
            Key::Status => {
                Literal::Status(status(&text).ok_or_else(|| bad("status", "ok, error, unset"))?)
            }
            _ => Literal::Text(text),
        };
        Ok(Condition { key, equal, value })
    }

    fn by(&mut self) -> Result<Vec<Key>, RuleError> {
        self.expect(TokenKind::LParen, "`(` after `by`")?;
        let mut keys: Vec<Key> = Vec::new();
        loop {
            let pos = self.peek().pos;
            let key = self.key()?;
            if keys.contains(&key) {
                return Err(RuleError::new(pos, format!("`{key}` is already in `by`")));
            }
            if keys.len() == MAX_BY_KEYS {
                return Err(RuleError::new(
                    pos,
                    format!("too many keys in `by`: at most {MAX_BY_KEYS}"),
                ));
            }
            keys.push(key);
            match self.peek().kind {
                TokenKind::Comma => {
                    self.bump();
                }
                TokenKind::RParen => {
                    self.bump();
                    return Ok(keys);
                }
                _ => return Err(self.expected("`,` or `)`")),
            }
        }
    }

    fn cmp(&mut self) -> Result<CmpOp, RuleError> {
        let op = match self.peek().kind {
            TokenKind::Gt => CmpOp::Gt,
            TokenKind::Ge => CmpOp::Ge,
            TokenKind::Lt => CmpOp::Lt,
            TokenKind::Le => CmpOp::Le,
            TokenKind::EqEq => CmpOp::Eq,
            TokenKind::NotEq => CmpOp::Ne,
            TokenKind::Eq => {
                return Err(
                    self.expected("a comparison (>, >=, <, <=, == or !=; `==` tests equality)")
                );
            }
            _ => return Err(self.expected("a comparison (>, >=, <, <=, == or !=)")),
        };
        self.bump();
        Ok(op)
    }

    fn threshold(&mut self, func: Func, value: Option<ValueKind>) -> Result<f64, RuleError> {
        let t = self.bump();
        match t.kind {
            TokenKind::Number(n, _) => {
                if func == Func::ErrorRatio && !(0.0..=1.0).contains(&n) {
                    return Err(RuleError::new(
                        t.pos,
                        format!("an error ratio is between 0 and 1, found `{n}` (5 % is 0.05)"),
                    ));
                }
                Ok(n)
            }
            TokenKind::Duration(secs, text) => match value {
                Some(v) if v.is_time() => Ok(secs),
                _ => {
                    let what = value.map_or_else(
                        || format!("`{}`", func_name(func)),
                        |v| format!("`{}`", v.as_str()),
                    );
                    Err(RuleError::new(
                        t.pos,
                        format!(
                            "`{text}` is a duration, but {what} is not a time: a duration threshold goes with duration or ttft"
                        ),
                    ))
                }
            },
            other => Err(RuleError::new(
                t.pos,
                format!(
                    "expected a threshold (a number or a duration such as 10s), found {}",
                    other.describe()
                ),
            )),
        }
    }
}

fn func_name(func: Func) -> &'static str {
    match func {
        Func::ErrorRatio => "error_ratio",
        Func::Count => "count",
        Func::Rate => "rate",
        Func::Avg => "avg",
        Func::Min => "min",
        Func::Max => "max",
        Func::Sum => "sum",
        Func::Quantile(_) => "pNN",
    }
}

/// `95` → 950, `99.9` → 999; `None` outside p1…p99 and p99.9.
fn percentile(digits: &str) -> Option<u16> {
    if digits == "99.9" {
        return Some(999);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let n: u16 = digits.parse().ok()?;
    (1..=99).contains(&n).then_some(n * 10)
}

/// The language's name of a span kind.
pub fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
        SpanKind::Internal => "internal",
        SpanKind::Unspecified => "unspecified",
    }
}

/// The language's name of a status code.
pub fn status_name(code: StatusCode) -> &'static str {
    match code {
        StatusCode::Ok => "ok",
        StatusCode::Error => "error",
        StatusCode::Unset => "unset",
    }
}

fn kind(text: &str) -> Option<SpanKind> {
    Some(match text {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        "unspecified" => SpanKind::Unspecified,
        _ => return None,
    })
}

fn status(text: &str) -> Option<StatusCode> {
    Some(match text {
        "ok" => StatusCode::Ok,
        "error" => StatusCode::Error,
        "unset" => StatusCode::Unset,
        _ => return None,
    })
}
