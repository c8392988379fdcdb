//! The `genai_normalize` span processor: one pass over each span's attributes, then the
//! writes. Spans with no GenAI attribute or event are left untouched without allocating.

use super::aliases::{self, Alias, Conv, FIELDS, Field, Key};
use super::config::GenAiNormalizeConfig;
use super::messages::{self, Side};
use super::tokens::{self, TokenFacts, Tokens};
use crate::cost::cache::PriceCache;
use crate::cost::pricer::{Priced, Pricer};
use crate::cost::prices::{PriceError, PriceTable};
use crate::ttft::{self, TtftSource};
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue, any_value::Value};
use std::borrow::Cow;
use tracegate_model::span::Event;
use tracegate_model::{Span, SpanBatch, attr, keys};
use tracegate_pipeline::SpanProcessor;

/// Counter of LLM spans whose model has no price (named with the others in pipeline telemetry).
pub const COST_UNKNOWN_MODEL_TOTAL: &str =
    tracegate_pipeline::telemetry::names::GENAI_COST_UNKNOWN_MODEL;

/// Event names that make a span relevant even with no relevant attribute.
fn relevant_event(name: &str) -> bool {
    name.starts_with("gen_ai.") || ttft::FIRST_CHUNK_EVENTS.contains(&name)
}

/// The `genai_normalize` processor.
#[derive(Debug)]
pub struct GenAiNormalize {
    config: GenAiNormalizeConfig,
    /// The price table, with its (provider, model) cache bounded by count and key bytes.
    pricer: Pricer,
}

