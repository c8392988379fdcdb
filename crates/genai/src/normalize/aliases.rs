//! The one table of aliases: every attribute key `genai_normalize` reads, what it means, and
//! how its value converts. Rows earlier in the table win over later rows for the same field.
//!
//! [`classify`] is a static `match` generated from the same rows as [`ALIASES`], so the
//! per-attribute cost is a length check and a few byte comparisons; keys of non-LLM spans are
//! rejected by their first byte.

use std::borrow::Cow;
use tracegate_model::keys;

/// A canonical GenAI field that aliases map onto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `gen_ai.operation.name`.
    Operation,
    /// `gen_ai.provider.name`.
    Provider,
    /// `gen_ai.request.model`.
    RequestModel,
    /// `gen_ai.response.model`.
    ResponseModel,
    /// `gen_ai.usage.input_tokens` (inclusive of cached tokens).
    InputTokens,
    /// `gen_ai.usage.output_tokens`.
    OutputTokens,
    /// `gen_ai.usage.cache_read.input_tokens`.
    CacheRead,
    /// `gen_ai.usage.cache_creation.input_tokens`.
    CacheWrite,
    /// `gen_ai.usage.reasoning.output_tokens`.
    Reasoning,
    /// `gen_ai.response.finish_reasons` (string array).
    FinishReasons,
    /// `gen_ai.request.stream`.
    Stream,
    /// `gen_ai.conversation.id`.
    ConversationId,
}

/// Number of [`Field`]s.
pub const FIELDS: usize = 12;

/// `gen_ai.request.stream`.
pub const GEN_AI_REQUEST_STREAM: &str = "gen_ai.request.stream";
/// `gen_ai.conversation.id`.
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// `gen_ai.input.messages`.
pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
/// `gen_ai.output.messages`.
pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";

impl Field {
    /// Every field, in index order.
    pub const ALL: [Field; FIELDS] = [
        Field::Operation,
        Field::Provider,
        Field::RequestModel,
        Field::ResponseModel,
        Field::InputTokens,
        Field::OutputTokens,
        Field::CacheRead,
        Field::CacheWrite,
        Field::Reasoning,
        Field::FinishReasons,
        Field::Stream,
        Field::ConversationId,
    ];

    /// The canonical key written.
    pub fn canonical(self) -> &'static str {
        match self {
            Field::Operation => keys::GEN_AI_OPERATION_NAME,
            Field::Provider => keys::GEN_AI_PROVIDER_NAME,
            Field::RequestModel => keys::GEN_AI_REQUEST_MODEL,
            Field::ResponseModel => keys::GEN_AI_RESPONSE_MODEL,
            Field::InputTokens => keys::GEN_AI_USAGE_INPUT_TOKENS,
            Field::OutputTokens => keys::GEN_AI_USAGE_OUTPUT_TOKENS,
            Field::CacheRead => keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
            Field::CacheWrite => keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
            Field::Reasoning => keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
            Field::FinishReasons => keys::GEN_AI_RESPONSE_FINISH_REASONS,
            Field::Stream => GEN_AI_REQUEST_STREAM,
            Field::ConversationId => GEN_AI_CONVERSATION_ID,
        }
    }
}

/// How an alias's value converts to the canonical value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conv {
    /// The string as it is.
    Str,
    /// An integer (ints, whole doubles, numeric strings).
    Int,
    /// A boolean (bools, `"true"`/`"false"`).
    Bool,
    /// A provider name, normalised ([`normalize_provider`]).
    Provider,
    /// Vercel's `ai.model.provider` (`openai.chat`): the part before the first `.`, normalised.
    VercelProvider,
    /// `openinference.span.kind` ([`openinference_operation`]).
    OpenInferenceKind,
    /// `llm.request.type` ([`llm_request_type_operation`]).
    LlmRequestType,
    /// `traceloop.span.kind` ([`traceloop_operation`]).
    TraceloopKind,
    /// A finish reason string, or an array of them.
    FinishReasons,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alias {
    /// The key read.
    pub key: &'static str,
    /// The field it fills.
    pub field: Field,
    /// How its value converts.
    pub conv: Conv,
    /// Preference among aliases of one field: lower wins.
    pub rank: u8,
}

