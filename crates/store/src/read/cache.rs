//! A cache bounded by bytes, least recently used out first: [`ByteLru`], which holds the
//! archive's parsed Parquet footers ([`FooterCache`]) and `trace_id` bloom filters
//! ([`BloomCache`]).
//!
//! Archive files are immutable (each has a fresh ULID name), so entries are keyed by the
//! file's path with its size and modification time ([`FileKey`]): a file rewritten in place
//! (compaction under the same name) is a different key, and its old entries age out. The
//! bound is the entries' approximate memory, given on insert (for a footer,
//! [`Footer::memory_bytes`]); an entry larger than the whole budget is not cached. Hits,
//! misses and evictions are counted.

use super::file::Footer;
use parquet::bloom_filter::Sbbf;
use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

/// Parsed footers by file.
pub type FooterCache = ByteLru<FileKey, Arc<Footer>>;
/// `trace_id` bloom filters by file and row group (`None`: the row group has none).
pub type BloomCache = ByteLru<(FileKey, usize), Option<Arc<Sbbf>>>;

/// Which file an entry belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// The object's path.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, ms since the epoch, as listed.
    pub modified_ms: i64,
}

/// Counts of a [`ByteLru`]'s activity and contents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries held.
    pub entries: usize,
    /// Their approximate memory, in bytes.
    pub bytes: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing.
    pub misses: u64,
    /// Entries dropped to stay within the bound.
    pub evictions: u64,
    /// Entries not cached because each alone was over the bound.
    pub too_large: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    bytes: usize,
    tick: u64,
}

#[derive(Debug)]
struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Entries by last use, oldest first.
    by_use: BTreeMap<u64, K>,
    tick: u64,
    stats: CacheStats,
}

/// Values of at most `capacity_bytes` in all, least recently used out first; see the
/// [module docs](self).
#[derive(Debug)]
pub struct ByteLru<K, V> {
    capacity_bytes: usize,
    inner: Mutex<Inner<K, V>>,
}

impl<K: Clone + Eq + Hash, V: Clone> ByteLru<K, V> {
    /// An empty cache holding at most `capacity_bytes` (0: caches nothing).
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                tick: 0,
                stats: CacheStats::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, V>> {
        // A panic while holding the lock leaves consistent maps (each operation finishes
        // its bookkeeping before it could panic), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value of `key`, marking it used; counts a hit or a miss.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let Some(entry) = inner.entries.get_mut(key) else {
            inner.stats.misses += 1;
            return None;
        };
        let old = std::mem::replace(&mut entry.tick, tick);
        let value = entry.value.clone();
        inner.by_use.remove(&old);
        inner.by_use.insert(tick, key.clone());
        inner.stats.hits += 1;
        Some(value)
    }

    /// Caches `value`, taking about `bytes` of memory, under `key`, evicting the least
    /// recently used entries to stay within the bound.
    pub fn insert(&self, key: K, value: V, bytes: usize) {
        let bytes = bytes.max(1);
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
        inner.entries.insert(key, Entry { value, bytes, tick });
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
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
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

    fn key(n: usize) -> FileKey {
        FileKey {
            path: format!("f{n}"),
            size: n as u64,
            modified_ms: 0,
        }
    }

    #[test]
    fn least_recently_used_goes_first() {
        let cache = FooterCache::new(3 * 102);
        let f = footer(102);
        for n in 0..3 {
            cache.insert(key(n), f.clone(), 102);
        }
        assert!(cache.get(&key(0)).is_some()); // 0 is now the most recent
        cache.insert(key(3), f.clone(), 102); // evicts 1
        assert!(cache.get(&key(1)).is_none());
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(2)).is_some());
        assert!(cache.get(&key(3)).is_some());
        let s = cache.stats();
        assert_eq!((s.entries, s.bytes, s.evictions), (3, 306, 1));
        assert_eq!((s.hits, s.misses), (4, 1));
        // A file changed under the same path is another key.
        let changed = FileKey {
            modified_ms: 5,
            ..key(0)
        };
        assert!(cache.get(&changed).is_none());
    }

    #[test]
    fn a_footer_over_the_whole_bound_is_not_cached() {
        let cache = FooterCache::new(50);
        cache.insert(key(1), footer(100), 100);
        assert!(cache.get(&key(1)).is_none());
        assert_eq!(cache.stats().too_large, 1);
        let none = FooterCache::new(0);
        none.insert(key(1), footer(1), 1);
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
                    cache.insert(key(k), base.clone(), size);
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
