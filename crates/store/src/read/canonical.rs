//! A decoded span's LLM and breakdown columns → its typed facts, and the column values used
//! to settle what the attribute text alone cannot.
//!
//! The encoder fills the LLM and breakdown columns from canonical attributes (the last
//! occurrence of each key wins) and from [`SpanFacts`]; facts with a column of their own
//! ([`has_own_column`](crate::encoder::has_own_column): category, self time, critical path,
//! prefill as `ttft_ms`, decode as `decode_ms`) are left out of the attribute map. Given the
//! decoded attributes and the row's columns, [`restore`]:
//!
//! 1. reads a canonical attribute's stored text otherwise than
//!    [`parse_rendered`](super::value::parse_rendered) did when only that reading gives the
//!    column's value (a `gen_ai.request.model` of `"4"` is a string, since the column holds
//!    `4`; a `gen_ai.response.finish_reasons` of `[1,"stop"]` is a mixed array, since the
//!    column holds `stop`);
//! 2. restores `category`, `tree` and `llm` facts from columns the attributes do not
//!    explain;
//! 3. moves the trailing `tracegate.*` entries the encoder wrote for the facts without a
//!    column (network gap, skew, tree marks, TTFT source) back into the facts, when they
//!    read exactly as the encoder writes them, so `into_proto` lists every fact in the
//!    order a live span exports them.
//!
//! What cannot be told apart, and is decoded as the attribute: a fact that equals an
//! attribute the span also carries under the same key (the column holds the fact, the map
//! the attribute: with equal values the fact's duplicate entry is not restored); and, in
//! step 3, attributes that arrived with exactly the encoder's `tracegate.*` keys and forms
//! at the end of the span's attributes (a span re-ingested from another tracegate), which
//! become facts, with the same exported attributes.

use super::value::{typed_any, unhex};
use arrow_array::{Array, StringArray};
use tracegate_model::proto::common::v1::any_value::Value;
use tracegate_model::proto::common::v1::{AnyValue, ArrayValue, KeyValue};
use tracegate_model::{Category, LlmStages, SpanFacts, TreeTimes, attr, keys};

/// The values of one row's LLM and breakdown columns (null when the column is missing).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LlmRow<'a> {
    /// The `category` column.
    pub category: Option<&'a str>,
    /// The `operation` column.
    pub operation: Option<&'a str>,
    /// The `provider` column.
    pub provider: Option<&'a str>,
    /// The `request_model` column.
    pub request_model: Option<&'a str>,
    /// The `response_model` column.
    pub response_model: Option<&'a str>,
    /// The `input_tokens` column.
    pub input_tokens: Option<i64>,
    /// The `output_tokens` column.
    pub output_tokens: Option<i64>,
    /// The `cache_read_tokens` column.
    pub cache_read_tokens: Option<i64>,
    /// The `cache_write_tokens` column.
    pub cache_write_tokens: Option<i64>,
    /// The `reasoning_tokens` column.
    pub reasoning_tokens: Option<i64>,
    /// The `cost_usd` column.
    pub cost_usd: Option<f64>,
    /// The `ttft_ms` column.
    pub ttft_ms: Option<f64>,
    /// The `decode_ms` column.
    pub decode_ms: Option<f64>,
    /// The `output_tokens_per_s` column.
    pub output_tokens_per_s: Option<f64>,
    /// The `finish_reason` column.
    pub finish_reason: Option<&'a str>,
    /// The `self_time_ns` column.
    pub self_time_ns: Option<i64>,
    /// The `critical_path_ns` column.
    pub critical_path_ns: Option<i64>,
}

