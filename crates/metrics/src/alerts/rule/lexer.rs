//! The rule language's lexer: text → [`Token`]s, each with the byte offset it starts at.
//!
//! Words (`error_ratio`, `p95`, `attr.gen_ai.request.model`, `llm-service`) are one token:
//! they start with a letter or `_` and go on with letters, digits and `_ . - / :`. A number
//! directly followed by letters is a duration (`500ms`, `10s`, `5m`, `1h`); any other unit
//! is an error. Strings are double-quoted, with `\"` and `\\` as the only escapes.

use super::RuleError;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenKind {
    /// A word: keyword, function, key or bare literal.
    Word(String),
    /// A plain number, with its text (kept so a literal `200` compares as written).
    Number(f64, String),
    /// A number with a unit, in seconds, with its text.
    Duration(f64, String),
    /// A double-quoted string, unescaped.
    Str(String),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `,`
    Comma,
    /// `=` (filters)
    Eq,
    /// `==`
    EqEq,
    /// `!=`
    NotEq,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// The end of the rule.
    End,
}

impl TokenKind {
    /// How an error message names the token.
    pub fn describe(&self) -> String {
        match self {
            TokenKind::Word(w) => format!("`{w}`"),
            TokenKind::Number(_, t) | TokenKind::Duration(_, t) => format!("`{t}`"),
            TokenKind::Str(s) => format!("\"{s}\""),
            TokenKind::LParen => "`(`".into(),
            TokenKind::RParen => "`)`".into(),
            TokenKind::Comma => "`,`".into(),
            TokenKind::Eq => "`=`".into(),
            TokenKind::EqEq => "`==`".into(),
            TokenKind::NotEq => "`!=`".into(),
            TokenKind::Gt => "`>`".into(),
            TokenKind::Ge => "`>=`".into(),
            TokenKind::Lt => "`<`".into(),
            TokenKind::Le => "`<=`".into(),
            TokenKind::End => "the end of the rule".into(),
        }
    }
}

/// A token and the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Byte offset in the rule text.
    pub pos: usize,
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/:".contains(c)
}

/// Splits `text` into tokens, ending with [`TokenKind::End`].
pub fn lex(text: &str) -> Result<Vec<Token>, RuleError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = char::from(bytes[i]);
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let two = |second: u8| bytes.get(i + 1) == Some(&second);
        let kind = match c {
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            ',' => Some(TokenKind::Comma),
            '=' if two(b'=') => Some(TokenKind::EqEq),
            '=' => Some(TokenKind::Eq),
            '!' if two(b'=') => Some(TokenKind::NotEq),
            '>' if two(b'=') => Some(TokenKind::Ge),
            '>' => Some(TokenKind::Gt),
            '<' if two(b'=') => Some(TokenKind::Le),
            '<' => Some(TokenKind::Lt),
            _ => None,
        };
        if let Some(kind) = kind {
            i += match kind {
                TokenKind::EqEq | TokenKind::NotEq | TokenKind::Ge | TokenKind::Le => 2,
                _ => 1,
            };
            out.push(Token { kind, pos: start });
            continue;
        }
        if c == '"' {
            let (s, next) = string(text, start)?;
            out.push(Token {
                kind: TokenKind::Str(s),
                pos: start,
            });
            i = next;
            continue;
        }
        if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let num_text = &text[start..i];
            let value: f64 = num_text
                .parse()
                .map_err(|_| RuleError::new(start, format!("`{num_text}` is not a number")))?;
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &text[unit_start..i];
            let kind = if unit.is_empty() {
                TokenKind::Number(value, num_text.to_owned())
            } else {
                let scale = match unit {
                    "ms" => 1e-3,
                    "s" => 1.0,
                    "m" => 60.0,
                    "h" => 3600.0,
                    _ => {
                        return Err(RuleError::new(
                            unit_start,
                            format!("unknown unit `{unit}`; expected ms, s, m or h"),
                        ));
                    }
                };
                TokenKind::Duration(value * scale, text[start..i].to_owned())
            };
            out.push(Token { kind, pos: start });
            continue;
        }
        if is_word_start(c) {
            while i < bytes.len() && is_word_char(char::from(bytes[i])) {
                i += 1;
            }
            out.push(Token {
                kind: TokenKind::Word(text[start..i].to_owned()),
                pos: start,
            });
            continue;
        }
        let ch = text[start..].chars().next().unwrap_or(c);
        return Err(RuleError::new(
            start,
            format!("unexpected character `{ch}`"),
        ));
    }
    out.push(Token {
        kind: TokenKind::End,
        pos: text.len(),
    });
    Ok(out)
}

/// Reads the string starting at the quote at `start`; returns it and the offset after it.
fn string(text: &str, start: usize) -> Result<(String, usize), RuleError> {
    let mut out = String::new();
    let mut chars = text[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        match c {
            '"' => return Ok((out, start + 1 + off + 1)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some((eoff, e)) => {
                    return Err(RuleError::new(
                        start + 1 + eoff,
                        format!("unknown escape `\\{e}`; only \\\" and \\\\ are allowed"),
                    ));
                }
                None => break,
            },
            c => out.push(c),
        }
    }
    Err(RuleError::new(
        start,
        "unterminated string: expected a closing `\"`",
    ))
}
