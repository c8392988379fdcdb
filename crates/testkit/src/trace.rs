//! One synthetic RAG trace: its tree, its timing and its attributes.
//!
//! The tree (services in brackets; `×n` marks repeated spans):
//!
//! ```text
//! POST /v1/chat                         SERVER    [chat-gateway, fastapi]
//! └─ rag_pipeline                       INTERNAL  [chat-gateway, langchain]
//!    ├─ POST                            CLIENT    [chat-gateway, httpx]
//!    │  └─ POST /retrieve               SERVER    [retriever, fastapi]
//!    │     ├─ embeddings text-embedding-3-small   CLIENT [retriever, openai]
//!    │     ├─ query kb_chunks           CLIENT    [retriever, qdrant]
//!    │     ├─ search kb-docs            CLIENT    [retriever, elasticsearch]  (hybrid search, 50%)
//!    │     └─ POST /rerank              SERVER    [reranker, fastapi]
//!    │        └─ rerank rerank-v3.5     CLIENT    [reranker, cohere]
//!    ├─ chat {model}                    CLIENT    [llm-service, openai|anthropic]
//!    ├─ execute_tool {tool} ×1–2        INTERNAL  [chat-gateway, langchain]   (15%)
//!    └─ chat {model}                    CLIENT    [llm-service]               (after tools)
//! ```
//!
//! Attributes follow the OTel semantic conventions (GenAI, HTTP, database), with
//! OpenInference's `openinference.span.kind` on the langchain spans; the rerank span's
//! `gen_ai.rerank.documents.count` has no convention yet. Spans whose parent is in another
//! service carry OTLP's "parent is remote" flag.
//!
//! Siblings run one after the other, each inside its parent. About 5% of traces fail at the
//! vector search, the rerank, an LLM call or a tool call: that span gets an ERROR status with
//! a message, its ancestors get an ERROR status (and HTTP 500), and the stages after it do
//! not run.

use crate::config::Profile;
use crate::services::{self, Templates};
use crate::text::{self, ToolCall, pick};
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use rand::Rng;
use rand::rngs::StdRng;
use tracegate_model::attr::{boolean, int, kv, string};

/// W3C "sampled", with OTLP's "is the parent remote" bit known and clear.
const FLAGS_LOCAL: u32 = 0x101;
/// As [`FLAGS_LOCAL`], with the parent in another process.
const FLAGS_REMOTE_PARENT: u32 = 0x301;

const US: u64 = 1_000;
const MS: u64 = 1_000_000;

/// Share of traces with an error.
const ERROR_RATE: f64 = 0.05;
/// Share of traces that search both the vector and the keyword index.
const HYBRID_RATE: f64 = 0.5;
/// Share of traces whose first LLM call asks for tools.
const TOOL_RATE: f64 = 0.15;

/// Where a failing trace fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    None,
    VectorSearch,
    Rerank,
    Llm,
    Tool,
}

/// The LLMs the service calls: provider, requested model, response model, scope.
const MODELS: &[(&str, &str, &str, usize)] = &[
    (
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        services::LLM_OPENAI,
    ),
    (
        "openai",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        services::LLM_OPENAI,
    ),
    (
        "openai",
        "gpt-4.1-mini",
        "gpt-4.1-mini-2025-04-14",
        services::LLM_OPENAI,
    ),
    (
        "openai",
        "gpt-4o",
        "gpt-4o-2024-08-06",
        services::LLM_OPENAI,
    ),
    (
        "anthropic",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        services::LLM_ANTHROPIC,
    ),
    (
        "anthropic",
        "claude-haiku-4-5",
        "claude-haiku-4-5-20251001",
        services::LLM_ANTHROPIC,
    ),
];

/// What an LLM call is asked, and how it ends.
#[derive(Debug, Clone, Copy)]
struct LlmCall<'c> {
    /// An entry of [`MODELS`].
    model: (&'static str, &'static str, &'static str, usize),
    question: &'c str,
    /// Tool calls of the previous LLM call, whose results this call's prompt carries.
    previous_calls: &'c [ToolCall],
    /// How many tools the model asks for; 0 for a text answer.
    tools: usize,
    /// Whether the call fails.
    fail: bool,
}

