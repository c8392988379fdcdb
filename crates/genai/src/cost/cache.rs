//! The (provider, model) → price-table-entry cache, bounded by count and by key bytes.
//!
//! Matching a model runs the table's patterns and regexes, so the answer is cached per
//! (provider, model) pair. Both strings come from clients, so the cache is bounded three ways:
//! at most [`MAX_ENTRIES`] pairs, at most [`MAX_KEY_BYTES`] bytes of provider and model names
//! together, and a pair longer than [`MAX_CACHED_NAME_BYTES`] is looked up every time and
//! never cached (no real model id comes near it). When a new pair would pass a bound the cache
//! is cleared and starts again: a flood of distinct names costs lookups, never memory.
//!
//! ```
//! use tracegate_genai::cost::{cache::PriceCache, prices::PriceTable};
//!
//! let table = PriceTable::builtin_with(&[]).unwrap();
//! let mut cache = PriceCache::new();
//! let found = cache.lookup(&table, Some("openai"), "gpt-4o-mini");
//! assert_eq!(found, table.find(Some("openai"), "gpt-4o-mini"));
//! assert_eq!(cache.len(), 1);
//! ```

use super::prices::PriceTable;
use rustc_hash::FxHashMap;

/// Most (provider, model) pairs cached.
pub const MAX_ENTRIES: usize = 16_384;
/// Most bytes of provider and model names cached, all pairs together.
pub const MAX_KEY_BYTES: usize = 512 * 1024;
/// A pair whose provider and model together are longer than this is never cached.
pub const MAX_CACHED_NAME_BYTES: usize = 256;

/// Price lookups by (provider, model), bounded by count and by key bytes.
#[derive(Debug, Clone)]
pub struct PriceCache {
    /// provider ("" when unknown) → model → price table index.
    by_provider: FxHashMap<String, FxHashMap<String, Option<usize>>>,
    entries: usize,
    key_bytes: usize,
    max_entries: usize,
    max_key_bytes: usize,
}

impl Default for PriceCache {
    fn default() -> Self {
        Self::new()
    }
}

impl PriceCache {
    /// An empty cache with the default bounds ([`MAX_ENTRIES`], [`MAX_KEY_BYTES`]).
    pub fn new() -> Self {
        Self::with_bounds(MAX_ENTRIES, MAX_KEY_BYTES)
    }

    /// An empty cache holding at most `max_entries` pairs and `max_key_bytes` bytes of names.
    pub fn with_bounds(max_entries: usize, max_key_bytes: usize) -> Self {
        Self {
            by_provider: FxHashMap::default(),
            entries: 0,
            key_bytes: 0,
            max_entries,
            max_key_bytes,
        }
    }

    /// The table entry for `model` from `provider`: cached, or found in `table` (and then
    /// cached if it fits). Always what [`PriceTable::find`] gives.
    pub fn lookup(
        &mut self,
        table: &PriceTable,
        provider: Option<&str>,
        model: &str,
    ) -> Option<usize> {
        let p = provider.unwrap_or("");
        if let Some(hit) = self.by_provider.get(p).and_then(|m| m.get(model)) {
            return *hit;
        }
        let found = table.find(provider, model);
        if p.len() + model.len() > MAX_CACHED_NAME_BYTES {
            return found;
        }
        let cost = |cache: &Self| {
            model.len()
                + if cache.by_provider.contains_key(p) {
                    0
                } else {
                    p.len()
                }
        };
        if self.entries >= self.max_entries || self.key_bytes + cost(self) > self.max_key_bytes {
            self.clear();
        }
        let bytes = cost(self);
        if bytes > self.max_key_bytes || self.max_entries == 0 {
            return found;
        }
        self.by_provider
            .entry(p.to_owned())
            .or_default()
            .insert(model.to_owned(), found);
        self.entries += 1;
        self.key_bytes += bytes;
        found
    }

    /// Pairs cached.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes of provider and model names cached.
    pub fn key_bytes(&self) -> usize {
        self.key_bytes
    }

    /// Forgets every pair.
    pub fn clear(&mut self) {
        self.by_provider.clear();
        self.entries = 0;
        self.key_bytes = 0;
    }
}
