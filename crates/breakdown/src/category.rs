//! What kind of work a span is: one table, read top to bottom, first match wins.

use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::{Span, keys};

pub use tracegate_model::Category;

/// How one row of [`TABLE`] reads a span.
#[derive(Debug)]
pub enum Match {
    /// The attribute's string value, compared without regard to ASCII case, picks the
    /// category. A value not listed falls through to the next row.
    Value(&'static [(&'static str, Category)]),
    /// The attribute being present at all gives the category.
    Present(Category),
    /// `db.system` / `db.system.name`: `db`, or `retrieval` for a query to a vector database.
    DbSystem,
}

/// The category table: the first row whose attribute is present (and, for
/// [`Match::Value`], whose value is known) decides. No row matching gives
/// [`Category::Other`].
pub const TABLE: &[(&str, Match)] = &[
    // 1. GenAI semantic conventions.
    (
        keys::GEN_AI_OPERATION_NAME,
        Match::Value(&[
            ("chat", Category::Llm),
            ("text_completion", Category::Llm),
            ("generate_content", Category::Llm),
            ("embeddings", Category::Embedding),
            ("retrieval", Category::Retrieval),
            ("rerank", Category::Rerank),
            ("execute_tool", Category::Tool),
            ("invoke_agent", Category::Agent),
            ("create_agent", Category::Agent),
        ]),
    ),
    // 2. OpenInference (Arize Phoenix).
    (
        "openinference.span.kind",
        Match::Value(&[
            ("LLM", Category::Llm),
            ("EMBEDDING", Category::Embedding),
            ("RETRIEVER", Category::Retrieval),
            ("RERANKER", Category::Rerank),
            ("TOOL", Category::Tool),
            ("AGENT", Category::Agent),
            ("CHAIN", Category::Chain),
            ("GUARDRAIL", Category::Guardrail),
        ]),
    ),
    // 3. OpenLLMetry (Traceloop).
    (
        "traceloop.span.kind",
        Match::Value(&[
            ("workflow", Category::Chain),
            ("task", Category::Chain),
            ("agent", Category::Agent),
            ("tool", Category::Tool),
        ]),
    ),
    (
        "llm.request.type",
        Match::Value(&[
            ("chat", Category::Llm),
            ("completion", Category::Llm),
            ("embedding", Category::Embedding),
            ("rerank", Category::Rerank),
        ]),
    ),
    // 4. OTel semantic conventions.
    ("db.system.name", Match::DbSystem),
    ("db.system", Match::DbSystem),
    ("http.request.method", Match::Present(Category::Http)),
    ("http.method", Match::Present(Category::Http)),
    ("messaging.system", Match::Present(Category::Messaging)),
];

/// Database systems that are vector stores: a query to one is retrieval.
pub const VECTOR_DATABASES: &[&str] = &[
    "chroma",
    "chromadb",
    "elasticsearch_vector",
    "lancedb",
    "marqo",
    "milvus",
    "pgvector",
    "pinecone",
    "qdrant",
    "turbopuffer",
    "vespa",
    "weaviate",
];

/// Operation names that write to a database rather than query it. A vector-database span
/// with one of these is `db`; with any other operation, or none, it is a query.
const WRITE_OPERATIONS: &[&str] = &[
    "add", "create", "delete", "drop", "index", "insert", "put", "update", "upsert", "write",
];

/// Where [`categorize`] keeps what it found: one slot per [`TABLE`] row, then the two
/// database-operation keys.
const SLOTS: usize = TABLE.len() + 2;

/// The [`TABLE`] row (or extra slot) of an attribute key. A `match` compiles to a switch on
/// the length and a comparison or two, so a span's attributes are read in one cheap pass;
/// a test checks it agrees with [`TABLE`].
fn slot_of(key: &str) -> Option<usize> {
    Some(match key {
        "gen_ai.operation.name" => 0,
        "openinference.span.kind" => 1,
        "traceloop.span.kind" => 2,
        "llm.request.type" => 3,
        "db.system.name" => 4,
        "db.system" => 5,
        "http.request.method" => 6,
        "http.method" => 7,
        "messaging.system" => 8,
        "db.operation.name" => TABLE.len(),
        "db.operation" => TABLE.len() + 1,
        _ => return None,
    })
}

fn text(value: Option<&Value>) -> &str {
    match value {
        Some(Value::StringValue(s)) => s,
        _ => "",
    }
}

/// The category of a span, from [`TABLE`].
pub fn categorize(span: &Span) -> Category {
    // One pass over the attributes; the last occurrence of a key wins, as in `attr::get`.
    let mut found: [Option<&Value>; SLOTS] = [None; SLOTS];
    let mut any = false;
    for kv in &span.attributes {
        if let Some(slot) = slot_of(&kv.key)
            && let Some(v) = kv.value.as_ref().and_then(|v| v.value.as_ref())
        {
            found[slot] = Some(v);
            any = true;
        }
    }
    if !any {
        return Category::Other;
    }
    for (row, (_, rule)) in TABLE.iter().enumerate() {
        let Some(value) = found[row] else {
            continue;
        };
        let value = text(Some(value));
        let category = match rule {
            Match::Value(values) => values
                .iter()
                .find(|(v, _)| v.eq_ignore_ascii_case(value))
                .map(|(_, c)| *c),
            Match::Present(c) => Some(*c),
            Match::DbSystem => {
                let operation = match text(found[TABLE.len()]) {
                    "" => text(found[TABLE.len() + 1]),
                    op => op,
                };
                Some(db_category(value, operation))
            }
        };
        if let Some(c) = category {
            return c;
        }
    }
    Category::Other
}