/// A span being built, with the scope it belongs to and its parent's index.
#[derive(Debug)]
struct Node {
    scope: usize,
    parent: Option<usize>,
    span: Span,
}

/// Builds one trace. Spans are kept in creation order, which puts every parent before its
/// children, so any prefix of them is a trace whose parents are all present.
#[derive(Debug)]
pub(crate) struct TraceBuilder<'a> {
    rng: &'a mut StdRng,
    rich: bool,
    trace_id: Vec<u8>,
    nodes: Vec<Node>,
    failed: Option<usize>,
}

/// A finished trace in OTLP form.
#[derive(Debug)]
pub(crate) struct BuiltTrace {
    pub resource_spans: Vec<ResourceSpans>,
    pub span_count: usize,
}

impl<'a> TraceBuilder<'a> {
    pub(crate) fn new(rng: &'a mut StdRng, profile: Profile) -> Self {
        let trace_id = random_id::<16>(rng);
        Self {
            rng,
            rich: profile == Profile::Rag,
            trace_id,
            nodes: Vec::with_capacity(14),
            failed: None,
        }
    }

    /// Builds the spans of a trace that starts at `start`.
    pub(crate) fn rag(mut self, start: u64, templates: &Templates, max_spans: usize) -> BuiltTrace {
        let failure = if self.rng.random_bool(ERROR_RATE) {
            match self.rng.random_range(0..4) {
                0 => Failure::VectorSearch,
                1 => Failure::Rerank,
                2 => Failure::Llm,
                _ => Failure::Tool,
            }
        } else {
            Failure::None
        };
        let tools = if failure == Failure::Tool || self.rng.random_bool(TOOL_RATE) {
            self.rng.random_range(1..=2)
        } else {
            0
        };
        let model = *pick(self.rng, MODELS);
        let question = *pick(self.rng, text::QUESTIONS);

        let root = self.open(
            services::GW_HTTP,
            None,
            "POST /v1/chat",
            SpanKind::Server,
            start,
        );
        let mut t = start + self.between(300 * US, 2500 * US);
        let chain = self.open(
            services::GW_CHAIN,
            Some(root),
            "rag_pipeline",
            SpanKind::Internal,
            t,
        );
        if self.rich {
            self.add(chain, [string("openinference.span.kind", "CHAIN")]);
        }
        t += self.between(100 * US, 800 * US);

        let mut ok = self.retrieval(chain, &mut t, failure);
        if ok {
            t += self.between(200 * US, 2 * MS);
            let fail_llm = failure == Failure::Llm;
            let first = LlmCall {
                model,
                question,
                previous_calls: &[],
                tools,
                fail: fail_llm,
            };
            let calls = self.llm_call(chain, &mut t, first);
            ok = !fail_llm;
            for (i, call) in calls.iter().enumerate() {
                t += self.between(100 * US, MS);
                let fail = failure == Failure::Tool && i + 1 == calls.len();
                self.tool_call(chain, &mut t, call, fail);
                ok = !fail;
            }
            if ok && !calls.is_empty() {
                t += self.between(200 * US, 2 * MS);
                let last = LlmCall {
                    model,
                    question,
                    previous_calls: &calls,
                    tools: 0,
                    fail: false,
                };
                self.llm_call(chain, &mut t, last);
            }
        }
        t += self.between(100 * US, 800 * US);
        self.close(chain, t);
        t += self.between(300 * US, 3 * MS);
        self.close(root, t);
        let status = if ok { 200 } else { 500 };
        if self.rich {
            let user = self.rng.random_range(1000..6000);
            let mut user_id = String::with_capacity(9);
            user_id.push_str("user_");
            text::push_u32(&mut user_id, user);
            self.add(
                root,
                [
                    string("http.request.method", "POST"),
                    string("http.route", "/v1/chat"),
                    string("url.path", "/v1/chat"),
                    int("http.response.status_code", status),
                    string("user.id", user_id),
                ],
            );
        } else {
            self.add(root, [int("http.response.status_code", status)]);
        }
        self.finish(templates, max_spans)
    }

