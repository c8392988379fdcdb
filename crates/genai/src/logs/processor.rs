//! The `llm_logs` log processor: recognises LLM calls among log records ([`super::recognise`])
//! and writes the canonical attributes spans carry onto them, cost included.
//!
//! Every write is skipped when the attribute is already there (an explicit canonical value
//! wins), so running the processor twice changes nothing more; the seed's own fields stay
//! where they were.

use super::config::LlmLogsConfig;
use super::recognise::{self, Shape};
use crate::cost::pricer::{Priced, Pricer};
use crate::cost::prices::PriceError;
use crate::normalize::aliases::normalize_provider;
use crate::normalize::messages::{self, Side};
use crate::normalize::tokens::Tokens;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use std::borrow::Cow;
use tracegate_model::log::{LogBatch, LogKind, LogRecord};
use tracegate_model::{attr, keys};
use tracegate_pipeline::LogProcessor;

/// Counter of LLM calls whose model has no price: the one `genai_normalize` counts spans in.
pub const COST_UNKNOWN_MODEL_TOTAL: &str = crate::normalize::COST_UNKNOWN_MODEL_TOTAL;

/// `gen_ai.operation.name` of a structured LLM log: the seed logs chat completions.
pub const OPERATION: &str = "chat";

/// The `llm_logs` processor.
#[derive(Debug)]
pub struct LlmLogs {
    config: LlmLogsConfig,
    max_message_bytes: usize,
    pricer: Pricer,
}

/// What [`LlmLogs::canonicalise`] did with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not an LLM call; the record is as it was (its body may have been structured).
    Other,
    /// An LLM call: canonical attributes written, `facts.kind` is [`LogKind::LlmCall`].
    LlmCall {
        /// Its model has no price (`tracegate.cost_unknown_model` was set).
        unknown_model: bool,
    },
}

impl LlmLogs {
    /// Builds the processor, compiling the price table.
    pub fn new(config: LlmLogsConfig) -> Result<Self, PriceError> {
        let pricer = Pricer::new(config.builtin_prices, &config.prices)?;
        let max_message_bytes =
            usize::try_from(config.max_message_bytes.get()).unwrap_or(usize::MAX);
        Ok(Self {
            config,
            max_message_bytes,
            pricer,
        })
    }

    /// The price table in use.
    pub fn pricer(&self) -> &Pricer {
        &self.pricer
    }

    /// Structures the record's body, and canonicalises the record if it is an LLM call.
    pub fn canonicalise(&mut self, record: &mut LogRecord) -> Outcome {
        record.structure_body();
        if recognise::classify(record) != Shape::LlmCall {
            return Outcome::Other;
        }
        let mut w = Writes::default();
        self.write_fields(record, &mut w);
        let unknown_model = self.config.cost && self.write_cost(record, &mut w);
        severity_from_level(record);
        record.attributes.extend(w.new);
        record.facts.kind = LogKind::LlmCall;
        Outcome::LlmCall { unknown_model }
    }