/// Canonical keys, as the encoder's slots.
const CATEGORY: usize = 0;
const OPERATION: usize = 1;
const PROVIDER: usize = 2;
const SYSTEM: usize = 3;
const REQUEST_MODEL: usize = 4;
const RESPONSE_MODEL: usize = 5;
const INPUT_TOKENS: usize = 6;
const OUTPUT_TOKENS: usize = 7;
const CACHE_READ: usize = 8;
const CACHE_WRITE: usize = 9;
const REASONING: usize = 10;
const COST: usize = 11;
const TTFT: usize = 12;
const DECODE: usize = 13;
const TOKENS_PER_S: usize = 14;
const FINISH: usize = 15;
const SELF_TIME: usize = 16;
const CRITICAL_PATH: usize = 17;
const SLOTS: usize = 18;

fn slot_of(key: &str) -> Option<usize> {
    if !(key.starts_with("gen_ai.") || key.starts_with("tracegate.")) {
        return None;
    }
    Some(match key {
        keys::TRACEGATE_CATEGORY => CATEGORY,
        keys::GEN_AI_OPERATION_NAME => OPERATION,
        keys::GEN_AI_PROVIDER_NAME => PROVIDER,
        keys::GEN_AI_SYSTEM => SYSTEM,
        keys::GEN_AI_REQUEST_MODEL => REQUEST_MODEL,
        keys::GEN_AI_RESPONSE_MODEL => RESPONSE_MODEL,
        keys::GEN_AI_USAGE_INPUT_TOKENS => INPUT_TOKENS,
        keys::GEN_AI_USAGE_OUTPUT_TOKENS => OUTPUT_TOKENS,
        keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS => CACHE_READ,
        keys::GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS => CACHE_WRITE,
        keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS => REASONING,
        keys::TRACEGATE_COST_USD => COST,
        keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK => TTFT,
        keys::TRACEGATE_DECODE_NS => DECODE,
        keys::TRACEGATE_OUTPUT_TOKENS_PER_S => TOKENS_PER_S,
        keys::GEN_AI_RESPONSE_FINISH_REASONS => FINISH,
        keys::TRACEGATE_SELF_TIME_NS => SELF_TIME,
        keys::TRACEGATE_CRITICAL_PATH_NS => CRITICAL_PATH,
        _ => return None,
    })
}

fn read_str(kv: &KeyValue) -> Option<&str> {
    attr::get_str(std::slice::from_ref(kv), &kv.key)
}

fn read_i64(kv: &KeyValue) -> Option<i64> {
    attr::get_i64(std::slice::from_ref(kv), &kv.key)
}

/// As bits, so equal NaNs compare equal.
fn read_f64(kv: &KeyValue) -> Option<u64> {
    attr::get_f64(std::slice::from_ref(kv), &kv.key).map(f64::to_bits)
}

/// The encoder's reading of `gen_ai.response.finish_reasons`: a string, or an array's first
/// string.
fn read_finish(kv: &KeyValue) -> Option<&str> {
    match kv.value.as_ref()?.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        Value::ArrayValue(arr) => arr.values.iter().find_map(|v| match v.value.as_ref() {
            Some(Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        }),
        _ => None,
    }
}

fn bits(v: Option<f64>) -> Option<u64> {
    v.map(f64::to_bits)
}

/// The stored texts of one span's attribute map: `values[start + i]` is entry `i`'s.
#[derive(Debug, Clone, Copy)]
pub struct RawEntries<'r> {
    /// The map's value column.
    pub values: &'r StringArray,
    /// The span's first entry.
    pub start: usize,
}

impl RawEntries<'_> {
    fn get(&self, i: usize) -> Option<&str> {
        let at = self.start + i;
        (at < self.values.len() && !self.values.is_null(at)).then(|| self.values.value(at))
    }
}

/// The attributes of one span, with where each canonical key last occurs and the text each
/// entry was stored as.
struct Canonical<'a, 'r> {
    attrs: &'a mut Vec<KeyValue>,
    raw: RawEntries<'r>,
    last: [Option<usize>; SLOTS],
}

impl Canonical<'_, '_> {
    fn kv(&self, slot: usize) -> Option<&KeyValue> {
        self.attrs.get(self.last[slot]?)
    }

