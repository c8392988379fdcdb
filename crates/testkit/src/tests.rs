use crate::text;
use crate::{Generator, GeneratorConfig, Profile, span_count};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use std::collections::{BTreeSet, HashMap};
use tracegate_model::attr;
use tracegate_model::{Span, SpanBatch, SpanId, SpanKind, TraceId};

const MS: u64 = 1_000_000;

fn generator(seed: u64, profile: Profile) -> Generator {
    Generator::new(GeneratorConfig {
        seed,
        profile,
        ..Default::default()
    })
}

fn to_batch(req: ExportTraceServiceRequest) -> SpanBatch {
    let (batch, rejected) = SpanBatch::from_request(req);
    assert!(rejected.is_empty(), "{}", rejected.message());
    batch
}

/// The spans of a batch, grouped by trace in first-seen order.
fn traces(batch: &SpanBatch) -> Vec<Vec<&Span>> {
    let mut order: Vec<TraceId> = Vec::new();
    let mut by_trace: HashMap<TraceId, Vec<&Span>> = HashMap::new();
    for span in &batch.spans {
        let entry = by_trace.entry(span.trace_id).or_default();
        if entry.is_empty() {
            order.push(span.trace_id);
        }
        entry.push(span);
    }
    order
        .iter()
        .map(|id| by_trace.remove(id).unwrap())
        .collect()
}

fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    attr::get_str(&span.attributes, key)
}

fn root_of<'a>(trace: &[&'a Span]) -> &'a Span {
    let roots: Vec<_> = trace.iter().filter(|s| s.is_root()).collect();
    assert_eq!(roots.len(), 1, "exactly one root");
    roots[0]
}

/// Checks parent links and timing of every trace; returns the number of traces.
fn check_trees(batch: &SpanBatch) -> usize {
    let traces = traces(batch);
    for trace in &traces {
        let by_id: HashMap<SpanId, &Span> = trace.iter().map(|s| (s.span_id, *s)).collect();
        assert_eq!(by_id.len(), trace.len(), "span ids are unique in a trace");
        root_of(trace);
        for span in trace {
            assert!(
                span.start_time_unix_nano < span.end_time_unix_nano,
                "{}",
                span.name
            );
            for event in &span.events {
                assert!(event.time_unix_nano >= span.start_time_unix_nano);
                assert!(event.time_unix_nano <= span.end_time_unix_nano);
            }
            let Some(parent_id) = span.parent_span_id else {
                continue;
            };
            let parent = by_id
                .get(&parent_id)
                .unwrap_or_else(|| panic!("parent of {} missing from its trace", span.name));
            assert!(
                span.start_time_unix_nano >= parent.start_time_unix_nano,
                "{}",
                span.name
            );
            assert!(
                span.end_time_unix_nano <= parent.end_time_unix_nano,
                "{}",
                span.name
            );
        }
    }
    traces.len()
}

/// Average encoded bytes per span: of the whole request (resources and scopes included), and
/// of the `Span` messages alone.
fn bytes_per_span(profile: Profile, traces: usize) -> (f64, f64) {
    let req = generator(1, profile).request_with_traces(traces);
    let spans = span_count(&req) as f64;
    let span_bytes: usize = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .flat_map(|ss| &ss.spans)
        .map(Message::encoded_len)
        .sum();
    (req.encoded_len() as f64 / spans, span_bytes as f64 / spans)
}

#[test]
fn same_seed_gives_identical_output() {
    for profile in [Profile::Rag, Profile::Tiny] {
        let (mut a, mut b) = (generator(9, profile), generator(9, profile));
        assert_eq!(a.next_trace_request(), b.next_trace_request());
        assert_eq!(a.request_with_traces(20), b.request_with_traces(20));
        assert_eq!(a.requests(500, 64), b.requests(500, 64));
        assert_eq!(a.batch_with_traces(5), b.batch_with_traces(5));
    }
    assert_eq!(
        Generator::new(GeneratorConfig::default()).request_with_traces(3),
        generator(42, Profile::Rag).request_with_traces(3)
    );
}

#[test]
fn different_seeds_differ() {
    for profile in [Profile::Rag, Profile::Tiny] {
        let a = generator(1, profile).request_with_traces(10);
        let b = generator(2, profile).request_with_traces(10);
        assert_ne!(a, b);
        let ids = |r: &ExportTraceServiceRequest| {
            r.resource_spans[0].scope_spans[0].spans[0].trace_id.clone()
        };
        assert_ne!(ids(&a), ids(&b));
    }
}

#[test]
fn the_profiles_of_one_seed_share_no_trace_id() {
    // One stream for both profiles once gave trace 119 of rag and trace 137 of tiny the
    // same ids under seed 42.
    let ids = |profile| -> std::collections::HashSet<TraceId> {
        let batch = generator(42, profile).batch_with_traces(2000);
        batch.spans.iter().map(|s| s.trace_id).collect()
    };
    let (rag, tiny) = (ids(Profile::Rag), ids(Profile::Tiny));
    assert_eq!((rag.len(), tiny.len()), (2000, 2000));
    assert_eq!(rag.intersection(&tiny).count(), 0);
}

