//! The config: defaults, YAML, and errors naming their key.

use super::*;
use tracegate_pipeline::parse_section;

#[test]
fn defaults_are_documented_values() {
    let c = HotStoreConfig::default();
    assert_eq!(c.path, std::path::PathBuf::from("./data/hot"));
    assert_eq!(c.retention, Duration::from_secs(30 * 86_400));
    assert_eq!(c.max_bytes, ByteSize::mib(10 * 1024));
    assert_eq!(c.block_max_age, Duration::from_secs(10));
    assert_eq!(c.block_max_bytes, ByteSize::mib(32));
    assert_eq!(c.max_head_bytes, ByteSize::mib(256));
    assert_eq!(c.row_group_rows, 16_384);
    assert_eq!(c.late_scores.max_scores, 100_000);
    assert_eq!(c.late_scores.max_bytes, ByteSize::mib(32));
    c.validate("exporters.hot_store").unwrap();
    let parsed: HotStoreConfig =
        parse_section("exporters.hot_store", serde_yaml_ng::Value::Null).unwrap();
    assert_eq!(parsed, c);
}

#[test]
fn yaml_sets_every_key() {
    let yaml = "path: /var/lib/tracegate/hot\nretention: 6h\nmax_bytes: 2GiB\nblock_max_age: 5s\n\
                block_max_bytes: 16MiB\nmax_head_bytes: 64MiB\ncompression: snappy\nrow_group_rows: 4096\n\
                late_scores: { max_scores: 50, max_bytes: 1MiB }\n";
    let c: HotStoreConfig = parse_section("x", serde_yaml_ng::from_str(yaml).unwrap()).unwrap();
    assert_eq!(c.path, std::path::PathBuf::from("/var/lib/tracegate/hot"));
    assert_eq!(c.retention, Duration::from_secs(6 * 3_600));
    assert_eq!(c.max_bytes, ByteSize::mib(2048));
    assert_eq!(c.block_max_age, Duration::from_secs(5));
    assert_eq!(c.block_max_bytes, ByteSize::mib(16));
    assert_eq!(c.max_head_bytes, ByteSize::mib(64));
    assert_eq!(c.compression, crate::Compression::Snappy);
    assert_eq!(c.row_group_rows, 4096);
    assert_eq!(
        c.late_scores,
        LateScoresConfig {
            max_scores: 50,
            max_bytes: ByteSize::mib(1)
        }
    );
    c.validate("x").unwrap();
}

#[test]
fn errors_name_the_key_and_say_what_to_write() {
    let err = |yaml: &str| {
        let c: Result<HotStoreConfig, _> = parse_section(
            "exporters.hot_store",
            serde_yaml_ng::from_str(yaml).unwrap(),
        );
        match c {
            Err(e) => e.to_string(),
            Ok(c) => c.validate("exporters.hot_store").unwrap_err().to_string(),
        }
    };
    assert!(err("retension: 1h").contains("retension"));
    assert!(err("retention: 10s").contains("exporters.hot_store.retention"));
    assert!(err("block_max_age: 1h").contains("exporters.hot_store.block_max_age"));
    assert!(err("block_max_bytes: 2GiB").contains("exporters.hot_store.block_max_bytes"));
    assert!(err("max_head_bytes: 1MiB").contains("exporters.hot_store.max_head_bytes"));
    assert!(err("max_bytes: 1MiB").contains("exporters.hot_store.max_bytes"));
    assert!(err("row_group_rows: 0").contains("exporters.hot_store.row_group_rows"));
    assert!(err("path: ''").contains("exporters.hot_store.path"));
    assert!(
        err("late_scores: { max_scores: 0 }")
            .contains("exporters.hot_store.late_scores.max_scores")
    );
    assert!(
        err("late_scores: { max_bytes: 2GiB }")
            .contains("exporters.hot_store.late_scores.max_bytes")
    );
    assert!(err("late_scores: { max_score: 5 }").contains("max_score"));
}
