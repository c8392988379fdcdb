//! `tracegate explain` on a fixture: the printed waterfall and breakdown, and `--json`.
//!
//! `fixtures/rag_trace.jsonl` holds one trace in two OTLP/JSON requests (one per line, one
//! per service). Times in ms from the trace start:
//!
//! ```text
//! gateway    POST /chat       SERVER  0 .. 1000  http
//! gateway      POST /retrieve CLIENT 20 .. 320   http
//! retriever      POST /retrieve SERVER 70 .. 350 (clock 40 ms ahead: really 30 .. 310)
//! retriever        embed               80 .. 140 (really 40 .. 100)   embedding
//! retriever        qdrant search      140 .. 340 (really 100 .. 300)  retrieval
//! gateway      chat gpt-4o    CLIENT 330 .. 980, first chunk at 530   llm
//! gateway      audit log             990 .. 1200 (outlives the root)  messaging
//! ```
//!
//! The retriever's server span ends after its client span (350 > 320): centred in it, it
//! starts at 20 + (300 - 280) / 2 = 30, a -40 ms shift for it and its children.
//! Critical path, walking back from 1000: audit log clipped to 990..1000 (10); root
//! 980..990 (10); chat 330..980 (650); root 320..330 (10); client 310..320 (10, network);
//! server 300..310 (10); qdrant 100..300 (200); embed 40..100 (60); server 30..40 (10);
//! client 20..30 (10, network); root 0..20 (20).
//! Per category: llm 650, retrieval 200, embedding 60, http 40 + 20 = 60, network 20,
//! messaging 10: 1000 ms. TTFT = 530 - 330 = 200 ms, decode 450 ms.

// Test helpers outside `#[test]` functions unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rag_trace.jsonl")
}

fn explain(args: &[&str]) -> (String, String, bool) {
    let out = Command::new(env!("CARGO_BIN_EXE_tracegate"))
        .arg("explain")
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

#[test]
fn prints_the_waterfall_and_the_breakdown() {
    let file = fixture();
    let (out, err, ok) = explain(&[file.to_str().unwrap()]);
    assert!(ok, "{err}");
    // Not a terminal: no colour codes.
    assert!(!out.contains('\x1b'));
    assert!(out.starts_with(
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 · 7 spans · 1000.0 ms · root POST /chat (gateway)"
    ));
    let line = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no line for {name} in\n{out}"))
            .to_owned()
    };
    // Indented by depth, with category, self ms and path ms.
    let chat = line("chat gpt-4o");
    assert!(chat.starts_with("  chat gpt-4o"));
    assert!(chat.contains("llm"));
    assert!(chat.contains("650.0     650.0"));
    assert!(chat.contains("ttft 200.0 ms, decode 450.0 ms"));
    let qdrant = line("qdrant search");
    assert!(qdrant.starts_with("      qdrant search"));
    assert!(qdrant.contains("retrieval") && qdrant.contains("200.0     200.0"));
    let server = out
        .lines()
        .find(|l| l.starts_with("    POST /retrieve"))
        .unwrap();
    assert!(server.contains("network 20.0 ms, clock skew -40.0 ms"));
    let audit = line("audit log");
    assert!(audit.contains("210.0      10.0"));
    assert!(audit.contains('›'), "runs past the root's end: {audit}");
    // The chat call's bar is all critical path; the parallel-free root's mostly not.
    assert!(chat.contains("███████████████████████████"));
    assert!(line("POST /chat").contains('░'));

    let breakdown: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("critical path by category"))
        .collect();
    assert_eq!(breakdown[0], "critical path by category (1000.0 ms):");
    let rows: Vec<Vec<&str>> = breakdown[1..7]
        .iter()
        .map(|l| l.split_whitespace().take(4).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["llm", "650.0", "ms", "65.0%"],
            ["retrieval", "200.0", "ms", "20.0%"],
            ["embedding", "60.0", "ms", "6.0%"],
            ["http", "60.0", "ms", "6.0%"],
            ["network", "20.0", "ms", "2.0%"],
            ["messaging", "10.0", "ms", "1.0%"],
        ]
    );
    assert!(out.contains("  1. chat gpt-4o (gateway)  650.0 ms"));
    assert!(out.contains("  2. qdrant search (retriever)  200.0 ms"));
}

