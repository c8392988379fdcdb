//! The redaction engine: a validated config, compiled, applied to attribute lists.

use super::config::{Action, ContentPolicy, RedactionConfig};
use super::detectors::{Builtin, Detectors, PatternError};
use super::json;
use super::keys::{FnvBuild, KeyCache, KeyClass};
use super::placeholders::Placeholders;
use hmac::{Hmac, Mac};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use regex::RegexSet;
use sha2::Sha256;
use std::cell::RefCell;
use std::collections::HashSet;
use tracegate_pipeline::ConfigError;

pub use super::keys::{is_content_event, is_content_key, is_log_content_field};
pub use super::tally::Tally;

mod scan;
use scan::SCAN_MARGIN;

/// Audit attribute: how many values were redacted on the span.
pub const REDACTED_COUNT: &str = "tracegate.redacted.count";
/// Prefix of the per-type audit attributes: `tracegate.redacted.email`.
pub const REDACTED_PREFIX: &str = "tracegate.redacted.";
/// Set to `true` on a span (or resource) with a truncated value.
pub const TRUNCATED: &str = "tracegate.truncated";
/// The audit type of attributes removed because their key is blocked.
pub const BLOCKED_KEY: &str = "blocked_key";

/// One kind of finding: a built-in or custom detector.
#[derive(Debug)]
struct Kind {
    name: String,
    action: Action,
    mask: String,
    hash_prefix: String,
    builtin: Option<Builtin>,
}

/// Per-value state: findings are counted in the tally; `drop` asks to remove the attribute.
struct Scan<'a> {
    tally: &'a mut Tally,
    drop: bool,
}

/// The compiled redaction policy. Pure: no I/O, no metrics; see the processor for those.
#[derive(Debug)]
pub struct Redactor {
    detectors: Detectors,
    kinds: Vec<Kind>,
    hmac: Option<Hmac<Sha256>>,
    content: ContentPolicy,
    allow: HashSet<String, FnvBuild>,
    block: HashSet<String, FnvBuild>,
    block_patterns: Option<RegexSet>,
    key_cache: RefCell<KeyCache>,
    /// Scan resource attributes.
    pub scan_resource: bool,
    /// Scan span event attributes.
    pub scan_events: bool,
    max_bytes: usize,
}

/// Makes `d` protect exactly the placeholders that `kinds` write: every mask, and the hash
/// form of the kinds that hash.
fn with_placeholders(mut d: Detectors, kinds: &[Kind]) -> Result<Detectors, PatternError> {
    let upper = |k: &Kind| k.name.to_ascii_uppercase();
    let masks: Vec<String> = kinds.iter().map(upper).collect();
    let hashed: Vec<String> = kinds
        .iter()
        .filter(|k| k.action == Action::Hash)
        .map(upper)
        .collect();
    let placeholders = Placeholders::new(&masks, &hashed).map_err(|message| PatternError {
        custom: None,
        message,
    })?;
    d.set_placeholders(placeholders);
    Ok(d)
}

fn valid_custom_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_lowercase())
        && bytes.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

