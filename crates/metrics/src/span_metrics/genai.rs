//! [`GenAi`]: the OTel GenAI client and server metrics, with the semantic conventions'
//! names, units and bucket boundaries, and tracegate's cost counter.
//!
//! A span counts when it has `gen_ai.operation.name` (after `genai_normalize`). Its
//! attributes are read in one pass ([`GenAiAttrs::scan`]; the last of a repeated key wins,
//! as [`attr::get`] has it). The four families that share the four labels (operation,
//! provider, request and response model) keep their series in one table of groups, so a span
//! costs one lookup: a group holds one histogram per token type, the duration of calls that
//! worked, TTFT and TPOT, each created on first use. Each family is still bounded on its own
//! (`max_series_per_metric` series, counted across groups, then its own overflow series);
//! failed calls' durations (with `error.type`) live in a second table counted with the
//! duration family.
//!
//! | family | value | from |
//! |---|---|---|
//! | `gen_ai.client.token.usage` | tokens by `gen_ai.token.type` | `gen_ai.usage.input_tokens` (input), `.output_tokens` (output), `.cache_read.input_tokens` (cached), `.reasoning.output_tokens` (reasoning) |
//! | `gen_ai.client.operation.duration` | span duration, s | + `error.type` on ERROR spans (the attribute, else `_OTHER`) |
//! | `gen_ai.server.time_to_first_token` | s | `gen_ai.response.time_to_first_chunk`, else the breakdown's prefill |
//! | `gen_ai.server.time_per_output_token` | s | `tracegate.time_per_output_token_ns`, else decode ÷ (output tokens − 1) |
//! | `tracegate.gen_ai.cost` | USD | `tracegate.cost_usd`, by provider and request model |
//!
//! With multi-tenancy every family carries a last `tenant` label, the span's tenant (so
//! cost and tokens can be charged back per tenant), within the same series bounds.
//!
//! Negative or non-finite values are not recorded.

use super::histogram::{ExplicitHist, Origin};
use super::store::{HeapSize, KeyHasher, OVERFLOW_KEY, SeriesTable};
use crate::snapshot::{Family, Kind, Series, Value};
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

/// Slots of a group: the four token types, then duration, TTFT, TPOT.
const SLOTS: usize = 7;
const DURATION_SLOT: usize = 4;
const TTFT_SLOT: usize = 5;
const TPOT_SLOT: usize = 6;
/// The family (0 tokens, 1 duration, 2 TTFT, 3 TPOT) of each slot.
const FAMILY_OF_SLOT: [usize; SLOTS] = [0, 0, 0, 0, 1, 2, 3];
/// Prometheus names of the grouped families, by family index.
const GROUPED: [&str; 4] = [
    TOKEN_USAGE,
    OPERATION_DURATION,
    TIME_TO_FIRST_TOKEN,
    TIME_PER_OUTPUT_TOKEN,
];

/// One family's histogram within a group, with its own times (it is its own series).
#[derive(Debug, Clone)]
struct Sub {
    hist: ExplicitHist,
    start: u64,
    last: u64,
}

impl Sub {
    fn series(&self, labels: Vec<(Arc<str>, Arc<str>)>) -> Series {
        Series {
            labels,
            start_time_unix_nano: self.start,
            last_update_unix_nano: self.last,
            value: Value::Histogram(self.hist.snapshot()),
        }
    }
}

/// The grouped families' series of one set of the four labels.
#[derive(Debug, Default)]
pub struct Group {
    subs: [Option<Sub>; SLOTS],
}

impl HeapSize for Group {
    fn heap_bytes(&self) -> usize {
        self.subs
            .iter()
            .flatten()
            .map(|s| s.hist.heap_bytes())
            .sum()
    }
}

/// Per-family series counts, bounds and overflow series of the grouped families.
#[derive(Debug)]
struct Bounded {
    counts: [usize; 4],
    overflow: [Option<Sub>; 4],
    overflowed: [u64; 4],
    limit: usize,
    bounds: [Arc<[f64]>; 4],
    exemplars: bool,
}

impl Bounded {
    fn new_sub(&self, family: usize, now: u64) -> Sub {
        Sub {
            hist: ExplicitHist::new(self.bounds[family].clone(), self.exemplars),
            start: now,
            last: now,
        }
    }

    /// Records into `slot` of `group`, creating the sub-series if the family has room, else
    /// into the family's overflow series. `None`: the group table was full.
    fn record(&mut self, group: Option<&mut Group>, slot: usize, value: f64, o: &Origin, now: u64) {
        let family = FAMILY_OF_SLOT[slot];
        if let Some(g) = group {
            if let Some(sub) = g.subs[slot].as_mut() {
                sub.last = now;
                sub.hist.record(value, o);
                return;
            }
            if self.counts[family] < self.limit {
                self.counts[family] += 1;
                let mut sub = self.new_sub(family, now);
                sub.hist.record(value, o);
                g.subs[slot] = Some(sub);
                return;
            }
        }
        self.overflow_into(family, value, o, now);
    }

