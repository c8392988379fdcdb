//! Properties: decisions are a pure function of the trace; `probabilistic` keeps its share;
//! composite allocations hold; fragments follow their trace's decision while it is cached.

mod common;

use common::*;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use tracegate_model::{Fragment, StatusCode, Trace, TraceId, attr};
use tracegate_sampling::Sampler;

/// The default set plus the stateless LLM policies.
const STATELESS: &str = "
policies:
  - { name: drop-health, type: drop, drop: { drop_sub_policy: [ { name: h, type: string_attribute, string_attribute: { key: http.route, values: [/health] } } ] } }
  - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
  - { name: finish, type: llm_finish_reason, llm_finish_reason: { values: [length, content_filter] } }
  - { name: slow, type: latency, latency: { threshold_ms: 10000 } }
  - { name: cost, type: llm_cost, llm_cost: { threshold_usd: 0.5 } }
  - { name: tokens, type: llm_tokens, llm_tokens: { total_threshold: 20000 } }
  - { name: fallback, type: llm_retry }
  - { name: loop, type: agent_loop }
  - { name: llm-errors, type: llm_error }
  - { name: baseline, type: probabilistic, probabilistic: { sampling_percentage: 10 } }
";

/// A random trace of 1–12 spans mixing the things the policies look at.
fn arb_trace() -> impl Strategy<Value = Trace> {
    (
        any::<[u8; 16]>(),
        prop::collection::vec((0u8..12, 0u64..15_000, 0u8..6), 1..12),
    )
        .prop_map(|(id, parts)| {
            let spans = parts
                .iter()
                .enumerate()
                .map(|(i, &(kind, dur, model))| {
                    let n = i as u8 + 1;
                    let mut s = span(0, n, (i > 0).then_some(1), 0, dur);
                    s.trace_id = TraceId(id);
                    let models = ["gpt-4o", "gpt-4.1", "claude-sonnet-4", "o3", "gemini", "x"];
                    match kind {
                        0 => s = status(s, StatusCode::Error, "Rate limit reached"),
                        1 => s
                            .attributes
                            .push(attr::string("gen_ai.response.finish_reasons", "length")),
                        2 | 3 => {
                            s.attributes.extend([
                                attr::string("gen_ai.operation.name", "chat"),
                                attr::string("gen_ai.request.model", models[model as usize]),
                                attr::string("gen_ai.provider.name", "openai"),
                                attr::double("tracegate.cost_usd", 0.01 * f64::from(model)),
                                attr::int("gen_ai.usage.input_tokens", 1500 * i64::from(model)),
                            ]);
                        }
                        4 => s.attributes.extend([
                            attr::string("gen_ai.tool.name", "search"),
                            attr::string("gen_ai.tool.call.arguments", "{\"q\":1}"),
                        ]),
                        5 => s.attributes.push(attr::string("http.route", "/health")),
                        6 => s.attributes.push(attr::string("error.type", "timeout")),
                        _ => {}
                    }
                    s
                })
                .collect();
            trace(spans)
        })
}

fn decide_all(s: &mut Sampler, traces: &[Trace]) -> Vec<(bool, String, f64)> {
    traces
        .iter()
        .map(|t| {
            let d = s.sampling(t, 0);
            (d.sampled, d.policy.to_string(), d.probability)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_decision_is_a_pure_function_of_the_spans(
        traces in prop::collection::vec(arb_trace(), 1..8),
        seed in any::<u64>(),
    ) {
        let mut a = sampler(STATELESS);
        let expected = decide_all(&mut a, &traces);
        // Shuffle each trace's spans and the traces themselves; decide with a fresh sampler
        // and again with a sampler that has seen other traces (the cache must not leak into
        // whole traces).
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..traces.len()).collect();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        let shuffled: Vec<Trace> = order
            .iter()
            .map(|&i| {
                let mut t = traces[i].clone();
                for j in (1..t.spans.len()).rev() {
                    t.spans.swap(j, rng.random_range(0..=j));
                }
                t
            })
            .collect();
        for mut b in [sampler(STATELESS), { let mut s = sampler(STATELESS); decide_all(&mut s, &traces); s }] {
            let got = decide_all(&mut b, &shuffled);
            for (k, &i) in order.iter().enumerate() {
                prop_assert_eq!(&got[k], &expected[i]);
            }
        }
    }
}

#[test]
fn probabilistic_keeps_its_share_within_three_sigma() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let n = 100_000u32;
    for pct in [1.0, 10.0, 50.0, 90.0] {
        let mut s = one(
            "probabilistic",
            &format!("{{ sampling_percentage: {pct} }}"),
        );
        let p = pct / 100.0;
        let kept = (0..n)
            .filter(|_| {
                let mut t = plain(0);
                t.trace_id = TraceId(rng.random());
                s.evaluate(&t, 0).sampled
            })
            .count() as f64;
        let (mean, sigma) = (f64::from(n) * p, (f64::from(n) * p * (1.0 - p)).sqrt());
        assert!(
            (kept - mean).abs() <= 3.0 * sigma,
            "{pct}%: kept {kept}, expected {mean} ± {}",
            3.0 * sigma
        );
    }
}

