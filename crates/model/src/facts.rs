//! Facts tracegate derives about a span, kept typed while the span is in the pipeline.
//!
//! The latency breakdown gives every span a [`Category`], its self time and its share of the
//! critical path, and more on LLM and server spans. Written as OTLP attributes at once, each
//! fact would cost a `String` for its key (and one for a string value) on every span; held
//! here instead they cost nothing until the span leaves the gateway. They become
//! `tracegate.*` attributes in exactly two places, so every consumer sees the same thing:
//! - [`Span::into_proto`](crate::Span::into_proto), for OTLP export;
//! - the archive encoder, which writes them into the `attributes` map and reads its
//!   category, self-time, critical-path and decode columns from them.
//!
//! [`SpanFacts::for_each`] lists them in that one order, with the [`keys`] they are written
//! under.

use crate::attr;
use crate::keys;
use opentelemetry_proto::tonic::common::v1::KeyValue;

/// The kind of work a span does, as written to `tracegate.category`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// A model call that generates text (chat, completion, content generation).
    Llm,
    /// An embedding call.
    Embedding,
    /// Fetching context: a retriever, or a query to a vector database.
    Retrieval,
    /// Reranking retrieved documents.
    Rerank,
    /// A tool call.
    Tool,
    /// An agent invocation.
    Agent,
    /// A chain or workflow step of an LLM framework.
    Chain,
    /// A guardrail check.
    Guardrail,
    /// An HTTP call or request.
    Http,
    /// A database call (vector-database writes included).
    Db,
    /// A messaging system (queue, topic).
    Messaging,
    /// Critical-path only: a client's time outside the server span it called in another
    /// service (network and queueing). Never a span's own category.
    Network,
    /// None of the above.
    Other,
}

impl Category {
    /// Every category, in the order summaries list them.
    pub const ALL: [Category; 13] = [
        Category::Llm,
        Category::Embedding,
        Category::Retrieval,
        Category::Rerank,
        Category::Tool,
        Category::Agent,
        Category::Chain,
        Category::Guardrail,
        Category::Http,
        Category::Db,
        Category::Messaging,
        Category::Network,
        Category::Other,
    ];

    /// Number of categories.
    pub const COUNT: usize = Self::ALL.len();

    /// The name written to `tracegate.category` and used in the archive.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Llm => "llm",
            Category::Embedding => "embedding",
            Category::Retrieval => "retrieval",
            Category::Rerank => "rerank",
            Category::Tool => "tool",
            Category::Agent => "agent",
            Category::Chain => "chain",
            Category::Guardrail => "guardrail",
            Category::Http => "http",
            Category::Db => "db",
            Category::Messaging => "messaging",
            Category::Network => "network",
            Category::Other => "other",
        }
    }

    /// The category named `name`, as [`Category::as_str`] writes it.
    pub fn from_name(name: &str) -> Option<Category> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Position in [`Category::ALL`], for per-category arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An LLM call's time split at its first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmStages {
    /// Start to first token (`tracegate.prefill_ns`).
    pub prefill_ns: u64,
    /// First token to end (`tracegate.decode_ns`).
    pub decode_ns: u64,
}

/// Self time and critical-path share: facts of a span in a whole tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeTimes {
    /// Duration minus the union of the children (`tracegate.self_time_ns`).
    pub self_time_ns: u64,
    /// The span's share of the trace's critical path (`tracegate.critical_path_ns`).
    pub critical_path_ns: u64,
}

/// One fact's value, as it is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactValue {
    /// A string attribute.
    Str(&'static str),
    /// An integer attribute.
    Int(i64),
    /// A boolean attribute.
    Bool(bool),
}

