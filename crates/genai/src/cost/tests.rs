//! Cost golden cases, worked by hand (prices per million tokens, so each line below is
//! tokens × price in micro-dollars), and model matching.

use super::prices::{ModelEntry, OneOrMany, Price, PricePoint, PriceTable, Tier, TieredPrice};
use super::{Usage, cost_usd};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn flat(p: f64) -> Option<Price> {
    Some(Price::Flat(p))
}

fn tiered(base: f64, start: u64, price: f64) -> Option<Price> {
    Some(Price::Tiered(TieredPrice {
        base,
        tiers: vec![Tier { start, price }],
    }))
}

fn entry(provider: &str, model: &str, points: Vec<PricePoint>) -> ModelEntry {
    ModelEntry {
        provider: provider.into(),
        model: model.into(),
        matches: None,
        prices: OneOrMany::Many(points),
    }
}

fn prices_of(table: &PriceTable, model: &str, at_ns: u64) -> super::prices::Prices {
    let i = table.find(None, model).unwrap();
    table.get(i).unwrap().at(at_ns).unwrap().clone()
}

#[test]
fn golden_cached_and_reasoning_tokens() {
    let point = PricePoint {
        input_mtok: flat(2.0),
        cache_read_mtok: flat(0.5),
        cache_write_mtok: flat(2.5),
        output_mtok: flat(8.0),
        reasoning_mtok: flat(10.0),
        ..Default::default()
    };
    let table = PriceTable::from_entries(&[entry("openai", "m", vec![point.clone()])]).unwrap();
    let usage = Usage {
        input: 10_000,
        cache_read: 4_000,
        cache_write: 1_000,
        output: 2_000,
        reasoning: 500,
    };
    // uncached 5_000 × 2.0 = 10_000; cache read 4_000 × 0.5 = 2_000; cache write
    // 1_000 × 2.5 = 2_500; output (2_000 − 500) × 8 = 12_000; reasoning 500 × 10 = 5_000.
    // 31_500 µ$ = $0.0315.
    assert!(close(cost_usd(&prices_of(&table, "m", 0), &usage), 0.0315));

    // No reasoning price: reasoning at the output price, 500 × 8 = 4_000 → $0.0305.
    let no_reasoning = PricePoint {
        reasoning_mtok: None,
        ..point.clone()
    };
    let table = PriceTable::from_entries(&[entry("openai", "m", vec![no_reasoning])]).unwrap();
    assert!(close(cost_usd(&prices_of(&table, "m", 0), &usage), 0.0305));

    // No cache prices: cached tokens at the input price, never free.
    // 5_000 × 2 + 4_000 × 2 + 1_000 × 2 + 1_500 × 8 + 500 × 10 = 37_000 → $0.037.
    let no_cache = PricePoint {
        cache_read_mtok: None,
        cache_write_mtok: None,
        ..point
    };
    let table = PriceTable::from_entries(&[entry("openai", "m", vec![no_cache])]).unwrap();
    assert!(close(cost_usd(&prices_of(&table, "m", 0), &usage), 0.037));
}

#[test]
fn golden_tiered_prices() {
    let point = PricePoint {
        input_mtok: tiered(1.25, 200_000, 2.5),
        cache_read_mtok: tiered(0.125, 200_000, 0.25),
        output_mtok: tiered(10.0, 200_000, 15.0),
        ..Default::default()
    };
    let table = PriceTable::from_entries(&[entry("gcp.gemini", "g", vec![point])]).unwrap();
    let p = prices_of(&table, "g", 0);
    // Below the tier: 80_000 × 1.25 = 100_000; 20_000 × 0.125 = 2_500; 1_000 × 10 = 10_000.
    let below = Usage {
        input: 100_000,
        cache_read: 20_000,
        output: 1_000,
        ..Default::default()
    };
    assert!(close(cost_usd(&p, &below), 0.1125));
    // Above: 200_000 × 2.5 = 500_000; 50_000 × 0.25 = 12_500; 2_000 × 15 = 30_000.
    let above = Usage {
        input: 250_000,
        cache_read: 50_000,
        output: 2_000,
        ..Default::default()
    };
    assert!(close(cost_usd(&p, &above), 0.5425));
    // Exactly at the start is not above it: 200_000 × 1.25 = 250_000.
    let at = Usage {
        input: 200_000,
        ..Default::default()
    };
    assert!(close(cost_usd(&p, &at), 0.25));
}

