//! Property tests of the `redaction` log processor over the PII corpora: whatever shape a
//! record has and wherever a text sits in it (a string body, a JSON body, a map body at any
//! depth, an array, an attribute, a map key, the event name, a score's fields), no personal
//! value that redaction removes from the text on its own survives in any string of the
//! redacted record. The values the corpora record as misses of the detectors themselves
//! (`hard` examples, and the few the detectors miss in plain text) are left out, and the test
//! checks that they are few, so it cannot pass by leaving everything out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList};
use proptest::prelude::*;
use std::sync::OnceLock;
use tracegate_model::log::{LogBatch, LogRecord};
use tracegate_model::{Score, attr};
use tracegate_pipeline::LogProcessor;

/// Every string of a record that can reach disk: body and attribute keys and values at any
/// depth, the event name, the severity text, the score's texts, the resource's attributes and
/// the scope's name.
pub(super) fn strings_of(r: &LogRecord, out: &mut Vec<String>) {
    fn value(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::StringValue(s) => out.push(s.clone()),
            Value::BytesValue(b) => out.push(String::from_utf8_lossy(b).into_owned()),
            Value::ArrayValue(a) => a
                .values
                .iter()
                .filter_map(|v| v.value.as_ref())
                .for_each(|v| value(v, out)),
            Value::KvlistValue(l) => kvs(&l.values, out),
            _ => {}
        }
    }
    fn kvs(list: &[KeyValue], out: &mut Vec<String>) {
        for kv in list {
            out.push(kv.key.clone());
            if let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                value(v, out);
            }
        }
    }
    if let Some(v) = r.body.as_ref().and_then(|b| b.value.as_ref()) {
        value(v, out);
    }
    kvs(&r.attributes, out);
    kvs(&r.resource.attributes, out);
    out.push(r.scope.name.clone());
    out.push(r.event_name.clone());
    out.push(r.severity_text.clone());
    if let Some(score) = r.facts.score.as_deref() {
        out.push(score.name.clone());
        for t in [
            &score.label,
            &score.explanation,
            &score.annotations,
            &score.reviewer_id,
        ]
        .into_iter()
        .flatten()
        {
            out.push(t.clone());
        }
    }
}

/// A corpus example: its text and the personal values redaction removes from it.
#[derive(Debug)]
struct Example {
    text: String,
    values: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Line {
    kind: String,
    text: String,
    entities: Vec<Entity>,
}

#[derive(serde::Deserialize)]
struct Entity {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

/// Types the detectors do not cover (national ids other than the US SSN).
const NO_DETECTOR: &[&str] = &["national_id"];

fn examples() -> &'static [Example] {
    static E: OnceLock<Vec<Example>> = OnceLock::new();
    E.get_or_init(|| {
        let redactor = Redactor::new(&RedactionConfig::default(), "").unwrap();
        let corpora = [
            include_str!("../../testdata/pii/corpus.jsonl"),
            include_str!("../../testdata/pii/faker_corpus.jsonl"),
        ];
        let (mut gold, mut kept) = (0usize, 0usize);
        let mut out = Vec::new();
        for line in corpora.iter().flat_map(|c| c.lines()) {
            if line.trim().is_empty() {
                continue;
            }
            let ex: Line = serde_json::from_str(line).unwrap();
            if ex.kind == "lookalike" || ex.kind == "hard" {
                continue;
            }
            let plain = redactor
                .redact_str(&ex.text)
                .unwrap_or_else(|| ex.text.clone());
            let mut values = Vec::new();
            for e in ex
                .entities
                .iter()
                .filter(|e| !NO_DETECTOR.contains(&e.kind.as_str()))
            {
                gold += 1;
                if !plain.contains(&e.value) {
                    kept += 1;
                    values.push(e.value.clone());
                }
            }
            if !values.is_empty() {
                out.push(Example {
                    text: ex.text,
                    values,
                });
            }
        }
        // The property covers nearly every value: only the detectors' own misses are out.
        assert!(gold > 500, "{gold} values");
        assert!(
            kept as f64 >= 0.97 * gold as f64,
            "only {kept} of {gold} values are redacted as plain text"
        );
        out
    })
}

/// Where a text goes in the record.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The whole body, as a string.
    StringBody,
    /// A field of a JSON-object string body (what a JSON log formatter writes).
    JsonBody,
    /// An element of a JSON-array string body, which stays text.
    JsonArrayBody,
    /// A value of a map body, nested `depth` maps and arrays deep.
    MapBody(usize),
    /// A key of a map body.
    MapKey,
    /// An attribute value.
    Attribute,
    /// An element of an array attribute.
    ArrayAttribute,
    /// The event name.
    EventName,
    /// The score's explanation, annotations (as JSON) or reviewer id.
    Score(usize),
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        Just(Place::StringBody),
        Just(Place::JsonBody),
        Just(Place::JsonArrayBody),
        (0usize..6).prop_map(Place::MapBody),
        Just(Place::MapKey),
        Just(Place::Attribute),
        Just(Place::ArrayAttribute),
        Just(Place::EventName),
        (0usize..3).prop_map(Place::Score),
    ]
}

