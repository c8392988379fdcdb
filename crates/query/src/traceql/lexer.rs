//! Splits TraceQL text into [`Token`]s, each with its byte range.
//!
//! Attribute names are read whole here, as Tempo's lexer does: after a scope prefix
//! (`span.`, `resource.`, `.`, …) everything up to a space or one of `{}()=~!<>&|^,` is the
//! name, dots included; `"…"` parts are quoted (with `\"` and `\\` escapes) and may hold any
//! character. Numbers followed by a unit are durations (`1.5s`, `1h30m`). A minus sign is
//! its own token; the parser folds it into the literal that follows.

use super::ParseError;
use super::value::{DurationError, scan_go_duration};

/// The most bytes a query may have; longer text is refused before lexing.
pub const MAX_QUERY_BYTES: usize = 128 * 1024;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    AndAnd,
    OrOr,
    Not,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    NotRe,
    /// `>>`, `<<`, `~`, `!>>`, `!>`, `!<<`, `!<`, `&>>`, `&>`, `&<<`, `&<`, `&~`.
    Structural(&'static str),
    /// `+`, `*`, `/`, `%`, `^`.
    Arith(&'static str),
    Minus,
    Str(String),
    /// An integer without sign; the parser checks its range.
    Int(u64),
    Float(f64),
    Duration(u64),
    /// A bare word: keyword, intrinsic or function name.
    Word(String),
    /// `scope:name`, e.g. `span:name`, `trace:id`.
    ScopedIntrinsic(String, String),
    /// A scoped attribute name: prefix (`span`, `resource`, `""` for `.`, …) and name.
    Attr(String, String),
    Eof,
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset after the last byte.
    pub end: usize,
}

/// True for a character that may appear unquoted in an attribute name.
pub(crate) fn is_attribute_char(c: char) -> bool {
    !c.is_whitespace()
        && !matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ',' | '"'
        )
}