#[test]
fn parents_exist_and_children_lie_within_parents() {
    for profile in [Profile::Rag, Profile::Tiny] {
        let batch = to_batch(generator(3, profile).request_with_traces(1000));
        assert_eq!(check_trees(&batch), 1000);
    }
}

#[test]
fn a_trace_spans_several_services_and_scopes() {
    let mut generator = generator(4, Profile::Rag);
    let req = generator.next_trace_request();
    let services: Vec<_> = req
        .resource_spans
        .iter()
        .map(|rs| {
            let attrs = &rs.resource.as_ref().unwrap().attributes;
            for key in [
                "service.version",
                "deployment.environment",
                "host.name",
                "telemetry.sdk.name",
                "telemetry.sdk.language",
                "telemetry.sdk.version",
            ] {
                assert!(attr::get_str(attrs, key).is_some(), "{key}");
            }
            attr::get_str(attrs, "service.name").unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        services,
        ["chat-gateway", "retriever", "reranker", "llm-service"]
    );
    let scopes: BTreeSet<_> = req
        .resource_spans
        .iter()
        .flat_map(|rs| &rs.scope_spans)
        .map(|ss| ss.scope.as_ref().unwrap().name.as_str())
        .collect();
    assert!(scopes.contains("opentelemetry.instrumentation.fastapi"));
    assert!(scopes.contains("openinference.instrumentation.langchain"));
    assert!(scopes.len() >= 6, "{scopes:?}");

    let batch = to_batch(req);
    let root = batch.spans.iter().find(|s| s.is_root()).unwrap();
    assert_eq!(root.name, "POST /v1/chat");
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.service_name(), "chat-gateway");
    assert_eq!(str_attr(root, "http.request.method"), Some("POST"));
    assert!(str_attr(root, "user.id").is_some());
}

