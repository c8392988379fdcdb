//! Config: the YAML fixture `testdata/receiver.yaml`, `config/default.yaml`, and errors with
//! key paths.

use super::*;

// ---------------------------------------------------------------------------------------------
// Config

fn fixture(name: &str) -> serde_yaml_ng::Mapping {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    doc["receivers"].as_mapping().unwrap().clone()
}

fn parse(yaml: &str) -> Result<OtlpReceiverConfig, ConfigError> {
    OtlpReceiverConfig::from_section("receivers.otlp", serde_yaml_ng::from_str(yaml).unwrap())
}

#[test]
fn config_fixture_parses_to_the_expected_structs() {
    let sections = fixture("receiver.yaml");
    let get = |id: &str| {
        OtlpReceiverConfig::from_section(&format!("receivers.{id}"), sections[id].clone()).unwrap()
    };
    assert_eq!(get("otlp"), OtlpReceiverConfig::default());
    assert_eq!(
        OtlpReceiverConfig::default(),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: Some(GrpcConfig {
                    endpoint: "0.0.0.0:4317".into(),
                    tls: None,
                }),
                http: Some(HttpConfig {
                    endpoint: "0.0.0.0:4318".into(),
                    tls: None,
                }),
            },
            max_request_bytes: ByteSize::mib(8),
            max_decompressed_bytes: ByteSize::mib(64),
            max_in_flight_bytes: ByteSize::mib(256),
            max_connections: 1024,
            max_concurrent_requests: 128,
            request_timeout: tracegate_pipeline::Duration::from_secs(30),
            header_read_timeout: tracegate_pipeline::Duration::from_secs(10),
            keepalive_interval: tracegate_pipeline::Duration::from_secs(30),
            keepalive_timeout: tracegate_pipeline::Duration::from_secs(20),
        }
    );
    assert_eq!(
        get("otlp/grpc_only"),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: Some(GrpcConfig::default()),
                http: None
            },
            ..Default::default()
        }
    );
    assert_eq!(
        get("otlp/custom"),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: Some(GrpcConfig {
                    endpoint: "127.0.0.1:14317".into(),
                    tls: None,
                }),
                http: Some(HttpConfig {
                    endpoint: "localhost:14318".into(),
                    tls: None,
                }),
            },
            max_request_bytes: ByteSize::mib(4),
            max_decompressed_bytes: ByteSize::mib(32),
            max_in_flight_bytes: ByteSize::mib(128),
            max_connections: 64,
            max_concurrent_requests: 16,
            request_timeout: tracegate_pipeline::Duration::from_secs(5),
            header_read_timeout: tracegate_pipeline::Duration::from_millis(2500),
            keepalive_interval: tracegate_pipeline::Duration::from_secs(60),
            keepalive_timeout: tracegate_pipeline::Duration::from_secs(5),
        }
    );
    assert_eq!(
        get("otlp/bytes"),
        OtlpReceiverConfig {
            protocols: Protocols {
                grpc: None,
                http: Some(HttpConfig::default())
            },
            max_request_bytes: ByteSize::mib(1),
            ..Default::default()
        }
    );
}

/// `config/default.yaml` (what users read) states the same limits as the code's defaults.
#[test]
fn the_default_yaml_states_the_code_defaults() {
    let path = format!("{}/../../config/default.yaml", env!("CARGO_MANIFEST_DIR"));
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut section = doc["receivers"]["otlp"].as_mapping().unwrap().clone();
    // The endpoints are `${env:...}` placeholders, resolved only by the binary.
    section.remove("protocols").unwrap();
    let parsed =
        OtlpReceiverConfig::from_section("receivers.otlp", serde_yaml_ng::Value::Mapping(section))
            .unwrap();
    assert_eq!(parsed, OtlpReceiverConfig::default());
}

#[test]
fn config_errors_carry_key_paths() {
    let err = |yaml: &str| parse(yaml).unwrap_err().to_string();
    let e = err("max_request_bytes: lots");
    assert!(
        e.starts_with("receivers.otlp.max_request_bytes: invalid size \"lots\""),
        "{e}"
    );
    let e = err("max_requst_bytes: 1MiB");
    assert!(
        e.starts_with("receivers.otlp.max_requst_bytes: unknown field `max_requst_bytes`"),
        "{e}"
    );
    let e = err("protocols: { grpc: { endpoint: 0.0.0.0:4317, port: 1 } }");
    assert!(
        e.starts_with("receivers.otlp.protocols.grpc.port: unknown field `port`"),
        "{e}"
    );
    let e = err("protocols: { thrift: {} }");
    assert!(
        e.starts_with("receivers.otlp.protocols.thrift: unknown field `thrift`"),
        "{e}"
    );
    let e = err("protocols: {}");
    assert!(
        e.starts_with("receivers.otlp.protocols: no protocol enabled"),
        "{e}"
    );
    let e = err("protocols: { http: { endpoint: localhost } }");
    assert!(
        e.starts_with("receivers.otlp.protocols.http.endpoint: invalid endpoint \"localhost\""),
        "{e}"
    );
    let e = err("max_request_bytes: 8MiB\nmax_decompressed_bytes: 1MiB");
    assert!(e.starts_with("receivers.otlp.max_decompressed_bytes: 1.0 MiB is less than max_request_bytes (8.0 MiB)"), "{e}");
    let e = err("max_in_flight_bytes: 208MiB");
    assert!(
        e.starts_with("receivers.otlp.max_in_flight_bytes: 208.0 MiB cannot hold one request of the largest size, 208.2 MiB"),
        "{e}"
    );
    assert!(parse("max_in_flight_bytes: 209MiB").is_ok());
    for key in ["max_connections", "max_concurrent_requests"] {
        let e = err(&format!("{key}: 0"));
        assert!(
            e.starts_with(&format!("receivers.otlp.{key}: must be more than 0")),
            "{e}"
        );
    }
    for key in [
        "request_timeout",
        "header_read_timeout",
        "keepalive_interval",
        "keepalive_timeout",
    ] {
        let e = err(&format!("{key}: 0s"));
        assert!(
            e.starts_with(&format!("receivers.otlp.{key}: must be more than 0")),
            "{e}"
        );
    }
}

#[test]
fn factory_builds_under_the_otlp_type() {
    let factory = OtlpReceiverFactory;
    assert_eq!(factory.type_name(), "otlp");
    let ctx = BuildContext::new("test");
    let id = ComponentId::parse("otlp/x").unwrap();
    assert!(factory.build(&id, serde_yaml_ng::Value::Null, &ctx).is_ok());
    let bad = serde_yaml_ng::from_str("max_request_bytes: -1").unwrap();
    let e = factory.build(&id, bad, &ctx).unwrap_err();
    assert_eq!(e.path, "receivers.otlp/x.max_request_bytes");
}