/// The scopes that take `.name`.
const ATTRIBUTE_SCOPES: [&str; 6] = [
    "span",
    "resource",
    "event",
    "link",
    "instrumentation",
    "parent",
];
/// The scopes that take `:name`.
const INTRINSIC_SCOPES: [&str; 5] = ["span", "trace", "event", "link", "instrumentation"];

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(ParseError::invalid(
            MAX_QUERY_BYTES,
            format!(
                "the query is {} bytes, more than the limit of {MAX_QUERY_BYTES}",
                text.len()
            ),
        ));
    }
    let mut lexer = Lexer { text, pos: 0 };
    let mut out = Vec::new();
    loop {
        let token = lexer.next()?;
        let eof = token.tok == Tok::Eof;
        out.push(token);
        if eof {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.text[self.pos..].chars().nth(ahead)
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn next(&mut self) -> Result<Token, ParseError> {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let tok = match c {
            '{' => self.fixed(1, Tok::LBrace),
            '}' => self.fixed(1, Tok::RBrace),
            '(' => self.fixed(1, Tok::LParen),
            ')' => self.fixed(1, Tok::RParen),
            ',' => self.fixed(1, Tok::Comma),
            '-' => self.fixed(1, Tok::Minus),
            '+' => self.fixed(1, Tok::Arith("+")),
            '*' => self.fixed(1, Tok::Arith("*")),
            '/' => self.fixed(1, Tok::Arith("/")),
            '%' => self.fixed(1, Tok::Arith("%")),
            '^' => self.fixed(1, Tok::Arith("^")),
            '~' => self.fixed(1, Tok::Structural("~")),
            '|' => self.longest(&[("||", Tok::OrOr), ("|", Tok::Pipe)]),
            '=' => self.longest(&[("=~", Tok::Re), ("=", Tok::Eq)]),
            '>' => self.longest(&[
                (">>", Tok::Structural(">>")),
                (">=", Tok::Ge),
                (">", Tok::Gt),
            ]),
            '<' => self.longest(&[
                ("<<", Tok::Structural("<<")),
                ("<=", Tok::Le),
                ("<", Tok::Lt),
            ]),
            '!' => self.longest(&[
                ("!>>", Tok::Structural("!>>")),
                ("!<<", Tok::Structural("!<<")),
                ("!=", Tok::Ne),
                ("!~", Tok::NotRe),
                ("!>", Tok::Structural("!>")),
                ("!<", Tok::Structural("!<")),
                ("!", Tok::Not),
            ]),
            '&' => {
                let t = self.longest(&[
                    ("&&", Tok::AndAnd),
                    ("&>>", Tok::Structural("&>>")),
                    ("&<<", Tok::Structural("&<<")),
                    ("&>", Tok::Structural("&>")),
                    ("&<", Tok::Structural("&<")),
                    ("&~", Tok::Structural("&~")),
                ]);
                if t == Tok::Eof {
                    return Err(ParseError::invalid(
                        start,
                        "unexpected \"&\"; use \"&&\" to combine conditions",
                    ));
                }
                t
            }
            '"' | '`' => Tok::Str(self.string()?),
            '.' => {
                self.pos += 1;
                let name = self.attribute_name(start)?;
                Tok::Attr(String::new(), name)
            }
            c if c.is_ascii_digit() => self.number()?,
            c if c.is_alphabetic() || c == '_' => self.word()?,
            c => {
                return Err(ParseError::invalid(
                    start,
                    format!("unexpected character {c:?}"),
                ));
            }
        };
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    fn fixed(&mut self, len: usize, tok: Tok) -> Tok {
        self.pos += len;
        tok
    }

    /// The first of `options` whose text starts the rest; [`Tok::Eof`] when none does.
    fn longest(&mut self, options: &[(&str, Tok)]) -> Tok {
        for (text, tok) in options {
            if self.rest().starts_with(text) {
                self.pos += text.len();
                return tok.clone();
            }
        }
        Tok::Eof
    }

    /// A `"…"` string with Go's escapes, or a `` `…` `` raw string.
    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        let quote = self.peek();
        self.pos += 1;
        let mut out = String::new();
        if quote == Some('`') {
            let Some(len) = self.rest().find('`') else {
                return Err(ParseError::invalid(
                    start,
                    "this string has no closing \"`\"",
                ));
            };
            out.push_str(&self.rest()[..len]);
            self.pos += len + 1;
            return Ok(out);
        }
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError::invalid(
                    start,
                    "this string has no closing quote (\")",
                ));
            };
            let at = self.pos;
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape(at)?),
                '\n' => {
                    return Err(ParseError::invalid(
                        at,
                        "a newline inside a string must be written \\n",
                    ));
                }
                c => out.push(c),
            }
        }
    }

    /// The character an escape after `\` (at `at`) stands for.
    fn escape(&mut self, at: usize) -> Result<char, ParseError> {
        let Some(c) = self.peek() else {
            return Err(ParseError::invalid(at, "the string ends inside an escape"));
        };
        self.pos += c.len_utf8();
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            '\'' => Some('\''),
            _ => None,
        };
        if let Some(s) = simple {
            return Ok(s);
        }
        let digits = match c {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            _ => {
                return Err(ParseError::invalid(
                    at,
                    format!("unknown escape \"\\{c}\" in a string; write a backslash as \"\\\\\""),
                ));
            }
        };
        let hex = self.rest().get(..digits).unwrap_or("");
        let code = (hex.len() == digits && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u32::from_str_radix(hex, 16).ok())
            .flatten();
        let Some(ch) = code.and_then(char::from_u32) else {
            return Err(ParseError::invalid(
                at,
                format!("\"\\{c}\" must be followed by {digits} hex digits of a valid character"),
            ));
        };
        self.pos += digits;
        Ok(ch)
    }

    /// An attribute name after its prefix: bare characters and quoted parts.
    fn attribute_name(&mut self, start: usize) -> Result<String, ParseError> {
        let mut name = String::new();
        loop {
            match self.peek() {
                Some('"') => {
                    let quote_at = self.pos;
                    self.pos += 1;
                    loop {
                        match self.peek() {
                            None => {
                                return Err(ParseError::invalid(
                                    quote_at,
                                    "this quoted attribute name has no closing quote (\")",
                                ));
                            }
                            Some('"') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\\') => {
                                let at = self.pos;
                                self.pos += 1;
                                match self.peek() {
                                    Some(c @ ('"' | '\\')) => {
                                        self.pos += 1;
                                        name.push(c);
                                    }
                                    _ => {
                                        return Err(ParseError::invalid(
                                            at,
                                            "only \\\" and \\\\ may be escaped in an attribute name",
                                        ));
                                    }
                                }
                            }
                            Some(c) => {
                                self.pos += c.len_utf8();
                                name.push(c);
                            }
                        }
                    }
                }
                Some(c) if is_attribute_char(c) => {
                    self.pos += c.len_utf8();
                    name.push(c);
                }
                _ => break,
            }
        }
        if name.is_empty() {
            let prefix = &self.text[start..self.pos];
            return Err(ParseError::invalid(
                self.pos,
                format!("expected an attribute name after {prefix:?}"),
            ));
        }
        Ok(name)
    }

    /// An integer, float or duration.
    fn number(&mut self) -> Result<Tok, ParseError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let mut end = start;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let mut is_float = false;
        if end + 1 < bytes.len() && bytes[end] == b'.' && bytes[end + 1].is_ascii_digit() {
            is_float = true;
            end += 1;
            while end < bytes.len() && bytes[end].is_ascii_digit() {
                end += 1;
            }
        }
        let after = self.text[end..].chars().next();
        if after.is_some_and(|c| c.is_alphabetic()) {
            // An exponent (`1e5`, `2.5E-3`) or a duration unit.
            let exp_len = exponent_len(&self.text[end..]);
            if exp_len > 0 {
                let text = &self.text[start..end + exp_len];
                self.pos = end + exp_len;
                return float(text, start);
            }
            return match scan_go_duration(&self.text[start..]) {
                Ok((ns, len)) => {
                    self.pos = start + len;
                    Ok(Tok::Duration(ns))
                }
                Err(DurationError::Unit(at, unit)) => Err(ParseError::invalid(
                    start + at,
                    format!(
                        "unknown duration unit {unit:?}; use ns, us, µs, ms, s, m, h, d, w or y"
                    ),
                )),
                Err(DurationError::Syntax(at)) => Err(ParseError::invalid(
                    start + at,
                    "expected a number and a unit in this duration, as in 1h30m",
                )),
                Err(DurationError::Overflow) => Err(ParseError::invalid(
                    start,
                    "this duration is too long (the most is about 584 years)",
                )),
            };
        }
        let text = &self.text[start..end];
        self.pos = end;
        if is_float {
            float(text, start)
        } else {
            text.parse().map(Tok::Int).map_err(|_| {
                ParseError::invalid(
                    start,
                    format!("the integer {text} is too large (the most is {})", i64::MAX),
                )
            })
        }
    }

    /// A keyword, `scope:intrinsic` or `scope.attribute`.
    fn word(&mut self) -> Result<Tok, ParseError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_alphanumeric() || c == '_' {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
        let word = &self.text[start..self.pos];
        match self.peek() {
            Some('.') if ATTRIBUTE_SCOPES.contains(&word) => {
                let word = word.to_owned();
                self.pos += 1;
                let name = self.attribute_name(start)?;
                Ok(Tok::Attr(word, name))
            }
            Some(':')
                if INTRINSIC_SCOPES.contains(&word)
                    && self
                        .peek_at(1)
                        .is_some_and(|c| c.is_alphabetic() || c == '_') =>
            {
                let word = word.to_owned();
                self.pos += 1;
                let name_start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_alphanumeric() || c == '_' {
                        self.pos += c.len_utf8();
                    } else {
                        break;
                    }
                }
                Ok(Tok::ScopedIntrinsic(
                    word,
                    self.text[name_start..self.pos].to_owned(),
                ))
            }
            _ => Ok(Tok::Word(word.to_owned())),
        }
    }
}

