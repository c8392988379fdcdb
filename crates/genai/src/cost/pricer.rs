//! [`Pricer`]: the price table with its lookup cache, answering "what did this call cost", for
//! `genai_normalize` (spans) and `llm_logs` (log records) alike.
//!
//! ```
//! use tracegate_genai::cost::{Usage, pricer::{Priced, Pricer}};
//!
//! let mut pricer = Pricer::new(true, &[]).unwrap();
//! let usage = Usage { input: 1_000_000, ..Default::default() };
//! assert!(matches!(pricer.price(Some("openai"), "gpt-4o-mini", 0, &usage), Priced::Usd(usd) if usd > 0.0));
//! assert_eq!(pricer.price(None, "no-such-model", 0, &usage), Priced::UnknownModel);
//! ```

use super::cache::PriceCache;
use super::prices::{ModelEntry, PriceError, PriceTable};
use super::{Usage, cost_usd};

/// What pricing a call gave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Priced {
    /// The cost in USD, from the price table.
    Usd(f64),
    /// No price is known for the model.
    UnknownModel,
}

/// A compiled price table and its bounded (provider, model) cache.
#[derive(Debug)]
pub struct Pricer {
    table: PriceTable,
    cache: PriceCache,
}

impl Pricer {
    /// The embedded table with `entries` over it (`builtin`), or `entries` alone: the same
    /// rule as `genai_normalize`'s `builtin_prices` and `prices`.
    pub fn new(builtin: bool, entries: &[ModelEntry]) -> Result<Self, PriceError> {
        let table = if builtin {
            PriceTable::builtin_with(entries)?
        } else {
            PriceTable::from_entries(entries)?
        };
        Ok(Self {
            table,
            cache: PriceCache::new(),
        })
    }

    /// The price table in use.
    pub fn table(&self) -> &PriceTable {
        &self.table
    }

    /// The cache of lookups by (provider, model).
    pub fn cache(&self) -> &PriceCache {
        &self.cache
    }

    /// The cost of `usage` on `model` from `provider` (if known), at the prices in effect at
    /// `at_ns` (ns since the Unix epoch).
    pub fn price(
        &mut self,
        provider: Option<&str>,
        model: &str,
        at_ns: u64,
        usage: &Usage,
    ) -> Priced {
        let index = self.cache.lookup(&self.table, provider, model);
        match index
            .and_then(|i| self.table.get(i))
            .and_then(|m| m.at(at_ns))
        {
            Some(p) => Priced::Usd(cost_usd(p, usage)),
            None => Priced::UnknownModel,
        }
    }
}
