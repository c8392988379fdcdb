//! The ten hand-worked cases of issue 4. Times are in ms (the builder multiplies by 10^6);
//! each test works the numbers out in its comments, then checks them.

mod common;

use common::*;
use tracegate_breakdown::{Breakdown, Category, Options, analyze, annotate};
use tracegate_model::{Span, SpanKind, attr, keys};

fn run(spans: &[Span]) -> Breakdown {
    analyze(spans, &Options::default())
}

/// (self ms, critical-path ms) of span `i`.
fn st(b: &Breakdown, i: usize) -> (u64, u64) {
    (
        b.spans[i].self_time_ns / MS,
        b.spans[i].critical_path_ns / MS,
    )
}

fn cat_ms(b: &Breakdown, c: Category) -> u64 {
    b.category_ns(c) / MS
}

/// What must hold for every case: the path tiles the root, and the shares sum to it.
fn check_invariants(b: &Breakdown) {
    let total: u64 = b.spans.iter().map(|s| s.critical_path_ns).sum::<u64>()
        + b.segments
            .iter()
            .filter(|s| s.span.is_none())
            .map(|s| s.end_ns - s.start_ns)
            .sum::<u64>();
    assert_eq!(total, b.duration_ns());
    assert_eq!(b.by_category.iter().sum::<u64>(), b.duration_ns());
    let mut at = b.start_ns;
    for s in &b.segments {
        assert_eq!(s.start_ns, at, "segments touch");
        at = s.end_ns;
    }
    if !b.segments.is_empty() {
        assert_eq!(at, b.end_ns);
    }
}