impl Redactor {
    /// Validates `config` and compiles it. Errors carry key paths under `path` (the
    /// component's path, such as `processors.redaction`); every problem found is reported.
    pub fn new(config: &RedactionConfig, path: &str) -> Result<Self, Vec<ConfigError>> {
        let at = |key: &str| {
            if path.is_empty() {
                key.to_owned()
            } else {
                format!("{path}.{key}")
            }
        };
        let mut errors = Vec::new();
        if config.mode == Action::Off {
            errors.push(ConfigError::new(
                at("mode"),
                "`off` is for single detectors; write mask, hash or drop (or leave the \
                 processor out of the pipeline)",
            ));
        }
        let known: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
        for name in config.detectors.keys() {
            if Builtin::from_name(name).is_none() {
                errors.push(ConfigError::new(
                    at(&format!("detectors.{name}")),
                    format!("unknown detector {name:?}; known: {}", known.join(", ")),
                ));
            }
        }
        let mut kinds = Vec::new();
        let mut builtins = Vec::new();
        for b in Builtin::ALL {
            let action = config
                .detectors
                .get(b.name())
                .copied()
                .unwrap_or(config.mode);
            if action != Action::Off {
                builtins.push((kinds.len(), b));
            }
            kinds.push(Kind::new(b.name(), action, Some(b)));
        }
        let mut custom = Vec::new();
        let mut seen = HashSet::new();
        for (i, c) in config.custom.iter().enumerate() {
            if !valid_custom_name(&c.name) {
                errors.push(ConfigError::new(
                    at(&format!("custom[{i}].name")),
                    format!(
                        "invalid name {:?}: use lower-case letters, digits and `_`, starting \
                         with a letter",
                        c.name
                    ),
                ));
            } else if Builtin::from_name(&c.name).is_some()
                || c.name == BLOCKED_KEY
                || c.name == "count"
                || !seen.insert(c.name.clone())
            {
                errors.push(ConfigError::new(
                    at(&format!("custom[{i}].name")),
                    format!("name {:?} is already taken", c.name),
                ));
            }
            let action = c.mode.unwrap_or(config.mode);
            if action != Action::Off {
                custom.push((kinds.len(), c.pattern.as_str()));
            }
            kinds.push(Kind::new(&c.name, action, None));
        }

        let hashing = kinds.iter().any(|k| k.action == Action::Hash);
        let hmac = match &config.hash_key {
            Some(key) if key.len() < 16 => {
                errors.push(ConfigError::new(
                    at("hash_key"),
                    "too short: use at least 16 bytes of random text",
                ));
                None
            }
            Some(key) => match Hmac::<Sha256>::new_from_slice(key.as_bytes()) {
                Ok(mac) => Some(mac),
                Err(e) => {
                    errors.push(ConfigError::new(at("hash_key"), e.to_string()));
                    None
                }
            },
            None if hashing => {
                errors.push(ConfigError::new(
                    at("hash_key"),
                    "required by `hash` mode: set it, for example to \
                     ${env:TRACEGATE_REDACTION_KEY}",
                ));
                None
            }
            None => None,
        };

        let mut pattern_ok = true;
        for (i, p) in config.block_key_patterns.iter().enumerate() {
            if let Err(e) = regex::Regex::new(p) {
                pattern_ok = false;
                errors.push(ConfigError::new(
                    at(&format!("block_key_patterns[{i}]")),
                    format!("invalid regular expression: {e}"),
                ));
            }
        }
        let block_patterns = if pattern_ok && !config.block_key_patterns.is_empty() {
            match RegexSet::new(&config.block_key_patterns) {
                Ok(set) => Some(set),
                Err(e) => {
                    errors.push(ConfigError::new(
                        at("block_key_patterns"),
                        format!("invalid regular expressions: {e}"),
                    ));
                    None
                }
            }
        } else {
            None
        };
        let mut custom_ok = true;
        for (i, c) in config.custom.iter().enumerate() {
            if let Err(e) = regex::Regex::new(&c.pattern) {
                custom_ok = false;
                errors.push(ConfigError::new(
                    at(&format!("custom[{i}].pattern")),
                    format!("invalid regular expression: {e}"),
                ));
            } else if regex::Regex::new(&c.pattern).is_ok_and(|r| r.is_match("")) {
                custom_ok = false;
                errors.push(ConfigError::new(
                    at(&format!("custom[{i}].pattern")),
                    "matches the empty string, so it would match everywhere",
                ));
            }
        }
        if config.max_attribute_bytes.get() < 64 {
            errors.push(ConfigError::new(
                at("max_attribute_bytes"),
                "too small: use at least 64 bytes (the default is 64KiB)",
            ));
        }
        let detectors = if custom_ok {
            match Detectors::new(&builtins, &custom).and_then(|d| with_placeholders(d, &kinds)) {
                Ok(d) => Some(d),
                Err(e) => {
                    let key = match e.custom {
                        Some(i) => format!("custom[{i}].pattern"),
                        None => "custom".to_owned(),
                    };
                    errors.push(ConfigError::new(
                        at(&key),
                        format!("cannot compile: {}", e.message),
                    ));
                    None
                }
            }
        } else {
            None
        };
        match detectors {
            Some(detectors) if errors.is_empty() => Ok(Self {
                detectors,
                kinds,
                hmac,
                content: config.content,
                allow: config.allow_keys.iter().cloned().collect(),
                block: config.block_keys.iter().cloned().collect(),
                block_patterns,
                key_cache: RefCell::default(),
                scan_resource: config.scan_resource,
                scan_events: config.scan_events,
                max_bytes: usize::try_from(config.max_attribute_bytes.get()).unwrap_or(usize::MAX),
            }),
            _ => Err(errors),
        }
    }

