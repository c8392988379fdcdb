//! The archive's string form of an attribute value → the OTLP value it was rendered from.
//!
//! The encoder writes string values as they are and every other value as JSON
//! ([`attr::render_into`]). [`parse_rendered`] undoes that for the values span attributes
//! take by the OTel spec: a text becomes a bool, an integer, a double, bytes, or a
//! homogeneous array of primitives **only when rendering that value gives back exactly the
//! same text**, so decoding and re-encoding never changes a byte; anything else stays a
//! string.
//!
//! Key-value lists and arrays of arrays, lists or mixed types (OTLP `AnyValue`s the spec
//! keeps to logs) stay strings: compact JSON *strings* (`gen_ai.input.messages` of
//! `[{"role":"user",...}]`, an Elasticsearch `db.query.text`) are far more common in span
//! attributes, and they must not turn into structures. [`typed_any`] reads those too, for
//! callers that know a value was typed (the LLM columns say so for canonical keys).
//!
//! What the text alone cannot tell apart (a string that looks like a rendered value comes
//! back typed):
//! - a string `"200"` and the integer 200; `"true"` and the boolean; `"0.5"` and the double;
//! - a whole double and the integer with the same digits (`1000.0` renders `1000`): it
//!   comes back an integer;
//! - a string `"[1,2]"` and the array;
//! - bytes and a string holding a quoted hex text (`"\"ab01\""`): bytes win; a quoted
//!   `"NaN"`, `"inf"` or `"-inf"` is the non-finite double;
//! - inside arrays, quoted texts are strings (never bytes or non-finite doubles);
//! - an OTLP string-table reference (`string_value_strindex`) comes back an integer;
//! - a key-value list or a mixed array comes back as its JSON text, a string (and, with
//!   [`typed_any`], one nested deeper than [`MAX_DEPTH`]).

use std::iter::Peekable;
use std::str::CharIndices;
use tracegate_model::attr;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::proto::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};

/// Arrays and key-value lists nested deeper than this stay strings, even for [`typed_any`].
pub const MAX_DEPTH: usize = 32;

/// The value `text` was rendered from: a primitive or a homogeneous array of primitives when
/// its rendering is exactly `text`, else the string itself. `scratch` is a reusable buffer.
pub fn parse_rendered(text: &str, scratch: &mut String) -> Value {
    match typed(text, scratch) {
        Some(v) => v,
        None => Value::StringValue(text.to_owned()),
    }
}

/// The primitive or homogeneous array of primitives whose rendering is exactly `text`, if
/// there is one.
pub fn typed(text: &str, scratch: &mut String) -> Option<Value> {
    typed_inner(text, scratch, false)
}

/// As [`typed`], and also key-value lists and arrays of any values.
pub fn typed_any(text: &str, scratch: &mut String) -> Option<Value> {
    typed_inner(text, scratch, true)
}

/// True for an array the OTel spec allows as a span attribute: primitives of one type
/// (integers and doubles count as one: numbers), nulls allowed.
fn is_homogeneous(values: &[AnyValue]) -> bool {
    let kind = |v: &AnyValue| match v.value.as_ref() {
        None => Some(0),
        Some(Value::StringValue(_)) => Some(1),
        Some(Value::BoolValue(_)) => Some(2),
        Some(Value::IntValue(_) | Value::DoubleValue(_)) => Some(3),
        _ => None,
    };
    let mut seen = 0;
    for v in values {
        match kind(v) {
            None => return false,
            Some(0) => {}
            Some(k) if seen == 0 || seen == k => seen = k,
            Some(_) => return false,
        }
    }
    true
}

fn typed_inner(text: &str, scratch: &mut String, any: bool) -> Option<Value> {
    let first = *text.as_bytes().first()?;
    let value = match first {
        b't' if text == "true" => return Some(Value::BoolValue(true)),
        b'f' if text == "false" => return Some(Value::BoolValue(false)),
        b'-' | b'0'..=b'9' => return number(text, scratch),
        b'"' => {
            let mut p = Parser::new(text);
            let s = p.string()?;
            p.end()?;
            match s.as_str() {
                "NaN" => Value::DoubleValue(f64::NAN),
                "inf" => Value::DoubleValue(f64::INFINITY),
                "-inf" => Value::DoubleValue(f64::NEG_INFINITY),
                _ => Value::BytesValue(unhex(&s)?),
            }
        }
        b'[' | b'{' => {
            let mut p = Parser::new(text);
            let v = p.value(0)?.value?;
            p.end()?;
            match &v {
                Value::ArrayValue(arr) if any || is_homogeneous(&arr.values) => v,
                Value::KvlistValue(_) if any => v,
                _ => return None,
            }
        }
        _ => return None,
    };
    scratch.clear();
    attr::render_into(Some(&value), scratch);
    (scratch.as_str() == text).then_some(value)
}

