//! [`GenAi`]: the OTel GenAI client and server metrics, with the semantic conventions'
//! names, units and bucket boundaries, and tracegate's cost counter.
//!
//! A span counts when it has `gen_ai.operation.name` (after `genai_normalize`). Its
//! attributes are read in one pass ([`GenAiAttrs::scan`]; the last of a repeated key wins,
//! as [`attr::get`] has it), and the four shared labels (operation, provider, request and
//! response model) are hashed once and extended per family.
//!
//! | family | value | from |
//! |---|---|---|
//! | `gen_ai.client.token.usage` | tokens by `gen_ai.token.type` | `gen_ai.usage.input_tokens` (input), `.output_tokens` (output), `.cache_read.input_tokens` (cached), `.reasoning.output_tokens` (reasoning) |
//! | `gen_ai.client.operation.duration` | span duration, s | + `error.type` on ERROR spans (the attribute, else `_OTHER`) |
//! | `gen_ai.server.time_to_first_token` | s | `gen_ai.response.time_to_first_chunk`, else the breakdown's prefill |
//! | `gen_ai.server.time_per_output_token` | s | `tracegate.time_per_output_token_ns`, else decode ÷ (output tokens − 1) |
//! | `tracegate.gen_ai.cost` | USD | `tracegate.cost_usd`, by provider and request model |
//!
//! Negative or non-finite values are not recorded.

use super::histogram::{ExplicitHist, Origin};
use super::store::{HeapSize, KeyHasher, SeriesTable};
use crate::snapshot::{Family, Kind, Value};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use std::sync::Arc;
use tracegate_model::{Span, attr, keys};

/// The spec's `gen_ai.client.token.usage` boundaries.
pub const TOKEN_BUCKETS: [f64; 14] = [
    1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0,
    16777216.0, 67108864.0,
];
/// The spec's `gen_ai.client.operation.duration` boundaries, s.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];
/// The spec's `gen_ai.server.time_to_first_token` boundaries, s.
pub const TTFT_BUCKETS: [f64; 16] = [
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// The spec's `gen_ai.server.time_per_output_token` boundaries, s.
pub const TPOT_BUCKETS: [f64; 13] = [
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5,
];

/// Prometheus names of the GenAI families.
pub const TOKEN_USAGE: &str = "gen_ai_client_token_usage";
/// `gen_ai.client.operation.duration`.
pub const OPERATION_DURATION: &str = "gen_ai_client_operation_duration_seconds";
/// `gen_ai.server.time_to_first_token`.
pub const TIME_TO_FIRST_TOKEN: &str = "gen_ai_server_time_to_first_token_seconds";
/// `gen_ai.server.time_per_output_token`.
pub const TIME_PER_OUTPUT_TOKEN: &str = "gen_ai_server_time_per_output_token_seconds";
/// `tracegate.gen_ai.cost`.
pub const COST: &str = "tracegate_gen_ai_cost_usd";

/// The error type of a failed call without `error.type`, as the conventions say.
pub const OTHER_ERROR: &str = "_OTHER";

const FOUR: [&str; 4] = [
    keys::GEN_AI_OPERATION_NAME,
    keys::GEN_AI_PROVIDER_NAME,
    keys::GEN_AI_REQUEST_MODEL,
    keys::GEN_AI_RESPONSE_MODEL,
];

impl HeapSize for ExplicitHist {
    fn heap_bytes(&self) -> usize {
        ExplicitHist::heap_bytes(self)
    }
}

/// What the GenAI metrics read from one span.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct GenAiAttrs<'a> {
    /// `gen_ai.operation.name`.
    pub operation: Option<&'a str>,
    /// `gen_ai.provider.name`.
    pub provider: Option<&'a str>,
    /// `gen_ai.request.model`.
    pub request_model: Option<&'a str>,
    /// `gen_ai.response.model`.
    pub response_model: Option<&'a str>,
    /// `error.type`.
    pub error_type: Option<&'a str>,
    /// Token counts: input, output, cached, reasoning.
    pub tokens: [Option<i64>; 4],
    /// `gen_ai.response.time_to_first_chunk`, s.
    pub ttft_s: Option<f64>,
    /// `tracegate.time_per_output_token_ns`.
    pub tpot_ns: Option<f64>,
    /// `tracegate.cost_usd`.
    pub cost_usd: Option<f64>,
}

/// The `gen_ai.token.type` values, in [`GenAiAttrs::tokens`] order.
pub const TOKEN_TYPES: [&str; 4] = ["input", "output", "cached", "reasoning"];

fn one(kv: &KeyValue) -> &[KeyValue] {
    std::slice::from_ref(kv)
}