/// What a key is, to the normaliser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A canonical field's own key.
    Canonical(Field),
    /// An alias of a field.
    Alias(&'static Alias),
    /// OpenInference's `llm.model_name`: the request model, and the response model when no
    /// request model is given otherwise.
    LlmModelName,
    /// A cost the span already carries (`llm.cost.total`, `gen_ai.usage.cost`).
    ProvidedCost,
    /// `tracegate.cost_usd`.
    CostUsd,
    /// `gen_ai.input.messages`.
    InputMessages,
    /// `gen_ai.output.messages`.
    OutputMessages,
    /// A flattened input message attribute (`gen_ai.prompt.N.*`, `llm.input_messages.N.*`).
    InputCarrier,
    /// A flattened output message attribute (`gen_ai.completion.N.*`, `llm.output_messages.N.*`).
    OutputCarrier,
    /// A TTFT source attribute (see [`crate::ttft`]).
    Ttft,
    /// `tracegate.ttft_source`: timing was already written.
    TimingDone,
    /// `tracegate.cost_source` or `tracegate.cost_unknown_model`: cost was already settled.
    CostDone,
}

macro_rules! alias_table {
    ($( $key:literal => $field:ident, $conv:ident, $rank:literal; )*) => {
        /// Every alias, in preference order per field.
        pub const ALIASES: &[Alias] = &[
            $( Alias { key: $key, field: Field::$field, conv: Conv::$conv, rank: $rank }, )*
        ];

        fn alias(key: &str) -> Option<&'static Alias> {
            match key {
                $( $key => Some(&Alias { key: $key, field: Field::$field, conv: Conv::$conv, rank: $rank }), )*
                _ => None,
            }
        }
    };
}

alias_table! {
    // gen_ai.operation.name
    "openinference.span.kind" => Operation, OpenInferenceKind, 0;
    "llm.request.type" => Operation, LlmRequestType, 1;
    "traceloop.span.kind" => Operation, TraceloopKind, 2;
    // gen_ai.provider.name
    "gen_ai.system" => Provider, Provider, 0;
    "llm.provider" => Provider, Provider, 1;
    "llm.system" => Provider, Provider, 2;
    "ai.model.provider" => Provider, VercelProvider, 3;
    // gen_ai.request.model (llm.model_name is special, see Key::LlmModelName)
    "llm.request.model_name" => RequestModel, Str, 0;
    "ai.model.id" => RequestModel, Str, 2;
    // gen_ai.response.model
    "llm.response.model_name" => ResponseModel, Str, 0;
    "ai.response.model" => ResponseModel, Str, 2;
    // gen_ai.usage.input_tokens
    "gen_ai.usage.prompt_tokens" => InputTokens, Int, 0;
    "llm.token_count.prompt" => InputTokens, Int, 1;
    "ai.usage.promptTokens" => InputTokens, Int, 2;
    "ai.usage.inputTokens" => InputTokens, Int, 3;
    // gen_ai.usage.output_tokens
    "gen_ai.usage.completion_tokens" => OutputTokens, Int, 0;
    "llm.token_count.completion" => OutputTokens, Int, 1;
    "ai.usage.completionTokens" => OutputTokens, Int, 2;
    "ai.usage.outputTokens" => OutputTokens, Int, 3;
    // gen_ai.usage.cache_read.input_tokens
    "gen_ai.usage.cache_read_input_tokens" => CacheRead, Int, 0;
    "llm.token_count.prompt_details.cache_read" => CacheRead, Int, 1;
    // gen_ai.usage.cache_creation.input_tokens
    "gen_ai.usage.cache_creation_input_tokens" => CacheWrite, Int, 0;
    "gen_ai.usage.cache_write.input_tokens" => CacheWrite, Int, 1;
    "llm.token_count.prompt_details.cache_write" => CacheWrite, Int, 2;
    // gen_ai.usage.reasoning.output_tokens
    "gen_ai.usage.reasoning_tokens" => Reasoning, Int, 0;
    "llm.usage.reasoning_tokens" => Reasoning, Int, 1;
    "llm.token_count.completion_details.reasoning" => Reasoning, Int, 2;
    // gen_ai.response.finish_reasons (gen_ai.completion.N.finish_reason: see messages)
    "llm.response.finish_reason" => FinishReasons, FinishReasons, 0;
    "llm.finish_reason" => FinishReasons, FinishReasons, 2;
    "ai.response.finishReason" => FinishReasons, FinishReasons, 3;
    // gen_ai.request.stream
    "llm.is_streaming" => Stream, Bool, 0;
    "gen_ai.is_streaming" => Stream, Bool, 1;
    // gen_ai.conversation.id
    "session.id" => ConversationId, Str, 0;
}