/// The length of an exponent (`e5`, `E-3`) at the start of `text`, or 0.
fn exponent_len(text: &str) -> usize {
    let b = text.as_bytes();
    if b.first().is_none_or(|c| *c != b'e' && *c != b'E') {
        return 0;
    }
    let mut i = 1;
    if b.get(i).is_some_and(|c| *c == b'+' || *c == b'-') {
        i += 1;
    }
    let digits_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    if i == digits_start { 0 } else { i }
}

/// A float literal at `start`. Literals past `f64`'s range are refused: they would be
/// infinite, which has no TraceQL spelling (the canonical text must parse again).
fn float(text: &str, start: usize) -> Result<Tok, ParseError> {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Tok::Float(f)),
        Ok(_) => {
            let shown: String = text.chars().take(40).collect();
            Err(ParseError::invalid(
                start,
                format!("the number {shown}… is too large (the most is about 1.8e308)"),
            ))
        }
        Err(_) => Err(ParseError::invalid(
            start,
            format!("{text:?} is not a valid number"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokenize(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn reads_attribute_names_whole() {
        assert_eq!(
            toks("{resource.service.name=\"a\"}"),
            [
                Tok::LBrace,
                Tok::Attr("resource".into(), "service.name".into()),
                Tok::Eq,
                Tok::Str("a".into()),
                Tok::RBrace,
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#"span."a \"b\"".c .x-y"#),
            [
                Tok::Attr("span".into(), "a \"b\".c".into()),
                Tok::Attr(String::new(), "x-y".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("trace:id span:parentID"),
            [
                Tok::ScopedIntrinsic("trace".into(), "id".into()),
                Tok::ScopedIntrinsic("span".into(), "parentID".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn reads_numbers_and_durations() {
        assert_eq!(
            toks("1 2.5 1.5s 1h30m 3e2 -4"),
            [
                Tok::Int(1),
                Tok::Float(2.5),
                Tok::Duration(1_500_000_000),
                Tok::Duration(5_400_000_000_000),
                Tok::Float(300.0),
                Tok::Minus,
                Tok::Int(4),
                Tok::Eof
            ]
        );
        let err = tokenize("{ duration > 5x }").unwrap_err();
        assert_eq!(err.position(), 14);
    }

    #[test]
    fn reads_operators_longest_first() {
        assert_eq!(
            toks("!>> !~ != ! && &>> || | =~ >= >>"),
            [
                Tok::Structural("!>>"),
                Tok::NotRe,
                Tok::Ne,
                Tok::Not,
                Tok::AndAnd,
                Tok::Structural("&>>"),
                Tok::OrOr,
                Tok::Pipe,
                Tok::Re,
                Tok::Ge,
                Tok::Structural(">>"),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn unescapes_strings() {
        assert_eq!(
            toks(r#""a\\.b\"\n\u00e9" `raw\n`"#),
            [
                Tok::Str("a\\.b\"\né".into()),
                Tok::Str("raw\\n".into()),
                Tok::Eof
            ]
        );
        assert_eq!(tokenize(r#""a\qb""#).unwrap_err().position(), 2);
        assert_eq!(tokenize(r#"{ .a = "abc }"#).unwrap_err().position(), 7);
    }
}