    /// The gateway's call to the retriever, and what the retriever does. Returns false when
    /// a stage failed.
    fn retrieval(&mut self, chain: usize, t: &mut u64, failure: Failure) -> bool {
        let client = self.open(
            services::GW_CLIENT,
            Some(chain),
            "POST",
            SpanKind::Client,
            *t,
        );
        *t += self.between(300 * US, 1500 * US);
        let server = self.open(
            services::RET_HTTP,
            Some(client),
            "POST /retrieve",
            SpanKind::Server,
            *t,
        );
        *t += self.between(200 * US, MS);

        let embedding = self.open(
            services::RET_EMBED,
            Some(server),
            "embeddings text-embedding-3-small",
            SpanKind::Client,
            *t,
        );
        *t += self.between(20 * MS, 80 * MS);
        self.close(embedding, *t);
        let tokens = self.rng.random_range(8..40);
        if self.rich {
            self.add(
                embedding,
                [
                    string("gen_ai.operation.name", "embeddings"),
                    string("gen_ai.provider.name", "openai"),
                    string("gen_ai.request.model", "text-embedding-3-small"),
                    int("gen_ai.usage.input_tokens", tokens),
                ],
            );
        } else {
            self.add(embedding, [string("gen_ai.operation.name", "embeddings")]);
        }

        let top_k = 4 * self.rng.random_range(2..=10);
        *t += self.between(100 * US, 500 * US);
        let search = self.open(
            services::RET_QDRANT,
            Some(server),
            "query kb_chunks",
            SpanKind::Client,
            *t,
        );
        *t += self.between(5 * MS, 40 * MS);
        self.close(search, *t);
        if self.rich {
            let mut query = String::with_capacity(96);
            query.push_str("query_points kb_chunks vector=[1536] limit=");
            text::push_u32(&mut query, top_k);
            self.add(
                search,
                [
                    string("db.system.name", "qdrant"),
                    string("db.operation.name", "query"),
                    string("db.collection.name", "kb_chunks"),
                    string("db.query.text", query),
                    int("db.response.returned_rows", i64::from(top_k)),
                ],
            );
        } else {
            self.add(search, [string("db.system.name", "qdrant")]);
        }
        let mut ok = true;
        let mut documents = top_k;
        if failure == Failure::VectorSearch {
            self.fail(
                search,
                "QdrantTimeout",
                "Deadline exceeded: query_points on kb_chunks",
            );
            ok = false;
        } else if self.rng.random_bool(HYBRID_RATE) {
            *t += self.between(100 * US, 500 * US);
            let keyword = self.open(
                services::RET_ELASTIC,
                Some(server),
                "search kb-docs",
                SpanKind::Client,
                *t,
            );
            *t += self.between(5 * MS, 40 * MS);
            self.close(keyword, *t);
            documents += top_k;
            if self.rich {
                let mut query = String::with_capacity(64);
                query.push_str("{\"size\":");
                text::push_u32(&mut query, top_k);
                query.push_str(",\"query\":{\"match\":{\"body\":\"?\"}}}");
                self.add(
                    keyword,
                    [
                        string("db.system.name", "elasticsearch"),
                        string("db.operation.name", "search"),
                        string("db.collection.name", "kb-docs"),
                        string("db.query.text", query),
                        int("db.response.returned_rows", i64::from(top_k)),
                    ],
                );
            } else {
                self.add(keyword, [string("db.system.name", "elasticsearch")]);
            }
        }

        if ok {
            *t += self.between(200 * US, 800 * US);
            let rerank_server = self.open(
                services::RR_HTTP,
                Some(server),
                "POST /rerank",
                SpanKind::Server,
                *t,
            );
            *t += self.between(200 * US, 800 * US);
            let rerank = self.open(
                services::RR_COHERE,
                Some(rerank_server),
                "rerank rerank-v3.5",
                SpanKind::Client,
                *t,
            );
            *t += self.between(30 * MS, 150 * MS);
            self.close(rerank, *t);
            if self.rich {
                self.add(
                    rerank,
                    [
                        string("gen_ai.operation.name", "rerank"),
                        string("gen_ai.provider.name", "cohere"),
                        string("gen_ai.request.model", "rerank-v3.5"),
                        int("gen_ai.rerank.documents.count", i64::from(documents)),
                    ],
                );
            } else {
                self.add(rerank, [string("gen_ai.operation.name", "rerank")]);
            }
            if failure == Failure::Rerank {
                self.fail(
                    rerank,
                    "ServiceUnavailableError",
                    "cohere: status_code: 503, body: service temporarily unavailable",
                );
                ok = false;
            }
            *t += self.between(100 * US, 600 * US);
            self.close(rerank_server, *t);
            self.http_server(rerank_server, "/rerank", ok);
        }

        *t += self.between(200 * US, 1500 * US);
        self.close(server, *t);
        self.http_server(server, "/retrieve", ok);
        *t += self.between(300 * US, 1500 * US);
        self.close(client, *t);
        let status = if ok { 200 } else { 500 };
        if self.rich {
            self.add(
                client,
                [
                    string("http.request.method", "POST"),
                    string("url.full", "http://retriever.rag.svc:8080/retrieve"),
                    int("http.response.status_code", status),
                ],
            );
        } else {
            self.add(client, [int("http.response.status_code", status)]);
        }
        ok
    }