impl<'a> GenAiAttrs<'a> {
    /// Reads every field in one pass over `attrs`.
    pub fn scan(attrs: &'a [KeyValue]) -> Self {
        let mut a = Self::default();
        for kv in attrs {
            let k = kv.key.as_str();
            match k {
                keys::GEN_AI_OPERATION_NAME => a.operation = attr::get_str(one(kv), k),
                keys::GEN_AI_PROVIDER_NAME => a.provider = attr::get_str(one(kv), k),
                keys::GEN_AI_REQUEST_MODEL => a.request_model = attr::get_str(one(kv), k),
                keys::GEN_AI_RESPONSE_MODEL => a.response_model = attr::get_str(one(kv), k),
                "error.type" => a.error_type = attr::get_str(one(kv), k),
                keys::GEN_AI_USAGE_INPUT_TOKENS => a.tokens[0] = attr::get_i64(one(kv), k),
                keys::GEN_AI_USAGE_OUTPUT_TOKENS => a.tokens[1] = attr::get_i64(one(kv), k),
                keys::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS => {
                    a.tokens[2] = attr::get_i64(one(kv), k)
                }
                keys::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS => {
                    a.tokens[3] = attr::get_i64(one(kv), k)
                }
                keys::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK => a.ttft_s = attr::get_f64(one(kv), k),
                keys::TRACEGATE_TIME_PER_OUTPUT_TOKEN_NS => a.tpot_ns = attr::get_f64(one(kv), k),
                keys::TRACEGATE_COST_USD => a.cost_usd = attr::get_f64(one(kv), k),
                _ => {}
            }
        }
        a
    }
}

/// Makes a histogram over `bounds`, cloning the shared bounds only when a series is created.
pub fn maker(bounds: &Arc<[f64]>, exemplars: bool) -> impl FnOnce() -> ExplicitHist + '_ {
    move || ExplicitHist::new(bounds.clone(), exemplars)
}