#[test]
fn effective_dates_pick_the_latest_point_in_effect() {
    let old = PricePoint {
        input_mtok: flat(3.0),
        output_mtok: flat(15.0),
        ..Default::default()
    };
    let new = PricePoint {
        since: Some("2026-03-01".into()),
        input_mtok: flat(1.0),
        output_mtok: flat(5.0),
        ..Default::default()
    };
    let table = PriceTable::from_entries(&[entry("anthropic", "c", vec![old, new])]).unwrap();
    let usage = Usage {
        input: 1_000,
        output: 1_000,
        ..Default::default()
    };
    let jan = super::prices::parse_date_ns("2026-01-01").unwrap();
    let mar = super::prices::parse_date_ns("2026-03-01").unwrap();
    // 1_000 × 3 + 1_000 × 15 = 18_000; from March, 1_000 × 1 + 1_000 × 5 = 6_000.
    assert!(close(cost_usd(&prices_of(&table, "c", jan), &usage), 0.018));
    assert!(close(
        cost_usd(&prices_of(&table, "c", mar - 1), &usage),
        0.018
    ));
    assert!(close(cost_usd(&prices_of(&table, "c", mar), &usage), 0.006));
    assert_eq!(jan, 1_767_225_600_000_000_000);
    assert_eq!(super::prices::parse_date_ns("1970-01-01"), Some(0));
    assert_eq!(super::prices::parse_date_ns("2026-13-01"), None);
}

#[test]
fn the_embedded_table_parses_and_records_its_source() {
    let table = PriceTable::builtin_with(&[]).unwrap();
    assert!(table.len() > 300, "{}", table.len());
    let source = table.source().unwrap();
    assert_eq!(source.package, "genai-prices");
    assert!(!source.version.is_empty());
    // gpt-4o: 2.5 in, 10 out, 1.25 cache read. 1_000 in (200 cached), 100 out:
    // 800 × 2.5 + 200 × 1.25 + 100 × 10 = 2_000 + 250 + 1_000 = 3_250 µ$.
    let usage = Usage {
        input: 1_000,
        cache_read: 200,
        output: 100,
        ..Default::default()
    };
    let p = prices_of(&table, "gpt-4o", 0);
    assert!(close(cost_usd(&p, &usage), 0.00325));
}

#[test]
fn matching_exact_then_pattern_then_provider_qualified() {
    let table = PriceTable::builtin_with(&[]).unwrap();
    let model = |provider: Option<&str>, m: &str| {
        table
            .find(provider, m)
            .and_then(|i| table.get(i))
            .map(|e| (e.provider.as_str(), e.model.as_str()))
    };
    // Exact, case-insensitively.
    assert_eq!(model(Some("openai"), "GPT-4o"), Some(("openai", "gpt-4o")));
    // Pattern: a dated Anthropic model by prefix, from the span's provider first.
    assert_eq!(
        model(Some("anthropic"), "claude-3-5-haiku-20241022").map(|m| m.0),
        Some("anthropic")
    );
    // A Bedrock model id by its provider's pattern.
    assert_eq!(
        model(
            Some("aws.bedrock"),
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        )
        .map(|m| m.0),
        Some("aws.bedrock")
    );
    // Provider-qualified.
    assert_eq!(model(None, "openai/gpt-4o"), Some(("openai", "gpt-4o")));
    // The translated negative lookahead: a TTS variant is not the chat model.
    assert_eq!(
        model(Some("gcp.gemini"), "gemini-2.5-pro").map(|m| m.1),
        Some("gemini-2.5-pro")
    );
    assert_ne!(
        model(Some("gcp.gemini"), "gemini-2.5-pro-preview-tts").map(|m| m.1),
        Some("gemini-2.5-pro")
    );
    // Unknown.
    assert_eq!(model(Some("openai"), "no-such-model-xyz"), None);
    assert_eq!(model(None, ""), None);
}

