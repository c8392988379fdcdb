//! The `redaction` processor's config, as users write it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tracegate_pipeline::ByteSize;

/// What to do with a detected value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Replace it with a typed placeholder such as `<EMAIL>`.
    #[default]
    Mask,
    /// Replace it with a keyed hash, `<EMAIL:3f2a9c01d4e5b6a7>` (the first 16 hex digits of
    /// HMAC-SHA256 over the normalised value), so equal values still join.
    Hash,
    /// Remove the whole attribute that holds it.
    Drop,
    /// Do not look for it.
    Off,
}

/// What happens to prompts and completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentPolicy {
    /// Remove them.
    Off,
    /// Keep them with personal data redacted.
    #[default]
    Redacted,
    /// Keep them as sent.
    Full,
}

/// A user-supplied detector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDetector {
    /// Name, in `snake_case`: the placeholder is its upper-case form (`employee_id` →
    /// `<EMPLOYEE_ID>`) and the audit attribute `tracegate.redacted.employee_id`.
    pub name: String,
    /// A regular expression in Rust `regex` syntax.
    pub pattern: String,
    /// What to do with a match; defaults to the processor's `mode`.
    #[serde(default)]
    pub mode: Option<Action>,
}

/// The `redaction` processor: finds personal data and secrets in every string of a span that
/// is stored or exported (names, status messages, attribute keys and values, events, links,
/// scope, resource) and masks, hashes or drops them, before anything is stored.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedactionConfig {
    /// What to do with a detected value: `mask`, `hash` or `drop`. Default `mask`. `drop`
    /// removes the attribute that holds the value (its key or value); in a string that cannot
    /// be removed (a span, event or scope name, a status message, a `trace_state`) the value
    /// is masked.
    pub mode: Action,
    /// Per-detector overrides of `mode`, including `off`, by detector name: `email`, `phone`,
    /// `credit_card`, `iban`, `ssn`, `ipv4`, `ipv6`, `aws_access_key`, `api_key`,
    /// `bearer_token`, `jwt`, `private_key`. Default none.
    pub detectors: BTreeMap<String, Action>,
    /// The HMAC-SHA256 key for `hash`, at least 16 bytes. Required when any detector hashes.
    /// Write `${env:TRACEGATE_REDACTION_KEY}` to keep it out of the file.
    pub hash_key: Option<String>,
    /// Prompts and completions (`gen_ai.input.messages`, `gen_ai.output.messages`,
    /// `gen_ai.system_instructions`, `gen_ai.prompt*`, `gen_ai.completion*`,
    /// `llm.input_messages.*`, `llm.output_messages.*`, and the attributes of `gen_ai.content.*`
    /// and GenAI message events): `off` removes them, `redacted` (default) redacts them like
    /// any other value, `full` keeps them untouched.
    pub content: ContentPolicy,
    /// Attribute keys that are never scanned. Default: service, SDK and model identity keys.
    pub allow_keys: Vec<String>,
    /// Attribute keys that are always removed. Default: HTTP authorization and cookie headers.
    pub block_keys: Vec<String>,
    /// Regular expressions: attribute keys matching any are always removed. Default: keys
    /// naming passwords, secrets, API keys, access tokens and credentials.
    pub block_key_patterns: Vec<String>,
    /// User-supplied detectors, each with a name and a pattern. Default none.
    pub custom: Vec<CustomDetector>,
    /// Scan resource attributes too. Default true. With `false`, resources are kept as sent.
    pub scan_resource: bool,
    /// Scan span event attributes too. Default true. With `false`, event attribute values are
    /// not scanned, but `content: off` and `block_keys` still apply to them and event names are
    /// still scanned.
    pub scan_events: bool,
    /// Longest attribute value kept, in bytes; longer values are truncated (JSON at an element
    /// boundary, so it stays valid) and the span is marked `tracegate.truncated = true`.
    /// Default `64KiB`.
    pub max_attribute_bytes: ByteSize,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        Self {
            mode: Action::Mask,
            detectors: BTreeMap::new(),
            hash_key: None,
            content: ContentPolicy::Redacted,
            allow_keys: [
                "service.name",
                "service.namespace",
                "service.version",
                "service.instance.id",
                "telemetry.sdk.name",
                "telemetry.sdk.language",
                "telemetry.sdk.version",
                "gen_ai.operation.name",
                "gen_ai.provider.name",
                "gen_ai.system",
                "gen_ai.request.model",
                "gen_ai.response.model",
                "gen_ai.response.id",
            ]
            .map(String::from)
            .to_vec(),
            block_keys: [
                "http.request.header.authorization",
                "http.request.header.cookie",
                "http.request.header.proxy-authorization",
                "http.request.header.x-api-key",
                "http.response.header.set-cookie",
            ]
            .map(String::from)
            .to_vec(),
            block_key_patterns: vec![
                r"(?i)(^|[._-])(password|passwd|pwd|secret|client_secret|api[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|session[_-]?token|credentials?|private[_-]?key)$"
                    .to_owned(),
            ],
            custom: Vec::new(),
            scan_resource: true,
            scan_events: true,
            max_attribute_bytes: ByteSize::kib(64),
        }
    }
}
