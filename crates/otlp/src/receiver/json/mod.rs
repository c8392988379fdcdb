//! OTLP/JSON: decoding `ExportTraceServiceRequest` and `ExportLogsServiceRequest`, and
//! encoding the responses.
//!
//! OTLP/JSON is proto3's JSON mapping with OTLP's deviations (OTLP spec, "JSON Protobuf
//! Encoding"). `opentelemetry-proto`'s `with-serde` derives get most of it right (hex ids,
//! `intValue` as a string) but accept enums only as integers, read 32-bit counters only as
//! numbers and treat `null` as an error. So this module decodes into small mirror structs
//! whose collections are already the protobuf types; turning a mirror into its protobuf
//! message moves every field, and the request is decoded once.
//!
//! This file holds what both signals share: [`decode`], the response and status encoders,
//! the resource, scope, `KeyValue` and `AnyValue` mirrors, and the scalar readers.
//! `traces.rs` holds the span mirrors, `logs.rs` the log-record mirrors.
//!
//! What it accepts:
//! - keys in lowerCamelCase, as the spec requires, and also the original snake_case names,
//!   as the OTel Collector does (proto3's JSON mapping allows both);
//! - `traceId`, `spanId`, `parentSpanId` (of spans, links and log records) as hex, either
//!   case. Ids of the wrong length decode, so that item-level validation can reject just
//!   those spans or records;
//! - enums (`kind`, `status.code`, `severityNumber`) as integers, which the spec mandates,
//!   or as their names (`"SPAN_KIND_SERVER"`, `"SEVERITY_NUMBER_INFO"`), which proto3 JSON
//!   allows and some senders write;
//! - 64-bit integers as strings or numbers, and 32-bit ones too; doubles as numbers or
//!   `"NaN"`, `"Infinity"`, `"-Infinity"`; `bytesValue` as base64 (standard or URL-safe);
//! - `null` anywhere as the field's default; unknown keys are ignored, as the spec requires.
//!
//! Nesting is bounded by serde_json's recursion limit (128 levels), which a deeply nested
//! `arrayValue`/`kvlistValue` (in an attribute or a log body) hits as a decode error, never
//! a stack overflow. `Resource.entityRefs` is skipped: the data model does not keep it.

mod logs;
mod traces;

pub use logs::decode_logs_request;
pub use traces::decode_request;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// Decodes an OTLP/JSON request through its mirror `J`. The error says what was wrong and
/// where, such as `invalid OTLP/JSON at resourceSpans[0].scopeSpans[0].spans[1].traceId: ...`
/// (serde_json's message carries the line and column).
fn decode<J: DeserializeOwned + Into<R>, R>(body: &[u8]) -> Result<R, String> {
    match serde_json::from_slice::<J>(body) {
        Ok(request) => Ok(request.into()),
        Err(error) => {
            // Only a failed request pays for a second pass, which finds the key path.
            let mut de = serde_json::Deserializer::from_slice(body);
            let path = match serde_path_to_error::deserialize::<_, J>(&mut de) {
                Err(e) => e.path().to_string(),
                Ok(_) => ".".to_owned(),
            };
            if path == "." || path.is_empty() {
                Err(format!("invalid OTLP/JSON: {error}"))
            } else {
                Err(format!("invalid OTLP/JSON at {path}: {error}"))
            }
        }
    }
}

/// Encodes an export response as OTLP/JSON: `{}`, or `{"partialSuccess": {...}}` when
/// `partial` (rejected count, message) is set. `rejected_key` names the count:
/// `rejectedSpans` or `rejectedLogRecords`.
pub(crate) fn encode_response(rejected_key: &str, partial: Option<(i64, &str)>) -> Vec<u8> {
    struct Partial<'a> {
        key: &'a str,
        rejected: i64,
        message: &'a str,
    }
    impl Serialize for Partial<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(Some(2))?;
            // proto3 JSON writes int64 as a string.
            map.serialize_entry(self.key, &self.rejected.to_string())?;
            map.serialize_entry("errorMessage", self.message)?;
            map.end()
        }
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Response<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        partial_success: Option<Partial<'a>>,
    }
    let body = Response {
        partial_success: partial.map(|(rejected, message)| Partial {
            key: rejected_key,
            rejected,
            message,
        }),
    };
    serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
}

/// Encodes a `google.rpc.Status` as JSON.
pub(crate) fn encode_status(code: i32, message: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct JsonStatus<'a> {
        code: i32,
        message: &'a str,
    }
    serde_json::to_vec(&JsonStatus { code, message }).unwrap_or_default()
}