/// What the latency breakdown found about one span. [`Default`] is "nothing derived".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanFacts {
    /// `tracegate.category`.
    pub category: Option<Category>,
    /// Self time and critical-path share; `None` for a span whose tree is not all there.
    pub tree: Option<TreeTimes>,
    /// Prefill and decode of a streaming LLM call.
    pub llm: Option<LlmStages>,
    /// `tracegate.ttft_source`, when the breakdown decides it (an LLM span whose enrichment
    /// did not already set it).
    pub ttft_source: Option<&'static str>,
    /// `tracegate.network_ns` on the server span of a cross-service call.
    pub network_ns: Option<u64>,
    /// `tracegate.skew_adjusted_ns`: how far the span's subtree was shifted; 0 when it was
    /// not.
    pub skew_adjusted_ns: i64,
    /// `tracegate.orphan`: the parent is missing.
    pub orphan: bool,
    /// `tracegate.cycle_broken`: the parent link closed a cycle and was cut.
    pub cycle_broken: bool,
    /// `tracegate.duplicate_span_id`: another span of the trace has the same id.
    pub duplicate_span_id: bool,
}

fn ns(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl SpanFacts {
    /// True when nothing was derived.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Calls `f` with each fact as (attribute key, value), in the order they are written.
    pub fn for_each(&self, mut f: impl FnMut(&'static str, FactValue)) {
        if let Some(c) = self.category {
            f(keys::TRACEGATE_CATEGORY, FactValue::Str(c.as_str()));
        }
        if let Some(t) = self.tree {
            f(
                keys::TRACEGATE_SELF_TIME_NS,
                FactValue::Int(ns(t.self_time_ns)),
            );
            f(
                keys::TRACEGATE_CRITICAL_PATH_NS,
                FactValue::Int(ns(t.critical_path_ns)),
            );
        }
        if let Some(n) = self.network_ns {
            f(keys::TRACEGATE_NETWORK_NS, FactValue::Int(ns(n)));
        }
        if self.skew_adjusted_ns != 0 {
            f(
                keys::TRACEGATE_SKEW_ADJUSTED_NS,
                FactValue::Int(self.skew_adjusted_ns),
            );
        }
        for (on, key) in [
            (self.orphan, keys::TRACEGATE_ORPHAN),
            (self.cycle_broken, keys::TRACEGATE_CYCLE_BROKEN),
            (self.duplicate_span_id, keys::TRACEGATE_DUPLICATE_SPAN_ID),
        ] {
            if on {
                f(key, FactValue::Bool(true));
            }
        }
        if let Some(l) = self.llm {
            f(keys::TRACEGATE_PREFILL_NS, FactValue::Int(ns(l.prefill_ns)));
            f(keys::TRACEGATE_DECODE_NS, FactValue::Int(ns(l.decode_ns)));
        }
        if let Some(source) = self.ttft_source {
            f(keys::TRACEGATE_TTFT_SOURCE, FactValue::Str(source));
        }
    }

    /// The fact written under the attribute `key` (`tracegate.category`, …), if the span has
    /// it: what [`Self::write_attributes`] would write for that key.
    pub fn get(&self, key: &str) -> Option<FactValue> {
        if !key.starts_with("tracegate.") {
            return None;
        }
        let mut found = None;
        self.for_each(|k, v| {
            if found.is_none() && k == key {
                found = Some(v);
            }
        });
        found
    }

    /// How many attributes [`Self::write_attributes`] adds.
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.for_each(|_, _| n += 1);
        n
    }

    /// Appends the facts to `out` as OTLP attributes.
    pub fn write_attributes(&self, out: &mut Vec<KeyValue>) {
        if self.is_empty() {
            return;
        }
        out.reserve(self.len());
        self.for_each(|key, value| {
            out.push(match value {
                FactValue::Str(s) => attr::string(key, s),
                FactValue::Int(i) => attr::int(key, i),
                FactValue::Bool(b) => attr::boolean(key, b),
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value;

    #[test]
    fn names_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::from_name(c.as_str()), Some(c));
            assert_eq!(Category::ALL[c.index()], c);
        }
        assert_eq!(Category::from_name("LLM"), None);
    }

    #[test]
    fn nothing_derived_writes_nothing() {
        let mut out = vec![];
        SpanFacts::default().write_attributes(&mut out);
        assert!(out.is_empty());
        assert!(SpanFacts::default().is_empty());
    }

    #[test]
    fn every_fact_is_written_under_its_key_in_order() {
        let facts = SpanFacts {
            category: Some(Category::Llm),
            tree: Some(TreeTimes {
                self_time_ns: 5,
                critical_path_ns: 7,
            }),
            llm: Some(LlmStages {
                prefill_ns: 2,
                decode_ns: 3,
            }),
            ttft_source: Some("event"),
            network_ns: Some(11),
            skew_adjusted_ns: -40,
            orphan: true,
            cycle_broken: true,
            duplicate_span_id: true,
        };
        let mut out = vec![];
        facts.write_attributes(&mut out);
        let keys: Vec<&str> = out.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                keys::TRACEGATE_CATEGORY,
                keys::TRACEGATE_SELF_TIME_NS,
                keys::TRACEGATE_CRITICAL_PATH_NS,
                keys::TRACEGATE_NETWORK_NS,
                keys::TRACEGATE_SKEW_ADJUSTED_NS,
                keys::TRACEGATE_ORPHAN,
                keys::TRACEGATE_CYCLE_BROKEN,
                keys::TRACEGATE_DUPLICATE_SPAN_ID,
                keys::TRACEGATE_PREFILL_NS,
                keys::TRACEGATE_DECODE_NS,
                keys::TRACEGATE_TTFT_SOURCE,
            ]
        );
        assert_eq!(facts.len(), out.len());
        assert_eq!(attr::get_str(&out, keys::TRACEGATE_CATEGORY), Some("llm"));
        assert_eq!(
            attr::get_i64(&out, keys::TRACEGATE_CRITICAL_PATH_NS),
            Some(7)
        );
        assert_eq!(
            attr::get_i64(&out, keys::TRACEGATE_SKEW_ADJUSTED_NS),
            Some(-40)
        );
        assert_eq!(
            attr::get_str(&out, keys::TRACEGATE_TTFT_SOURCE),
            Some("event")
        );
        assert!(matches!(
            attr::get(&out, keys::TRACEGATE_ORPHAN),
            Some(opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(true))
        ));
    }

    #[test]
    fn get_reads_each_fact_as_it_is_written() {
        let facts = SpanFacts {
            category: Some(Category::Retrieval),
            tree: Some(TreeTimes {
                self_time_ns: 5,
                critical_path_ns: 7,
            }),
            orphan: true,
            ..Default::default()
        };
        let mut out = vec![];
        facts.write_attributes(&mut out);
        for kv in &out {
            let expected = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => {
                    FactValue::Str(Category::from_name(s).map_or("", Category::as_str))
                }
                Some(any_value::Value::IntValue(i)) => FactValue::Int(*i),
                Some(any_value::Value::BoolValue(b)) => FactValue::Bool(*b),
                other => panic!("unexpected value {other:?}"),
            };
            assert_eq!(facts.get(&kv.key), Some(expected), "{}", kv.key);
        }
        assert_eq!(
            facts.get(keys::TRACEGATE_CATEGORY),
            Some(FactValue::Str("retrieval"))
        );
        assert_eq!(facts.get(keys::TRACEGATE_NETWORK_NS), None);
        assert_eq!(facts.get(keys::TRACEGATE_CYCLE_BROKEN), None);
        assert_eq!(facts.get("category"), None);
        assert_eq!(SpanFacts::default().get(keys::TRACEGATE_CATEGORY), None);
    }

    #[test]
    fn values_beyond_i64_saturate() {
        let facts = SpanFacts {
            network_ns: Some(u64::MAX),
            ..Default::default()
        };
        let mut out = vec![];
        facts.write_attributes(&mut out);
        assert_eq!(
            attr::get_i64(&out, keys::TRACEGATE_NETWORK_NS),
            Some(i64::MAX)
        );
    }
}
