//! [`HotRegistry`]: the hot stores the gateway runs, by exporter id, shared between the
//! factory that builds them and the query API that reads them.

use super::store::HotStore;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// The hot stores by exporter id. Cheap to clone; clones share the map.
#[derive(Debug, Clone, Default)]
pub struct HotRegistry {
    stores: Arc<RwLock<BTreeMap<String, Arc<HotStore>>>>,
}

impl HotRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store of exporter `exporter_id` (`hot_store`, `hot_store/eu`).
    pub fn get(&self, exporter_id: &str) -> Option<Arc<HotStore>> {
        let stores = self.stores.read().unwrap_or_else(|e| e.into_inner());
        stores.get(exporter_id).cloned()
    }

    /// Every store, by exporter id.
    pub fn all(&self) -> Vec<(String, Arc<HotStore>)> {
        let stores = self.stores.read().unwrap_or_else(|e| e.into_inner());
        stores.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Registers `store` as exporter `exporter_id`'s, replacing an earlier one (a config
    /// built again).
    pub fn insert(&self, exporter_id: &str, store: Arc<HotStore>) {
        let mut stores = self.stores.write().unwrap_or_else(|e| e.into_inner());
        stores.insert(exporter_id.to_owned(), store);
    }
}
