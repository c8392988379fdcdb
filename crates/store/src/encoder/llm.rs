//! The LLM and breakdown columns of the `spans` table, filled from the canonical attributes
//! a span carries ([`Canonical`], found in the pass that writes the attribute map) and from
//! its typed breakdown facts.

use super::nanos;
use arrow_array::ArrayRef;
use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use std::sync::Arc;
use tracegate_model::proto::common::v1::KeyValue;
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::{Category, SpanFacts, attr, keys};

/// Canonical attributes the LLM and breakdown columns are filled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Category,
    Operation,
    Provider,
    System,
    RequestModel,
    ResponseModel,
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheWriteTokens,
    ReasoningTokens,
    CostUsd,
    TtftMs,
    DecodeMs,
    OutputTokensPerS,
    FinishReasons,
    SelfTimeNs,
    CriticalPathNs,
}

pub(super) const SLOTS: usize = 18;

impl Slot {
    pub(super) fn of(key: &str) -> Option<Slot> {
        // Most keys are neither; one prefix test rules them out.
        if !(key.starts_with("gen_ai.") || key.starts_with("tracegate.")) {
            return None;
        }
        Some(match key {
            keys::TRACEGATE_CATEGORY => Slot::Category,
            keys::GEN_AI_OPERATION_NAME => Slot::Operation,
            keys::GEN_AI_PROVIDER_NAME => Slot::Provider,
            keys::GEN_AI_SYSTEM => Slot::System,
            keys::GEN_AI_REQUEST_MODEL => Slot::RequestModel,
            keys::GEN_AI_RESPONSE_MODEL => Slot::ResponseModel,
            keys::GEN_AI_USAGE_INPUT_TOKENS => Slot::InputTokens,
            keys::GEN_AI_USAGE_OUTPUT_TOKENS => Slot::OutputTokens,
            keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS => Slot::CacheReadTokens,
            keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS => Slot::CacheWriteTokens,
            keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS => Slot::ReasoningTokens,
            keys::TRACEGATE_COST_USD => Slot::CostUsd,
            keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK => Slot::TtftMs,
            keys::TRACEGATE_DECODE_NS => Slot::DecodeMs,
            keys::TRACEGATE_OUTPUT_TOKENS_PER_S => Slot::OutputTokensPerS,
            keys::GEN_AI_RESPONSE_FINISH_REASONS => Slot::FinishReasons,
            keys::TRACEGATE_SELF_TIME_NS => Slot::SelfTimeNs,
            keys::TRACEGATE_CRITICAL_PATH_NS => Slot::CriticalPathNs,
            _ => return None,
        })
    }
}

/// The canonical attributes of one span, found in one pass; the last occurrence wins, as in
/// [`attr::get`].
#[derive(Debug, Default)]
pub(super) struct Canonical<'a> {
    pub(super) slots: [Option<&'a KeyValue>; SLOTS],
    pub(super) any: bool,
}

impl<'a> Canonical<'a> {
    pub(super) fn note(&mut self, kv: &'a KeyValue) {
        if let Some(slot) = Slot::of(&kv.key) {
            self.slots[slot as usize] = Some(kv);
            self.any = true;
        }
    }

    pub(super) fn get(&self, slot: Slot) -> Option<&'a KeyValue> {
        self.slots[slot as usize]
    }

    pub(super) fn str(&self, slot: Slot) -> Option<&'a str> {
        let kv = self.get(slot)?;
        attr::get_str(std::slice::from_ref(kv), &kv.key)
    }

    pub(super) fn i64(&self, slot: Slot) -> Option<i64> {
        let kv = self.get(slot)?;
        attr::get_i64(std::slice::from_ref(kv), &kv.key)
    }

    pub(super) fn f64(&self, slot: Slot) -> Option<f64> {
        let kv = self.get(slot)?;
        attr::get_f64(std::slice::from_ref(kv), &kv.key)
    }

    /// `gen_ai.response.finish_reasons` is an array by the conventions; some instrumentations
    /// send one string. The column holds the first reason.
    pub(super) fn finish_reason(&self) -> Option<&'a str> {
        let kv = self.get(Slot::FinishReasons)?;
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s),
            Value::ArrayValue(arr) => arr.values.iter().find_map(|v| match v.value.as_ref() {
                Some(Value::StringValue(s)) => Some(s.as_str()),
                _ => None,
            }),
            _ => None,
        }
    }
}

/// The LLM and breakdown columns, in schema order.
#[derive(Debug, Default)]
pub(super) struct LlmColumns {
    pub(super) category: StringBuilder,
    pub(super) operation: StringBuilder,
    pub(super) provider: StringBuilder,
    pub(super) request_model: StringBuilder,
    pub(super) response_model: StringBuilder,
    pub(super) input_tokens: Int64Builder,
    pub(super) output_tokens: Int64Builder,
    pub(super) cache_read_tokens: Int64Builder,
    pub(super) cache_write_tokens: Int64Builder,
    pub(super) reasoning_tokens: Int64Builder,
    pub(super) cost_usd: Float64Builder,
    pub(super) ttft_ms: Float64Builder,
    pub(super) decode_ms: Float64Builder,
    pub(super) output_tokens_per_s: Float64Builder,
    pub(super) finish_reason: StringBuilder,
    pub(super) self_time_ns: Int64Builder,
    pub(super) critical_path_ns: Int64Builder,
}