/// A protobuf message with a JSON mirror that converts into it by moving fields.
trait FromJson: Sized {
    type Json: DeserializeOwned + Into<Self>;
}

macro_rules! from_json {
    ($($proto:ty => $json:ty),* $(,)?) => {
        $(impl FromJson for $proto {
            type Json = $json;
        })*
    };
}
use from_json;

from_json!(
    KeyValue => JsonKeyValue,
    AnyValue => JsonAnyValue,
);

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonResource {
    #[serde(deserialize_with = "repeated")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", deserialize_with = "uint32")]
    dropped_attributes_count: u32,
}

impl From<JsonResource> for Resource {
    fn from(r: JsonResource) -> Self {
        Self {
            attributes: r.attributes,
            dropped_attributes_count: r.dropped_attributes_count,
            ..Default::default()
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonScope {
    #[serde(deserialize_with = "string")]
    name: String,
    #[serde(deserialize_with = "string")]
    version: String,
    #[serde(deserialize_with = "repeated")]
    attributes: Vec<KeyValue>,
    #[serde(alias = "dropped_attributes_count", deserialize_with = "uint32")]
    dropped_attributes_count: u32,
}

impl From<JsonScope> for InstrumentationScope {
    fn from(s: JsonScope) -> Self {
        Self {
            name: s.name,
            version: s.version,
            attributes: s.attributes,
            dropped_attributes_count: s.dropped_attributes_count,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonKeyValue {
    #[serde(deserialize_with = "string")]
    key: String,
    value: Option<JsonAnyValue>,
}

impl From<JsonKeyValue> for KeyValue {
    fn from(kv: JsonKeyValue) -> Self {
        Self {
            key: kv.key,
            value: kv.value.map(Into::into),
            ..Default::default()
        }
    }
}

/// `AnyValue`: an object with at most one of its `oneof` keys (the last one wins).
struct JsonAnyValue(Option<any_value::Value>);

impl From<JsonAnyValue> for AnyValue {
    fn from(v: JsonAnyValue) -> Self {
        Self { value: v.0 }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonValues<T: FromJson> {
    #[serde(deserialize_with = "repeated")]
    values: Vec<T>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum AnyValueKey {
    #[serde(alias = "string_value")]
    StringValue,
    #[serde(alias = "bool_value")]
    BoolValue,
    #[serde(alias = "int_value")]
    IntValue,
    #[serde(alias = "double_value")]
    DoubleValue,
    #[serde(alias = "array_value")]
    ArrayValue,
    #[serde(alias = "kvlist_value")]
    KvlistValue,
    #[serde(alias = "bytes_value")]
    BytesValue,
    #[serde(other)]
    Unknown,
}

impl<'de> Deserialize<'de> for JsonAnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonAnyValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an AnyValue object such as {\"stringValue\": \"...\"}")
            }
            fn visit_unit<E: de::Error>(self) -> Result<JsonAnyValue, E> {
                Ok(JsonAnyValue(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonAnyValue, A::Error> {
                use any_value::Value as V;
                let mut value = None;
                while let Some(key) = map.next_key::<AnyValueKey>()? {
                    let next = match key {
                        AnyValueKey::StringValue => {
                            map.next_value::<Option<String>>()?.map(V::StringValue)
                        }
                        AnyValueKey::BoolValue => {
                            map.next_value::<Option<bool>>()?.map(V::BoolValue)
                        }
                        AnyValueKey::IntValue => {
                            map.next_value::<Option<Int64>>()?.map(|i| V::IntValue(i.0))
                        }
                        AnyValueKey::DoubleValue => map
                            .next_value::<Option<Double>>()?
                            .map(|d| V::DoubleValue(d.0)),
                        AnyValueKey::BytesValue => map
                            .next_value::<Option<Base64>>()?
                            .map(|b| V::BytesValue(b.0)),
                        AnyValueKey::ArrayValue => map
                            .next_value::<Option<JsonValues<AnyValue>>>()?
                            .map(|a| V::ArrayValue(ArrayValue { values: a.values })),
                        AnyValueKey::KvlistValue => map
                            .next_value::<Option<JsonValues<KeyValue>>>()?
                            .map(|kv| V::KvlistValue(KeyValueList { values: kv.values })),
                        AnyValueKey::Unknown => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if next.is_some() {
                        value = next;
                    }
                }
                Ok(JsonAnyValue(value))
            }
        }
        d.deserialize_any(V)
    }
}

/// A repeated field: an array of mirrors, each converted as it is read; `null` is empty.
fn repeated<'de, D: Deserializer<'de>, T: FromJson>(d: D) -> Result<Vec<T>, D::Error> {
    struct V<T>(PhantomData<T>);
    impl<'de, T: FromJson> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
            while let Some(item) = seq.next_element::<T::Json>()? {
                out.push(item.into());
            }
            Ok(out)
        }
    }
    d.deserialize_any(V(PhantomData))
}

/// A string; `null` is empty.
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A trace or span id as hex (either case); `null` or `""` is empty. Any even length decodes:
/// the length is checked per span, so one bad span does not fail the request.
fn hex_id<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an id as a hex string")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<u8>, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
            hex::decode(text).map_err(|e| {
                let shown: String = text.chars().take(64).collect();
                E::custom(format!("id {shown:?} is not hex: {e}"))
            })
        }
    }
    d.deserialize_any(V)
}

fn uint64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(IntVisitor::<u64>(PhantomData))
}

fn uint32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_any(IntVisitor::<u32>(PhantomData))
}

/// An `int64`, as a string or a number.
struct Int64(i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IntVisitor::<i64>(PhantomData)).map(Int64)
    }
}