/// 1. A sequential chain.
///
/// ```text
/// R handle   0 ────────────────────────────── 100   http
///   E embed    10 ── 30                              embedding
///   V search         30 ──── 60                      retrieval
///   L chat                   60 ─────── 95           llm
/// ```
/// R's children cover 10..95 without overlap: 20 + 30 + 35 = 85, so R's self time is
/// 100 - 85 = 15. The walk starts at 100: L ends last (95), so R owns 95..100 (5); L owns
/// 60..95 (35). Back in R at 60, V ends at 60 (a hand-over at the same instant is on the
/// path), so R owns nothing and V owns 30..60 (30); then E owns 10..30 (20); R owns 0..10
/// (10). R = 5 + 10 = 15; total 15 + 35 + 30 + 20 = 100.
#[test]
fn case_01_sequential_chain() {
    let spans = vec![
        span(1, None, 0, 100).with("http.request.method", "POST"),
        span(2, Some(1), 10, 30).with("gen_ai.operation.name", "embeddings"),
        span(3, Some(1), 30, 60).with("gen_ai.operation.name", "retrieval"),
        span(4, Some(1), 60, 95).with("gen_ai.operation.name", "chat"),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(st(&b, 0), (15, 15));
    assert_eq!(st(&b, 1), (20, 20));
    assert_eq!(st(&b, 2), (30, 30));
    assert_eq!(st(&b, 3), (35, 35));
    assert_eq!(cat_ms(&b, Category::Http), 15);
    assert_eq!(cat_ms(&b, Category::Embedding), 20);
    assert_eq!(cat_ms(&b, Category::Retrieval), 30);
    assert_eq!(cat_ms(&b, Category::Llm), 35);
}

/// 2. Parallel retrieval from three sources; the slowest is on the path.
///
/// ```text
/// R agent     0 ──────────────────────────────────────── 200   agent
///   P retrieve  10 ─────────────────── 130                      chain
///     A qdrant     20 ──── 60                                   retrieval
///     B pinecone   20 ─────────── 120                           retrieval
///     C retriever  20 ────── 90                                 retrieval
///   L chat                             130 ──────── 190         llm
/// ```
/// Self: P = 120 - |20..120| = 20 (the union, not 40 + 100 + 70); R = 200 - |10..190| = 20.
/// Path from 200: L (ends 190) → R 190..200 = 10; L 130..190 = 60; at 130 P ends → P:
/// B ends last (120) → P 120..130 = 10; B 20..120 = 100; at 20 neither A (60) nor C (90)
/// ends by 20, so P 10..20 = 10; R 0..10 = 10. R = 20, P = 20, B = 100, A = C = 0, L = 60.
#[test]
fn case_02_parallel_retrieval() {
    let spans = vec![
        span(1, None, 0, 200).with("gen_ai.operation.name", "invoke_agent"),
        span(2, Some(1), 10, 130).with("openinference.span.kind", "CHAIN"),
        span(3, Some(2), 20, 60).with("db.system.name", "qdrant"),
        span(4, Some(2), 20, 120)
            .with("db.system", "pinecone")
            .with("db.operation", "query"),
        span(5, Some(2), 20, 90).with("gen_ai.operation.name", "retrieval"),
        span(6, Some(1), 130, 190).with("gen_ai.operation.name", "chat"),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(st(&b, 0), (20, 20));
    assert_eq!(st(&b, 1), (20, 20));
    assert_eq!(st(&b, 2), (40, 0));
    assert_eq!(st(&b, 3), (100, 100));
    assert_eq!(st(&b, 4), (70, 0));
    assert_eq!(st(&b, 5), (60, 60));
    assert_eq!(cat_ms(&b, Category::Agent), 20);
    assert_eq!(cat_ms(&b, Category::Chain), 20);
    assert_eq!(cat_ms(&b, Category::Retrieval), 100);
    assert_eq!(cat_ms(&b, Category::Llm), 60);
    let summary = b.summary(&spans);
    assert_eq!(summary.top_contributors.len(), 3);
    assert_eq!(summary.top_contributors[0].name, "span4");
    assert_eq!(summary.top_contributors[0].ns, 100 * MS);
    assert_eq!(summary.top_contributors[1].name, "span6");
    // R and P tie at 20 ms: the earlier start (R) wins.
    assert_eq!(summary.top_contributors[2].name, "span1");
}

/// 3. A streaming LLM call with chunk events.
///
/// R 0..1000 (http), L chat 100..900 with chunk events at 350, 600 and 400 (listed out of
/// order). TTFT = first chunk - start = 350 - 100 = 250 ms (prefill); decode = 800 - 250 =
/// 550 ms. Self: R = 1000 - 800 = 200; L = 800. Path: R 900..1000 (100), L 100..900 (800),
/// R 0..100 (100).
#[test]
fn case_03_streaming_llm_call() {
    let mut spans = vec![
        span(1, None, 0, 1000).with("http.request.method", "POST"),
        span(2, Some(1), 100, 900)
            .kind(SpanKind::Client)
            .with("gen_ai.operation.name", "chat")
            .event("gen_ai.content.completion.chunk", 350)
            .event("gen_ai.content.completion.chunk", 600)
            .event("gen_ai.content.completion.chunk", 400),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(st(&b, 0), (200, 200));
    assert_eq!(st(&b, 1), (800, 800));
    let llm = b.spans[1].llm.expect("streamed");
    assert_eq!(llm.prefill_ns, 250 * MS);
    assert_eq!(llm.decode_ns, 550 * MS);
    assert_eq!(b.spans[0].llm, None);

    annotate(&mut spans, &b);
    // What leaves the gateway: the facts as `tracegate.*` attributes.
    let exported = spans[1].to_proto();
    let a = &exported.attributes;
    assert_eq!(
        attr::get_i64(a, keys::TRACEGATE_PREFILL_NS),
        Some(250_000_000)
    );
    assert_eq!(
        attr::get_i64(a, keys::TRACEGATE_DECODE_NS),
        Some(550_000_000)
    );
    assert_eq!(attr::get_str(a, keys::TRACEGATE_TTFT_SOURCE), Some("event"));
    assert_eq!(attr::get_str(a, keys::TRACEGATE_CATEGORY), Some("llm"));
    assert_eq!(
        attr::get_i64(a, keys::TRACEGATE_CRITICAL_PATH_NS),
        Some(800_000_000)
    );
    assert_eq!(
        attr::get(&spans[0].to_proto().attributes, keys::TRACEGATE_PREFILL_NS),
        None
    );

    // Without any TTFT source the call did not stream: no split, and that is recorded.
    let mut plain = vec![span(1, None, 0, 10).with("gen_ai.operation.name", "chat")];
    let b = run(&plain);
    assert_eq!(b.spans[0].llm, None);
    annotate(&mut plain, &b);
    let exported = plain[0].to_proto();
    let a = &exported.attributes;
    assert_eq!(attr::get_str(a, keys::TRACEGATE_TTFT_SOURCE), Some("none"));
    assert_eq!(attr::get(a, keys::TRACEGATE_PREFILL_NS), None);
}

/// 4. An agent loop: LLM → tool → LLM → tool → LLM.
///
/// A 0..500 with L1 10..110, T1 115..165, L2 170..270, T2 275..325, L3 330..480.
/// Children total 100 + 50 + 100 + 50 + 150 = 450, no overlap: A self = 50.
/// Path from 500: A 480..500 (20), L3 (150), A 325..330 (5), T2 (50), A 270..275 (5),
/// L2 (100), A 165..170 (5), T1 (50), A 110..115 (5), L1 (100), A 0..10 (10).
/// A = 20 + 5·4 + 10 = 50; llm = 350, tool = 100, agent = 50; total 500.
#[test]
fn case_04_agent_loop() {
    let op = |s: Span, o: &str| s.with("gen_ai.operation.name", o);
    let spans = vec![
        op(span(1, None, 0, 500), "invoke_agent"),
        op(span(2, Some(1), 10, 110), "chat"),
        op(span(3, Some(1), 115, 165), "execute_tool"),
        op(span(4, Some(1), 170, 270), "chat"),
        op(span(5, Some(1), 275, 325), "execute_tool"),
        op(span(6, Some(1), 330, 480), "chat"),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(st(&b, 0), (50, 50));
    for (i, ms) in [(1, 100), (2, 50), (3, 100), (4, 50), (5, 150)] {
        assert_eq!(st(&b, i), (ms, ms), "span {i}");
    }
    assert_eq!(cat_ms(&b, Category::Llm), 350);
    assert_eq!(cat_ms(&b, Category::Tool), 100);
    assert_eq!(cat_ms(&b, Category::Agent), 50);
    // The path alternates: 11 segments, agent time between every step.
    assert_eq!(b.segments.len(), 11);
}

/// 5. A fire-and-forget child that outlives its parent.
///
/// R 0..100 (http) → H 10..60 (other) → Q 20..40 (db) and F 50..300 (messaging, async).
/// Self: H = 50 - (|20..40| + |50..60| after clipping F to H) = 50 - 30 = 20; F = 250 (its
/// own duration; self time does not clip the span itself); R = 100 - 50 = 50.
/// Path over R only (0..100): F is clipped to 50..60. R 60..100 (40); in H, F ends at 60 →
/// H nothing, F 50..60 (10); back in H at 50, Q ends 40 → H 40..50 (10); Q 20..40 (20);
/// H 10..20 (10); R 0..10 (10). R = 50, H = 20, F = 10, Q = 20: total 100, not 300.
#[test]
fn case_05_fire_and_forget_child() {
    let spans = vec![
        span(1, None, 0, 100).with("http.request.method", "GET"),
        span(2, Some(1), 10, 60),
        span(3, Some(2), 20, 40).with("db.system.name", "postgresql"),
        span(4, Some(2), 50, 300).with("messaging.system", "rabbitmq"),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(b.duration_ns(), 100 * MS);
    assert_eq!(st(&b, 0), (50, 50));
    assert_eq!(st(&b, 1), (20, 20));
    assert_eq!(st(&b, 2), (20, 20));
    assert_eq!(st(&b, 3), (250, 10));
    assert_eq!(cat_ms(&b, Category::Http), 50);
    assert_eq!(cat_ms(&b, Category::Other), 20);
    assert_eq!(cat_ms(&b, Category::Db), 20);
    assert_eq!(cat_ms(&b, Category::Messaging), 10);
}

/// 6. A span whose parent is missing.
///
/// R 0..100 with A 10..50; O 60..90 names parent 99, which is not in the trace, and has a
/// child O2 70..80. O hangs under R, marked. R self = 100 - (40 + 30) = 30; O = 30 - 10 = 20.
/// Path: O ends last (90) → R 90..100 (10); O2 → O 80..90 (10); O2 70..80 (10); O 60..70
/// (10); A ends 50 → R 50..60 (10); A 10..50 (40); R 0..10 (10). R 30, O 20, O2 10, A 40.
///
/// With no root at all (X 0..40 and Y 60..100 both name missing parents), a virtual root
/// spans 0..100 and owns the 40..60 gap (category other).
#[test]
fn case_06_missing_parent() {
    let spans = vec![
        span(1, None, 0, 100),
        span(2, Some(1), 10, 50),
        span(3, Some(99), 60, 90),
        span(4, Some(3), 70, 80),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(b.root, Some(0));
    assert_eq!(st(&b, 0), (30, 30));
    assert_eq!(st(&b, 1), (40, 40));
    assert_eq!(st(&b, 2), (20, 20));
    assert_eq!(st(&b, 3), (10, 10));
    assert!(b.spans[2].orphan);
    assert!(!b.spans[3].orphan);
    assert_eq!(b.spans[2].parent, Some(0));
    assert_eq!((b.spans[2].depth, b.spans[3].depth), (1, 2));

    let spans = vec![
        span(1, Some(98), 0, 40).with("db.system", "mysql"),
        span(2, Some(97), 60, 100).with("http.request.method", "GET"),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(b.root, None);
    assert_eq!(b.duration_ns(), 100 * MS);
    assert!(b.spans.iter().all(|s| s.orphan && s.depth == 0));
    assert_eq!(cat_ms(&b, Category::Db), 40);
    assert_eq!(cat_ms(&b, Category::Http), 40);
    assert_eq!(cat_ms(&b, Category::Other), 20);
}

/// 7. Two services with a 40 ms clock skew.
///
/// gateway: R SERVER 0..200 (http) → C CLIENT 50..150 (http).
/// retriever, whose clock runs 40 ms ahead: S SERVER reported 100..180 (really 60..140) →
/// D qdrant search reported 110..170 (really 70..130).
/// S ends at 180 > 150, outside C. Jaeger-style: S (80 ms) is centred in C (100 ms), starting
/// at 50 + (100 - 80) / 2 = 60: shift = 60 - 100 = -40 ms, applied to S and D.
/// Network: C's time outside S is 50..60 + 140..150 = 20 ms, recorded on S.
/// Self: R = 200 - 100 = 100; C = 100 - 80 = 20; S = 80 - 60 = 20; D = 60.
/// Path: R 150..200 (50); C 140..150 (10, network); S 130..140 (10); D 70..130 (60);
/// S 60..70 (10); C 50..60 (10, network); R 0..50 (50).
/// http = R 100 + S 20 = 120; network = 20; retrieval = 60; total 200.
#[test]
fn case_07_clock_skew_between_two_services() {
    let spans = vec![
        span(1, None, 0, 200)
            .kind(SpanKind::Server)
            .service("gateway")
            .with("http.request.method", "POST"),
        span(2, Some(1), 50, 150)
            .kind(SpanKind::Client)
            .service("gateway")
            .with("http.request.method", "POST"),
        span(3, Some(2), 100, 180)
            .kind(SpanKind::Server)
            .service("retriever")
            .with("http.request.method", "POST"),
        span(4, Some(3), 110, 170)
            .service("retriever")
            .with("db.system.name", "qdrant")
            .with("db.operation.name", "search"),
    ];
    let b = run(&spans);
    check_invariants(&b);
    let minus_40 = -40 * MS as i64;
    assert_eq!(b.spans[2].skew_adjusted_ns, minus_40);
    assert_eq!(b.spans[3].skew_adjusted_ns, minus_40);
    assert_eq!(b.spans[1].skew_adjusted_ns, 0);
    assert_eq!(
        (b.spans[2].start_ns / MS, b.spans[2].end_ns / MS),
        (60, 140)
    );
    assert_eq!(b.spans[2].network_ns, Some(20 * MS));
    assert_eq!(b.spans[1].path_category, Category::Network);
    assert_eq!(st(&b, 0), (100, 100));
    assert_eq!(st(&b, 1), (20, 20));
    assert_eq!(st(&b, 2), (20, 20));
    assert_eq!(st(&b, 3), (60, 60));
    assert_eq!(cat_ms(&b, Category::Http), 120);
    assert_eq!(cat_ms(&b, Category::Network), 20);
    assert_eq!(cat_ms(&b, Category::Retrieval), 60);

    // The spans' own times are kept; the shift is recorded.
    let mut annotated = spans.clone();
    annotate(&mut annotated, &b);
    assert_eq!(annotated[2].start_time_unix_nano, 100 * MS);
    let exported = annotated[2].to_proto();
    let a = &exported.attributes;
    assert_eq!(
        attr::get_i64(a, keys::TRACEGATE_SKEW_ADJUSTED_NS),
        Some(minus_40)
    );
    assert_eq!(
        attr::get_i64(a, keys::TRACEGATE_NETWORK_NS),
        Some(20_000_000)
    );

    // Without adjustment, S is clipped to C (100..150): the network gap is 100 - 150 → the
    // 50 ms before S; D is clipped to 110..150 (40 on the path).
    let b = analyze(
        &spans,
        &Options {
            clock_skew_adjustment: false,
        },
    );
    check_invariants(&b);
    assert_eq!(b.spans[2].skew_adjusted_ns, 0);
    assert_eq!(b.spans[2].network_ns, Some(50 * MS));
    assert_eq!(b.spans[3].critical_path_ns, 40 * MS);
}

/// 8. A parent cycle.
///
/// R 0..100 with C 60..80; A 10..50 names B as parent and B 20..40 names A. The cycle A ↔ B
/// is cut at its earliest span, A, which hangs under R, marked; B stays A's child.
/// Self: R = 100 - (40 + 20) = 40; A = 40 - 20 = 20.
/// Path: C → R 80..100 (20); C 60..80 (20); A ends 50 → R 50..60 (10); B → A 40..50 (10);
/// B 20..40 (20); A 10..20 (10); R 0..10 (10). R 40, C 20, A 20, B 20.
/// A span that is its own parent, alone, is cut too: a virtual root over it.
#[test]
fn case_08_parent_cycle() {
    let spans = vec![
        span(1, None, 0, 100),
        span(2, Some(3), 10, 50),
        span(3, Some(2), 20, 40),
        span(4, Some(1), 60, 80),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert!(b.spans[1].cycle_broken);
    assert!(!b.spans[2].cycle_broken);
    assert_eq!(b.spans[1].parent, Some(0));
    assert_eq!(b.spans[2].parent, Some(1));
    assert_eq!(st(&b, 0), (40, 40));
    assert_eq!(st(&b, 1), (20, 20));
    assert_eq!(st(&b, 2), (20, 20));
    assert_eq!(st(&b, 3), (20, 20));

    let b = run(&[span(5, Some(5), 3, 10)]);
    check_invariants(&b);
    assert!(b.spans[0].cycle_broken);
    assert_eq!(b.root, None);
    assert_eq!(st(&b, 0), (7, 7));
}

/// 9. Zero-duration spans.
///
/// R 0..10 with Z1 5..5 (child Z3 5..5) and Z2 10..10. Zero-length children cover nothing:
/// R self = 10. Path: Z2 ends at 10 → R 10..10 (empty); Z2 empty; Z1 ends 5 → R 5..10 (5);
/// Z3 and Z1 empty; R 0..5 (5). R = 10 in two touching segments; everything else 0.
/// A trace of one zero-length span has duration 0 and an empty path.
#[test]
fn case_09_zero_duration_spans() {
    let spans = vec![
        span(1, None, 0, 10),
        span(2, Some(1), 5, 5),
        span(3, Some(1), 10, 10),
        span(4, Some(2), 5, 5),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(st(&b, 0), (10, 10));
    for i in 1..4 {
        assert_eq!(st(&b, i), (0, 0));
    }
    let segs: Vec<(Option<usize>, u64, u64)> = b
        .segments
        .iter()
        .map(|s| (s.span, s.start_ns / MS, s.end_ns / MS))
        .collect();
    assert_eq!(segs, [(Some(0), 0, 5), (Some(0), 5, 10)]);

    let b = run(&[span(1, None, 7, 7)]);
    check_invariants(&b);
    assert_eq!(b.duration_ns(), 0);
    assert!(b.segments.is_empty());
    assert_eq!(st(&b, 0), (0, 0));
}

/// 10. Identical timestamps.
///
/// R 0..100 with three children all 0..100, ids 3, 2, 4 (in that input order). All end
/// together and start together, so the lowest span id, 2, is on the path: 0..100 (100).
/// Back in R at 0, no other child ends by 0: R and the other two get 0. Self: R = 0, each
/// child 100. Reversing the input changes nothing.
#[test]
fn case_10_identical_timestamps() {
    let spans = vec![
        span(1, None, 0, 100),
        span(3, Some(1), 0, 100),
        span(2, Some(1), 0, 100),
        span(4, Some(1), 0, 100),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert_eq!(st(&b, 0), (0, 0));
    assert_eq!(st(&b, 1), (100, 0));
    assert_eq!(st(&b, 2), (100, 100));
    assert_eq!(st(&b, 3), (100, 0));

    let reversed: Vec<Span> = spans.iter().rev().cloned().collect();
    let r = run(&reversed);
    assert_eq!(r.spans[1].critical_path_ns, 100 * MS); // id 2, now at index 1
    assert_eq!(r.spans[0].critical_path_ns, 0);
}

/// Duplicate span ids: the earliest span owns the id and is the parent of spans naming it.
#[test]
fn duplicate_span_ids_keep_one_owner() {
    let spans = vec![
        span(1, None, 0, 100),
        span(2, Some(1), 30, 40),
        span(2, Some(1), 10, 60),
        span(3, Some(2), 20, 30),
    ];
    let b = run(&spans);
    check_invariants(&b);
    assert!(b.spans[1].duplicate_id);
    assert!(!b.spans[2].duplicate_id);
    assert_eq!(b.spans[3].parent, Some(2));
}