fn db_category(system: &str, operation: &str) -> Category {
    let vector = VECTOR_DATABASES
        .iter()
        .any(|v| v.eq_ignore_ascii_case(system));
    let writes = WRITE_OPERATIONS.iter().any(|w| {
        operation
            .as_bytes()
            .windows(w.len())
            .any(|win| win.eq_ignore_ascii_case(w.as_bytes()))
    });
    if vector && !writes {
        Category::Retrieval
    } else {
        Category::Db
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tracegate_model::proto::common::v1::KeyValue;
    use tracegate_model::{Resource, Scope, SpanId, SpanKind, Status, TraceId, attr};

    fn span(attributes: Vec<KeyValue>) -> Span {
        Span {
            resource: Arc::new(Resource::with_service("svc")),
            scope: Arc::new(Scope::default()),
            trace_id: TraceId([1; 16]),
            span_id: SpanId([2; 8]),
            parent_span_id: None,
            trace_state: String::new(),
            flags: 0,
            name: "op".into(),
            kind: SpanKind::Internal,
            start_time_unix_nano: 0,
            end_time_unix_nano: 1,
            attributes,
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            facts: Default::default(),
            origin: Default::default(),
            status: Status::default(),
        }
    }

    fn cat(pairs: &[(&str, &str)]) -> Category {
        categorize(&span(
            pairs.iter().map(|(k, v)| attr::string(*k, *v)).collect(),
        ))
    }

    #[test]
    fn every_row_of_the_table() {
        use Category::*;
        let cases: &[(&[(&str, &str)], Category)] = &[
            (&[("gen_ai.operation.name", "chat")], Llm),
            (&[("gen_ai.operation.name", "text_completion")], Llm),
            (&[("gen_ai.operation.name", "generate_content")], Llm),
            (&[("gen_ai.operation.name", "embeddings")], Embedding),
            (&[("gen_ai.operation.name", "retrieval")], Retrieval),
            (&[("gen_ai.operation.name", "rerank")], Rerank),
            (&[("gen_ai.operation.name", "execute_tool")], Tool),
            (&[("gen_ai.operation.name", "invoke_agent")], Agent),
            (&[("gen_ai.operation.name", "create_agent")], Agent),
            (&[("openinference.span.kind", "LLM")], Llm),
            (&[("openinference.span.kind", "EMBEDDING")], Embedding),
            (&[("openinference.span.kind", "RETRIEVER")], Retrieval),
            (&[("openinference.span.kind", "RERANKER")], Rerank),
            (&[("openinference.span.kind", "TOOL")], Tool),
            (&[("openinference.span.kind", "AGENT")], Agent),
            (&[("openinference.span.kind", "CHAIN")], Chain),
            (&[("openinference.span.kind", "GUARDRAIL")], Guardrail),
            (&[("openinference.span.kind", "llm")], Llm),
            (&[("traceloop.span.kind", "workflow")], Chain),
            (&[("traceloop.span.kind", "task")], Chain),
            (&[("traceloop.span.kind", "agent")], Agent),
            (&[("traceloop.span.kind", "tool")], Tool),
            (&[("llm.request.type", "chat")], Llm),
            (&[("llm.request.type", "completion")], Llm),
            (&[("llm.request.type", "embedding")], Embedding),
            (&[("llm.request.type", "rerank")], Rerank),
            (&[("db.system", "postgresql")], Db),
            (&[("db.system.name", "redis")], Db),
            (&[("db.system.name", "qdrant")], Retrieval),
            (
                &[("db.system", "pinecone"), ("db.operation", "query")],
                Retrieval,
            ),
            (
                &[
                    ("db.system.name", "chroma"),
                    ("db.operation.name", "upsert"),
                ],
                Db,
            ),
            (
                &[
                    ("db.system.name", "Milvus"),
                    ("db.operation.name", "search"),
                ],
                Retrieval,
            ),
            (&[("http.request.method", "POST")], Http),
            (&[("http.method", "GET")], Http),
            (&[("messaging.system", "kafka")], Messaging),
            (&[], Other),
            (&[("unrelated", "x")], Other),
        ];
        for (attrs, expected) in cases {
            assert_eq!(cat(attrs), *expected, "{attrs:?}");
        }
    }

    #[test]
    fn earlier_rows_win_and_unknown_values_fall_through() {
        // gen_ai.operation.name beats openinference.span.kind.
        assert_eq!(
            cat(&[
                ("openinference.span.kind", "CHAIN"),
                ("gen_ai.operation.name", "chat")
            ]),
            Category::Llm
        );
        // An unknown GenAI operation falls through to the next row.
        assert_eq!(
            cat(&[
                ("gen_ai.operation.name", "something_new"),
                ("openinference.span.kind", "RERANKER")
            ]),
            Category::Rerank
        );
        // A vector DB query made over HTTP is retrieval, not http.
        assert_eq!(
            cat(&[
                ("http.request.method", "POST"),
                ("db.system.name", "weaviate")
            ]),
            Category::Retrieval
        );
        // The GenAI convention beats the database one.
        assert_eq!(
            cat(&[
                ("db.system", "qdrant"),
                ("gen_ai.operation.name", "embeddings")
            ]),
            Category::Embedding
        );
    }

    #[test]
    fn the_fast_key_lookup_agrees_with_the_table() {
        for (row, (key, _)) in TABLE.iter().enumerate() {
            assert_eq!(slot_of(key), Some(row), "{key}");
        }
        assert_eq!(slot_of("db.operation.name"), Some(TABLE.len()));
        assert_eq!(slot_of("db.operation"), Some(TABLE.len() + 1));
        assert_eq!(slot_of("gen_ai.request.model"), None);
    }
}