/// Reads an integer of type `T` from a number, a decimal string, or `null` (zero), as proto3
/// JSON allows for every integer type.
struct IntVisitor<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for IntVisitor<T>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr + Default,
{
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "an integer ({}) as a number or a string",
            std::any::type_name::<T>()
        )
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // proto3 JSON allows `1.0` or `1e3` for integers when the value is whole.
        if v.fract() == 0.0 && v.is_finite() && v.abs() < 9.007_199_254_740_992e15 {
            self.visit_i64(v as i64)
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom(format!("{v:?} is not an integer")))
    }
}

/// A `double`: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"` or a numeric string.
struct Double(f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = f64;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
                Ok(v as f64)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
                match v {
                    "NaN" => Ok(f64::NAN),
                    "Infinity" => Ok(f64::INFINITY),
                    "-Infinity" => Ok(f64::NEG_INFINITY),
                    _ => v
                        .trim()
                        .parse()
                        .map_err(|_| E::custom(format!("{v:?} is not a number"))),
                }
            }
        }
        d.deserialize_any(V).map(Double)
    }
}

/// `bytesValue`: base64, standard or URL-safe, with or without padding.
struct Base64(Vec<u8>);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes as a base64 string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<u8>, E> {
                decode_base64(text).map_err(E::custom)
            }
        }
        d.deserialize_str(V).map(Base64)
    }
}

fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let data = text.trim_end_matches('=');
    if text.len() - data.len() > 2 {
        return Err("invalid base64: too much padding".to_owned());
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in data.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => {
                return Err(format!(
                    "invalid base64: unexpected character {:?}",
                    c as char
                ));
            }
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err("invalid base64: truncated".to_owned());
    }
    Ok(out)
}

/// An enum as its number (the OTLP way) or its name (proto3 JSON's other way).
struct EnumVisitor {
    what: &'static str,
    example: &'static str,
    by_name: fn(&str) -> Option<i32>,
}

impl Visitor<'_> for EnumVisitor {
    type Value = i32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a {} as an integer or a name such as {:?}",
            self.what, self.example
        )
    }
    fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
        Ok(0)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format!("{} {v} is out of range", self.what)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
        i32::try_from(v).map_err(|_| E::custom(format!("{} {v} is out of range", self.what)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
        (self.by_name)(v).ok_or_else(|| {
            E::custom(format!(
                "unknown {} {v:?}: expected an integer or a name such as {:?}",
                self.what, self.example
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64_in_both_alphabets_with_and_without_padding() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("-_8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("+/8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode_base64("").unwrap(), b"");
        assert!(decode_base64("a").is_err());
        assert!(decode_base64("a!==").is_err());
    }

    #[test]
    fn encodes_responses_in_proto3_json() {
        assert_eq!(encode_response("rejectedSpans", None), b"{}");
        assert_eq!(
            String::from_utf8(encode_response("rejectedSpans", Some((2, "bad")))).unwrap(),
            r#"{"partialSuccess":{"rejectedSpans":"2","errorMessage":"bad"}}"#
        );
        assert_eq!(
            String::from_utf8(encode_response("rejectedLogRecords", Some((1, "x\"y")))).unwrap(),
            r#"{"partialSuccess":{"rejectedLogRecords":"1","errorMessage":"x\"y"}}"#
        );
        assert_eq!(encode_status(3, "no"), br#"{"code":3,"message":"no"}"#);
    }
}
