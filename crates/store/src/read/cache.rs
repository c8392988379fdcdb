//! A bounded cache of parsed Parquet footers, by bytes, least recently used out first.
//!
//! Archive files are immutable (each has a fresh ULID name), so a footer is keyed by the
//! file's path with its size and modification time: a file rewritten in place (compaction
//! under the same name) is a different key, and its old entry ages out. The bound is the
//! parsed footers' approximate memory ([`Footer::memory_bytes`]); a footer larger than the
//! whole budget is not cached. Hits, misses and evictions are counted.

use super::file::Footer;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

/// Which file a footer belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FooterKey {
    /// The object's path.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, ms since the epoch, as listed.
    pub modified_ms: i64,
}

/// Counts of a [`FooterCache`]'s activity and contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Footers held.
    pub entries: usize,
    /// Their approximate memory, in bytes.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to fetch the footer.
    pub misses: u64,
    /// Footers dropped to stay within the bound.
    pub evictions: u64,
    /// Footers not cached because each alone was over the bound.
    pub too_large: u64,
}

#[derive(Debug)]
struct Entry {
    footer: Arc<Footer>,
    bytes: usize,
    tick: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<FooterKey, Entry>,
    /// Entries by last use, oldest first.
    by_use: BTreeMap<u64, FooterKey>,
    tick: u64,
    stats: CacheStats,
}

/// Parsed footers, at most `capacity_bytes` of them; see the [module docs](self).
#[derive(Debug)]
pub struct FooterCache {
    capacity_bytes: usize,
    inner: Mutex<Inner>,
}

impl FooterCache {
    /// An empty cache holding at most `capacity_bytes` of footers (0: caches nothing).
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps (each operation finishes
        // its bookkeeping before it could panic), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The footer of `key`, marking it used; counts a hit or a miss.
    pub fn get(&self, key: &FooterKey) -> Option<Arc<Footer>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let Some(entry) = inner.entries.get_mut(key) else {
            inner.stats.misses += 1;
            return None;
        };
        let old = std::mem::replace(&mut entry.tick, tick);
        let footer = entry.footer.clone();
        inner.by_use.remove(&old);
        inner.by_use.insert(tick, key.clone());
        inner.stats.hits += 1;
        Some(footer)
    }

    /// Caches `footer` under `key`, evicting the least recently used footers to stay
    /// within the bound.
    pub fn insert(&self, key: FooterKey, footer: Arc<Footer>) {
        let bytes = footer.memory_bytes.max(1) + key.path.len();
        let mut inner = self.lock();
        if bytes > self.capacity_bytes {
            inner.stats.too_large += 1;
            return;
        }
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(old) = inner.entries.remove(&key) {
            inner.by_use.remove(&old.tick);
            inner.stats.bytes -= old.bytes;
            inner.stats.entries -= 1;
        }
        while inner.stats.bytes + bytes > self.capacity_bytes {
            let Some((_, oldest)) = inner.by_use.pop_first() else {
                break;
            };
            if let Some(evicted) = inner.entries.remove(&oldest) {
                inner.stats.bytes -= evicted.bytes;
                inner.stats.entries -= 1;
                inner.stats.evictions += 1;
            }
        }
        inner.by_use.insert(tick, key.clone());
        inner.entries.insert(
            key,
            Entry {
                footer,
                bytes,
                tick,
            },
        );
        inner.stats.bytes += bytes;
        inner.stats.entries += 1;
    }

    /// The cache's counts.
    pub fn stats(&self) -> CacheStats {
        self.lock().stats
    }

    /// The bound, in bytes.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
    use proptest::prelude::*;

    fn footer(memory_bytes: usize) -> Arc<Footer> {
        let batch =
            RecordBatch::try_from_iter([("a", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        let mut buf = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let reader = parquet::file::metadata::ParquetMetaDataReader::new()
            .parse_and_finish(&Bytes::from(buf));
        let metadata =
            ArrowReaderMetadata::try_new(Arc::new(reader.unwrap()), ArrowReaderOptions::new())
                .unwrap();
        Arc::new(Footer {
            metadata,
            trace_id_leaf: None,
            memory_bytes,
        })
    }

    fn key(n: usize) -> FooterKey {
        FooterKey {
            path: format!("f{n}"),
            size: n as u64,
            modified_ms: 0,
        }
    }

    #[test]
    fn least_recently_used_goes_first() {
        // Each entry costs its memory plus its 2-byte path: 100 + 2.
        let cache = FooterCache::new(3 * 102);
        let f = footer(100);
        for n in 0..3 {
            cache.insert(key(n), f.clone());
        }
        assert!(cache.get(&key(0)).is_some()); // 0 is now the most recent
        cache.insert(key(3), f.clone()); // evicts 1
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(2)).is_some());
        assert!(cache.get(&key(3)).is_some());
        let s = cache.stats();
        assert_eq!((s.entries, s.bytes, s.evictions), (3, 306, 1));
        assert_eq!((s.hits, s.misses), (4, 1));
        // A file changed under the same path is another key.
        let changed = FooterKey {
            modified_ms: 5,
            ..key(0)
        };
        assert!(cache.get(&changed).is_none());
    }

    #[test]
    fn a_footer_over_the_whole_bound_is_not_cached() {
        let cache = FooterCache::new(50);
        cache.insert(key(1), footer(100));
        assert!(cache.get(&key(1)).is_none());
        assert_eq!(cache.stats().too_large, 1);
        let none = FooterCache::new(0);
        none.insert(key(1), footer(1));
        assert_eq!(none.stats().entries, 0);
    }

    proptest! {
        /// Whatever the sequence of inserts and gets, the cache stays within its bound,
        /// its counts match its contents, and the most recently inserted footer that fits
        /// is always there.
        #[test]
        fn stays_within_its_bound(ops in proptest::collection::vec((0usize..8, 1usize..200, any::<bool>()), 1..80)) {
            let cache = FooterCache::new(400);
            let base = footer(1);
            for (k, size, is_insert) in ops {
                if is_insert {
                    cache.insert(key(k), Arc::new(Footer { memory_bytes: size, ..(*base).clone() }));
                    let s = cache.stats();
                    prop_assert!(s.bytes <= 400);
                    prop_assert!(cache.get(&key(k)).is_some());
                } else {
                    let _ = cache.get(&key(k));
                }
                let s = cache.stats();
                let inner = cache.lock();
                prop_assert_eq!(inner.entries.len(), s.entries);
                prop_assert_eq!(inner.by_use.len(), s.entries);
                prop_assert_eq!(inner.entries.values().map(|e| e.bytes).sum::<usize>(), s.bytes);
            }
        }
    }
}
