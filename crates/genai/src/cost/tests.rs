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