fn usable(v: f64) -> Option<f64> {
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// The GenAI series.
#[derive(Debug)]
pub struct GenAi {
    tokens: SeriesTable<ExplicitHist>,
    duration: SeriesTable<ExplicitHist>,
    ttft: SeriesTable<ExplicitHist>,
    tpot: SeriesTable<ExplicitHist>,
    cost: SeriesTable<f64>,
    bounds: [Arc<[f64]>; 4],
    exemplars: bool,
}

impl GenAi {
    /// Empty series, each family bounded to `limit`.
    pub fn new(limit: usize, exemplars: bool) -> Self {
        let five = |last: &'static str| [FOUR[0], FOUR[1], FOUR[2], FOUR[3], last];
        Self {
            tokens: SeriesTable::new(&five("gen_ai.token.type"), limit, &[TOKEN_USAGE]),
            duration: SeriesTable::new(&five("error.type"), limit, &[OPERATION_DURATION]),
            ttft: SeriesTable::new(&FOUR, limit, &[TIME_TO_FIRST_TOKEN]),
            tpot: SeriesTable::new(&FOUR, limit, &[TIME_PER_OUTPUT_TOKEN]),
            cost: SeriesTable::new(
                &[keys::GEN_AI_PROVIDER_NAME, keys::GEN_AI_REQUEST_MODEL],
                limit,
                &[COST],
            ),
            bounds: [
                Arc::from(TOKEN_BUCKETS.as_slice()),
                Arc::from(DURATION_BUCKETS.as_slice()),
                Arc::from(TTFT_BUCKETS.as_slice()),
                Arc::from(TPOT_BUCKETS.as_slice()),
            ],
            exemplars,
        }
    }

    /// Records one span seen at `now`, if it is a GenAI span.
    #[inline]
    pub fn record(&mut self, span: &Span, now: u64) {
        if attr::get(&span.attributes, keys::GEN_AI_OPERATION_NAME).is_none() {
            return;
        }
        let a = GenAiAttrs::scan(&span.attributes);
        self.record_attrs(span, &a, now);
    }

    fn record_attrs(&mut self, span: &Span, a: &GenAiAttrs<'_>, now: u64) {
        let origin = Origin {
            trace_id: span.trace_id.0,
            span_id: span.span_id.0,
            time_unix_nano: now,
        };
        let four = [a.operation, a.provider, a.request_model, a.response_model];
        let mut base = KeyHasher::default();
        for v in four {
            base.push(v);
        }
        let exemplars = self.exemplars;
        let [token_b, duration_b, ttft_b, tpot_b] = &self.bounds;
        let make = |b| maker(b, exemplars);

        for (ty, n) in TOKEN_TYPES.iter().zip(a.tokens) {
            let Some(n) = n.filter(|n| *n >= 0) else {
                continue;
            };
            let mut h = base.clone();
            h.push(Some(ty));
            let key = [four[0], four[1], four[2], four[3], Some(*ty)];
            self.tokens
                .get(h.finish(), &key, now, make(token_b))
                .record(n as f64, &origin);
        }

        let error_type = span.is_error().then(|| a.error_type.unwrap_or(OTHER_ERROR));
        let mut h = base.clone();
        h.push(error_type);
        let key = [four[0], four[1], four[2], four[3], error_type];
        self.duration
            .get(h.finish(), &key, now, make(duration_b))
            .record(span.duration_ns() as f64 / 1e9, &origin);

        let llm = span.facts.llm;
        let ttft = a
            .ttft_s
            .and_then(usable)
            .or_else(|| llm.map(|l| l.prefill_ns as f64 / 1e9));
        if let Some(ttft) = ttft {
            self.ttft
                .get(base.finish(), &four, now, make(ttft_b))
                .record(ttft, &origin);
        }

        let tpot = a.tpot_ns.and_then(usable).map(|ns| ns / 1e9).or_else(|| {
            let decoded = a.tokens[1].filter(|o| *o > 1)? - 1;
            llm.map(|l| l.decode_ns as f64 / decoded as f64 / 1e9)
        });
        if let Some(tpot) = tpot {
            self.tpot
                .get(base.finish(), &four, now, make(tpot_b))
                .record(tpot, &origin);
        }

        if let Some(cost) = a.cost_usd.and_then(usable) {
            let key = [a.provider, a.request_model];
            *self.cost.get(KeyHasher::of(&key), &key, now, || 0.0) += cost;
        }
    }

    /// Expires idle series in every family.
    pub fn expire(&mut self, now: u64, expiry_ns: u64) {
        self.tokens.expire(now, expiry_ns);
        self.duration.expire(now, expiry_ns);
        self.ttft.expire(now, expiry_ns);
        self.tpot.expire(now, expiry_ns);
        self.cost.expire(now, expiry_ns);
    }

    /// Sends overflow counts to the gateway's telemetry.
    pub fn flush_overflow(&mut self) {
        self.tokens.flush_overflow();
        self.duration.flush_overflow();
        self.ttft.flush_overflow();
        self.tpot.flush_overflow();
        self.cost.flush_overflow();
    }

    /// (series, heap bytes) over every family.
    pub fn size(&self) -> (usize, usize) {
        let t = [&self.tokens, &self.duration, &self.ttft, &self.tpot];
        let series = t.iter().map(|t| t.len()).sum::<usize>() + self.cost.len();
        let bytes = t.iter().map(|t| t.heap_bytes()).sum::<usize>() + self.cost.heap_bytes();
        (series, bytes)
    }

    /// The five families.
    pub fn families(&self) -> [Family; 5] {
        let hist =
            |t: &SeriesTable<ExplicitHist>| t.snapshot(|h| Some(Value::Histogram(h.snapshot())));
        [
            Family {
                otel_name: "gen_ai.client.token.usage",
                prom_name: TOKEN_USAGE,
                help: "Tokens used per GenAI call, by gen_ai.token.type (input, output, cached, reasoning).",
                unit: "{token}",
                kind: Kind::Histogram,
                series: hist(&self.tokens),
            },
            Family {
                otel_name: "gen_ai.client.operation.duration",
                prom_name: OPERATION_DURATION,
                help: "Duration of GenAI calls; error.type on failed ones.",
                unit: "s",
                kind: Kind::Histogram,
                series: hist(&self.duration),
            },
            Family {
                otel_name: "gen_ai.server.time_to_first_token",
                prom_name: TIME_TO_FIRST_TOKEN,
                help: "Time to the first token of streamed GenAI calls.",
                unit: "s",
                kind: Kind::Histogram,
                series: hist(&self.ttft),
            },
            Family {
                otel_name: "gen_ai.server.time_per_output_token",
                prom_name: TIME_PER_OUTPUT_TOKEN,
                help: "Time per output token after the first, of streamed GenAI calls.",
                unit: "s",
                kind: Kind::Histogram,
                series: hist(&self.tpot),
            },
            Family {
                otel_name: "tracegate.gen_ai.cost",
                prom_name: COST,
                help: "Cost of GenAI calls in US dollars, by provider and request model.",
                unit: "USD",
                kind: Kind::Counter,
                series: self.cost.snapshot(|c| Some(Value::Counter(*c))),
            },
        ]
    }
}
