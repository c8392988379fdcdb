//! `llm_logs` config: the YAML fixture, defaults, and the factory's errors with their key paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

#[test]
fn config_fixture_parses() {
    let yaml = include_str!("../../../testdata/llm_logs/config.yaml");
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let config: LlmLogsConfig =
        tracegate_pipeline::parse_section("processors.llm_logs", value).unwrap();
    assert!(!config.messages);
    assert_eq!(config.max_message_bytes.get(), 16 * 1024);
    assert!(config.cost);
    assert!(!config.builtin_prices);
    assert_eq!(config.prices.len(), 1);
    assert_eq!(config.prices[0].model, "acme-ft-1");
    let config: LlmLogsConfig =
        tracegate_pipeline::parse_section("p", serde_yaml_ng::Value::Null).unwrap();
    assert_eq!(config, LlmLogsConfig::default());
    assert!(config.messages && config.cost && config.builtin_prices);
}

#[test]
fn factory_builds_a_log_processor_and_reports_errors_with_their_keys() {
    use tracegate_model::Signal;
    use tracegate_pipeline::{BuildContext, ComponentId, ProcessorFactory};
    let logs = BuildContext::new("test").for_signal(Signal::Logs);
    let id = ComponentId::parse("llm_logs").unwrap();
    assert_eq!(LlmLogsFactory.type_name(), "llm_logs");
    let built = LlmLogsFactory
        .build(&id, serde_yaml_ng::Value::Null, &logs)
        .unwrap();
    assert!(matches!(built, Processor::Log(_)));
    // Exported beside genai_normalize's factory.
    let _: crate::LlmLogsFactory = LlmLogsFactory;

    let traces = BuildContext::new("test");
    let err = LlmLogsFactory
        .build(&id, serde_yaml_ng::Value::Null, &traces)
        .unwrap_err();
    assert_eq!(err.path, "processors.llm_logs");
    assert!(err.message.contains("`logs` pipeline"), "{err}");

    let build =
        |yaml: &str| LlmLogsFactory.build(&id, serde_yaml_ng::from_str(yaml).unwrap(), &logs);
    let err = build("{drop_aliases: true}").unwrap_err();
    assert_eq!(err.path, "processors.llm_logs.drop_aliases");
    assert!(err.message.contains("unknown field"), "{err}");
    let err = build("prices: [{provider: x, model: m, prices: {input_mtok: 1, since: never}}]")
        .unwrap_err();
    assert_eq!(err.path, "processors.llm_logs.prices");
    assert!(err.message.contains("since"), "{err}");
    let err = build("max_message_bytes: 10").unwrap_err();
    assert_eq!(err.path, "processors.llm_logs.max_message_bytes");
    let err = build("max_message_bytes: lots").unwrap_err();
    assert!(err.path.starts_with("processors.llm_logs"), "{err}");
}