/// An integer or a finite double that renders exactly as `text`.
fn number(text: &str, scratch: &mut String) -> Option<Value> {
    use std::fmt::Write as _;
    if let Ok(i) = text.parse::<i64>() {
        scratch.clear();
        let _ = write!(scratch, "{i}");
        if scratch.as_str() == text {
            return Some(Value::IntValue(i));
        }
    }
    // `-0` is the double -0.0; other texts an integer does not render as may be doubles.
    let d = text.parse::<f64>().ok().filter(|d| d.is_finite())?;
    scratch.clear();
    let _ = write!(scratch, "{d}");
    (scratch.as_str() == text).then_some(Value::DoubleValue(d))
}

/// Lowercase hex of even length (how bytes are rendered) → the bytes.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// A small JSON reader that keeps what `serde_json::Value` loses: the order and repetition
/// of object keys, and the exact text of numbers.
struct Parser<'a> {
    text: &'a str,
    chars: Peekable<CharIndices<'a>>,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            chars: text.char_indices().peekable(),
        }
    }

    fn end(&mut self) -> Option<()> {
        self.chars.peek().is_none().then_some(())
    }

    fn eat(&mut self, c: char) -> Option<()> {
        (self.chars.next()?.1 == c).then_some(())
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().map(|&(_, c)| c)
    }

    /// One value; the renderer writes no whitespace, so none is accepted.
    fn value(&mut self, depth: usize) -> Option<AnyValue> {
        if depth > MAX_DEPTH {
            return None;
        }
        let value = match self.peek()? {
            '"' => Some(Value::StringValue(self.string()?)),
            '[' => {
                self.eat('[')?;
                let mut values = Vec::new();
                if self.peek()? == ']' {
                    self.eat(']')?;
                } else {
                    loop {
                        values.push(self.value(depth + 1)?);
                        match self.chars.next()?.1 {
                            ',' => continue,
                            ']' => break,
                            _ => return None,
                        }
                    }
                }
                Some(Value::ArrayValue(ArrayValue { values }))
            }
            '{' => {
                self.eat('{')?;
                let mut values = Vec::new();
                if self.peek()? == '}' {
                    self.eat('}')?;
                } else {
                    loop {
                        let key = self.string()?;
                        self.eat(':')?;
                        let value = self.value(depth + 1)?;
                        values.push(KeyValue {
                            key,
                            value: value.value.is_some().then_some(value),
                            ..Default::default()
                        });
                        match self.chars.next()?.1 {
                            ',' => continue,
                            '}' => break,
                            _ => return None,
                        }
                    }
                }
                Some(Value::KvlistValue(KeyValueList { values }))
            }
            't' => self.word("true").map(|_| Value::BoolValue(true)),
            'f' => self.word("false").map(|_| Value::BoolValue(false)),
            'n' => {
                self.word("null")?;
                None
            }
            '-' | '0'..='9' => Some(self.nested_number()?),
            _ => return None,
        };
        Some(AnyValue { value })
    }

    fn word(&mut self, word: &str) -> Option<()> {
        word.chars().try_for_each(|c| self.eat(c))
    }

    /// A number inside an array or list: an integer when its text is one, else a double.
    fn nested_number(&mut self) -> Option<Value> {
        let start = self.chars.peek()?.0;
        let mut end = start;
        while let Some(&(i, c)) = self.chars.peek() {
            if !matches!(c, '-' | '+' | '.' | 'e' | 'E' | '0'..='9') {
                break;
            }
            end = i + c.len_utf8();
            self.chars.next();
        }
        let text = self.text.get(start..end)?;
        match text.parse::<i64>() {
            Ok(i) if text != "-0" => Some(Value::IntValue(i)),
            _ => text.parse::<f64>().ok().map(Value::DoubleValue),
        }
    }

    /// A JSON string, unescaped.
    fn string(&mut self) -> Option<String> {
        self.eat('"')?;
        let mut out = String::new();
        loop {
            match self.chars.next()?.1 {
                '"' => return Some(out),
                '\\' => match self.chars.next()?.1 {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let high = self.hex4()?;
                        let code = if (0xd800..0xdc00).contains(&high) {
                            self.eat('\\')?;
                            self.eat('u')?;
                            let low = self.hex4()?;
                            if !(0xdc00..0xe000).contains(&low) {
                                return None;
                            }
                            0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
                        } else {
                            high
                        };
                        out.push(char::from_u32(code)?);
                    }
                    _ => return None,
                },
                c if u32::from(c) < 0x20 => return None,
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut n = 0;
        for _ in 0..4 {
            n = n * 16 + self.chars.next()?.1.to_digit(16)?;
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn render(v: &Value) -> String {
        let mut s = String::new();
        attr::render_into(Some(v), &mut s);
        s
    }

    fn some(v: Value) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn golden_typed_values() {
        let mut s = String::new();
        let p = |t: &str, s: &mut String| match typed_any(t, s) {
            Some(v) => v,
            None => Value::StringValue(t.to_owned()),
        };
        assert_eq!(p("200", &mut s), Value::IntValue(200));
        assert_eq!(p("-3", &mut s), Value::IntValue(-3));
        assert_eq!(p("0.5", &mut s), Value::DoubleValue(0.5));
        assert_eq!(p("true", &mut s), Value::BoolValue(true));
        assert_eq!(p("\"ab01\"", &mut s), Value::BytesValue(vec![0xab, 1]));
        assert!(matches!(p("\"NaN\"", &mut s), Value::DoubleValue(d) if d.is_nan()));
        assert_eq!(
            p(r#"["x\n",1,null]"#, &mut s),
            Value::ArrayValue(ArrayValue {
                values: vec![
                    some(Value::StringValue("x\n".into())),
                    some(Value::IntValue(1)),
                    AnyValue { value: None }
                ]
            })
        );
        assert_eq!(
            p(r#"{"n":2,"s":"t","n":2.5}"#, &mut s),
            Value::KvlistValue(KeyValueList {
                values: vec![
                    attr::int("n", 2),
                    attr::string("s", "t"),
                    attr::double("n", 2.5)
                ]
            })
        );
    }

    #[test]
    fn only_spec_attribute_types_are_read_without_a_hint() {
        let mut s = String::new();
        assert_eq!(
            parse_rendered("[\"stop\",null,\"length\"]", &mut s),
            Value::ArrayValue(ArrayValue {
                values: vec![
                    some(Value::StringValue("stop".into())),
                    AnyValue { value: None },
                    some(Value::StringValue("length".into()))
                ]
            })
        );
        assert!(matches!(
            parse_rendered("[1,2.5,-3]", &mut s),
            Value::ArrayValue(_)
        ));
        assert!(matches!(parse_rendered("[]", &mut s), Value::ArrayValue(_)));
        for text in [
            r#"[{"role":"user","content":"hi"}]"#,
            r#"{"size":24,"query":{"match":{"body":"?"}}}"#,
            r#"[1,"a"]"#,
            "[[1]]",
            "{}",
        ] {
            assert_eq!(
                parse_rendered(text, &mut s),
                Value::StringValue(text.into()),
                "{text}"
            );
            assert!(typed_any(text, &mut s).is_some(), "{text}");
        }
    }

    #[test]
    fn texts_that_no_value_renders_as_stay_strings() {
        let mut s = String::new();
        for text in [
            "",
            " 300 ",
            "007",
            "+1",
            "1.0",
            "1e3",
            "True",
            "null",
            "\"hello\"",
            "\"ABCD\"",
            "\"abc\"",
            "[1, 2]",
            "{\"a\":1",
            "[1]x",
            "gpt-4o",
            "-",
            "inf",
            "NaN",
            "{\"b\":01}",
        ] {
            assert_eq!(
                parse_rendered(text, &mut s),
                Value::StringValue(text.to_owned()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn nesting_past_the_limit_stays_a_string() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 2), "]".repeat(MAX_DEPTH + 2));
        let mut s = String::new();
        assert_eq!(typed_any(&deep, &mut s), None);
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(matches!(typed_any(&ok, &mut s), Some(Value::ArrayValue(_))));
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<String>().prop_map(Value::StringValue),
            "[0-9a-z\"\\[\\]{},:.-]{0,8}".prop_map(Value::StringValue),
            any::<bool>().prop_map(Value::BoolValue),
            any::<i64>().prop_map(Value::IntValue),
            any::<f64>().prop_map(Value::DoubleValue),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(Value::BytesValue),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(proptest::option::of(inner.clone()), 0..4).prop_map(
                    |vs| Value::ArrayValue(ArrayValue {
                        values: vs.into_iter().map(|value| AnyValue { value }).collect()
                    })
                ),
                proptest::collection::vec(("[a-z\"]{0,3}", proptest::option::of(inner)), 0..4)
                    .prop_map(|kvs| Value::KvlistValue(KeyValueList {
                        values: kvs
                            .into_iter()
                            .map(|(key, v)| KeyValue {
                                key,
                                value: v.map(some),
                                ..Default::default()
                            })
                            .collect()
                    })),
            ]
        })
    }

    proptest! {
        /// Whatever the value, decoding its rendering and rendering again gives the same
        /// text; with [`typed_any`], a non-string value comes back typed, and without, a
        /// primitive or homogeneous array does.
        #[test]
        fn rendering_round_trips(v in value()) {
            let text = render(&v);
            let mut s = String::new();
            let back = parse_rendered(&text, &mut s);
            prop_assert_eq!(render(&back), text.clone());
            let any = typed_any(&text, &mut s);
            if !matches!(v, Value::StringValue(_)) {
                prop_assert!(any.is_some(), "{:?} came back a string", text);
            }
            prop_assert_eq!(render(&any.unwrap_or(Value::StringValue(text.clone()))), text.clone());
            let spec = match &v {
                Value::ArrayValue(a) => is_homogeneous(&a.values)
                    && a.values.iter().all(|e| !matches!(e.value, Some(Value::BytesValue(_)))
                        && !matches!(e.value, Some(Value::DoubleValue(d)) if !d.is_finite())),
                Value::KvlistValue(_) | Value::StringValue(_) => false,
                _ => true,
            };
            if spec {
                prop_assert!(!matches!(back, Value::StringValue(_)), "{:?} came back a string", text);
            }
        }
    }
}