    fn get<'s, T>(&'s self, slot: usize, read: impl Fn(&'s KeyValue) -> Option<T>) -> Option<T> {
        self.kv(slot).and_then(read)
    }

    /// When the slot's entry does not read as its column, tries the other readings of the
    /// text it was stored as (a string for a typed value; any typed value, key-value lists
    /// included, for a string; an array's quoted elements as bytes or non-finite doubles)
    /// and keeps the first that does. `gives(kv)`: whether `kv` reads as the column's value.
    fn settle(&mut self, slot: usize, gives: impl Fn(&KeyValue) -> bool) {
        let Some(i) = self.last[slot] else { return };
        let Some(kv) = self.attrs.get(i) else { return };
        if gives(kv) {
            return;
        }
        let Some(text) = self.raw.get(i) else { return };
        let key = kv.key.clone();
        let mut scratch = String::new();
        let mut candidates = Vec::new();
        match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(_)) => {
                if let Some(v) = typed_any(text, &mut scratch) {
                    candidates.push(v);
                }
            }
            _ => candidates.push(Value::StringValue(text.to_owned())),
        }
        let array = [
            kv.value.as_ref().and_then(|v| v.value.as_ref()),
            candidates.first(),
        ]
        .into_iter()
        .find_map(|v| match v {
            Some(Value::ArrayValue(arr)) => Some(arr.clone()),
            _ => None,
        });
        if let Some(arr) = array {
            candidates.extend(reinterpreted_elements(&arr));
        }
        for candidate in candidates {
            let kv = attr::kv(key.clone(), candidate);
            if gives(&kv) {
                if let Some(slot) = self.attrs.get_mut(i) {
                    *slot = kv;
                }
                return;
            }
        }
    }
}

/// The array with its first 1, 2, ... quoted elements that another value renders as too
/// (bytes as hex, non-finite doubles) read as that value: the readings that change which
/// element is the first string.
fn reinterpreted_elements(arr: &ArrayValue) -> Vec<Value> {
    const MAX_ELEMENTS: usize = 16;
    let mut out = Vec::new();
    let mut current = arr.clone();
    for (i, element) in arr.values.iter().enumerate().take(MAX_ELEMENTS) {
        let Some(Value::StringValue(s)) = element.value.as_ref() else {
            continue;
        };
        let other = match s.as_str() {
            "NaN" => Value::DoubleValue(f64::NAN),
            "inf" => Value::DoubleValue(f64::INFINITY),
            "-inf" => Value::DoubleValue(f64::NEG_INFINITY),
            _ => match unhex(s) {
                Some(bytes) => Value::BytesValue(bytes),
                None => break,
            },
        };
        current.values[i] = AnyValue { value: Some(other) };
        out.push(Value::ArrayValue(current.clone()));
    }
    out
}