    /// The seed's fields onto their canonical attributes.
    fn write_fields(&self, r: &LogRecord, w: &mut Writes) {
        w.set(r, keys::GEN_AI_OPERATION_NAME, || {
            Some(Value::StringValue(OPERATION.to_owned()))
        });
        w.set(r, keys::GEN_AI_REQUEST_MODEL, || {
            recognise::seed_model(r).map(|m| Value::StringValue(m.to_owned()))
        });
        w.set(r, keys::GEN_AI_USAGE_INPUT_TOKENS, || {
            field_count(r, &["input_tokens", "prompt_tokens"]).map(Value::IntValue)
        });
        w.set(r, keys::GEN_AI_USAGE_OUTPUT_TOKENS, || {
            field_count(r, &["output_tokens", "completion_tokens"]).map(Value::IntValue)
        });
        w.set(r, keys::GEN_AI_REQUEST_TEMPERATURE, || {
            field_number(r, "temperature").map(Value::DoubleValue)
        });
        w.set(r, keys::GEN_AI_REQUEST_MAX_TOKENS, || {
            field_count(r, &["max_tokens"]).map(Value::IntValue)
        });
        let stop_reason = ["stop_reason", "finish_reason"]
            .iter()
            .find_map(|f| r.field(f));
        w.set(r, keys::GEN_AI_RESPONSE_FINISH_REASONS, || {
            finish_reasons(stop_reason?)
        });
        w.set(r, keys::GEN_AI_RESPONSE_ID, || text(r, "response_id"));
        w.set(r, keys::USER_ID, || text(r, "user_id"));
        w.set(r, keys::TRACEGATE_REQUEST_ID, || text(r, "request_id"));
        w.set(r, keys::TRACEGATE_LATENCY_MS, || {
            field_number(r, "latency_ms").map(Value::DoubleValue)
        });
        w.set(r, keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, || {
            ["first_token_latency_ms", "ttft_ms"]
                .iter()
                .find_map(|f| field_number(r, f))
                .map(|ms| Value::DoubleValue(ms / 1e3))
        });
        w.set(r, keys::TRACEGATE_QUEUE_WAIT_MS, || {
            field_number(r, "queue_wait_ms").map(Value::DoubleValue)
        });
        if !self.config.messages {
            return;
        }
        let max = self.max_message_bytes;
        w.set(r, keys::GEN_AI_INPUT_MESSAGES, || {
            let prompt = bounded(r.field("prompt")?, max)?;
            messages::from_payload(&prompt, Side::Input, None)
                .json
                .map(Value::StringValue)
        });
        w.set(r, keys::GEN_AI_OUTPUT_MESSAGES, || {
            let response = bounded(r.field("response")?, max)?;
            let reason = match stop_reason {
                Some(Value::StringValue(s)) => Some(cut(s, max)),
                _ => None,
            };
            messages::from_payload(&response, Side::Output, reason)
                .json
                .map(Value::StringValue)
        });
        w.set(r, keys::GEN_AI_SYSTEM_INSTRUCTIONS, || {
            let system = r.field_str("system_prompt")?;
            messages::system_instructions(cut(system, max)).map(Value::StringValue)
        });
    }