#[test]
fn composite_allocations_respect_their_shares_every_second() {
    let mut s = sampler(
        "policies:
           - name: budget
             type: composite
             composite:
               max_total_spans_per_second: 1000
               policy_order: [errors, llm, rest]
               composite_sub_policy:
                 - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
                 - { name: llm, type: string_attribute, string_attribute: { key: gen_ai.operation.name, values: [chat] } }
                 - { name: rest, type: always_sample }
               rate_allocation:
                 - { policy: errors, percent: 50 }
                 - { policy: llm, percent: 30 }",
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    // 5 seconds of 3000 two-span traces a second, a third of each kind: far over budget.
    for second in 0..5u64 {
        let mut kept = [0u64; 3];
        let mut probability = [0f64; 3];
        for i in 0..3000u64 {
            let kind = (i % 3) as usize;
            let mut t = plain(0);
            t.trace_id = TraceId(rng.random());
            match kind {
                0 => t.spans[1] = status(t.spans[1].clone(), StatusCode::Error, ""),
                1 => t.spans[1]
                    .attributes
                    .push(attr::string("gen_ai.operation.name", "chat")),
                _ => {}
            }
            let now = second * 1_000_000_000 + i * 300_000;
            let d = s.evaluate(&t, now);
            if d.sampled {
                kept[kind] += t.spans.len() as u64;
                probability[kind] = d.probability;
            }
        }
        // errors 50 % = 500, llm 30 % = 300, rest gets what is left = 200.
        assert_eq!(kept, [500, 300, 200], "second {second}");
        // Each kind is offered 2000 spans a second: the share admitted is 1/4, 3/20, 1/10.
        if second > 0 {
            for (p, want) in probability.iter().zip([0.25, 0.15, 0.1]) {
                assert!((p - want).abs() < 0.02, "second {second}: {probability:?}");
            }
        }
    }
}

#[test]
fn a_late_fragment_follows_its_traces_decision_while_cached() {
    let yaml = "
decision_cache: { late_window: 5m, max_bytes: 64KiB }
policies:
  - { name: errors, type: status_code, status_code: { status_codes: [ERROR] } }
  - { name: baseline, type: probabilistic, probabilistic: { sampling_percentage: 10 } }
";
    let mut s = sampler(yaml);
    let second = 1_000_000_000u64;
    for b in 0..=255u8 {
        let err = b % 2 == 0;
        let mut t = plain(b);
        if err {
            t.spans[1] = status(t.spans[1].clone(), StatusCode::Error, "");
        }
        let whole = s.sampling(&t, 0);
        // A late span with no error: on its own it would mostly not be kept.
        let mut frag = late(vec![span(b, 9, Some(1), 0, 1)]);
        let follows = s.sampling(&frag, 299 * second);
        assert_eq!(follows, whole, "trace {b}");
        frag.fragment = Some(Fragment::OverCap);
        assert_eq!(s.sampling(&frag, 299 * second), whole);
    }
    let stats = s.take_cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.evictions), (512, 0, 0));
    // After the window, fragments are decided on their own spans: the error traces'
    // fragments are now mostly not sampled.
    let after: Vec<bool> = (0..=255u8)
        .step_by(2)
        .map(|b| {
            s.sampling(&late(vec![span(b, 9, Some(1), 0, 1)]), 301 * second)
                .sampled
        })
        .collect();
    assert!(after.iter().filter(|k| **k).count() < 40, "{after:?}");
    assert_eq!(s.take_cache_stats().misses, 128);
}

#[test]
fn the_cache_stays_within_max_bytes_and_evicts_the_oldest() {
    let s =
        sampler("{ decision_cache: { max_bytes: 16MiB }, policies: [ { type: always_sample } ] }");
    let cache = s.cache();
    let (capacity, bytes) = (cache.capacity(), cache.bytes());
    assert!(bytes <= 16 << 20, "{bytes}");
    assert_eq!(capacity, 292_623);
    let per_trace = bytes as f64 / capacity as f64;
    assert!((50.0..60.0).contains(&per_trace), "{per_trace} B per trace");

    let mut small =
        sampler("{ decision_cache: { max_bytes: 4KiB }, policies: [ { type: always_sample } ] }");
    let cap = small.cache().capacity();
    let bytes = small.cache().bytes();
    assert!(cap > 0 && bytes <= 4096, "{cap} entries in {bytes} B");
    let id = |i: u32| {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&i.to_be_bytes());
        TraceId(b)
    };
    for i in 0..(cap as u32 + 10) {
        let mut t = plain(0);
        t.trace_id = id(i);
        small.sampling(&t, 0);
    }
    assert_eq!(small.cache().len(), cap);
    assert_eq!(small.cache().bytes(), bytes, "never grows");
    assert_eq!(small.take_cache_stats().evictions, 10);
    // The 10 oldest are gone, the newest are there.
    let mut frag = late(vec![span(0, 9, Some(1), 0, 1)]);
    frag.trace_id = id(0);
    assert!(!small.decide(&frag, 0).cached);
    frag.trace_id = id(cap as u32 + 9);
    assert!(small.decide(&frag, 0).cached);
}