    /// The names of the kinds of findings, indexed as [`Tally::found`].
    pub fn kind_names(&self) -> impl Iterator<Item = &str> {
        self.kinds.iter().map(|k| k.name.as_str())
    }

    /// A tally sized for this redactor.
    pub fn new_tally(&self) -> Tally {
        Tally {
            found: vec![0; self.kinds.len()],
            ..Tally::default()
        }
    }

    /// Every finding in `text`, as (kind name, byte range), for evaluation and tests.
    pub fn findings(&self, text: &str) -> Vec<(&str, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        self.detectors.find(text, &mut out);
        out.iter()
            .filter_map(|f| {
                self.kinds
                    .get(f.kind)
                    .map(|k| (k.name.as_str(), f.start..f.end))
            })
            .collect()
    }

    /// Redacts a string value (JSON-aware), returning the new text, or `None` if nothing
    /// changed. A `drop` finding is redacted like `mask` here.
    pub fn redact_str(&self, text: &str) -> Option<String> {
        let mut tally = self.new_tally();
        let mut scan = Scan {
            tally: &mut tally,
            drop: false,
        };
        self.string(text, &mut scan)
    }

    /// Redacts attributes in place: blocked keys and (with content `off`) prompts are
    /// removed, values are scanned and bounded. `content_event` says the attributes belong to a
    /// prompt or completion event.
    pub fn redact_attributes(
        &self,
        attrs: &mut Vec<KeyValue>,
        content_event: bool,
        tally: &mut Tally,
    ) {
        attrs.retain_mut(|kv| self.key_value(kv, content_event, tally));
    }

    /// What the key lists and the detectors say about `key`; cached, see [`KeyCache`].
    fn classify(&self, key: &str) -> KeyClass {
        if let Ok(cache) = self.key_cache.try_borrow()
            && let Some(class) = cache.get(key)
        {
            return class;
        }
        let allowed = self.allow.contains(key);
        let class = KeyClass {
            blocked: self.is_blocked(key),
            content: is_content_key(key),
            allowed,
            findings: !allowed && self.has_findings(key),
        };
        if let Ok(mut cache) = self.key_cache.try_borrow_mut() {
            cache.insert(key, class);
        }
        class
    }

    /// Entries and key bytes in the key cache, for tests.
    #[cfg(test)]
    pub(crate) fn key_cache_usage(&self) -> (usize, usize) {
        self.key_cache.borrow().usage()
    }

    /// True when the detectors find something in `text`. Allocates only when they do.
    pub fn has_findings(&self, text: &str) -> bool {
        let mut found = Vec::new();
        self.detectors.find(text, &mut found);
        !found.is_empty()
    }

    /// Redacts a string that is not an attribute value (a span, event or scope name, a status
    /// message, a `trace_state`) in place, counting into `tally`; true when it changed. It
    /// cannot be removed, so a `drop` finding is masked. No finding, no allocation.
    pub fn redact_field(&self, field: &mut String, tally: &mut Tally) -> bool {
        let mut scan = Scan { tally, drop: false };
        match self.string(field, &mut scan) {
            Some(new) => {
                *field = new;
                true
            }
            None => false,
        }
    }

    /// What [`Self::redact_attributes`] does without scanning values: blocked keys and (with
    /// content `off`) prompts are removed, values are bounded. For event and resource
    /// attributes when their scan is off: `content: off` and `block_keys` hold regardless.
    pub fn strip_attributes(
        &self,
        attrs: &mut Vec<KeyValue>,
        content_event: bool,
        tally: &mut Tally,
    ) {
        attrs.retain_mut(|kv| {
            let class = self.classify(&kv.key);
            if class.blocked && !is_audit(kv) {
                tally.blocked += 1;
                return false;
            }
            if (content_event || class.content) && self.content == ContentPolicy::Off {
                tally.content_removed += 1;
                return false;
            }
            if let Some(value) = kv.value.as_mut().and_then(|v| v.value.as_mut()) {
                self.bound(value, tally);
            }
            true
        });
    }

