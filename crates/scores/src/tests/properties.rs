//! Properties over random operations.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;
use tracegate_model::{DEFAULT_TENANT, ScoreJoin};

const T: &str = DEFAULT_TENANT;
const TTL: u64 = 10;

#[derive(Debug, Clone)]
enum Op {
    /// A span of `trace` (id `span`) carrying id `id` as response (or request) id; `llm`
    /// marks it the model call.
    Remember {
        trace: u8,
        span: u8,
        id: u8,
        response: bool,
        llm: bool,
    },
    Join {
        id: u8,
        response: bool,
    },
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..6, 1u8..4, 0u8..24, any::<bool>(), any::<bool>()).prop_map(
            |(trace, span, id, response, llm)| Op::Remember { trace, span, id, response, llm }
        ),
        3 => (0u8..24, any::<bool>()).prop_map(|(id, response)| Op::Join { id, response }),
        2 => (0u64..6).prop_map(Op::Advance),
    ]
}

fn span_for(trace: u8, span_id: u8, id: u8, response: bool, llm: bool) -> Span {
    let key = if response {
        keys::GEN_AI_RESPONSE_ID
    } else {
        "request_id"
    };
    let mut attributes = vec![attr::string(key, format!("id-{id}"))];
    if llm {
        attributes.push(attr::string(keys::GEN_AI_REQUEST_MODEL, "m"));
    }
    span(trace, span_id, attributes)
}

/// What the index must say, kept the simple way: id → (trace, span, at, llm).
#[derive(Default)]
struct Model(HashMap<(bool, u8), (u8, u8, u64, bool)>);

impl Model {
    fn remember(&mut self, key: (bool, u8), trace: u8, span: u8, llm: bool, now: u64) {
        // A response id always marks the model call.
        let llm = llm || key.0;
        match self.0.get_mut(&key) {
            Some(e) if e.2 + TTL > now && e.0 == trace => {
                if llm && !e.3 {
                    e.1 = span;
                    e.3 = true;
                }
            }
            _ => {
                self.0.insert(key, (trace, span, now, llm));
            }
        }
    }

    fn get(&self, key: (bool, u8), now: u64) -> Option<(u8, u8)> {
        self.0
            .get(&key)
            .filter(|e| e.2 + TTL > now)
            .map(|e| (e.0, e.1))
    }
}

