//! OTLP attributes (`KeyValue`, `AnyValue`) in jsonpb's JSON form: `stringValue`,
//! `intValue` as a string, `doubleValue`, `boolValue`, `bytesValue` in base64, and
//! `arrayValue`/`kvlistValue` holding `values`.
//!
//! A set oneof member is always written, even at its zero value (`{"intValue":"0"}`), as
//! jsonpb does; an unset value is `{}`.

use base64::Engine as _;
use serde::Serializer;
use serde::ser::SerializeSeq;
use serde_json::{Map, Value as Json};
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::proto::common::v1::{AnyValue, KeyValue};

/// Standard base64, as jsonpb writes protobuf `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One `AnyValue` as jsonpb JSON.
pub fn any_value(value: &AnyValue) -> Json {
    let mut out = Map::new();
    let Some(v) = &value.value else {
        return Json::Object(out);
    };
    let (name, json) = match v {
        Value::StringValue(s) => ("stringValue", Json::String(s.clone())),
        Value::BoolValue(b) => ("boolValue", Json::Bool(*b)),
        Value::IntValue(i) => ("intValue", Json::String(i.to_string())),
        Value::DoubleValue(d) => ("doubleValue", double(*d)),
        Value::BytesValue(b) => ("bytesValue", Json::String(base64(b))),
        Value::ArrayValue(a) => {
            let mut inner = Map::new();
            if !a.values.is_empty() {
                inner.insert(
                    "values".into(),
                    Json::Array(a.values.iter().map(any_value).collect()),
                );
            }
            ("arrayValue", Json::Object(inner))
        }
        Value::KvlistValue(list) => {
            let mut inner = Map::new();
            if !list.values.is_empty() {
                inner.insert("values".into(), key_values(&list.values));
            }
            ("kvlistValue", Json::Object(inner))
        }
        // Only meaningful inside an OTLP profiles request; Tempo's schema has no such field.
        Value::StringValueStrindex(_) => return Json::Object(out),
    };
    out.insert(name.into(), json);
    Json::Object(out)
}

/// A double as jsonpb writes it: a number, or `"NaN"`/`"Infinity"`/`"-Infinity"`.
fn double(d: f64) -> Json {
    if d.is_nan() {
        Json::String("NaN".into())
    } else if d.is_infinite() {
        Json::String(if d > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number)
    }
}

/// One `KeyValue` as jsonpb JSON (`{"key":…,"value":{…}}`).
pub fn key_value(kv: &KeyValue) -> Json {
    let mut out = Map::new();
    if !kv.key.is_empty() {
        out.insert("key".into(), Json::String(kv.key.clone()));
    }
    if let Some(v) = &kv.value {
        out.insert("value".into(), any_value(v));
    }
    Json::Object(out)
}

/// A list of attributes as a JSON array.
pub fn key_values(kvs: &[KeyValue]) -> Json {
    Json::Array(kvs.iter().map(key_value).collect())
}

/// `serialize_with` for a `Vec<KeyValue>` field.
pub(crate) fn serialize_key_values<S: Serializer>(
    kvs: &[KeyValue],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(kvs.len()))?;
    for kv in kvs {
        seq.serialize_element(&key_value(kv))?;
    }
    seq.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracegate_model::attr;
    use tracegate_model::proto::common::v1::ArrayValue;

    #[test]
    fn writes_each_value_kind_as_jsonpb() {
        let kvs = vec![
            attr::string("s", ""),
            attr::int("i", -7),
            attr::double("d", 1.5),
            attr::boolean("b", false),
            attr::kv("x", Value::BytesValue(vec![0xff, 0x00])),
            attr::kv(
                "a",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(Value::IntValue(3)),
                    }],
                }),
            ),
            attr::double("nan", f64::NAN),
        ];
        assert_eq!(
            key_values(&kvs),
            serde_json::from_str::<Json>(r#"[{"key":"s","value":{"stringValue":""}},{"key":"i","value":{"intValue":"-7"}},{"key":"d","value":{"doubleValue":1.5}},{"key":"b","value":{"boolValue":false}},{"key":"x","value":{"bytesValue":"/wA="}},{"key":"a","value":{"arrayValue":{"values":[{"intValue":"3"}]}}},{"key":"nan","value":{"doubleValue":"NaN"}}]"#).unwrap()
        );
    }

    #[test]
    fn unset_value_is_an_empty_object() {
        assert_eq!(any_value(&AnyValue { value: None }).to_string(), "{}");
    }
}