    /// Handles one attribute; false removes it.
    fn key_value(&self, kv: &mut KeyValue, content_event: bool, tally: &mut Tally) -> bool {
        let class = self.classify(&kv.key);
        if class.blocked && !is_audit(kv) {
            tally.blocked += 1;
            return false;
        }
        if class.findings {
            let mut scan = Scan {
                tally: &mut *tally,
                drop: false,
            };
            if let Some(new) = self.text(&kv.key, &mut scan) {
                kv.key = new;
            }
            if scan.drop {
                tally.dropped += 1;
                return false;
            }
        }
        let content = content_event || class.content;
        let Some(value) = kv.value.as_mut().and_then(|v| v.value.as_mut()) else {
            return true;
        };
        if content {
            match self.content {
                ContentPolicy::Off => {
                    tally.content_removed += 1;
                    return false;
                }
                ContentPolicy::Full => {
                    self.bound(value, tally);
                    return true;
                }
                ContentPolicy::Redacted => {}
            }
        }
        if class.allowed {
            self.bound(value, tally);
            return true;
        }
        if !self.redact_value(value, tally) {
            tally.dropped += 1;
            return false;
        }
        true
    }

    /// Scans one value (strings, bytes, long integers, arrays and kvlists at any depth, JSON
    /// inside strings; blocked keys of nested kvlists are removed) and bounds it to
    /// `max_attribute_bytes`, counting into `tally`. False when a `drop` finding asks for the
    /// value's holder to be removed: the caller removes it and counts it in `tally.dropped`.
    pub fn redact_value(&self, value: &mut Value, tally: &mut Tally) -> bool {
        // Cut first, so the scan's work is bounded by `max_attribute_bytes` rather than by what
        // the client sent; then scan; then cut to the bound.
        let precut = self.cut(value, self.max_bytes.saturating_add(SCAN_MARGIN));
        let mut scan = Scan { tally, drop: false };
        self.value(value, &mut scan);
        if scan.drop {
            return false;
        }
        let cut = self.cut(value, self.max_bytes);
        scan.tally.truncated += cut.max(precut);
        true
    }

    /// Redacts a log record's attributes, or the entries of its map body, in place: as
    /// [`Self::redact_attributes`], with the seed's `prompt`, `response`, `system_prompt` and
    /// `completion` fields held as prompt and completion content, so the `content` policy
    /// applies to them as to `gen_ai.input.messages` ([`is_log_content_field`]).
    pub fn redact_log_fields(&self, fields: &mut Vec<KeyValue>, tally: &mut Tally) {
        fields.retain_mut(|kv| self.key_value(kv, is_log_content_field(&kv.key), tally));
    }

    /// True when [`Self::redact_attributes`] might change `attrs`. Exact for plain strings
    /// and scalars; conservative (true) for JSON, arrays and maps. Lets a shared resource be
    /// kept as it is without copying it.
    pub fn may_change(&self, attrs: &[KeyValue], content_event: bool) -> bool {
        attrs.iter().any(|kv| {
            let class = self.classify(&kv.key);
            if class.blocked || class.findings {
                return true;
            }
            let content = content_event || class.content;
            if content && self.content != ContentPolicy::Redacted {
                return true;
            }
            match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => {
                    if s.len() > self.max_bytes {
                        return true;
                    }
                    if class.allowed {
                        return false;
                    }
                    if json::looks_like_json(s) {
                        return true;
                    }
                    let mut found = Vec::new();
                    self.detectors.find(s, &mut found);
                    !found.is_empty()
                }
                Some(Value::IntValue(i)) => i.unsigned_abs() >= 1_000_000 && !class.allowed,
                Some(Value::BoolValue(_) | Value::DoubleValue(_)) | None => false,
                Some(_) => true,
            }
        })
    }

    fn is_blocked(&self, key: &str) -> bool {
        self.block.contains(key)
            || self
                .block_patterns
                .as_ref()
                .is_some_and(|s| s.is_match(key))
    }
}

/// True for an audit attribute as the redactor writes it (`tracegate.redacted.<type>` with a
/// count, `tracegate.truncated` with a flag): never blocked, though a type's name may match a
/// blocked key pattern (`tracegate.redacted.api_key`), so a second run keeps the audit.
fn is_audit(kv: &KeyValue) -> bool {
    let value = kv.value.as_ref().and_then(|v| v.value.as_ref());
    (kv.key.starts_with(REDACTED_PREFIX) && matches!(value, Some(Value::IntValue(_))))
        || (kv.key == TRUNCATED && matches!(value, Some(Value::BoolValue(_))))
}

impl Kind {
    fn new(name: &str, action: Action, builtin: Option<Builtin>) -> Self {
        let upper = name.to_ascii_uppercase();
        Self {
            name: name.to_owned(),
            action,
            mask: format!("<{upper}>"),
            hash_prefix: format!("<{upper}:"),
            builtin,
        }
    }
}