#[test]
fn overrides_replace_and_extend_the_embedded_table() {
    let mine = entry(
        "openai",
        "gpt-4o",
        vec![PricePoint {
            input_mtok: flat(1.0),
            output_mtok: flat(1.0),
            ..Default::default()
        }],
    );
    let extra = entry(
        "acme",
        "acme-1",
        vec![PricePoint {
            input_mtok: flat(7.0),
            ..Default::default()
        }],
    );
    let table = PriceTable::builtin_with(&[mine, extra]).unwrap();
    assert_eq!(prices_of(&table, "gpt-4o", 0).input, flat(1.0));
    assert_eq!(prices_of(&table, "acme-1", 0).input, flat(7.0));
}

#[test]
fn invalid_entries_are_refused_with_their_position() {
    let bad = PricePoint {
        since: Some("yesterday".into()),
        input_mtok: flat(1.0),
        ..Default::default()
    };
    let err = PriceTable::from_entries(&[entry("x", "m", vec![bad])]).unwrap_err();
    assert!(err.to_string().contains("prices[0] (m): since"), "{err}");
    let negative = PricePoint {
        input_mtok: flat(-1.0),
        ..Default::default()
    };
    assert!(PriceTable::from_entries(&[entry("x", "m", vec![negative])]).is_err());
    assert!(PriceTable::from_entries(&[entry("x", "m", vec![])]).is_err());
}

// The price-lookup cache (issue 18, item 4): model names come from clients, so it is bounded
// by key bytes as well as by count.

mod cache {
    use super::super::cache::{MAX_CACHED_NAME_BYTES, MAX_ENTRIES, MAX_KEY_BYTES, PriceCache};
    use super::super::prices::{Match, PricePoint};
    use super::{PriceTable, entry, flat};
    use crate::normalize::{GenAiNormalize, GenAiNormalizeConfig, test_span};
    use proptest::prelude::*;
    use tracegate_model::attr;

    fn table() -> PriceTable {
        PriceTable::builtin_with(&[]).unwrap()
    }

    /// A small table with an exact entry in two providers and a pattern, so lookups find
    /// different entries, or none, by provider and model; quick to search.
    fn small() -> PriceTable {
        let point = || {
            vec![PricePoint {
                input_mtok: flat(1.0),
                ..Default::default()
            }]
        };
        let mut pattern = entry("anthropic", "claude", point());
        pattern.matches = Some(Match::StartsWith("claude-".into()));
        PriceTable::from_entries(&[
            entry("openai", "gpt-4o", point()),
            entry("azure", "gpt-4o", point()),
            pattern,
        ])
        .unwrap()
    }

    /// An empty table: the cache does not care what it caches, and lookups are quick.
    fn empty() -> PriceTable {
        PriceTable::from_entries(&[]).unwrap()
    }

    /// Distinct 200-byte names: under the count bound alone, the 4,000 here would be 800 KB of
    /// keys (16,384 of them, 3.2 MB); the byte bound keeps them under 512 KiB.
    #[test]
    fn a_flood_of_long_distinct_model_names_stays_under_the_byte_bound() {
        let table = empty();
        let mut cache = PriceCache::new();
        let mut most = 0;
        for n in 0..4_000 {
            let model = format!("gpt-4o-{n:0>193}");
            assert_eq!(model.len(), 200);
            let found = cache.lookup(&table, Some("openai"), &model);
            assert_eq!(found, table.find(Some("openai"), &model));
            assert!(
                cache.key_bytes() <= MAX_KEY_BYTES,
                "{} B",
                cache.key_bytes()
            );
            assert!(cache.len() <= MAX_ENTRIES);
            most = most.max(cache.key_bytes());
        }
        // It did cache them, up to the bound: the bound is what stopped it.
        assert!(most > MAX_KEY_BYTES - 256, "at most {most} B cached");
        assert!(cache.len() < MAX_ENTRIES);
    }

