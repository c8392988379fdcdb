use super::*;
use crate::testing::{self, Row, expected_row, rows_of};
use tracegate_testkit::Profile;

fn encode(spans: &[Span]) -> EncodedSpans {
    let mut encoder = SpanEncoder::new();
    for s in spans {
        encoder.push(s);
    }
    assert_eq!(encoder.len(), spans.len());
    encoder.finish().unwrap()
}

#[test]
fn every_column_matches_the_spans_in_push_order() {
    let mut spans = testing::edge_case_spans();
    spans.extend(testing::testkit_spans(20, Profile::Rag));
    let encoded = encode(&spans);
    assert_eq!(encoded.batch.schema(), schema::spans_schema());
    let expected: Vec<Row> = spans.iter().map(expected_row).collect();
    let actual = rows_of(&encoded.batch);
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "row {i}");
    }
    assert_eq!(actual.len(), expected.len());
}

#[test]
fn llm_columns_come_from_canonical_attributes() {
    let spans = testing::edge_case_spans();
    let rows = rows_of(&encode(&spans).batch);
    let llm = &rows[0];
    assert_eq!(llm.gen_ai_operation.as_deref(), Some("chat"));
    assert_eq!(
        llm.gen_ai_provider.as_deref(),
        Some("openai"),
        "gen_ai.system is the fallback"
    );
    assert_eq!(
        llm.request_model.as_deref(),
        Some("gpt-4o-mini"),
        "the last repeated key wins"
    );
    assert_eq!(llm.response_model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert_eq!(
        (
            llm.input_tokens,
            llm.output_tokens,
            llm.cache_read_tokens,
            llm.cache_write_tokens,
            llm.reasoning_tokens
        ),
        (Some(1200), Some(300), Some(100), Some(7), Some(0))
    );
    assert_eq!(
        (llm.cost_usd, llm.ttft_ms, llm.decode_ms),
        (Some(0.0123), Some(250.0), Some(1750.5))
    );
    assert_eq!(llm.output_tokens_per_s, Some(171.4));
    assert_eq!(llm.finish_reason.as_deref(), Some("stop"));
    assert_eq!(llm.category.as_deref(), Some("llm"));
    assert_eq!(
        (llm.self_time_ns, llm.critical_path_ns),
        (Some(1_900_000_000), Some(2_000_000_000))
    );
    // Both occurrences of the repeated key stay in the map, values rendered as JSON.
    let attr = |k: &str| {
        llm.attributes
            .iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        attr("gen_ai.request.model"),
        [Some("gpt-4o".into()), Some("gpt-4o-mini".into())]
    );
    assert_eq!(attr("stream"), [Some("true".into())]);
    assert_eq!(attr("payload"), [Some("\"dead\"".into())]);
    assert_eq!(attr("tags"), [Some(r#"{"a":"x\"y","b":2}"#.into())]);
    assert_eq!(attr("valueless"), [None]);

    let other = &rows[1];
    assert_eq!(
        other.gen_ai_provider.as_deref(),
        Some("anthropic"),
        "provider.name beats system"
    );
    assert_eq!(
        other.finish_reason.as_deref(),
        Some("end_turn"),
        "a single string is accepted"
    );
    assert_eq!(other.input_tokens, None, "a non-numeric count is null");
    assert_eq!(other.request_model, None);

    let bare = &rows[2];
    assert_eq!(bare, &expected_row(&spans[2]));
    assert_eq!(
        (
            bare.duration_ns,
            bare.status_code.as_str(),
            bare.kind.as_str()
        ),
        (0, "ok", "unspecified")
    );
    assert_eq!(
        (
            bare.scope_name.clone(),
            bare.category.clone(),
            bare.cost_usd
        ),
        (None, None, None)
    );
}

#[test]
fn order_sorts_by_trace_then_start_then_arrival() {
    let spans = testing::edge_case_spans();
    let encoded = encode(&spans);
    // 0x01 trace first; in 0xab, the two spans at LEAP_NIGHT - 5 keep their push order.
    assert_eq!(encoded.order, [2, 1, 4, 0, 3]);

    let spans = testing::testkit_spans(50, Profile::Tiny);
    let encoded = encode(&spans);
    let keys: Vec<_> = encoded
        .order
        .iter()
        .map(|&i| {
            (
                spans[i as usize].trace_id,
                spans[i as usize].start_time_unix_nano,
            )
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]));
    let mut seen = encoded.order.clone();
    seen.sort_unstable();
    assert!(
        seen.iter().enumerate().all(|(i, &r)| r as usize == i),
        "a permutation"
    );
}

#[test]
fn estimated_bytes_track_the_arrow_memory() {
    let spans = testing::testkit_spans(200, Profile::Rag);
    let mut encoder = SpanEncoder::new();
    let mut last = 0;
    for s in &spans {
        encoder.push(s);
        assert!(encoder.estimated_bytes() > last);
        last = encoder.estimated_bytes();
    }
    let encoded = encoder.finish().unwrap();
    let actual = encoded.batch.get_array_memory_size();
    let ratio = last as f64 / actual as f64;
    eprintln!("estimated {last}, arrow {actual}, ratio {ratio:.2}");
    assert!(
        (0.4..2.5).contains(&ratio),
        "estimated {last}, arrow {actual}"
    );
}

#[test]
fn an_empty_encoder_gives_an_empty_batch() {
    let encoded = SpanEncoder::new().finish().unwrap();
    assert_eq!(encoded.batch.num_rows(), 0);
    assert!(encoded.order.is_empty());
    assert_eq!(SpanEncoder::encode(&[]).unwrap().num_rows(), 0);
}

#[test]
fn times_past_i64_are_clamped() {
    let mut s = testing::span(1, 1, u64::MAX - 10);
    s.end_time_unix_nano = u64::MAX;
    let rows = rows_of(&SpanEncoder::encode([&s]).unwrap());
    assert_eq!(
        (rows[0].start_time, rows[0].end_time, rows[0].duration_ns),
        (i64::MAX, i64::MAX, 10)
    );
}

#[test]
fn a_size_hint_from_one_file_sizes_the_next_so_no_buffer_grows() {
    let mut spans = testing::edge_case_spans();
    spans.extend(testing::testkit_spans(30, Profile::Rag));
    let mut first = SpanEncoder::new();
    for s in &spans {
        first.push(s);
    }
    let hint = first.size_hint();
    // Every string column is described, with its rows and bytes.
    assert_eq!(hint.strings.len(), 26);
    assert_eq!(hint.strings[0], (spans.len(), spans.len() * 32), "trace_id");

    let mut next = SpanEncoder::with_size_hint(&hint);
    let before: Vec<usize> = next
        .string_builders()
        .iter()
        .map(|b| b.values_capacity())
        .collect();
    for (capacity, &(_, bytes)) in before.iter().zip(&hint.strings) {
        assert!(*capacity >= bytes);
    }
    for s in &spans {
        next.push(s);
    }
    let after: Vec<usize> = next
        .string_builders()
        .iter()
        .map(|b| b.values_capacity())
        .collect();
    assert_eq!(before, after, "a buffer grew");
    assert_eq!(next.size_hint(), hint);
    // The same rows as an encoder sized from nothing.
    assert_eq!(next.finish().unwrap().batch, encode(&spans).batch);
}