#[test]
fn stages_have_realistic_attributes_and_durations() {
    let batch = to_batch(generator(5, Profile::Rag).request_with_traces(500));
    let mut seen = BTreeSet::new();
    for span in &batch.spans {
        let ms = span.duration_ns() as f64 / MS as f64;
        let op = str_attr(span, "gen_ai.operation.name");
        match op {
            Some("embeddings") => {
                assert!((20.0..=80.0).contains(&ms), "embedding {ms} ms");
                assert_eq!(
                    str_attr(span, "gen_ai.request.model"),
                    Some("text-embedding-3-small")
                );
                assert_eq!(str_attr(span, "gen_ai.provider.name"), Some("openai"));
                assert!(attr::get_i64(&span.attributes, "gen_ai.usage.input_tokens").is_some());
            }
            Some("rerank") => {
                assert!((30.0..=150.0).contains(&ms), "rerank {ms} ms");
                assert_eq!(span.service_name(), "reranker");
                assert!(attr::get_i64(&span.attributes, "gen_ai.rerank.documents.count").is_some());
            }
            Some("chat") => {
                assert_eq!(span.service_name(), "llm-service");
                assert!(!span.is_error() || ms <= 400.0);
                if !span.is_error() {
                    assert!((400.0..=3000.0).contains(&ms), "llm {ms} ms");
                    let first = &span.events[0];
                    assert_eq!(first.name, "gen_ai.content.completion.chunk");
                    let ttft =
                        (first.time_unix_nano - span.start_time_unix_nano) as f64 / MS as f64;
                    assert!((150.0..=600.0).contains(&ttft), "ttft {ttft} ms");
                    for key in [
                        "gen_ai.usage.input_tokens",
                        "gen_ai.usage.output_tokens",
                        "gen_ai.usage.cache_read.input_tokens",
                    ] {
                        assert!(attr::get_i64(&span.attributes, key).is_some(), "{key}");
                    }
                    assert!(str_attr(span, "gen_ai.response.model").is_some());
                    assert!(span.attr("gen_ai.response.finish_reasons").is_some());
                    let output = str_attr(span, "gen_ai.output.messages").unwrap();
                    let output: serde_json::Value = serde_json::from_str(output).unwrap();
                    assert_eq!(output[0]["role"], "assistant");
                }
                assert!(matches!(
                    str_attr(span, "gen_ai.provider.name"),
                    Some("openai" | "anthropic")
                ));
                assert!(span.attr("gen_ai.request.stream").is_some());
                let prompt = str_attr(span, "gen_ai.input.messages").unwrap();
                assert!(
                    (1024..=2048).contains(&prompt.len()),
                    "prompt of {} B",
                    prompt.len()
                );
                let messages: serde_json::Value = serde_json::from_str(prompt).unwrap();
                assert_eq!(messages[1]["role"], "user");
                assert_eq!(messages[1]["parts"][0]["type"], "text");
            }
            Some("execute_tool") => {
                assert!(str_attr(span, "gen_ai.tool.name").is_some());
            }
            _ => {}
        }
        if str_attr(span, "db.system.name").is_some() {
            assert!((5.0..=40.0).contains(&ms), "vector search {ms} ms");
            assert!(str_attr(span, "db.query.text").is_some());
            assert!(str_attr(span, "db.operation.name").is_some());
        }
        if let Some(op) = op {
            seen.insert(op.to_owned());
        }
    }
    let expected = ["chat", "embeddings", "execute_tool", "rerank"];
    assert_eq!(
        seen.iter().map(String::as_str).collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn consecutive_traces_start_a_few_ms_apart() {
    let mut generator = generator(6, Profile::Rag);
    let mut previous = None;
    for _ in 0..200 {
        let batch = to_batch(generator.next_trace_request());
        let start = batch
            .spans
            .iter()
            .find(|s| s.is_root())
            .unwrap()
            .start_time_unix_nano;
        match previous {
            None => assert_eq!(start, GeneratorConfig::DEFAULT_START_UNIX_NANO),
            Some(previous) => assert!((MS..=5 * MS).contains(&(start - previous))),
        }
        previous = Some(start);
    }
}

#[test]
fn span_counts_vary_around_ten() {
    for profile in [Profile::Rag, Profile::Tiny] {
        let batch = to_batch(generator(7, profile).request_with_traces(2000));
        let counts: Vec<usize> = traces(&batch).iter().map(Vec::len).collect();
        let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
        let distinct: BTreeSet<_> = counts.iter().collect();
        assert!((9.0..=11.0).contains(&mean), "mean {mean}");
        assert!(distinct.len() >= 4, "{distinct:?}");
    }
}

#[test]
fn about_five_percent_of_traces_fail_with_a_message() {
    let batch = to_batch(generator(8, Profile::Rag).request_with_traces(4000));
    let traces = traces(&batch);
    let mut failed = 0;
    for trace in &traces {
        let errors: Vec<_> = trace.iter().filter(|s| s.is_error()).collect();
        if errors.is_empty() {
            continue;
        }
        failed += 1;
        assert!(root_of(trace).is_error());
        assert!(errors.iter().any(|s| !s.status.message.is_empty()));
        assert_eq!(
            attr::get_i64(&root_of(trace).attributes, "http.response.status_code"),
            Some(500)
        );
    }
    let rate = failed as f64 / traces.len() as f64;
    assert!((0.03..=0.07).contains(&rate), "error rate {rate}");
}

#[test]
fn rag_spans_average_about_400_to_600_bytes() {
    let (request, span) = bytes_per_span(Profile::Rag, 2000);
    println!("rag: {request:.0} B/span in the request, {span:.0} B per span message");
    assert!((300.0..=600.0).contains(&request), "{request} B/span");
    assert!((350.0..=480.0).contains(&span), "{span} B/span");
}

#[test]
fn tiny_spans_average_about_150_bytes() {
    let (request, span) = bytes_per_span(Profile::Tiny, 2000);
    println!("tiny: {request:.0} B/span in the request, {span:.0} B per span message");
    assert!((100.0..=220.0).contains(&request), "{request} B/span");
    assert!(span < request);
    let batch = to_batch(generator(1, Profile::Tiny).request_with_traces(100));
    assert!(
        batch.spans.iter().all(|s| s.attributes.len() <= 4),
        "minimal attributes"
    );
    assert!(batch.spans.iter().all(|s| s.resource.attributes.len() == 1));
}

#[test]
fn requests_hold_exactly_the_spans_asked_for() {
    for profile in [Profile::Rag, Profile::Tiny] {
        for (total, per) in [
            (0, 10),
            (1, 10),
            (5, 100),
            (7, 1),
            (1000, 100),
            (12_345, 512),
            (999, 0),
        ] {
            let requests = generator(10, profile).requests(total, per);
            let counts: Vec<usize> = requests.iter().map(span_count).collect();
            assert_eq!(
                counts.iter().sum::<usize>(),
                total,
                "total {total} per {per}"
            );
            assert!(counts.iter().all(|&c| c > 0));
            for req in requests {
                let count = span_count(&req);
                let batch = to_batch(req);
                let traces = check_trees(&batch);
                assert!(
                    count <= per.max(1) || traces == 1,
                    "{count} spans in {traces} traces"
                );
            }
        }
    }
}

#[test]
fn full_requests_are_nearly_full() {
    let requests = generator(11, Profile::Rag).requests(10_000, 200);
    let (last, full) = requests.split_last().unwrap();
    assert!(span_count(last) <= 200);
    for req in full {
        assert!(
            (187..=200).contains(&span_count(req)),
            "{}",
            span_count(req)
        );
    }
}

#[test]
fn batches_hold_whole_traces() {
    let batch = generator(12, Profile::Tiny).batch_with_traces(50);
    assert_eq!(check_trees(&batch), 50);
}

#[test]
fn corpus_text_needs_no_json_escaping() {
    let all = text::QUESTIONS
        .iter()
        .chain(text::PASSAGES)
        .chain(text::ANSWERS);
    for s in all.chain([&text::SYSTEM_PROMPT]) {
        assert!(!s.contains(['"', '\\']), "{s}");
    }
    // A prompt overshoots its target by at most one passage, so 1840 + this stays under 2 KB.
    let longest = text::PASSAGES.iter().map(|p| p.len()).max().unwrap();
    assert!(longest + "\\n[99] ".len() <= 2048 - 1840, "{longest}");
}