fn limits(max_calls: usize) -> BoardLimits {
    BoardLimits {
        max_calls,
        call_ttl_ns: TTL,
        ..BoardLimits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With room for everything, the index answers exactly as the model: an id is found
    /// until exactly its time to live after it was remembered, naming the right span.
    #[test]
    fn the_index_answers_like_the_model_and_forgets_exactly_at_the_ttl(
        ops in proptest::collection::vec(op(), 1..120)
    ) {
        let board = ScoreBoard::new(limits(100_000));
        let mut model = Model::default();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Remember { trace, span, id, response, llm } => {
                    prop_assert!(board.remember_at(&span_for(trace, span, id, response, llm), now));
                    model.remember((response, id), trace, span, llm, now);
                }
                Op::Join { id, response } => {
                    let name = format!("id-{id}");
                    let mut s = if response {
                        score(Some(&name), None)
                    } else {
                        score(None, Some(&name))
                    };
                    let how = board.join_at(&mut s, T, now);
                    let got = s.trace_id.map(|t| t.0[0]).zip(s.span_id.map(|s| s.0[0]));
                    prop_assert_eq!(got, model.get((response, id), now));
                    prop_assert_eq!(how == ScoreJoin::Unresolved, got.is_none());
                }
                Op::Advance(dt) => now += dt,
            }
            board.check();
        }
    }

    /// Whatever the bound, the index never holds more, and what it answers was remembered
    /// for that id within its time to live.
    #[test]
    fn the_index_never_exceeds_its_bound(
        max_calls in 1usize..80,
        ops in proptest::collection::vec(op(), 1..200)
    ) {
        let board = ScoreBoard::new(limits(max_calls));
        let mut remembered: Vec<((bool, u8), u8, u8, u64)> = Vec::new();
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Remember { trace, span, id, response, llm } => {
                    board.remember_at(&span_for(trace, span, id, response, llm), now);
                    remembered.push(((response, id), trace, span, now));
                }
                Op::Join { id, response } => {
                    let name = format!("id-{id}");
                    let mut s = if response { score(Some(&name), None) } else { score(None, Some(&name)) };
                    board.join_at(&mut s, T, now);
                    if let (Some(t), Some(sp)) = (s.trace_id, s.span_id) {
                        let found = remembered.iter().any(|&(k, rt, rs, at)| {
                            k == (response, id) && rt == t.0[0] && rs == sp.0[0] && at + TTL > now
                        });
                        prop_assert!(found, "an answer never remembered");
                    }
                }
                Op::Advance(dt) => now += dt,
            }
            prop_assert!(board.stats().index_entries <= max_calls);
            prop_assert!(board.memory().index_entries <= max_calls);
            board.check();
        }
    }

    /// A joined score always has a trace id, and an unjoined one never; a score that came
    /// with a trace id keeps it.
    #[test]
    fn a_joined_score_always_has_a_trace_id(
        known in proptest::collection::vec((0u8..8, 0u8..8), 0..8),
        own_trace in proptest::option::of(1u8..4),
        response in proptest::option::of(0u8..8),
        request in proptest::option::of(0u8..8),
    ) {
        let board = ScoreBoard::new(BoardLimits::default());
        for (i, &(resp, req)) in known.iter().enumerate() {
            board.remember_at(&llm(100 + i as u8, 1, &format!("c-{resp}"), &format!("r-{req}")), 0);
        }
        let mut s = score(
            response.map(|r| format!("c-{r}")).as_deref(),
            request.map(|r| format!("r-{r}")).as_deref(),
        );
        s.trace_id = own_trace.map(|t| TraceId([t; 16]));
        let how = board.join_at(&mut s, T, 1);
        prop_assert_eq!(how, s.joined_by);
        prop_assert_eq!(how != ScoreJoin::Unresolved, s.trace_id.is_some());
        prop_assert_eq!(s.is_joined(), s.trace_id.is_some());
        if let Some(t) = own_trace {
            prop_assert_eq!((how, s.trace_id), (ScoreJoin::TraceContext, Some(TraceId([t; 16]))));
        }
        if how == ScoreJoin::ResponseId {
            prop_assert!(known.iter().any(|&(r, _)| Some(r) == response));
        }
    }

    /// Pending scores stay within their bounds, and every score posted is attached to its
    /// own trace, let go (counted) or still pending: none lost, none duplicated.
    #[test]
    fn pending_scores_are_bounded_and_accounted_for(
        max_pending in 0usize..40,
        ops in proptest::collection::vec((0u8..3, 0u8..12, 0u64..4), 1..150)
    ) {
        let board = ScoreBoard::new(BoardLimits {
            max_pending,
            pending_ttl_ns: 8,
            ..BoardLimits::default()
        });
        let (mut now, mut posted, mut attached) = (0u64, 0u64, 0u64);
        for (kind, t, dt) in ops {
            now += dt;
            if kind < 2 {
                let s = Score {
                    trace_id: Some(TraceId([t; 16])),
                    ..score(None, None)
                };
                if board.post_at(s, T, now) {
                    posted += 1;
                }
            } else {
                let mut tr = trace(vec![span(t, 1, vec![])]);
                board.attach_at(&mut tr, now);
                prop_assert!(tr.scores.iter().all(|s| s.trace_id == Some(TraceId([t; 16]))));
                attached += tr.scores.len() as u64;
            }
            let stats = board.stats();
            prop_assert!(stats.pending_scores <= max_pending);
            board.check();
            // Refused posts are counted as `full` too, so count only the kept ones here.
            prop_assert!(attached + stats.pending_scores as u64 <= posted);
            prop_assert!(posted - attached - stats.pending_scores as u64 <= stats.pending_expired + stats.pending_full);
        }
    }
}

#[test]
fn the_model_call_rule_matches_the_board_for_a_worked_case() {
    // The property above relies on the model's rules; check them once by hand. A request id
    // on a non-LLM span at 0, the LLM span of the same trace at 1: the LLM span wins; at
    // TTL after 0 (not after 1) the id is gone.
    let board = ScoreBoard::new(limits(1000));
    board.remember_at(&span_for(1, 1, 7, false, false), 0);
    board.remember_at(&span_for(1, 2, 7, false, true), 1);
    let mut s = score(None, Some("id-7"));
    board.join_at(&mut s, T, TTL - 1);
    assert_eq!(s.span_id, Some(SpanId([2; 8])));
    let mut s = score(None, Some("id-7"));
    assert_eq!(board.join_at(&mut s, T, TTL), ScoreJoin::Unresolved);
}
