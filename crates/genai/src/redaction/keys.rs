//! Attribute keys: which ones hold prompts and completions, and the cache of what the key lists
//! say about each key seen.
//!
//! Keys are client strings. The cache is bounded twice, by entries and by the bytes of the keys
//! it holds, so a client sending endless distinct or long keys costs a bounded amount of memory;
//! keys longer than `KEY_CACHE_MAX_KEY` and keys holding a finding are never cached (they are
//! classified again each time, which is correct, only slower).

use std::collections::HashMap;

/// FNV-1a: attribute keys are short, and SipHash costs more than the lookup it guards.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The hasher builder of the key sets and the cache.
pub(crate) type FnvBuild = std::hash::BuildHasherDefault<Fnv>;

/// What the key lists, the content policy and the detectors say about an attribute key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyClass {
    /// The key is blocked: the attribute is removed.
    pub blocked: bool,
    /// The key holds prompt or completion content.
    pub content: bool,
    /// The key is allowed: never scanned.
    pub allowed: bool,
    /// The key itself holds a finding (`user.jane@example.com.score`) and is redacted.
    pub findings: bool,
}

/// Keys classified so far: at most this many entries.
pub(crate) const KEY_CACHE_LIMIT: usize = 4096;
/// At most this many bytes of keys.
pub(crate) const KEY_CACHE_BYTES: usize = 256 << 10;
/// Keys longer than this are not cached.
pub(crate) const KEY_CACHE_MAX_KEY: usize = 256;

/// The classification cache: cleared when one more key would pass either bound.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    map: HashMap<String, KeyClass, FnvBuild>,
    bytes: usize,
}

impl KeyCache {
    /// The cached class of `key`.
    pub fn get(&self, key: &str) -> Option<KeyClass> {
        self.map.get(key).copied()
    }

    /// Caches `class` for `key`, unless the key is too long or holds a finding (which is not
    /// kept in memory longer than the span that carried it).
    pub fn insert(&mut self, key: &str, class: KeyClass) {
        if class.findings || key.len() > KEY_CACHE_MAX_KEY || self.map.contains_key(key) {
            return;
        }
        if self.map.len() >= KEY_CACHE_LIMIT || self.bytes + key.len() > KEY_CACHE_BYTES {
            self.map.clear();
            self.bytes = 0;
        }
        self.map.insert(key.to_owned(), class);
        self.bytes += key.len();
    }

    /// Entries and key bytes held.
    #[cfg(test)]
    pub fn usage(&self) -> (usize, usize) {
        (self.map.len(), self.bytes)
    }
}

/// Attribute keys that hold prompts and completions.
pub fn is_content_key(key: &str) -> bool {
    const EXACT: [&str; 12] = [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
        "ai.prompt",
        "ai.prompt.messages",
        "ai.response.text",
    ];
    const PREFIXES: [&str; 4] = [
        "gen_ai.prompt.",
        "gen_ai.completion.",
        "llm.input_messages.",
        "llm.output_messages.",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Span events whose attributes are all prompt or completion content.
pub fn is_content_event(name: &str) -> bool {
    name.starts_with("gen_ai.content.")
        || matches!(
            name,
            "gen_ai.user.message"
                | "gen_ai.system.message"
                | "gen_ai.assistant.message"
                | "gen_ai.tool.message"
                | "gen_ai.choice"
        )
}

/// Fields of a structured log record (attributes, or top-level keys of its map body) that
/// hold prompt or completion content: the seed's LLM log writes them.
pub fn is_log_content_field(key: &str) -> bool {
    matches!(key, "prompt" | "response" | "system_prompt" | "completion") || is_content_key(key)
}