/// Rank given to `gen_ai.completion.N.finish_reason`, between the table's rows.
pub const COMPLETION_FINISH_REASON_RANK: u8 = 1;

/// Classifies an attribute key, or `None` for keys the normaliser ignores.
#[inline]
pub fn classify(key: &str) -> Option<Key> {
    // Every key of interest starts with one of these bytes: most keys of non-LLM spans
    // (http.*, db.*, url.*, server.*, ...) stop here.
    match key.as_bytes().first()? {
        b'g' | b'l' | b'o' | b't' | b's' | b'a' => {}
        _ => return None,
    }
    // Canonical keys first: current instrumentations send only these.
    Some(match key {
        keys::GEN_AI_OPERATION_NAME => Key::Canonical(Field::Operation),
        keys::GEN_AI_PROVIDER_NAME => Key::Canonical(Field::Provider),
        keys::GEN_AI_REQUEST_MODEL => Key::Canonical(Field::RequestModel),
        keys::GEN_AI_RESPONSE_MODEL => Key::Canonical(Field::ResponseModel),
        keys::GEN_AI_USAGE_INPUT_TOKENS => Key::Canonical(Field::InputTokens),
        keys::GEN_AI_USAGE_OUTPUT_TOKENS => Key::Canonical(Field::OutputTokens),
        keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS => Key::Canonical(Field::CacheRead),
        keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS => Key::Canonical(Field::CacheWrite),
        keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS => Key::Canonical(Field::Reasoning),
        keys::GEN_AI_RESPONSE_FINISH_REASONS => Key::Canonical(Field::FinishReasons),
        GEN_AI_REQUEST_STREAM => Key::Canonical(Field::Stream),
        GEN_AI_CONVERSATION_ID => Key::Canonical(Field::ConversationId),
        "llm.model_name" => Key::LlmModelName,
        "llm.cost.total" | "gen_ai.usage.cost" => Key::ProvidedCost,
        keys::TRACEGATE_COST_USD => Key::CostUsd,
        GEN_AI_INPUT_MESSAGES => Key::InputMessages,
        GEN_AI_OUTPUT_MESSAGES => Key::OutputMessages,
        keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
        | "ai.response.msToFirstChunk"
        | "gen_ai.server.time_to_first_token" => Key::Ttft,
        keys::TRACEGATE_TTFT_SOURCE => Key::TimingDone,
        keys::TRACEGATE_COST_SOURCE | keys::TRACEGATE_COST_UNKNOWN_MODEL => Key::CostDone,
        _ => return classify_rest(key),
    })
}

/// Aliases and flattened message attributes: keys that are not canonical.
fn classify_rest(key: &str) -> Option<Key> {
    if let Some(a) = alias(key) {
        return Some(Key::Alias(a));
    }
    Some(match key {
        _ if key.starts_with("gen_ai.prompt.") || key.starts_with("llm.input_messages.") => {
            Key::InputCarrier
        }
        _ if key.starts_with("gen_ai.completion.") || key.starts_with("llm.output_messages.") => {
            Key::OutputCarrier
        }
        _ => return None,
    })
}

