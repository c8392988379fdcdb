//! Collecting distinct tag names and values from scanned spans, within [`Bounds`].

use crate::api::params::go_duration;
use crate::api::tql::{Attribute, Intrinsic, Query, Value};
use crate::tempo::tags::TagValue;
use std::borrow::Cow;
use std::collections::BTreeSet;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::proto::common::v1::any_value::Value as Any;
use tracegate_model::{Span, attr};

/// The bounds of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most traces (or fragments) scanned.
    pub max_traces: u64,
    /// Most distinct names per scope, or distinct values.
    pub max_values: usize,
    /// Most bytes of names or values held.
    pub max_bytes: usize,
}

/// Something that takes spans.
pub trait Collect {
    /// Takes one span of `trace`.
    fn add(&mut self, span: &Span, trace: &[Span]);
    /// True when nothing more can be held.
    fn full(&self) -> bool;
}

/// Feeds a visited fragment to `collector`: the spans `filter` matches, or all of them.
pub fn visit(collector: &mut impl Collect, filter: Option<&Query>, spans: &[Span]) {
    match filter {
        Some(q) => {
            for set in q.evaluate(spans) {
                for s in set.spans {
                    collector.add(s, spans);
                    if collector.full() {
                        return;
                    }
                }
            }
        }
        None => {
            for s in spans {
                collector.add(s, spans);
                if collector.full() {
                    return;
                }
            }
        }
    }
}

/// A span's attributes including its derived facts as `tracegate.*` keys, which a live span
/// holds typed and a decoded span holds as attributes.
pub fn span_attributes(span: &Span) -> Cow<'_, [KeyValue]> {
    if span.facts.is_empty() {
        Cow::Borrowed(&span.attributes)
    } else {
        let mut all = span.attributes.clone();
        span.facts.write_attributes(&mut all);
        Cow::Owned(all)
    }
}

/// Distinct attribute names per scope (in [`super::SCOPES`] order).
#[derive(Debug)]
pub struct NameCollector {
    bounds: Bounds,
    names: [BTreeSet<String>; 5],
    bytes: usize,
}

impl NameCollector {
    /// An empty collector.
    pub fn new(bounds: Bounds) -> Self {
        Self {
            bounds,
            names: Default::default(),
            bytes: 0,
        }
    }

    fn insert(&mut self, scope: usize, name: &str) {
        let set = &mut self.names[scope];
        if set.len() >= self.bounds.max_values
            || self.bytes + name.len() > self.bounds.max_bytes
            || set.contains(name)
        {
            return;
        }
        self.bytes += name.len();
        set.insert(name.to_owned());
    }

    /// The names of each scope, sorted.
    pub fn into_names(self) -> [Vec<String>; 5] {
        self.names.map(|s| s.into_iter().collect())
    }
}

impl Collect for NameCollector {
    fn add(&mut self, span: &Span, _trace: &[Span]) {
        for kv in &span.resource.attributes {
            self.insert(0, &kv.key);
        }
        for kv in span_attributes(span).iter() {
            self.insert(1, &kv.key);
        }
        for event in &span.events {
            for kv in &event.attributes {
                self.insert(2, &kv.key);
            }
        }
        for link in &span.links {
            for kv in &link.attributes {
                self.insert(3, &kv.key);
            }
        }
        for kv in &span.scope.attributes {
            self.insert(4, &kv.key);
        }
    }

    fn full(&self) -> bool {
        self.bytes >= self.bounds.max_bytes
            || self.names.iter().all(|s| s.len() >= self.bounds.max_values)
    }
}

/// What a [`ValueCollector`] reads from each span.
#[derive(Debug)]
enum Source {
    /// A TraceQL identifier (v2), typed values.
    Typed(Attribute),
    /// A plain attribute key, span first then resource (v1), as text.
    Plain(String),
}

/// How much of the trace an attribute's value depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// The span alone (attributes, `name`, `status`, …).
    Span,
    /// The same value for every span of the trace (`trace:rootName`, `traceDuration`, …):
    /// read once per visited trace.
    Trace,
    /// The span and its neighbours (`childCount`, nested-set positions).
    Tree,
}

