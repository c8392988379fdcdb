//! Bytes per remembered LLM call in the score join's index (issue 15 asks for the figure).
//!
//! Fills a board with LLM spans that each carry a `gen_ai.response.id` and a request id (two
//! index entries per call), and compares two measures at several fill levels:
//! - what [`ScoreBoard::memory`] computes from the structures' real capacities;
//! - what the allocator handed out meanwhile (the global allocator is wrapped to count it;
//!   one test, so no other test's allocations are counted).
//!
//! It also checks that offering the board a span without ids allocates nothing.
//!
//! Run with `cargo test -p tracegate-scores --test bytes_per_call -- --nocapture` to see the
//! figures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use std::alloc::System;
use std::sync::Arc;
use tracegate_model::{Resource, Span, SpanId, SpanKind, TraceId, attr, keys};
use tracegate_scores::{BoardLimits, ScoreBoard};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn llm_span(resource: &Arc<Resource>, n: u64) -> Span {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&(n + 1).to_be_bytes());
    trace[8..].copy_from_slice(&(n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    Span {
        resource: resource.clone(),
        scope: Arc::default(),
        trace_id: TraceId(trace),
        span_id: SpanId((n + 1).to_be_bytes()),
        parent_span_id: Some(SpanId([1; 8])),
        trace_state: String::new(),
        flags: 0,
        name: "chat gpt-4o".into(),
        kind: SpanKind::Client,
        start_time_unix_nano: 0,
        end_time_unix_nano: 0,
        attributes: vec![
            attr::string(keys::GEN_AI_OPERATION_NAME, "chat"),
            attr::string(keys::GEN_AI_REQUEST_MODEL, "gpt-4o"),
            // Ids as OpenAI and a UUID-minded app write them: 38 and 36 bytes.
            attr::string(keys::GEN_AI_RESPONSE_ID, format!("chatcmpl-{n:029}")),
            attr::string("request_id", format!("{n:08x}-1b4e-4c3a-9f2d-6a7b8c9d0e1f")),
            attr::int(keys::GEN_AI_USAGE_INPUT_TOKENS, 800),
        ],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Default::default(),
        facts: Default::default(),
        origin: Default::default(),
    }
}

#[test]
fn bytes_per_remembered_llm_call() {
    let resource = Arc::new(Resource::with_service("rag-api"));
    println!("calls    ids      allocated  per call  per id  memory() per id");
    let mut worst_per_id: f64 = 0.0;
    for calls in [10_000u64, 50_000, 100_000, 150_000, 200_000] {
        let spans: Vec<Span> = (0..calls).map(|n| llm_span(&resource, n)).collect();
        // Room for every id (each of the 16 shards is bounded by its share, and keys do not
        // spread exactly evenly, so give the shares slack).
        let board = ScoreBoard::new(BoardLimits {
            max_calls: 4 * calls as usize,
            ..BoardLimits::default()
        });
        let region = Region::new(GLOBAL);
        for (i, span) in spans.iter().enumerate() {
            assert!(board.remember_at(span, i as u64));
        }
        let change = region.change();
        // stats_alloc already adds a realloc's growth to `bytes_allocated`.
        let allocated = change.bytes_allocated as i64 - change.bytes_deallocated as i64;
        let memory = board.memory();
        assert_eq!(memory.index_entries as u64, 2 * calls, "every id is held");
        let per_call = allocated as f64 / calls as f64;
        let per_id = per_call / 2.0;
        println!(
            "{calls:<8} {:<8} {allocated:<10} {per_call:<9.1} {per_id:<7.1} {:.1}",
            memory.index_entries,
            memory.bytes_per_entry()
        );
        // The estimate from capacities is what was really allocated (within the allocator
        // bookkeeping the estimate leaves out: a few hundred bytes per shard).
        let estimate = memory.index_bytes as f64;
        assert!(
            (estimate - allocated as f64).abs() <= 0.02 * allocated as f64 + 16.0 * 1024.0,
            "memory() says {estimate} bytes, the allocator {allocated}"
        );
        worst_per_id = worst_per_id.max(per_id);
        // A remembered id costs no more than its table slot, control byte and queue slot at
        // the worst load (just after a table doubles).
        assert!(
            per_id >= 56.0 + 24.0,
            "{per_id} bytes per id is below the structures' size"
        );
        drop(board);
    }
    println!("worst bytes per id: {worst_per_id:.1}");
    assert!(worst_per_id <= 200.0, "{worst_per_id} bytes per id");

    // A span without ids costs no allocation at all (assembly offers the board every span).
    let board = ScoreBoard::new(BoardLimits::default());
    let mut plain: Vec<Span> = (0..1000).map(|n| llm_span(&resource, n)).collect();
    for s in &mut plain {
        s.attributes
            .retain(|kv| kv.key != keys::GEN_AI_RESPONSE_ID && kv.key != "request_id");
        s.attributes
            .push(attr::string("http.request.method", "POST"));
        s.attributes.push(attr::string("session.id", "s-1"));
    }
    let region = Region::new(GLOBAL);
    for s in &plain {
        assert!(!board.remember(s));
    }
    assert_eq!(
        region.change().allocations,
        0,
        "remembering plain spans allocated"
    );
}