/// Settles typed-vs-string canonical attributes against the row's columns and restores the
/// span's facts; see the [module docs](self). `raw` holds the stored text of each of
/// `attrs`, in order.
pub fn restore(attrs: &mut Vec<KeyValue>, raw: RawEntries<'_>, row: &LlmRow<'_>) -> SpanFacts {
    let mut last = [None; SLOTS];
    for (i, kv) in attrs.iter().enumerate() {
        if let Some(slot) = slot_of(&kv.key) {
            last[slot] = Some(i);
        }
    }
    let mut facts = SpanFacts::default();
    let mut c = Canonical { attrs, raw, last };

    // Strings.
    for (slot, actual) in [
        (OPERATION, row.operation),
        (REQUEST_MODEL, row.request_model),
        (RESPONSE_MODEL, row.response_model),
    ] {
        c.settle(slot, |kv| read_str(kv) == actual);
    }
    c.settle(FINISH, |kv| read_finish(kv) == row.finish_reason);
    // The provider column is the provider's string, else the system's.
    let system_text = c.last[SYSTEM].and_then(|i| c.raw.get(i));
    let system_can_give = row.provider.is_some() && system_text == row.provider;
    c.settle(PROVIDER, |kv| {
        let provider = read_str(kv);
        provider == row.provider || (provider.is_none() && system_can_give)
    });
    if c.get(PROVIDER, read_str).is_none() {
        c.settle(SYSTEM, |kv| read_str(kv) == row.provider);
    }
    // Numbers.
    for (slot, actual) in [
        (INPUT_TOKENS, row.input_tokens),
        (OUTPUT_TOKENS, row.output_tokens),
        (CACHE_READ, row.cache_read_tokens),
        (CACHE_WRITE, row.cache_write_tokens),
        (REASONING, row.reasoning_tokens),
    ] {
        c.settle(slot, |kv| read_i64(kv) == actual);
    }
    c.settle(COST, |kv| read_f64(kv) == bits(row.cost_usd));
    c.settle(TOKENS_PER_S, |kv| {
        read_f64(kv) == bits(row.output_tokens_per_s)
    });

    // The category: a fact when the attribute does not give the column.
    c.settle(CATEGORY, |kv| read_str(kv) == row.category);
    if let Some(actual) = row.category
        && c.get(CATEGORY, read_str) != Some(actual)
    {
        facts.category = Category::from_name(actual);
    }

    // Self time and critical path: a fact when the attributes do not give both columns.
    let tree_explained = |c: &Canonical<'_, '_>| {
        c.get(SELF_TIME, read_i64) == row.self_time_ns
            && c.get(CRITICAL_PATH, read_i64) == row.critical_path_ns
    };
    if !tree_explained(&c) {
        c.settle(SELF_TIME, |kv| read_i64(kv) == row.self_time_ns);
        c.settle(CRITICAL_PATH, |kv| read_i64(kv) == row.critical_path_ns);
        if !tree_explained(&c)
            && let (Some(s), Some(p)) = (row.self_time_ns, row.critical_path_ns)
            && let (Ok(self_time_ns), Ok(critical_path_ns)) = (u64::try_from(s), u64::try_from(p))
        {
            facts.tree = Some(TreeTimes {
                self_time_ns,
                critical_path_ns,
            });
        }
    }

    // Prefill (as TTFT in ms) and decode: likewise. The TTFT attribute is in seconds, the
    // decode attribute in ns.
    let ttft_ms = |kv: &KeyValue| read_f64(kv).map(|b| (f64::from_bits(b) * 1e3).to_bits());
    let decode_ms = |kv: &KeyValue| read_f64(kv).map(|b| (f64::from_bits(b) / 1e6).to_bits());
    let llm_explained = |c: &Canonical<'_, '_>| {
        c.get(TTFT, ttft_ms) == bits(row.ttft_ms) && c.get(DECODE, decode_ms) == bits(row.decode_ms)
    };
    if !llm_explained(&c) {
        c.settle(TTFT, |kv| ttft_ms(kv) == bits(row.ttft_ms));
        c.settle(DECODE, |kv| decode_ms(kv) == bits(row.decode_ms));
        if !llm_explained(&c)
            && let (Some(prefill), Some(decode)) = (row.ttft_ms, row.decode_ms)
            && let (Some(prefill_ns), Some(decode_ns)) = (ns_of_ms(prefill), ns_of_ms(decode))
        {
            facts.llm = Some(LlmStages {
                prefill_ns,
                decode_ns,
            });
        }
    }

    restore_trailing_facts(c.attrs, &mut facts);
    facts
}