    /// Settles the cost: provided, priced, or unknown (returns true).
    fn write_cost(&mut self, r: &LogRecord, w: &mut Writes) -> bool {
        if w.present(r, keys::TRACEGATE_COST_USD) {
            w.set(r, keys::TRACEGATE_COST_SOURCE, || {
                Some(Value::StringValue("provided".to_owned()))
            });
            return false;
        }
        if w.present(r, keys::TRACEGATE_COST_UNKNOWN_MODEL) {
            return false;
        }
        let count = |key: &str| w.get(r, key).and_then(as_count);
        let tokens = Tokens {
            input: count(keys::GEN_AI_USAGE_INPUT_TOKENS),
            output: count(keys::GEN_AI_USAGE_OUTPUT_TOKENS),
            cache_read: count(keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
            cache_write: count(keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
            reasoning: count(keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS),
        };
        let Some(facts) = tokens.facts() else {
            // No tokens: nothing to price.
            return false;
        };
        let string = |key: &str| match w.get(r, key) {
            Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        };
        let Some(model) =
            string(keys::GEN_AI_RESPONSE_MODEL).or_else(|| string(keys::GEN_AI_REQUEST_MODEL))
        else {
            return false;
        };
        let provider = string(keys::GEN_AI_PROVIDER_NAME)
            .or_else(|| string(keys::GEN_AI_SYSTEM))
            .or_else(|| r.field_str("provider"))
            .map(normalize_provider);
        let priced = self.pricer.price(
            provider.as_deref(),
            model,
            r.timestamp_unix_nano(),
            &facts.usage,
        );
        match priced {
            Priced::Usd(usd) => {
                w.new.push(attr::double(keys::TRACEGATE_COST_USD, usd));
                w.new
                    .push(attr::string(keys::TRACEGATE_COST_SOURCE, "price_table"));
                false
            }
            Priced::UnknownModel => {
                w.new
                    .push(attr::boolean(keys::TRACEGATE_COST_UNKNOWN_MODEL, true));
                true
            }
        }
    }
}

impl LogProcessor for LlmLogs {
    fn process(&mut self, mut batch: LogBatch) -> LogBatch {
        let mut unknown = 0u64;
        for record in &mut batch.records {
            if let Outcome::LlmCall {
                unknown_model: true,
            } = self.canonicalise(record)
            {
                unknown += 1;
            }
        }
        if unknown > 0 {
            metrics::counter!(COST_UNKNOWN_MODEL_TOTAL).increment(unknown);
        }
        batch
    }
}

/// The attributes about to be appended.
#[derive(Debug, Default)]
struct Writes {
    new: Vec<KeyValue>,
}

impl Writes {
    /// The attribute's value: on the record, else about to be written.
    fn get<'a>(&'a self, r: &'a LogRecord, key: &str) -> Option<&'a Value> {
        r.attr(key).or_else(|| attr::get(&self.new, key))
    }

    fn present(&self, r: &LogRecord, key: &str) -> bool {
        self.get(r, key).is_some()
    }

    /// Writes `key` from `value()` unless the record already has it.
    fn set(&mut self, r: &LogRecord, key: &str, value: impl FnOnce() -> Option<Value>) {
        if self.present(r, key) {
            return;
        }
        if let Some(v) = value() {
            self.new.push(attr::kv(key, v));
        }
    }
}

/// A count: a non-negative integer, or a double or numeric string holding one.
fn as_count(v: &Value) -> Option<i64> {
    let n = match v {
        Value::IntValue(i) => return (*i >= 0).then_some(*i),
        Value::DoubleValue(d) => *d,
        Value::StringValue(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    // Whole, non-negative and inside i64 (2^63 is the first double outside).
    (n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n < 9.223_372_036_854_776e18)
        .then_some(n as i64)
}

/// The first of `fields` that holds a count.
fn field_count(r: &LogRecord, fields: &[&str]) -> Option<i64> {
    fields.iter().find_map(|f| r.field(f).and_then(as_count))
}

/// A finite number field.
fn field_number(r: &LogRecord, field: &str) -> Option<f64> {
    r.field_f64(field).filter(|n| n.is_finite())
}

/// A string or integer field, as a string (ids are sometimes logged as numbers).
fn text(r: &LogRecord, field: &str) -> Option<Value> {
    match r.field(field)? {
        Value::StringValue(s) if !s.is_empty() => Some(Value::StringValue(s.clone())),
        Value::IntValue(i) => Some(Value::StringValue(i.to_string())),
        _ => None,
    }
}

/// `gen_ai.response.finish_reasons` from the seed's `stop_reason`: a string array.
fn finish_reasons(v: &Value) -> Option<Value> {
    match v {
        Value::StringValue(s) if !s.is_empty() => Some(Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(Value::StringValue(s.clone())),
            }],
        })),
        Value::ArrayValue(a)
            if !a.values.is_empty()
                && a.values
                    .iter()
                    .all(|v| matches!(v.value, Some(Value::StringValue(_)))) =>
        {
            Some(Value::ArrayValue(a.clone()))
        }
        _ => None,
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// A message payload within `max` bytes: a string is cut (borrowed when it fits); a list or
/// map larger than the bound is not rebuilt (`None`): it is kept whole in the original field.
fn bounded(v: &Value, max: usize) -> Option<Cow<'_, Value>> {
    match v {
        Value::StringValue(s) if s.len() > max => {
            Some(Cow::Owned(Value::StringValue(cut(s, max).to_owned())))
        }
        Value::StringValue(_) => Some(Cow::Borrowed(v)),
        Value::ArrayValue(_) | Value::KvlistValue(_) => {
            (text_bytes(v) <= max).then_some(Cow::Borrowed(v))
        }
        _ => None,
    }
}

/// Bytes of the strings and keys in a value (8 for each scalar): what rebuilding it as
/// messages would copy. Linear in the value.
fn text_bytes(v: &Value) -> usize {
    match v {
        Value::StringValue(s) => s.len(),
        Value::BytesValue(b) => b.len(),
        Value::ArrayValue(a) => a
            .values
            .iter()
            .filter_map(|v| v.value.as_ref())
            .map(text_bytes)
            .fold(0, usize::saturating_add),
        Value::KvlistValue(l) => l
            .values
            .iter()
            .map(|kv| {
                kv.key.len().saturating_add(
                    kv.value
                        .as_ref()
                        .and_then(|v| v.value.as_ref())
                        .map_or(0, text_bytes),
                )
            })
            .fold(0, usize::saturating_add),
        _ => 8,
    }
}

/// OTLP severity numbers of the seed's `level` names (Python's `logging`, and the usual
/// others).
pub fn severity_number(level: &str) -> Option<i32> {
    Some(match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" | "NOTICE" => 9,
        "WARN" | "WARNING" => 13,
        "ERROR" => 17,
        "CRITICAL" | "FATAL" | "PANIC" => 21,
        _ => return None,
    })
}

/// Severity from the seed's `level` when the record carries none.
fn severity_from_level(r: &mut LogRecord) {
    if r.severity_number != 0 {
        return;
    }
    let Some((n, text)) = r
        .field_str("level")
        .and_then(|l| Some((severity_number(l)?, l.trim().to_ascii_uppercase())))
    else {
        return;
    };
    if r.severity_text.is_empty() {
        r.severity_text = text;
    }
    r.severity_number = n;
}