#[test]
fn json_gives_the_same_facts() {
    let file = fixture();
    let (out, err, ok) = explain(&[file.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let t = &v["traces"][0];
    assert_eq!(t["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(t["duration_ns"], 1_000_000_000u64);
    assert_eq!(t["span_count"], 7);
    let c = &t["critical_path_by_category"];
    let ns = |k: &str| c[k]["ns"].as_u64().unwrap();
    assert_eq!(ns("llm"), 650_000_000);
    assert_eq!(ns("retrieval"), 200_000_000);
    assert_eq!(ns("embedding"), 60_000_000);
    assert_eq!(ns("http"), 60_000_000);
    assert_eq!(ns("network"), 20_000_000);
    assert_eq!(ns("messaging"), 10_000_000);
    assert_eq!(c["llm"]["percent"], 65.0);
    let total: u64 = c
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["ns"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 1_000_000_000);
    assert_eq!(t["top_contributors"][0]["name"], "chat gpt-4o");
    assert_eq!(t["top_contributors"][0]["ns"], 650_000_000u64);

    let spans = t["spans"].as_array().unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "POST /chat",
            "POST /retrieve",
            "POST /retrieve",
            "embed",
            "qdrant search",
            "chat gpt-4o",
            "audit log"
        ]
    );
    let path: u64 = spans
        .iter()
        .map(|s| s["critical_path_ns"].as_u64().unwrap())
        .sum();
    assert_eq!(path, 1_000_000_000);
    let server = &spans[2];
    assert_eq!(server["service"], "retriever");
    assert_eq!(server["skew_adjusted_ns"], -40_000_000i64);
    assert_eq!(server["network_ns"], 20_000_000u64);
    assert_eq!(server["start_offset_ns"], 30_000_000);
    assert_eq!(server["self_time_ns"], 20_000_000u64);
    assert_eq!(spans[1]["critical_path_category"], "network");
    assert_eq!(spans[1]["category"], "http");
    let chat = &spans[5];
    assert_eq!(chat["prefill_ns"], 200_000_000u64);
    assert_eq!(chat["decode_ns"], 450_000_000u64);
    assert_eq!(chat["ttft_source"], "event");
    assert_eq!(
        chat["critical_path_segments"],
        serde_json::json!([[330_000_000, 980_000_000]])
    );
    assert_eq!(spans[6]["critical_path_ns"], 10_000_000u64);
    assert_eq!(spans[6]["self_time_ns"], 210_000_000u64);
}

#[test]
fn reads_otlp_protobuf_too() {
    use prost::Message as _;
    // The two JSON requests as protobuf: concatenated, and length-delimited.
    let text = std::fs::read_to_string(fixture()).unwrap();
    let requests: Vec<_> = text
        .lines()
        .map(|l| tracegate_otlp::receiver::decode_json_request(l.as_bytes()).unwrap())
        .collect();
    let concatenated: Vec<u8> = requests.iter().flat_map(|r| r.encode_to_vec()).collect();
    let delimited: Vec<u8> = requests
        .iter()
        .flat_map(|r| r.encode_length_delimited_to_vec())
        .collect();
    let (expected, _, _) = explain(&[fixture().to_str().unwrap(), "--json"]);
    for (name, bytes) in [("concatenated", concatenated), ("delimited", delimited)] {
        let path = std::env::temp_dir().join(format!(
            "tracegate-explain-{}-{name}.pb",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        let (out, err, ok) = explain(&[path.to_str().unwrap(), "--json"]);
        let _ = std::fs::remove_file(&path);
        assert!(ok, "{name}: {err}");
        assert_eq!(out, expected, "{name}");
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let path =
        std::env::temp_dir().join(format!("tracegate-explain-{}-bad.json", std::process::id()));
    std::fs::write(&path, "{\"resourceSpans\": 7}").unwrap();
    let (_, err, ok) = explain(&[path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    assert!(!ok);
    assert!(err.starts_with("error: cannot decode"), "{err}");
    let (_, err, ok) = explain(&["/nonexistent/trace.json"]);
    assert!(!ok);
    assert!(err.contains("cannot read /nonexistent/trace.json"), "{err}");
}