/// `openinference.span.kind` → `gen_ai.operation.name`. RERANKER, CHAIN and GUARDRAIL have
/// no operation name: they keep their own category.
pub fn openinference_operation(kind: &str) -> Option<&'static str> {
    Some(match kind {
        k if k.eq_ignore_ascii_case("LLM") => "chat",
        k if k.eq_ignore_ascii_case("EMBEDDING") => "embeddings",
        k if k.eq_ignore_ascii_case("RETRIEVER") => "retrieval",
        k if k.eq_ignore_ascii_case("TOOL") => "execute_tool",
        k if k.eq_ignore_ascii_case("AGENT") => "invoke_agent",
        _ => return None,
    })
}

/// `llm.request.type` (OpenLLMetry) → `gen_ai.operation.name`.
pub fn llm_request_type_operation(kind: &str) -> Option<&'static str> {
    Some(match kind {
        k if k.eq_ignore_ascii_case("chat") => "chat",
        k if k.eq_ignore_ascii_case("completion") => "text_completion",
        k if k.eq_ignore_ascii_case("embedding") => "embeddings",
        k if k.eq_ignore_ascii_case("rerank") => "rerank",
        _ => return None,
    })
}

/// `traceloop.span.kind` → `gen_ai.operation.name`. `workflow` and `task` have none: they
/// are chains.
pub fn traceloop_operation(kind: &str) -> Option<&'static str> {
    Some(match kind {
        k if k.eq_ignore_ascii_case("agent") => "invoke_agent",
        k if k.eq_ignore_ascii_case("tool") => "execute_tool",
        _ => return None,
    })
}

/// Normalises a provider name to the OTel GenAI value: `vertex_ai` → `gcp.vertex_ai`,
/// `gemini` → `gcp.gemini`, `az.ai.*` → `azure.ai.*`, `xai` → `x_ai`, `Anthropic` →
/// `anthropic`, `AWS` → `aws.bedrock`, ... Unknown names are lowercased. Borrows when the
/// value is already canonical.
pub fn normalize_provider(value: &str) -> Cow<'_, str> {
    if let Some(canonical) = canonical_provider(value) {
        return if canonical == value {
            Cow::Borrowed(value)
        } else {
            Cow::Owned(canonical.to_owned())
        };
    }
    let lower = value.trim().to_ascii_lowercase();
    match canonical_provider(&lower) {
        Some(c) => Cow::Owned(c.to_owned()),
        None if lower == value => Cow::Borrowed(value),
        None => Cow::Owned(lower),
    }
}

/// True when `value` names a provider the normaliser knows.
pub fn is_known_provider(value: &str) -> bool {
    canonical_provider(&value.to_ascii_lowercase()).is_some()
}

fn canonical_provider(v: &str) -> Option<&'static str> {
    Some(match v {
        "openai" => "openai",
        "anthropic" => "anthropic",
        "aws.bedrock" | "aws" | "bedrock" | "aws_bedrock" | "amazon_bedrock" => "aws.bedrock",
        "gcp.vertex_ai" | "vertex_ai" | "vertexai" | "vertex ai" | "vertex" => "gcp.vertex_ai",
        "gcp.gemini" | "gemini" => "gcp.gemini",
        "gcp.gen_ai" | "google" | "google_genai" => "gcp.gen_ai",
        "azure.ai.inference" | "az.ai.inference" => "azure.ai.inference",
        "azure.ai.openai" | "az.ai.openai" | "azure" | "azure_openai" | "azureopenai" => {
            "azure.ai.openai"
        }
        "x_ai" | "xai" | "x-ai" => "x_ai",
        "mistral_ai" | "mistralai" | "mistral" => "mistral_ai",
        "cohere" => "cohere",
        "groq" => "groq",
        "deepseek" => "deepseek",
        "perplexity" => "perplexity",
        "ibm.watsonx.ai" | "watsonx" | "ibm" => "ibm.watsonx.ai",
        "ollama" => "ollama",
        _ => return None,
    })
}