/// What one pass over a span's attributes found (indices into `span.attributes`).
#[derive(Debug, Default)]
struct Found {
    any: bool,
    canonical: [Option<usize>; FIELDS],
    alias: [Option<(usize, &'static Alias)>; FIELDS],
    llm_model_name: Option<usize>,
    provided_cost: Option<usize>,
    cost_usd: bool,
    input_messages: bool,
    output_messages: bool,
    input_carrier: bool,
    output_carrier: bool,
    ttft: bool,
    timing_done: bool,
    cost_done: bool,
}

impl Found {
    fn scan(attrs: &[KeyValue]) -> Self {
        let mut f = Found::default();
        for (i, kv) in attrs.iter().enumerate() {
            let Some(key) = aliases::classify(&kv.key) else {
                continue;
            };
            f.any = true;
            match key {
                Key::Canonical(field) => f.canonical[field as usize] = Some(i),
                Key::Alias(a) => {
                    let slot = &mut f.alias[a.field as usize];
                    if slot.is_none_or(|(_, b)| a.rank <= b.rank) {
                        *slot = Some((i, a));
                    }
                }
                Key::LlmModelName => f.llm_model_name = Some(i),
                Key::ProvidedCost => f.provided_cost = Some(i),
                Key::CostUsd => f.cost_usd = true,
                Key::InputMessages => f.input_messages = true,
                Key::OutputMessages => f.output_messages = true,
                Key::InputCarrier => f.input_carrier = true,
                Key::OutputCarrier => f.output_carrier = true,
                Key::Ttft => f.ttft = true,
                Key::TimingDone => f.timing_done = true,
                Key::CostDone => f.cost_done = true,
            }
        }
        f
    }
}

fn val(kv: &KeyValue) -> Option<&Value> {
    kv.value.as_ref().and_then(|v| v.value.as_ref())
}

fn kv_str(kv: &KeyValue) -> Option<&str> {
    match val(kv)? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn kv_i64(kv: &KeyValue) -> Option<i64> {
    attr::get_i64(std::slice::from_ref(kv), &kv.key)
}

fn kv_f64(kv: &KeyValue) -> Option<f64> {
    attr::get_f64(std::slice::from_ref(kv), &kv.key)
}

fn kv_bool(kv: &KeyValue) -> Option<bool> {
    match val(kv)? {
        Value::BoolValue(b) => Some(*b),
        Value::StringValue(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::StringValue(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::IntValue(i) => Some(*i != 0),
        _ => None,
    }
}

fn string_array(items: impl IntoIterator<Item = String>) -> Value {
    Value::ArrayValue(ArrayValue {
        values: items
            .into_iter()
            .map(|s| AnyValue {
                value: Some(Value::StringValue(s)),
            })
            .collect(),
    })
}

/// Converts an alias's value to the canonical one.
fn convert(kv: &KeyValue, conv: Conv) -> Option<Value> {
    Some(match conv {
        Conv::Str => Value::StringValue(kv_str(kv)?.to_owned()),
        Conv::Int => Value::IntValue(kv_i64(kv)?),
        Conv::Bool => Value::BoolValue(kv_bool(kv)?),
        Conv::Provider => Value::StringValue(aliases::normalize_provider(kv_str(kv)?).into_owned()),
        Conv::VercelProvider => {
            let v = kv_str(kv)?;
            let head = v.split('.').next().unwrap_or(v);
            Value::StringValue(aliases::normalize_provider(head).into_owned())
        }
        Conv::OpenInferenceKind => {
            Value::StringValue(aliases::openinference_operation(kv_str(kv)?)?.to_owned())
        }
        Conv::LlmRequestType => {
            Value::StringValue(aliases::llm_request_type_operation(kv_str(kv)?)?.to_owned())
        }
        Conv::TraceloopKind => {
            Value::StringValue(aliases::traceloop_operation(kv_str(kv)?)?.to_owned())
        }
        Conv::FinishReasons => match val(kv)? {
            Value::StringValue(s) => string_array([s.clone()]),
            Value::ArrayValue(a) => Value::ArrayValue(a.clone()),
            _ => return None,
        },
    })
}

fn set_value(kv: &mut KeyValue, v: Value) {
    kv.value = Some(AnyValue { value: Some(v) });
}

impl GenAiNormalize {
    /// Builds the processor, compiling the price table.
    pub fn new(config: GenAiNormalizeConfig) -> Result<Self, PriceError> {
        let pricer = Pricer::new(config.builtin_prices, &config.prices)?;
        Ok(Self { config, pricer })
    }

    /// The price table in use.
    pub fn prices(&self) -> &PriceTable {
        self.pricer.table()
    }

    /// The cache of price lookups by (provider, model).
    pub fn price_cache(&self) -> &PriceCache {
        self.pricer.cache()
    }

    /// Normalises one span, stage by stage. Returns true when its model had no price.
    pub fn normalize_span(&mut self, span: &mut Span) -> bool {
        let found = Found::scan(&span.attributes);
        let events = span.events.iter().any(|e| relevant_event(&e.name));
        if !found.any && !events {
            return false;
        }
        let view = View {
            attrs: &span.attributes,
            found: &found,
        };
        let mut w = Writes::default();
        map_aliases(&view, &mut w);
        let facts = token_facts(&view, &mut w);
        rebuild_messages(&view, &span.events, events, self.config.messages, &mut w);
        if self.config.timing && !found.timing_done && (found.ttft || events) {
            write_timing(span, facts.map(|f| f.usage.output), &mut w);
        }
        let unknown = self.config.cost
            && !found.cost_done
            && self.write_cost(&view, span.start_time_unix_nano, facts, &mut w);
        w.apply(span, &found, self.config.drop_aliases);
        unknown
    }

    /// Settles the cost: provided, priced, or unknown (returns true).
    fn write_cost(
        &mut self,
        view: &View<'_>,
        start_ns: u64,
        facts: Option<TokenFacts>,
        w: &mut Writes,
    ) -> bool {
        let found = view.found;
        if let Some(provided) = view.at(found.provided_cost).and_then(kv_f64) {
            if !found.cost_usd {
                w.new.push(attr::double(keys::TRACEGATE_COST_USD, provided));
            }
            w.new
                .push(attr::string(keys::TRACEGATE_COST_SOURCE, "provided"));
            return false;
        }
        if found.cost_usd {
            w.new
                .push(attr::string(keys::TRACEGATE_COST_SOURCE, "provided"));
            return false;
        }
        let Some(facts) = facts else {
            // No tokens: not a call that costs anything we can price.
            return false;
        };
        let model = view
            .string(Field::ResponseModel, &w.new)
            .or_else(|| view.string(Field::RequestModel, &w.new));
        let provider = w
            .provider_fix
            .clone()
            .or_else(|| view.string(Field::Provider, &w.new));
        let priced = match model.as_deref() {
            Some(m) => self
                .pricer
                .price(provider.as_deref(), m, start_ns, &facts.usage),
            None => Priced::UnknownModel,
        };
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

/// A span's attributes as the scan found them.
struct View<'a> {
    attrs: &'a [KeyValue],
    found: &'a Found,
}

impl<'a> View<'a> {
    fn at(&self, i: Option<usize>) -> Option<&'a KeyValue> {
        self.attrs.get(i?)
    }

    fn canonical(&self, f: Field) -> Option<&'a KeyValue> {
        self.at(self.found.canonical[f as usize])
    }

    fn alias(&self, f: Field) -> Option<(&'a KeyValue, &'static Alias)> {
        let (i, a) = self.found.alias[f as usize]?;
        Some((self.attrs.get(i)?, a))
    }

    /// A token count, canonical first.
    fn count(&self, f: Field) -> Option<i64> {
        self.canonical(f)
            .and_then(kv_i64)
            .or_else(|| self.alias(f).and_then(|(kv, _)| kv_i64(kv)))
    }

    /// A string field's value: as sent, or as about to be written.
    fn string(&self, f: Field, new: &[KeyValue]) -> Option<String> {
        self.canonical(f)
            .and_then(kv_str)
            .map(str::to_owned)
            .or_else(|| new_str(new, f.canonical()))
    }
}

/// What the stages decided; applied to the span at the end.
#[derive(Debug, Default)]
struct Writes {
    /// Attributes to append.
    new: Vec<KeyValue>,
    /// New value of the canonical `gen_ai.provider.name`, when it was not normalised.
    provider_fix: Option<String>,
    /// New value of the canonical `gen_ai.usage.input_tokens`, when it was exclusive.
    input_fix: Option<i64>,
}

impl Writes {
    /// In-place fixes, then dropping aliases (if asked), then appending.
    fn apply(self, span: &mut Span, found: &Found, drop_aliases: bool) {
        if let (Some(v), Some(i)) = (self.provider_fix, found.canonical[Field::Provider as usize])
            && let Some(kv) = span.attributes.get_mut(i)
        {
            set_value(kv, Value::StringValue(v));
        }
        if let (Some(v), Some(i)) = (self.input_fix, found.canonical[Field::InputTokens as usize])
            && let Some(kv) = span.attributes.get_mut(i)
        {
            set_value(kv, Value::IntValue(v));
        }
        if drop_aliases {
            let written = |key: &str| self.new.iter().any(|kv| kv.key == key);
            let messages_in = found.input_messages || written(aliases::GEN_AI_INPUT_MESSAGES);
            let messages_out = found.output_messages || written(aliases::GEN_AI_OUTPUT_MESSAGES);
            span.attributes
                .retain(|kv| match aliases::classify(&kv.key) {
                    Some(Key::Alias(_) | Key::LlmModelName) => false,
                    Some(Key::InputCarrier) => !messages_in,
                    Some(Key::OutputCarrier) => !messages_out,
                    _ => true,
                });
        }
        span.attributes.extend(self.new);
    }
}

/// Stage 1: string and enum fields, written from the best alias when the canonical is
/// absent; a canonical provider value is normalised in place.
fn map_aliases(view: &View<'_>, w: &mut Writes) {
    for f in [
        Field::Operation,
        Field::Provider,
        Field::RequestModel,
        Field::ResponseModel,
        Field::Stream,
        Field::ConversationId,
    ] {
        if let Some(kv) = view.canonical(f) {
            if f == Field::Provider
                && let Some(v) = kv_str(kv)
                && let Cow::Owned(n) = aliases::normalize_provider(v)
            {
                w.provider_fix = Some(n);
            }
            continue;
        }
        let mut value = view.alias(f).and_then(|(kv, a)| convert(kv, a.conv));
        if value.is_none() {
            // OpenInference's llm.model_name: the request model, and the response model
            // when no request model is given otherwise.
            let model_name = view.at(view.found.llm_model_name).and_then(kv_str);
            value = match f {
                Field::RequestModel => model_name,
                Field::ResponseModel
                    if view.alias(Field::RequestModel).is_none()
                        && view.canonical(Field::RequestModel).is_none() =>
                {
                    model_name
                }
                _ => None,
            }
            .map(|s| Value::StringValue(s.to_owned()));
        }
        if let Some(v) = value {
            w.new.push(attr::kv(f.canonical(), v));
        }
    }
}

/// Stage 2: token counts from aliases, and the inclusive-input rule.
fn token_facts(view: &View<'_>, w: &mut Writes) -> Option<TokenFacts> {
    let raw = Tokens {
        input: view.count(Field::InputTokens),
        output: view.count(Field::OutputTokens),
        cache_read: view.count(Field::CacheRead),
        cache_write: view.count(Field::CacheWrite),
        reasoning: view.count(Field::Reasoning),
    };
    let facts = raw.facts();
    let exclusive = facts.filter(|f| f.exclusive_input);
    for (f, v) in [
        (Field::InputTokens, raw.input),
        (Field::OutputTokens, raw.output),
        (Field::CacheRead, raw.cache_read),
        (Field::CacheWrite, raw.cache_write),
        (Field::Reasoning, raw.reasoning),
    ] {
        let Some(mut v) = v else { continue };
        if f == Field::InputTokens
            && let Some(facts) = exclusive
        {
            v = i64::try_from(facts.usage.input).unwrap_or(i64::MAX);
            if view.canonical(f).is_some() {
                w.input_fix = Some(v);
                continue;
            }
        }
        if view.canonical(f).is_none() {
            w.new.push(attr::int(f.canonical(), v));
        }
    }
    if exclusive.is_some() {
        w.new
            .push(attr::boolean(keys::TRACEGATE_USAGE_EXCLUSIVE_INPUT, true));
    }
    facts
}

/// Stage 3: `gen_ai.input.messages` / `gen_ai.output.messages` from older carriers (when
/// `messages`), and finish reasons (always).
fn rebuild_messages(
    view: &View<'_>,
    span_events: &[Event],
    events: bool,
    messages: bool,
    w: &mut Writes,
) {
    let found = view.found;
    let mut finish_reasons: Vec<String> = Vec::new();
    let need_output =
        (messages && !found.output_messages) || view.canonical(Field::FinishReasons).is_none();
    let (ev_in, ev_out) = if events && (messages || need_output) {
        let (i, o) = messages::from_events(span_events);
        (Some(i), Some(o))
    } else {
        (None, None)
    };
    if messages && !found.input_messages {
        let rebuilt = if found.input_carrier {
            messages::from_attributes(view.attrs, Side::Input)
        } else {
            ev_in.unwrap_or_default()
        };
        if let Some(json) = rebuilt.json {
            w.new
                .push(attr::string(aliases::GEN_AI_INPUT_MESSAGES, json));
        }
    }
    if need_output && (found.output_carrier || ev_out.is_some()) {
        let rebuilt = if found.output_carrier {
            messages::from_attributes(view.attrs, Side::Output)
        } else {
            ev_out.unwrap_or_default()
        };
        finish_reasons = rebuilt.finish_reasons;
        if messages
            && !found.output_messages
            && let Some(json) = rebuilt.json
        {
            w.new
                .push(attr::string(aliases::GEN_AI_OUTPUT_MESSAGES, json));
        }
    }
    if view.canonical(Field::FinishReasons).is_some() {
        return;
    }
    // An explicit finish-reason alias ranked above gen_ai.completion.N.finish_reason wins;
    // then the rebuilt output messages' reasons; then any other alias.
    let value = match view.alias(Field::FinishReasons) {
        Some((kv, a))
            if a.rank < aliases::COMPLETION_FINISH_REASON_RANK || finish_reasons.is_empty() =>
        {
            convert(kv, a.conv)
        }
        _ if !finish_reasons.is_empty() => Some(string_array(finish_reasons)),
        _ => None,
    };
    if let Some(v) = value {
        w.new
            .push(attr::kv(keys::GEN_AI_RESPONSE_FINISH_REASONS, v));
    }
}

/// Stage 4: TTFT and decode timing.
fn write_timing(span: &Span, output_tokens: Option<u64>, w: &mut Writes) {
    let Some(t) = ttft::extract(span) else {
        return;
    };
    let new = &mut w.new;
    if t.source != TtftSource::TimeToFirstChunk {
        new.push(attr::double(
            keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
            t.ns as f64 / 1e9,
        ));
    }
    new.push(attr::string(keys::TRACEGATE_TTFT_SOURCE, t.source.as_str()));
    let d = tokens::decode(t.ns, span.duration_ns(), output_tokens);
    let ns = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    new.push(attr::int(keys::TRACEGATE_DECODE_NS, ns(d.decode_ns)));
    if let Some(tpot) = d.time_per_output_token_ns {
        new.push(attr::int(
            keys::TRACEGATE_TIME_PER_OUTPUT_TOKEN_NS,
            ns(tpot),
        ));
    }
    if let Some(rate) = d.output_tokens_per_s {
        new.push(attr::double(keys::TRACEGATE_OUTPUT_TOKENS_PER_S, rate));
    }
}

/// A string value among the attributes about to be written.
fn new_str(new: &[KeyValue], key: &str) -> Option<String> {
    new.iter()
        .rev()
        .find(|kv| kv.key == key)
        .and_then(kv_str)
        .map(str::to_owned)
}

impl SpanProcessor for GenAiNormalize {
    fn process(&mut self, mut batch: SpanBatch) -> SpanBatch {
        let mut unknown = 0u64;
        for span in &mut batch.spans {
            if self.normalize_span(span) {
                unknown += 1;
            }
        }
        if unknown > 0 {
            metrics::counter!(COST_UNKNOWN_MODEL_TOTAL).increment(unknown);
        }
        batch
    }
}