/// The ns count whose `as f64 / 1e6` is exactly `ms`, as the encoder computes the `ttft_ms`
/// and `decode_ms` columns; the nearest one when none is exact (beyond 2^53 ns, 104 days).
pub fn ns_of_ms(ms: f64) -> Option<u64> {
    if !(ms.is_finite() && ms >= 0.0) {
        return None;
    }
    let guess = (ms * 1e6).round();
    if guess >= u64::MAX as f64 {
        return Some(u64::MAX);
    }
    let guess = guess as u64;
    [guess, guess.saturating_sub(1), guess.saturating_add(1)]
        .into_iter()
        .find(|&ns| (ns as f64 / 1e6).to_bits() == ms.to_bits())
        .or(Some(guess))
}

/// The facts without a column of their own, in the order [`SpanFacts::for_each`] writes
/// them.
const TRAILING: [&str; 6] = [
    keys::TRACEGATE_NETWORK_NS,
    keys::TRACEGATE_SKEW_ADJUSTED_NS,
    keys::TRACEGATE_ORPHAN,
    keys::TRACEGATE_CYCLE_BROKEN,
    keys::TRACEGATE_DUPLICATE_SPAN_ID,
    keys::TRACEGATE_TTFT_SOURCE,
];

/// The `tracegate.ttft_source` values the breakdown writes (its `&'static str`s).
const TTFT_SOURCES: [&str; 5] = [
    "none",
    "event",
    "gen_ai.response.time_to_first_chunk",
    "ai.response.msToFirstChunk",
    "gen_ai.server.time_to_first_token",
];

/// Moves the longest run of trailing entries that reads exactly as the encoder writes the
/// column-less facts (each key once, in their order, in their form) into `facts`.
fn restore_trailing_facts(attrs: &mut Vec<KeyValue>, facts: &mut SpanFacts) {
    let mut next_allowed = TRAILING.len();
    let mut keep = attrs.len();
    while keep > 0 {
        let kv = &attrs[keep - 1];
        let Some(pos) = TRAILING[..next_allowed].iter().position(|k| *k == kv.key) else {
            break;
        };
        let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
        let ok = match (pos, value) {
            (0, Some(Value::IntValue(n))) if *n >= 0 => {
                facts.network_ns = Some(n.unsigned_abs());
                true
            }
            (1, Some(Value::IntValue(n))) if *n != 0 => {
                facts.skew_adjusted_ns = *n;
                true
            }
            (2, Some(Value::BoolValue(true))) => {
                facts.orphan = true;
                true
            }
            (3, Some(Value::BoolValue(true))) => {
                facts.cycle_broken = true;
                true
            }
            (4, Some(Value::BoolValue(true))) => {
                facts.duplicate_span_id = true;
                true
            }
            (5, Some(Value::StringValue(s))) => {
                match TTFT_SOURCES.iter().find(|known| **known == s.as_str()) {
                    Some(known) => {
                        facts.ttft_source = Some(known);
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        };
        if !ok {
            break;
        }
        next_allowed = pos;
        keep -= 1;
    }
    attrs.truncate(keep);
}

/// Link and event ids are stored as lowercase hex of whatever bytes were sent.
pub fn id_bytes(text: &str) -> Option<Vec<u8>> {
    unhex(text)
}

/// Every fact the encoder writes into the attribute map is one [`restore_trailing_facts`]
/// takes back; kept next to it so the two lists cannot drift apart unnoticed.
#[cfg(test)]
pub(crate) fn trailing_keys_match_the_model() -> bool {
    let facts = SpanFacts {
        category: Some(Category::Llm),
        tree: Some(TreeTimes {
            self_time_ns: 1,
            critical_path_ns: 1,
        }),
        llm: Some(LlmStages {
            prefill_ns: 1,
            decode_ns: 1,
        }),
        ttft_source: Some("event"),
        network_ns: Some(1),
        skew_adjusted_ns: 1,
        orphan: true,
        cycle_broken: true,
        duplicate_span_id: true,
    };
    let mut written = Vec::new();
    facts.for_each(|key, _| {
        if !crate::encoder::has_own_column(key) {
            written.push(key);
        }
    });
    written == TRAILING
}
