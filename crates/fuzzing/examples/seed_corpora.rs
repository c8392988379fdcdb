//! Writes the seed inputs of every fuzz target into `fuzz/corpus/TARGET/seed-*`: small valid
//! inputs made with the testkit, plus a few hand-written edge cases. Run from the workspace
//! root: `cargo run -p tracegate-fuzzing --example seed_corpora`. The corpus replay
//! (`tests/corpora.rs`) runs every file through its target.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use flate2::Compression;
use flate2::write::{GzEncoder, ZlibEncoder};
use prost::Message;
use std::io::Write;
use std::path::Path;
use tracegate_model::{LogBatch, SpanBatch};
use tracegate_pipeline::durability::{encode_log_record, encode_record};
use tracegate_testkit::{Generator, GeneratorConfig, Profile, logs::logs_of};
use tracegate_wal::record;

const TRACE_JSON: &str = include_str!("../../otlp/testdata/trace.json");
const LOGS_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
 {"key":"service.name","value":{"stringValue":"chat"}}]},
 "scopeLogs":[{"scope":{"name":"s","version":"1"},"logRecords":[
 {"timeUnixNano":"1544712660300000000","observedTimeUnixNano":1544712660300000000,
  "severityNumber":10,"severityText":"Information","traceId":"07070707070707070707070707070707",
  "spanId":"0707070707070707","flags":1,"eventName":"gen_ai.client.inference.operation.details",
  "body":{"kvlistValue":{"values":[{"key":"a","value":{"arrayValue":{"values":[
   {"intValue":"3"},{"doubleValue":1.5},{"boolValue":true},{"bytesValue":"aGk="}]}}}]}},
  "attributes":[{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}}]},
 {"body":{"stringValue":"j2"}}]}]}]}"#;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).expect("create the corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write a seed");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn main() {
    let mut rag = Generator::new(GeneratorConfig {
        seed: 1,
        profile: Profile::Rag,
        ..Default::default()
    });
    let mut tiny = Generator::new(GeneratorConfig {
        seed: 2,
        profile: Profile::Tiny,
        ..Default::default()
    });
    let rag_request = rag.request_with_traces(1);
    let tiny_request = tiny.request_with_traces(1);
    let mut bad_ids = tiny_request.clone();
    bad_ids.resource_spans[0].scope_spans[0].spans[0].trace_id = vec![0; 3];

    // Protobuf.
    write("otlp_traces_proto", "rag", &rag_request.encode_to_vec());
    write("otlp_traces_proto", "tiny", &tiny_request.encode_to_vec());
    write("otlp_traces_proto", "bad-ids", &bad_ids.encode_to_vec());
    let rag_logs = logs_of(rag_request.clone());
    let tiny_logs = logs_of(tiny_request.clone());
    write("otlp_logs_proto", "rag", &rag_logs.encode_to_vec());
    write("otlp_logs_proto", "tiny", &tiny_logs.encode_to_vec());

    // JSON.
    write("otlp_traces_json", "spec-example", TRACE_JSON.as_bytes());
    write(
        "otlp_traces_json",
        "snake-case",
        br#"{"resource_spans":[{"scope_spans":[{"spans":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174","name":"x","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"}}]}]}]}"#,
    );
    write("otlp_logs_json", "records", LOGS_JSON.as_bytes());

    // HTTP bodies: [encoding, limits, body]; limits 0x10 = 64 KiB, ample budget.
    let body = tiny_request.encode_to_vec();
    let framed = |encoding: u8, limits: u8, payload: &[u8]| {
        let mut v = vec![encoding, limits];
        v.extend_from_slice(payload);
        v
    };
    write("http_body", "identity", &framed(0, 0x10, &body));
    write("http_body", "gzip", &framed(1, 0x10, &gzip(&body)));
    write("http_body", "deflate", &framed(2, 0x10, &zlib(&body)));
    let mut two_members = gzip(b"hello ");
    two_members.extend(gzip(b"world"));
    write("http_body", "gzip-members", &framed(3, 0x10, &two_members));
    write(
        "http_body",
        "gzip-over-limit",
        &framed(1, 0x04, &gzip(&[b'a'; 64])),
    );
    write(
        "http_body",
        "gzip-small-budget",
        &framed(1, 0x1c, &gzip(&[b'a'; 9000])),
    );
    write(
        "http_body",
        "zstd-truncated",
        &framed(5, 0x10, b"(\xb5/\xfd"),
    );
    write(
        "http_body",
        "zstd",
        &framed(5, 0x10, &zstd::stream::encode_all(&body[..], 3).unwrap()),
    );
    let mut two_frames = zstd::stream::encode_all(&b"hello "[..], 1).unwrap();
    two_frames.extend(zstd::stream::encode_all(&b"world"[..], 19).unwrap());
    write("http_body", "zstd-frames", &framed(5, 0x10, &two_frames));
    write(
        "http_body",
        "zstd-over-limit",
        &framed(
            5,
            0x04,
            &zstd::stream::encode_all(&[b'a'; 64][..], 3).unwrap(),
        ),
    );
    write(
        "http_body",
        "brotli",
        &framed(6, 0x10, b"\x0b\x02\x80hi\x03"),
    );

    // TraceQL: one of each construct; fuzz/corpus/traceql also holds the parser's corpus.
    for (i, q) in [
        r#"{resource.service.name="chat-gateway" && duration>1ms}"#,
        r#"{span.gen_ai.request.model=~"gpt.*"} | by(resource.service.name) | count() > 1"#,
        r#"{.x = 1.5e3 || !(kind=server)} | avg(duration) >= 2ms | select(span.a, .b)"#,
        r#"({status=error} | count() > 0) && {trace:duration > 1s} with(most_recent=true)"#,
        r#"{ span."a b" != nil && event.name = "x" && link.traceID = "ab" }"#,
    ]
    .iter()
    .enumerate()
    {
        write("traceql", &format!("q{i}"), q.as_bytes());
    }

    // WAL records and segments.
    let mut spans = SpanBatch::from_request(tiny_request.clone()).0.spans;
    let mut traces = Vec::new();
    encode_record("traces", &spans, &mut traces);
    write("wal_record", "traces", &traces);
    let tenant: std::sync::Arc<str> = "acme".into();
    for s in &mut spans {
        let mut r = (*s.resource).clone();
        r.tenant = Some(tenant.clone());
        s.resource = std::sync::Arc::new(r);
    }
    let mut tenant_traces = Vec::new();
    encode_record("traces/tenant", &spans, &mut tenant_traces);
    write("wal_record", "traces-tenant", &tenant_traces);
    let records = LogBatch::from_request(tiny_logs).0.records;
    let mut logs = Vec::new();
    encode_log_record("logs", &records, &mut logs);
    write("wal_record", "logs", &logs);

    let base: u64 = 4096;
    let mut segment = base.to_le_bytes().to_vec();
    let mut log = Vec::new();
    for payload in [&traces[..], b"x", &logs[..]] {
        record::encode(base + log.len() as u64, payload, &mut log);
    }
    segment.extend_from_slice(&log);
    write("wal_segment", "records", &segment);
    let mut corrupt = segment.clone();
    corrupt[8 + 20] ^= 0xff;
    corrupt.extend_from_slice(b"TGWR\x05\0\0\0");
    write("wal_segment", "corrupt-and-torn", &corrupt);
    let mut named = 0u64.to_le_bytes().to_vec();
    named.extend_from_slice(b"00000000000000004096.wal");
    write("wal_segment", "name", &named);
    println!("seeds written under fuzz/corpus/");
}