    fn overflow_into(&mut self, family: usize, value: f64, o: &Origin, now: u64) {
        self.overflowed[family] += 1;
        if self.overflow[family].is_none() {
            self.overflow[family] = Some(self.new_sub(family, now));
        }
        if let Some(sub) = self.overflow[family].as_mut() {
            sub.last = now;
            sub.hist.record(value, o);
        }
    }
}

/// The GenAI series.
#[derive(Debug)]
pub struct GenAi {
    groups: SeriesTable<Group>,
    errors: SeriesTable<ExplicitHist>,
    cost: SeriesTable<f64>,
    bounded: Bounded,
    token_type_key: Arc<str>,
    token_types: [Arc<str>; 4],
    /// With multi-tenancy: a last `tenant` label on every family.
    tenant: bool,
}

impl GenAi {
    /// Empty series, each family bounded to `limit`; `tenant`: every series carries a last
    /// `tenant` label.
    pub fn new(limit: usize, exemplars: bool, tenant: bool) -> Self {
        let limit = limit.max(1);
        let with_tenant = |keys: &[&'static str]| {
            let mut keys = keys.to_vec();
            if tenant {
                keys.push("tenant");
            }
            keys
        };
        let mut five = FOUR.to_vec();
        five.push("error.type");
        Self {
            groups: SeriesTable::new(&with_tenant(&FOUR), limit, &[]),
            errors: SeriesTable::new(&with_tenant(&five), limit, &[]),
            cost: SeriesTable::new(
                &with_tenant(&[keys::GEN_AI_PROVIDER_NAME, keys::GEN_AI_REQUEST_MODEL]),
                limit,
                &[COST],
            ),
            bounded: Bounded {
                counts: [0; 4],
                overflow: Default::default(),
                overflowed: [0; 4],
                limit,
                bounds: [
                    Arc::from(TOKEN_BUCKETS.as_slice()),
                    Arc::from(DURATION_BUCKETS.as_slice()),
                    Arc::from(TTFT_BUCKETS.as_slice()),
                    Arc::from(TPOT_BUCKETS.as_slice()),
                ],
                exemplars,
            },
            token_type_key: Arc::from("gen_ai.token.type"),
            token_types: TOKEN_TYPES.map(Arc::from),
            tenant,
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
        let o = Origin {
            trace_id: span.trace_id.0,
            span_id: span.span_id.0,
            time_unix_nano: now,
        };
        let tenant = self.tenant.then(|| span.tenant());
        let four = [a.operation, a.provider, a.request_model, a.response_model];
        let mut base = KeyHasher::default();
        for v in four {
            base.push(v);
        }
        let mut grouped = base.clone();
        let group_key = [four[0], four[1], four[2], four[3], tenant];
        let group_key = &group_key[..4 + usize::from(self.tenant)];
        if self.tenant {
            grouped.push(tenant);
        }
        let b = &mut self.bounded;
        let mut group = self
            .groups
            .get_if(grouped.finish(), group_key, now, true, Group::default)
            .map(|(g, _)| g);

        for (slot, n) in a.tokens.iter().enumerate() {
            if let Some(n) = n.filter(|n| *n >= 0) {
                b.record(group.as_deref_mut(), slot, n as f64, &o, now);
            }
        }

        let seconds = span.duration_ns() as f64 / 1e9;
        if span.is_error() {
            let error_type = Some(a.error_type.unwrap_or(OTHER_ERROR));
            let mut h = base.clone();
            h.push(error_type);
            if self.tenant {
                h.push(tenant);
            }
            let key = [four[0], four[1], four[2], four[3], error_type, tenant];
            let key = &key[..5 + usize::from(self.tenant)];
            let allow = b.counts[1] < b.limit;
            let bounds = &b.bounds[1];
            let make = maker(bounds, b.exemplars);
            match self.errors.get_if(h.finish(), key, now, allow, make) {
                Some((hist, created)) => {
                    hist.record(seconds, &o);
                    b.counts[1] += usize::from(created);
                }
                None => b.overflow_into(1, seconds, &o, now),
            }
        } else {
            b.record(group.as_deref_mut(), DURATION_SLOT, seconds, &o, now);
        }

        let llm = span.facts.llm;
        let ttft = a
            .ttft_s
            .and_then(usable)
            .or_else(|| llm.map(|l| l.prefill_ns as f64 / 1e9));
        if let Some(ttft) = ttft {
            b.record(group.as_deref_mut(), TTFT_SLOT, ttft, &o, now);
        }

        let tpot = a.tpot_ns.and_then(usable).map(|ns| ns / 1e9).or_else(|| {
            let decoded = a.tokens[1].filter(|o| *o > 1)? - 1;
            llm.map(|l| l.decode_ns as f64 / decoded as f64 / 1e9)
        });
        if let Some(tpot) = tpot {
            b.record(group, TPOT_SLOT, tpot, &o, now);
        }

        if let Some(cost) = a.cost_usd.and_then(usable) {
            let key = [a.provider, a.request_model, tenant];
            let key = &key[..2 + usize::from(self.tenant)];
            *self.cost.get(KeyHasher::of(key), key, now, || 0.0) += cost;
        }
    }

    /// Expires idle series in every family (`expiry_ns` 0: none).
    pub fn expire(&mut self, now: u64, expiry_ns: u64) {
        if expiry_ns == 0 {
            return;
        }
        let idle = |last: u64| now.saturating_sub(last) >= expiry_ns;
        let b = &mut self.bounded;
        self.groups.retain(|g| {
            for (slot, sub) in g.subs.iter_mut().enumerate() {
                if sub.as_ref().is_some_and(|s| idle(s.last)) {
                    *sub = None;
                    let family = FAMILY_OF_SLOT[slot];
                    b.counts[family] = b.counts[family].saturating_sub(1);
                }
            }
            g.subs.iter().any(Option::is_some)
        });
        let before = self.errors.len();
        self.errors.expire(now, expiry_ns);
        b.counts[1] = b.counts[1].saturating_sub(before - self.errors.len());
        for o in &mut b.overflow {
            if o.as_ref().is_some_and(|s| idle(s.last)) {
                *o = None;
            }
        }
        self.cost.expire(now, expiry_ns);
    }

    /// Sends overflow counts to the gateway's telemetry.
    pub fn flush_overflow(&mut self) {
        for (family, n) in GROUPED.iter().zip(&mut self.bounded.overflowed) {
            if *n > 0 {
                metrics::counter!("tracegate_span_metrics_overflow_total", "metric" => *family)
                    .increment(*n);
                *n = 0;
            }
        }
        self.cost.flush_overflow();
    }

    /// (series, heap bytes) over every family.
    pub fn size(&self) -> (usize, usize) {
        let b = &self.bounded;
        let overflow = b.overflow.iter().flatten().count();
        let series = b.counts.iter().sum::<usize>() + overflow + self.cost.len();
        let bytes = self.groups.heap_bytes()
            + self.errors.heap_bytes()
            + self.cost.heap_bytes()
            + b.overflow
                .iter()
                .flatten()
                .map(|s| std::mem::size_of::<Sub>() + s.hist.heap_bytes())
                .sum::<usize>();
        (series, bytes)
    }

    /// The series of grouped family `family`, sorted by labels, its overflow series last.
    fn grouped_series(&self, family: usize) -> Vec<Series> {
        let mut out = Vec::new();
        for e in self.groups.sorted() {
            for (slot, sub) in e.value.subs.iter().enumerate() {
                let Some(sub) = sub.as_ref().filter(|_| FAMILY_OF_SLOT[slot] == family) else {
                    continue;
                };
                let mut labels = self.groups.labels(e);
                if family == 0 {
                    labels.push((self.token_type_key.clone(), self.token_types[slot].clone()));
                }
                out.push(sub.series(labels));
            }
        }
        if family == 1 {
            out.extend(
                self.errors
                    .snapshot(|h| Some(Value::Histogram(h.snapshot()))),
            );
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        if let Some(o) = &self.bounded.overflow[family] {
            out.push(o.series(vec![(Arc::from(OVERFLOW_KEY), Arc::from("true"))]));
        }
        out
    }

    /// The five families.
    pub fn families(&self) -> [Family; 5] {
        [
            Family {
                otel_name: "gen_ai.client.token.usage",
                prom_name: TOKEN_USAGE,
                help: "Tokens used per GenAI call, by gen_ai.token.type (input, output, cached, reasoning).",
                unit: "{token}",
                kind: Kind::Histogram,
                series: self.grouped_series(0),
            },
            Family {
                otel_name: "gen_ai.client.operation.duration",
                prom_name: OPERATION_DURATION,
                help: "Duration of GenAI calls; error.type on failed ones.",
                unit: "s",
                kind: Kind::Histogram,
                series: self.grouped_series(1),
            },
            Family {
                otel_name: "gen_ai.server.time_to_first_token",
                prom_name: TIME_TO_FIRST_TOKEN,
                help: "Time to the first token of streamed GenAI calls.",
                unit: "s",
                kind: Kind::Histogram,
                series: self.grouped_series(2),
            },
            Family {
                otel_name: "gen_ai.server.time_per_output_token",
                prom_name: TIME_PER_OUTPUT_TOKEN,
                help: "Time per output token after the first, of streamed GenAI calls.",
                unit: "s",
                kind: Kind::Histogram,
                series: self.grouped_series(3),
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
