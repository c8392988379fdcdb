//! Attribute access and rendering.
//!
//! Attributes stay in OTLP's own `KeyValue` form, moved out of the decoded request, so nothing
//! is copied on the way in. These helpers read them.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use std::fmt::Write as _;

/// Finds the value of `key` among `attrs` (the last one wins if a sender repeated a key).
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attrs
        .iter()
        .rev()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// The string value of `key`, if it is a string.
pub fn get_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match get(attrs, key)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// The integer value of `key`, accepting integers, whole doubles and numeric strings, since
/// instrumentations disagree on the type of token counts.
pub fn get_i64(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match get(attrs, key)? {
        Value::IntValue(i) => Some(*i),
        Value::DoubleValue(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The floating-point value of `key`, accepting doubles, integers and numeric strings.
pub fn get_f64(attrs: &[KeyValue], key: &str) -> Option<f64> {
    match get(attrs, key)? {
        Value::DoubleValue(d) => Some(*d),
        Value::IntValue(i) => Some(*i as f64),
        Value::StringValue(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Builds a string attribute.
pub fn string(key: impl Into<String>, value: impl Into<String>) -> KeyValue {
    kv(key, Value::StringValue(value.into()))
}

/// Builds an integer attribute.
pub fn int(key: impl Into<String>, value: i64) -> KeyValue {
    kv(key, Value::IntValue(value))
}

/// Builds a double attribute.
pub fn double(key: impl Into<String>, value: f64) -> KeyValue {
    kv(key, Value::DoubleValue(value))
}

/// Builds a boolean attribute.
pub fn boolean(key: impl Into<String>, value: bool) -> KeyValue {
    kv(key, Value::BoolValue(value))
}

/// Builds an attribute from any value.
pub fn kv(key: impl Into<String>, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// Renders a value as the archive's string form: strings as they are, everything else as
/// JSON (bytes as a hex string). Appends to `out` so callers can reuse one buffer.
pub fn render_into(value: Option<&Value>, out: &mut String) {
    match value {
        Some(Value::StringValue(s)) => out.push_str(s),
        other => render_json(other, out),
    }
}

/// Renders a value as JSON text.
pub fn render_json(value: Option<&Value>, out: &mut String) {
    match value {
        None => out.push_str("null"),
        Some(Value::StringValue(s)) => push_json_string(s, out),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(d)) => {
            if d.is_finite() {
                let _ = write!(out, "{d}");
            } else {
                // JSON has no NaN or infinity; keep the information as a string.
                push_json_string(&d.to_string(), out);
            }
        }
        Some(Value::BytesValue(b)) => push_json_string(&hex::encode(b), out),
        Some(Value::ArrayValue(arr)) => {
            out.push('[');
            for (i, v) in arr.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_json(v.value.as_ref(), out);
            }
            out.push(']');
        }
        Some(Value::KvlistValue(list)) => {
            out.push('{');
            for (i, kv) in list.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(&kv.key, out);
                out.push(':');
                render_json(kv.value.as_ref().and_then(|v| v.value.as_ref()), out);
            }
            out.push('}');
        }
        // OTLP's string-table reference is only meaningful inside a profiles request.
        Some(Value::StringValueStrindex(i)) => {
            let _ = write!(out, "{i}");
        }
    }
}

fn push_json_string(s: &str, out: &mut String) {
    // serde_json escapes exactly as JSON requires; writing to a String cannot fail.
    if let Ok(text) = serde_json::to_string(s) {
        out.push_str(&text);
    }
}

/// Approximate in-memory size of attributes, for byte bounds.
pub fn estimated_bytes(attrs: &[KeyValue]) -> usize {
    attrs
        .iter()
        .map(|kv| kv.key.len() + value_bytes(kv.value.as_ref().and_then(|v| v.value.as_ref())) + 16)
        .sum()
}

/// Approximate in-memory size of one value (a log body), for byte bounds.
pub fn any_value_estimated_bytes(value: &AnyValue) -> usize {
    value_bytes(value.value.as_ref()) + 8
}

/// A string [`AnyValue`], such as a log body.
pub fn string_value(value: impl Into<String>) -> AnyValue {
    AnyValue {
        value: Some(Value::StringValue(value.into())),
    }
}

fn value_bytes(value: Option<&Value>) -> usize {
    match value {
        None => 0,
        Some(Value::StringValue(s)) => s.len(),
        Some(Value::BytesValue(b)) => b.len(),
        Some(Value::ArrayValue(a)) => a
            .values
            .iter()
            .map(|v| value_bytes(v.value.as_ref()) + 8)
            .sum(),
        Some(Value::KvlistValue(l)) => estimated_bytes(&l.values),
        Some(_) => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn render(v: Value) -> String {
        let mut s = String::new();
        render_into(Some(&v), &mut s);
        s
    }

    #[test]
    fn renders_strings_plain_and_the_rest_as_json() {
        assert_eq!(render(Value::StringValue("a\"b".into())), "a\"b");
        assert_eq!(render(Value::IntValue(-3)), "-3");
        assert_eq!(render(Value::BoolValue(true)), "true");
        assert_eq!(render(Value::DoubleValue(0.5)), "0.5");
        assert_eq!(render(Value::BytesValue(vec![0xab, 1])), "\"ab01\"");
        let arr = Value::ArrayValue(ArrayValue {
            values: vec![
                AnyValue {
                    value: Some(Value::StringValue("x\n".into())),
                },
                AnyValue {
                    value: Some(Value::IntValue(1)),
                },
            ],
        });
        assert_eq!(render(arr), r#"["x\n",1]"#);
        let list = Value::KvlistValue(KeyValueList {
            values: vec![int("n", 2), string("s", "t")],
        });
        assert_eq!(render(list), r#"{"n":2,"s":"t"}"#);
    }

    #[test]
    fn reads_numbers_leniently_and_last_key_wins() {
        let attrs = vec![
            int("a", 1),
            string("b", " 42 "),
            double("c", 3.0),
            int("a", 2),
        ];
        assert_eq!(get_i64(&attrs, "a"), Some(2));
        assert_eq!(get_i64(&attrs, "b"), Some(42));
        assert_eq!(get_i64(&attrs, "c"), Some(3));
        assert_eq!(get_f64(&attrs, "a"), Some(2.0));
        assert_eq!(get_str(&attrs, "a"), None);
        assert_eq!(get_str(&attrs, "missing"), None);
    }
}