impl LlmColumns {
    /// The columns from the canonical attributes; the breakdown's columns from the span's
    /// derived `facts` where it has them.
    pub(super) fn append(&mut self, c: &Canonical<'_>, facts: &SpanFacts) -> usize {
        if !c.any && facts.is_empty() {
            self.append_nulls();
            return 0;
        }
        let mut bytes = 0;
        let mut s = |b: &mut StringBuilder, v: Option<&str>| {
            b.append_option(v);
            bytes += v.map_or(0, str::len);
        };
        s(
            &mut self.category,
            facts
                .category
                .map(Category::as_str)
                .or_else(|| c.str(Slot::Category)),
        );
        s(&mut self.operation, c.str(Slot::Operation));
        s(
            &mut self.provider,
            c.str(Slot::Provider).or_else(|| c.str(Slot::System)),
        );
        s(&mut self.request_model, c.str(Slot::RequestModel));
        s(&mut self.response_model, c.str(Slot::ResponseModel));
        self.input_tokens.append_option(c.i64(Slot::InputTokens));
        self.output_tokens.append_option(c.i64(Slot::OutputTokens));
        self.cache_read_tokens
            .append_option(c.i64(Slot::CacheReadTokens));
        self.cache_write_tokens
            .append_option(c.i64(Slot::CacheWriteTokens));
        self.reasoning_tokens
            .append_option(c.i64(Slot::ReasoningTokens));
        self.cost_usd.append_option(c.f64(Slot::CostUsd));
        // TTFT arrives in seconds, prefill and decode time in ns; the columns are ms.
        let ttft_ms = match facts.llm {
            Some(l) => Some(l.prefill_ns as f64 / 1e6),
            None => c.f64(Slot::TtftMs).map(|s| s * 1e3),
        };
        self.ttft_ms.append_option(ttft_ms);
        let decode_ns = match facts.llm {
            Some(l) => Some(l.decode_ns as f64),
            None => c.f64(Slot::DecodeMs),
        };
        self.decode_ms.append_option(decode_ns.map(|ns| ns / 1e6));
        self.output_tokens_per_s
            .append_option(c.f64(Slot::OutputTokensPerS));
        s(&mut self.finish_reason, c.finish_reason());
        let (self_time, critical_path) = match facts.tree {
            Some(t) => (Some(nanos(t.self_time_ns)), Some(nanos(t.critical_path_ns))),
            None => (c.i64(Slot::SelfTimeNs), c.i64(Slot::CriticalPathNs)),
        };
        self.self_time_ns.append_option(self_time);
        self.critical_path_ns.append_option(critical_path);
        bytes
    }

    pub(super) fn append_nulls(&mut self) {
        for b in [
            &mut self.category,
            &mut self.operation,
            &mut self.provider,
            &mut self.request_model,
            &mut self.response_model,
            &mut self.finish_reason,
        ] {
            b.append_null();
        }
        for b in [
            &mut self.input_tokens,
            &mut self.output_tokens,
            &mut self.cache_read_tokens,
            &mut self.cache_write_tokens,
            &mut self.reasoning_tokens,
            &mut self.self_time_ns,
            &mut self.critical_path_ns,
        ] {
            b.append_null();
        }
        for b in [
            &mut self.cost_usd,
            &mut self.ttft_ms,
            &mut self.decode_ms,
            &mut self.output_tokens_per_s,
        ] {
            b.append_null();
        }
    }

    pub(super) fn finish_into(&mut self, columns: &mut Vec<ArrayRef>) {
        columns.extend([
            Arc::new(self.category.finish()) as ArrayRef,
            Arc::new(self.operation.finish()),
            Arc::new(self.provider.finish()),
            Arc::new(self.request_model.finish()),
            Arc::new(self.response_model.finish()),
            Arc::new(self.input_tokens.finish()),
            Arc::new(self.output_tokens.finish()),
            Arc::new(self.cache_read_tokens.finish()),
            Arc::new(self.cache_write_tokens.finish()),
            Arc::new(self.reasoning_tokens.finish()),
            Arc::new(self.cost_usd.finish()),
            Arc::new(self.ttft_ms.finish()),
            Arc::new(self.decode_ms.finish()),
            Arc::new(self.output_tokens_per_s.finish()),
            Arc::new(self.finish_reason.finish()),
            Arc::new(self.self_time_ns.finish()),
            Arc::new(self.critical_path_ns.finish()),
        ]);
    }
}