    fn http_server(&mut self, index: usize, route: &'static str, ok: bool) {
        let status = if ok { 200 } else { 500 };
        if self.rich {
            self.add(
                index,
                [
                    string("http.request.method", "POST"),
                    string("http.route", route),
                    int("http.response.status_code", status),
                ],
            );
        } else {
            self.add(index, [int("http.response.status_code", status)]);
        }
    }

    /// A streamed chat completion. With `tools > 0` the model asks for that many tool calls,
    /// which are returned.
    fn llm_call(&mut self, parent: usize, t: &mut u64, call: LlmCall<'_>) -> Vec<ToolCall> {
        let LlmCall {
            model,
            question,
            previous_calls,
            tools,
            fail,
        } = call;
        let (provider, request_model, response_model, scope) = model;
        let mut name = String::with_capacity(5 + request_model.len());
        name.push_str("chat ");
        name.push_str(request_model);
        let start = *t;
        let span = self.open(scope, Some(parent), name, SpanKind::Client, start);
        let openai = provider == "openai";

        let ttft = self.between(150 * MS, 600 * MS);
        let mut calls = Vec::new();
        let (output, output_tokens) = if tools > 0 {
            for _ in 0..tools {
                let tool = self.rng.random_range(0..text::TOOLS.len());
                let call_id = text::hex_id(self.rng, if openai { "call_" } else { "toolu_" }, 24);
                let arg = self.rng.random_range(1000..100_000);
                calls.push(ToolCall { tool, call_id, arg });
            }
            let finish = if openai { "tool_calls" } else { "tool_use" };
            let tokens = 18 * tools as u32 + self.rng.random_range(0..20);
            (text::output_tool_message(&calls, finish), tokens)
        } else {
            let sentences = self.rng.random_range(1..=2);
            let finish = if openai { "stop" } else { "end_turn" };
            let message = text::output_text_message(self.rng, sentences, finish);
            let tokens = (message.len() / 4) as u32 + self.rng.random_range(0..40);
            (message, tokens)
        };
        let per_token = self.between(8 * MS, 25 * MS);
        let duration = if fail {
            self.between(80 * MS, 400 * MS)
        } else {
            (ttft + u64::from(output_tokens) * per_token).clamp(400 * MS, 3000 * MS)
        };
        *t = start + duration;
        self.close(span, *t);

        let input_tokens;
        if self.rich {
            // Prompts of 1–2 KB, the shorter ones more common.
            let prompt_len = 1024
                + (0..4)
                    .map(|_| self.rng.random_range(0..=816))
                    .min()
                    .unwrap_or(0);
            let prompt = text::input_messages(self.rng, question, prompt_len, previous_calls);
            input_tokens = (prompt.len() / 4) as i64 + self.rng.random_range(0..30);
            self.add(
                span,
                [
                    string("gen_ai.operation.name", "chat"),
                    string("gen_ai.provider.name", provider),
                    string("gen_ai.request.model", request_model),
                    boolean("gen_ai.request.stream", true),
                    string("gen_ai.input.messages", prompt),
                ],
            );
        } else {
            input_tokens = self.rng.random_range(250..520);
            self.add(
                span,
                [
                    string("gen_ai.operation.name", "chat"),
                    string("gen_ai.request.model", request_model),
                ],
            );
        }
        if fail {
            let (kind, message) = if openai {
                (
                    "RateLimitError",
                    "Error code: 429 - rate_limit_exceeded: Rate limit reached for requests",
                )
            } else {
                (
                    "OverloadedError",
                    "Error code: 529 - overloaded_error: Overloaded",
                )
            };
            if self.rich {
                self.add(span, [string("error.type", kind)]);
            }
            self.fail(span, kind, message);
            return Vec::new();
        }

        let cached = if self.rng.random_bool(0.5) {
            0
        } else {
            64 * self.rng.random_range(1..=2)
        };
        let finish = if tools > 0 {
            if openai { "tool_calls" } else { "tool_use" }
        } else if openai {
            "stop"
        } else {
            "end_turn"
        };
        if self.rich {
            self.add(
                span,
                [
                    string("gen_ai.response.model", response_model),
                    kv(
                        "gen_ai.response.finish_reasons",
                        Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue {
                                value: Some(Value::StringValue(finish.into())),
                            }],
                        }),
                    ),
                    int("gen_ai.usage.input_tokens", input_tokens),
                    int("gen_ai.usage.output_tokens", i64::from(output_tokens)),
                    int("gen_ai.usage.cache_read.input_tokens", cached),
                    string("gen_ai.output.messages", output),
                ],
            );
        } else {
            self.add(
                span,
                [
                    int("gen_ai.usage.input_tokens", input_tokens),
                    int("gen_ai.usage.output_tokens", i64::from(output_tokens)),
                ],
            );
        }

        // The first token arrives after the TTFT; the rich profile also records a few of the
        // later chunks, evenly spread over the decode.
        let chunks = if self.rich {
            self.rng.random_range(1..=2)
        } else {
            1
        };
        let decode = duration - ttft;
        if let Some(node) = self.nodes.get_mut(span) {
            for i in 0..chunks {
                node.span.events.push(Event {
                    time_unix_nano: start + ttft + decode * i / chunks,
                    name: "gen_ai.content.completion.chunk".to_owned(),
                    ..Default::default()
                });
            }
        }
        calls
    }

    fn tool_call(&mut self, parent: usize, t: &mut u64, call: &ToolCall, fail: bool) {
        let tool = call.name();
        let mut name = String::with_capacity(13 + tool.len());
        name.push_str("execute_tool ");
        name.push_str(tool);
        let span = self.open(
            services::GW_CHAIN,
            Some(parent),
            name,
            SpanKind::Internal,
            *t,
        );
        *t += self.between(5 * MS, 250 * MS);
        self.close(span, *t);
        if self.rich {
            self.add(
                span,
                [
                    string("gen_ai.operation.name", "execute_tool"),
                    string("gen_ai.tool.name", tool),
                    string("gen_ai.tool.call.id", call.call_id.clone()),
                ],
            );
        } else {
            self.add(span, [string("gen_ai.tool.name", tool)]);
        }
        if fail {
            self.fail(span, "ToolException", "upstream API returned HTTP 503");
        }
    }

    /// Starts a span; its end and attributes come later.
    fn open(
        &mut self,
        scope: usize,
        parent: Option<usize>,
        name: impl Into<String>,
        kind: SpanKind,
        start: u64,
    ) -> usize {
        let parent_span_id = parent
            .and_then(|p| self.nodes.get(p))
            .map(|p| p.span.span_id.clone())
            .unwrap_or_default();
        let span = Span {
            trace_id: self.trace_id.clone(),
            span_id: random_id::<8>(self.rng),
            parent_span_id,
            flags: FLAGS_LOCAL,
            name: name.into(),
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start,
            status: Some(Status::default()),
            ..Default::default()
        };
        self.nodes.push(Node {
            scope,
            parent,
            span,
        });
        self.nodes.len() - 1
    }

    fn close(&mut self, index: usize, end: u64) {
        if let Some(node) = self.nodes.get_mut(index) {
            node.span.end_time_unix_nano = end;
        }
    }

    fn add<const N: usize>(&mut self, index: usize, attrs: [KeyValue; N]) {
        if let Some(node) = self.nodes.get_mut(index) {
            node.span.attributes.extend(attrs);
        }
    }

    /// Marks a span as failed, with an exception event at its end in the rich profile.
    fn fail(&mut self, index: usize, kind: &str, message: &str) {
        let rich = self.rich;
        if let Some(node) = self.nodes.get_mut(index) {
            node.span.status = Some(Status {
                message: message.to_owned(),
                code: StatusCode::Error as i32,
            });
            if rich {
                node.span.events.push(Event {
                    time_unix_nano: node.span.end_time_unix_nano,
                    name: "exception".to_owned(),
                    attributes: vec![
                        string("exception.type", kind),
                        string("exception.message", message),
                    ],
                    ..Default::default()
                });
            }
        }
        self.failed = Some(index);
    }

    /// A random duration in `lo..=hi` ns.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi)
    }

    /// Propagates the error to the ancestors, keeps the first `max_spans` spans and groups
    /// them by service and scope.
    fn finish(mut self, templates: &Templates, max_spans: usize) -> BuiltTrace {
        let mut ancestor = self
            .failed
            .and_then(|i| self.nodes.get(i))
            .and_then(|n| n.parent);
        while let Some(index) = ancestor {
            let Some(node) = self.nodes.get_mut(index) else {
                break;
            };
            node.span.status = Some(Status {
                code: StatusCode::Error as i32,
                ..Default::default()
            });
            ancestor = node.parent;
        }
        self.nodes.truncate(max_spans);
        let span_count = self.nodes.len();
        let service_of = |scope: usize| services::SCOPES.get(scope).map_or(0, |s| s.service);
        let parent_services: Vec<Option<usize>> = self
            .nodes
            .iter()
            .map(|n| {
                n.parent
                    .and_then(|p| self.nodes.get(p))
                    .map(|p| service_of(p.scope))
            })
            .collect();
        for (node, parent_service) in self.nodes.iter_mut().zip(parent_services) {
            if parent_service.is_some_and(|s| s != service_of(node.scope)) {
                node.span.flags = FLAGS_REMOTE_PARENT;
            }
        }

        let mut by_scope: [Vec<Span>; services::SCOPES.len()] = Default::default();
        for node in self.nodes {
            if let Some(spans) = by_scope.get_mut(node.scope) {
                spans.push(node.span);
            }
        }
        let mut resource_spans: Vec<ResourceSpans> = Vec::with_capacity(services::SERVICES.len());
        let mut current_service = usize::MAX;
        for (scope, mut spans) in by_scope.into_iter().enumerate() {
            if spans.is_empty() {
                continue;
            }
            // An SDK exports spans as they end.
            spans.sort_by_key(|s| s.end_time_unix_nano);
            let service = service_of(scope);
            if service != current_service {
                current_service = service;
                let replica = self.rng.random_range(0..services::REPLICAS);
                resource_spans.push(ResourceSpans {
                    resource: templates.resource(service, replica),
                    scope_spans: Vec::with_capacity(3),
                    schema_url: String::new(),
                });
            }
            if let Some(rs) = resource_spans.last_mut() {
                rs.scope_spans.push(ScopeSpans {
                    scope: templates.scope(scope),
                    spans,
                    schema_url: String::new(),
                });
            }
        }
        BuiltTrace {
            resource_spans,
            span_count,
        }
    }
}

/// A random id of `N` bytes that is not all zeros.
fn random_id<const N: usize>(rng: &mut StdRng) -> Vec<u8> {
    let mut id = [0u8; N];
    rng.fill(&mut id[..]);
    if id.iter().all(|&b| b == 0) {
        id[N - 1] = 1;
    }
    id.to_vec()
}
