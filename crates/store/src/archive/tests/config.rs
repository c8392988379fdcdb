//! The archive's config: fixtures in `testdata/`, defaults, errors with their key paths, and
//! the factory.

use super::*;

fn parse(yaml: &str) -> Result<ArchiveConfig, String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let config: ArchiveConfig =
        parse_section("exporters.archive", value).map_err(|e| e.to_string())?;
    config
        .destination("exporters.archive")
        .map_err(|e| e.to_string())?;
    Ok(config)
}

fn fixture(name: &str) -> String {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn full_fixture_parses_into_the_expected_struct() {
    let expected = ArchiveConfig {
        url: "s3://llm-lake/traces/prod".into(),
        flush_bytes: ByteSize::mib(64),
        flush_age: Duration::from_secs(120),
        max_buffer_bytes: ByteSize::mib(256),
        compression: Compression::Gzip,
        row_group_rows: 10_000,
        s3: Some(S3Options {
            endpoint: Some("http://127.0.0.1:9000".into()),
            region: Some("eu-west-1".into()),
            access_key_id: Some("test-key".into()),
            secret_access_key: Some("test-secret".into()),
            session_token: None,
            allow_http: Some(true),
            virtual_hosted_style: Some(false),
            ca_file: None,
        }),
        retry: RetryConfig {
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
        },
        max_open_partitions: 8,
        past_window: Duration::from_secs(2 * 24 * 3_600),
        future_window: Duration::from_secs(600),
        sampled_only_spans: false,
        lifecycle: crate::lifecycle::LifecycleConfig {
            interval: Duration::from_secs(6 * 3_600),
            cold_after: Some(Duration::from_secs(30 * 24 * 3_600)),
            cold_storage_class: crate::lifecycle::StorageClass::StandardIa,
            delete_after: Some(Duration::from_secs(365 * 24 * 3_600)),
            max_actions_per_run: 5_000,
        },
        compaction: crate::compaction::CompactionConfig {
            interval: Duration::from_secs(1_800),
            target_file_size: ByteSize::mib(256),
            min_age: Duration::from_secs(2 * 3_600),
            max_age: Duration::from_secs(14 * 24 * 3_600),
            memory: ByteSize::mib(128),
            lease: Duration::from_secs(300),
            max_inputs: 500,
        },
    };
    assert_eq!(parse(&fixture("archive.yaml")).unwrap(), expected);
}

#[test]
fn minimal_fixture_takes_the_defaults() {
    let config = parse(&fixture("archive_minimal.yaml")).unwrap();
    let expected = ArchiveConfig {
        url: "file:///var/lib/tracegate/archive".into(),
        ..Default::default()
    };
    assert_eq!(config, expected);
    let defaults = ArchiveConfig::default();
    assert_eq!(defaults.url, "./data/archive");
    assert_eq!(defaults.flush_bytes, ByteSize::mib(128));
    assert_eq!(defaults.flush_age, Duration::from_secs(300));
    assert_eq!(defaults.max_buffer_bytes, ByteSize::mib(512));
    assert_eq!(defaults.compression, Compression::Zstd);
    assert_eq!(defaults.row_group_rows, 65_536);
    assert_eq!(defaults.retry.initial_backoff, Duration::from_millis(500));
    assert_eq!(defaults.retry.max_backoff, Duration::from_secs(30));
    assert_eq!(defaults.max_open_partitions, 32);
    assert_eq!(defaults.past_window, Duration::from_secs(7 * 24 * 3_600));
    assert_eq!(defaults.future_window, Duration::from_secs(3_600));
    assert!(defaults.sampled_only_spans);
    assert_eq!(
        parse_section::<ArchiveConfig>("x", serde_yaml_ng::Value::Null).unwrap(),
        defaults
    );
}

#[test]
fn errors_name_their_key_paths() {
    let err = parse(&fixture("archive_invalid.yaml")).unwrap_err();
    assert!(
        err.starts_with("exporters.archive.flush_age: invalid duration \"5x\""),
        "{err}"
    );
    for (yaml, expected) in [
        (
            "url: gs://bucket/x",
            "exporters.archive.url: unsupported archive url \"gs://bucket/x\"",
        ),
        ("url: gs://bucket/x", "s3://bucket/prefix"),
        (
            "url: s3://",
            "exporters.archive.url: unsupported archive url \"s3://\": the bucket name is missing",
        ),
        (
            "compression: lz4",
            "exporters.archive.compression: unknown variant `lz4`",
        ),
        (
            "flush_bytes: lots",
            "exporters.archive.flush_bytes: invalid size \"lots\"",
        ),
        (
            "flush_bytes: 2GiB",
            "exporters.archive.flush_bytes: must be between 1B and 1GiB, got 2.0 GiB",
        ),
        (
            "flush_bytes: 0",
            "exporters.archive.flush_bytes: must be between",
        ),
        (
            "flush_age: 0s",
            "exporters.archive.flush_age: must be more than zero",
        ),
        (
            "flush_bytes: 64MiB\nmax_buffer_bytes: 32MiB",
            "exporters.archive.max_buffer_bytes: must be at least flush_bytes (64.0 MiB), got 32.0 MiB",
        ),
        (
            "row_group_rows: 0",
            "exporters.archive.row_group_rows: must be at least 1",
        ),
        (
            "retry: { initial_backoff: 0s }",
            "exporters.archive.retry.initial_backoff: must be more than zero",
        ),
        (
            "retry: { initial_backoff: 1m, max_backoff: 1s }",
            "exporters.archive.retry.max_backoff: must be at least",
        ),
        (
            "retry: { jitter: true }",
            "exporters.archive.retry.jitter: unknown field `jitter`",
        ),
        (
            "s3: { region: x }",
            "exporters.archive.s3: applies to s3:// urls only",
        ),
        (
            "url: s3://b\ns3: { allow_http: maybe }",
            "exporters.archive.s3.allow_http: invalid type",
        ),
        (
            "url: s3://b\ns3: { bucket: x }",
            "exporters.archive.s3.bucket: unknown field `bucket`",
        ),
        (
            "max_open_partitions: 0",
            "exporters.archive.max_open_partitions: must be between 1 and 4096, got 0",
        ),
        (
            "max_open_partitions: 5000",
            "exporters.archive.max_open_partitions: must be between 1 and 4096",
        ),
        (
            "past_window: 30m",
            "exporters.archive.past_window: must be at least 1h",
        ),
        (
            "future_window: soon",
            "exporters.archive.future_window: invalid duration \"soon\"",
        ),
        ("flush_size: 1MiB", "unknown field `flush_size`"),
    ] {
        let err = parse(yaml).unwrap_err();
        assert!(
            err.contains(expected),
            "{yaml:?}\n  got: {err}\n  expected: {expected}"
        );
    }
}

#[test]
fn factory_builds_without_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let factory = ArchiveExporterFactory;
    assert_eq!(factory.type_name(), "archive");
    let ctx = BuildContext::new("gw-1");
    let id = ComponentId::parse("archive/lake").unwrap();
    let yaml = format!("url: {}\nflush_age: 1m", root.display());
    let exporter = factory
        .build(&id, serde_yaml_ng::from_str(&yaml).unwrap(), &ctx)
        .unwrap();
    assert_eq!(exporter.tick_interval(), Some(StdDuration::from_secs(1)));
    assert!(!root.exists(), "the directory is created on first flush");

    let s3 = "url: s3://bucket/prefix\ns3: { endpoint: 'http://127.0.0.1:1', allow_http: true, access_key_id: k, secret_access_key: s }";
    assert!(
        factory
            .build(&id, serde_yaml_ng::from_str(s3).unwrap(), &ctx)
            .is_ok()
    );

    let bad = serde_yaml_ng::from_str("flush_age: 5x").unwrap();
    let err = factory.build(&id, bad, &ctx).unwrap_err();
    assert_eq!(err.path, "exporters.archive/lake.flush_age");
    assert!(
        factory.build(&id, serde_yaml_ng::Value::Null, &ctx).is_ok(),
        "all defaults"
    );
}