fn reach(attribute: &Attribute) -> Reach {
    match attribute {
        Attribute::Intrinsic(
            Intrinsic::TraceRootName
            | Intrinsic::TraceRootService
            | Intrinsic::TraceDuration
            | Intrinsic::TraceId,
        ) => Reach::Trace,
        Attribute::Intrinsic(
            Intrinsic::ChildCount
            | Intrinsic::NestedSetParent
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight,
        ) => Reach::Tree,
        _ => Reach::Span,
    }
}

/// Distinct values of one tag.
#[derive(Debug)]
pub struct ValueCollector {
    source: Source,
    bounds: Bounds,
    values: BTreeSet<TagValue>,
    bytes: usize,
    /// The trace last read for a [`Reach::Trace`] attribute (its first span's address).
    last_trace: Option<usize>,
}

impl ValueCollector {
    /// Values of a TraceQL identifier, typed (v2).
    pub fn typed(attribute: Attribute, bounds: Bounds) -> Self {
        Self::new(Source::Typed(attribute), bounds)
    }

    /// Values of a plain span or resource attribute, as text (v1).
    pub fn plain(key: String, bounds: Bounds) -> Self {
        Self::new(Source::Plain(key), bounds)
    }

    fn new(source: Source, bounds: Bounds) -> Self {
        Self {
            source,
            bounds,
            values: BTreeSet::new(),
            bytes: 0,
            last_trace: None,
        }
    }

    /// The values, sorted by type and then text.
    pub fn into_values(self) -> Vec<TagValue> {
        self.values.into_iter().collect()
    }

    fn insert(&mut self, value: TagValue) {
        if self.values.len() >= self.bounds.max_values
            || self.bytes + value.value.len() > self.bounds.max_bytes
            || self.values.contains(&value)
        {
            return;
        }
        self.bytes += value.value.len();
        self.values.insert(value);
    }
}

impl Collect for ValueCollector {
    fn add(&mut self, span: &Span, trace: &[Span]) {
        let value = match &self.source {
            // `value_of` looks the span up in `trace`; give it only what the value needs, so
            // that a tag scan stays linear in the spans read.
            Source::Typed(a) => match reach(a) {
                Reach::Span => a
                    .value_of(span, std::slice::from_ref(span))
                    .and_then(|v| tag_value(&v)),
                Reach::Trace => {
                    let key = trace.as_ptr() as usize;
                    if self.last_trace == Some(key) {
                        return;
                    }
                    self.last_trace = Some(key);
                    a.value_of(span, trace).and_then(|v| tag_value(&v))
                }
                Reach::Tree => a.value_of(span, trace).and_then(|v| tag_value(&v)),
            },
            Source::Plain(key) => {
                let attrs = span_attributes(span);
                attr::get(&attrs, key)
                    .or_else(|| attr::get(&span.resource.attributes, key))
                    .map(|v| {
                        let mut text = String::new();
                        attr::render_into(Some(v), &mut text);
                        TagValue {
                            kind: "string".into(),
                            value: text,
                        }
                    })
            }
        };
        if let Some(v) = value {
            self.insert(v);
        }
    }

    fn full(&self) -> bool {
        self.values.len() >= self.bounds.max_values || self.bytes >= self.bounds.max_bytes
    }
}

/// A TraceQL value as a typed tag value; `nil` is none.
pub fn tag_value(value: &Value) -> Option<TagValue> {
    let (kind, text) = match value {
        Value::Nil => return None,
        Value::Str(s) => ("string", s.clone()),
        Value::Int(i) => ("int", i.to_string()),
        Value::Float(f) => ("float", f.to_string()),
        Value::Bool(b) => ("bool", b.to_string()),
        Value::Duration(ns) => (
            "duration",
            go_duration(std::time::Duration::from_nanos(*ns)),
        ),
        other => match other.to_any_value().value {
            Some(Any::StringValue(s)) => ("keyword", s),
            _ => return None,
        },
    };
    Some(TagValue {
        kind: kind.into(),
        value: text,
    })
}