fn some(v: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn kvlist(values: Vec<KeyValue>) -> Value {
    Value::KvlistValue(KeyValueList { values })
}

/// `v` nested `depth` levels deep, alternating maps and arrays.
fn nested(v: Value, depth: usize) -> Value {
    (0..depth).fold(v, |inner, level| {
        if level % 2 == 0 {
            kvlist(vec![attr::kv(format!("level{level}"), inner)])
        } else {
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue { value: Some(inner) }],
            })
        }
    })
}

/// The entries of `r`'s map body; a body that is not a map becomes the map's `message`.
fn body_entries(r: &mut LogRecord) -> &mut Vec<KeyValue> {
    if r.body_map().is_none() {
        let old = r.body.take().and_then(|b| b.value);
        let mut values = Vec::new();
        if let Some(old) = old {
            values.push(attr::kv("message", old));
        }
        r.body = some(kvlist(values));
    }
    match r.body.as_mut().and_then(|b| b.value.as_mut()) {
        Some(Value::KvlistValue(l)) => &mut l.values,
        _ => panic!("the body is a map"),
    }
}

/// Puts `text` at `place` in `r`. The body takes one text: a second body text goes into a
/// map body's fields (a string body becomes a map).
fn put(r: &mut LogRecord, text: &str, place: Place, i: usize) {
    match place {
        Place::StringBody | Place::JsonBody | Place::JsonArrayBody if r.body.is_some() => {
            body_entries(r).push(attr::string(format!("text{i}"), text));
        }
        Place::StringBody => r.body = some(Value::StringValue(text.to_owned())),
        Place::JsonBody => {
            let doc =
                serde_json::json!({"event": "llm_request", "model": "gpt-4o", "prompt": text});
            r.body = some(Value::StringValue(doc.to_string()));
        }
        Place::JsonArrayBody => {
            let doc = serde_json::json!([{"role": "user", "content": text}, 1]);
            r.body = some(Value::StringValue(doc.to_string()));
        }
        Place::MapBody(depth) => {
            let v = nested(Value::StringValue(text.to_owned()), depth);
            body_entries(r).push(attr::kv(format!("field{i}"), v));
        }
        Place::MapKey => body_entries(r).push(attr::int(text, 1)),
        Place::Attribute => r.attributes.push(attr::string(format!("note{i}"), text)),
        Place::ArrayAttribute => r.attributes.push(attr::kv(
            format!("notes{i}"),
            Value::ArrayValue(ArrayValue {
                values: vec![
                    AnyValue {
                        value: Some(Value::StringValue("clean".into())),
                    },
                    AnyValue {
                        value: Some(Value::StringValue(text.to_owned())),
                    },
                ],
            }),
        )),
        Place::EventName => {
            r.event_name.push(' ');
            r.event_name.push_str(text);
        }
        Place::Score(field) => {
            let score = r
                .facts
                .score
                .get_or_insert_with(|| Box::new(Score::default()));
            let slot = match field {
                0 => &mut score.explanation,
                1 => &mut score.annotations,
                _ => &mut score.reviewer_id,
            };
            let text = if field == 1 {
                serde_json::json!({"note": text}).to_string()
            } else {
                text.to_owned()
            };
            match slot {
                Some(s) => {
                    s.push(' ');
                    s.push_str(&text);
                }
                None => *slot = Some(text),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_corpus_value_survives_anywhere_in_a_redacted_record(
        picks in proptest::collection::vec((any::<prop::sample::Index>(), place()), 1..6),
    ) {
        let examples = examples();
        let mut record = LogRecord::empty();
        let mut planted = Vec::new();
        for (i, (pick, place)) in picks.iter().enumerate() {
            let ex = &examples[pick.index(examples.len())];
            put(&mut record, &ex.text, *place, i);
            planted.extend(ex.values.iter().cloned());
        }
        let mut p = RedactionProcessor::new("redaction", Redactor::new(&RedactionConfig::default(), "").unwrap());
        let out = p.process(LogBatch { records: vec![record.clone()] }).records.remove(0);
        let mut texts = Vec::new();
        strings_of(&out, &mut texts);
        for text in &texts {
            for value in &planted {
                prop_assert!(!text.contains(value.as_str()), "{:?} left in {:?}", value, text);
            }
        }
        // Redacting again changes nothing.
        let again = p.process(LogBatch { records: vec![out.clone()] }).records.remove(0);
        prop_assert_eq!(again, out);
    }
}