    /// Short names hit the count bound first, as before.
    #[test]
    fn short_names_are_bounded_by_count() {
        let table = empty();
        let mut cache = PriceCache::new();
        for n in 0..MAX_ENTRIES + 10 {
            cache.lookup(&table, None, &format!("m{n}"));
            assert!(cache.len() <= MAX_ENTRIES);
        }
        assert_eq!(cache.len(), 10);
    }

    /// A name longer than any real model id is looked up every time, never cached.
    #[test]
    fn names_over_the_length_limit_are_not_cached() {
        let table = table();
        let mut cache = PriceCache::new();
        let long = format!("gpt-4o-mini{}", "x".repeat(MAX_CACHED_NAME_BYTES));
        assert_eq!(
            cache.lookup(&table, Some("openai"), &long),
            table.find(Some("openai"), &long)
        );
        assert!(cache.is_empty());
        let long_provider = "p".repeat(MAX_CACHED_NAME_BYTES);
        cache.lookup(&table, Some(&long_provider), "gpt-4o-mini");
        assert!(cache.is_empty());
        // A hit is cached, and the cached answer is the table's.
        let hit = cache.lookup(&table, Some("openai"), "gpt-4o-mini");
        assert!(hit.is_some());
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.key_bytes(), "openai".len() + "gpt-4o-mini".len());
        assert_eq!(cache.lookup(&table, Some("openai"), "gpt-4o-mini"), hit);
        assert_eq!(cache.len(), 1);
    }

    /// The processor looks prices up through the bounded cache.
    #[test]
    fn the_normalize_processor_keeps_its_cache_under_the_byte_bound() {
        let mut processor = GenAiNormalize::new(GenAiNormalizeConfig::default()).unwrap();
        // 246-byte keys: the byte bound is reached after about 2,100 of them.
        for n in 0..2_500 {
            let mut span = test_span();
            span.attributes = vec![
                attr::string("gen_ai.operation.name", "chat"),
                attr::string("gen_ai.provider.name", "openai"),
                attr::string("gen_ai.request.model", format!("model-{n:0>240}")),
                attr::int("gen_ai.usage.input_tokens", 10),
                attr::int("gen_ai.usage.output_tokens", 10),
            ];
            processor.normalize_span(&mut span);
            assert!(processor.price_cache().key_bytes() <= MAX_KEY_BYTES);
        }
        assert!(!processor.price_cache().is_empty(), "the processor caches");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the names and bounds, the cache answers what the table does and stays
        /// within both bounds.
        #[test]
        fn answers_as_the_table_does_within_both_bounds(
            names in prop::collection::vec(
                (
                    prop::option::of("(openai|azure|anthropic|[a-z]{0,8})"),
                    "(gpt-4o|claude-|openai/)?[a-z0-9./-]{0,12}|[a-z]{250,300}",
                ),
                1..40,
            ),
            max_entries in 0usize..20,
            max_key_bytes in 0usize..400,
        ) {
            let table = small();
            let mut cache = PriceCache::with_bounds(max_entries, max_key_bytes);
            for round in 0..2 {
                for (provider, model) in &names {
                    let got = cache.lookup(&table, provider.as_deref(), model);
                    prop_assert_eq!(got, table.find(provider.as_deref(), model), "round {}", round);
                    prop_assert!(cache.len() <= max_entries);
                    prop_assert!(cache.key_bytes() <= max_key_bytes);
                }
            }
        }
    }
}
