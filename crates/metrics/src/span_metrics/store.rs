//! [`SeriesTable`]: the series of one metric family (or of families sharing labels), looked
//! up by borrowed label values, bounded, with an overflow series and idle expiry.
//!
//! A lookup hashes the borrowed values with [`KeyHasher`] and compares them with the stored
//! ones, so a hit allocates nothing; only a new series copies its values into `Arc<str>`s.
//! Values are `Option`s: a `None` is a label the series does not have (a dimension the span
//! lacked), which is not the same series as an empty value.
//!
//! Past `limit` series, a new label set lands in the one overflow series, whose only label
//! is `otel.metric.overflow="true"`, and each such observation is counted; the count goes to
//! `tracegate_span_metrics_overflow_total{metric=…}` once per [`SeriesTable::flush_overflow`]
//! (once per `observe` call), not once per span. Totals stay exact: the overflow series
//! holds everything the capped series could not.

use crate::snapshot::{Series, Value};
use hashbrown::{HashTable, hash_table};
use rustc_hash::FxHasher;
use std::hash::Hasher;
use std::sync::Arc;

/// The overflow series' label key.
pub const OVERFLOW_KEY: &str = "otel.metric.overflow";

/// Hashes borrowed label values in order. Cloneable, so a shared prefix (the four GenAI
/// labels) is hashed once and extended per family.
#[derive(Clone, Default)]
pub struct KeyHasher(FxHasher);

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl KeyHasher {
    /// Adds one value (`None`: the label is absent).
    #[inline]
    pub fn push(&mut self, value: Option<&str>) {
        match value {
            None => self.0.write_u8(0),
            Some(s) => {
                self.0.write(s.as_bytes());
                self.0.write_u8(0xff);
            }
        }
    }

    /// Adds a small number standing for a value from a fixed set (a span kind), cheaper to
    /// hash than its name. A table must hash a given label the same way every time.
    #[inline]
    pub fn push_tag(&mut self, tag: u8) {
        self.0.write_u8(tag);
    }

    /// The hash of the values pushed so far.
    #[inline]
    pub fn finish(&self) -> u64 {
        self.0.finish()
    }

    /// The hash of `values`.
    pub fn of(values: &[Option<&str>]) -> u64 {
        let mut h = Self::default();
        for v in values {
            h.push(*v);
        }
        h.finish()
    }
}

/// One series: its label values, times and value.
#[derive(Debug, Clone)]
pub struct Entry<V> {
    hash: u64,
    values: Box<[Option<Arc<str>>]>,
    /// When the series started (ns since the Unix epoch).
    pub start: u64,
    /// When it was last updated.
    pub last: u64,
    /// The value.
    pub value: V,
}

impl<V> Entry<V> {
    fn matches(&self, hash: u64, key: &[Option<&str>]) -> bool {
        self.hash == hash
            && self.values.len() == key.len()
            && self
                .values
                .iter()
                .zip(key)
                .all(|(stored, given)| stored.as_deref() == *given)
    }

    /// The label values (`None`: absent).
    pub fn values(&self) -> &[Option<Arc<str>>] {
        &self.values
    }
}

/// How much memory a series value owns on the heap.
pub trait HeapSize {
    /// Heap bytes owned by the value.
    fn heap_bytes(&self) -> usize;
}

impl HeapSize for f64 {
    fn heap_bytes(&self) -> usize {
        0
    }
}

/// The series of a family, or of families that share one label set.
#[derive(Debug)]
pub struct SeriesTable<V> {
    keys: Arc<[Arc<str>]>,
    table: HashTable<Entry<V>>,
    overflow: Option<Entry<V>>,
    limit: usize,
    /// Observations sent to the overflow series since the last flush.
    overflowed: u64,
    /// The Prometheus names of the families this table backs, for the overflow counter.
    families: &'static [&'static str],
}

impl<V> SeriesTable<V> {
    /// An empty table with label `keys`, at most `limit` series (at least 1), backing the
    /// families named `families`.
    pub fn new(keys: &[&str], limit: usize, families: &'static [&'static str]) -> Self {
        Self {
            keys: keys.iter().map(|k| Arc::<str>::from(*k)).collect(),
            table: HashTable::new(),
            overflow: None,
            limit: limit.max(1),
            overflowed: 0,
            families,
        }
    }

    /// The value of the series with label values `key` (hashed as `hash` by
    /// [`KeyHasher`]), created with `make` at `now` if new: the overflow series when the
    /// table is full. Marks it updated at `now`.
    #[inline]
    pub fn get(
        &mut self,
        hash: u64,
        key: &[Option<&str>],
        now: u64,
        make: impl FnOnce() -> V,
    ) -> &mut V {
        debug_assert_eq!(key.len(), self.keys.len());
        let full = self.table.len() >= self.limit;
        match self.table.entry(hash, |e| e.matches(hash, key), |e| e.hash) {
            hash_table::Entry::Occupied(o) => {
                let e = o.into_mut();
                e.last = now;
                &mut e.value
            }
            hash_table::Entry::Vacant(v) if !full => {
                let entry = Entry {
                    hash,
                    values: key.iter().map(|v| v.map(Arc::<str>::from)).collect(),
                    start: now,
                    last: now,
                    value: make(),
                };
                &mut v.insert(entry).into_mut().value
            }
            hash_table::Entry::Vacant(_) => {
                self.overflowed += 1;
                let e = self.overflow.get_or_insert_with(|| Entry {
                    hash: 0,
                    values: Box::new([]),
                    start: now,
                    last: now,
                    value: make(),
                });
                e.last = now;
                &mut e.value
            }
        }
    }

    /// As [`Self::get`] without the overflow series: `None` when the series is new and
    /// either `allow_new` is false or the table is full (the caller overflows it itself).
    /// The flag is true when the series was created by this call.
    #[inline]
    pub fn get_if(
        &mut self,
        hash: u64,
        key: &[Option<&str>],
        now: u64,
        allow_new: bool,
        make: impl FnOnce() -> V,
    ) -> Option<(&mut V, bool)> {
        debug_assert_eq!(key.len(), self.keys.len());
        let allow_new = allow_new && self.table.len() < self.limit;
        match self.table.entry(hash, |e| e.matches(hash, key), |e| e.hash) {
            hash_table::Entry::Occupied(o) => {
                let e = o.into_mut();
                e.last = now;
                Some((&mut e.value, false))
            }
            hash_table::Entry::Vacant(v) if allow_new => {
                let entry = Entry {
                    hash,
                    values: key.iter().map(|v| v.map(Arc::<str>::from)).collect(),
                    start: now,
                    last: now,
                    value: make(),
                };
                Some((&mut v.insert(entry).into_mut().value, true))
            }
            hash_table::Entry::Vacant(_) => None,
        }
    }

    /// Keeps the series for which `keep` returns true (the overflow series is not visited).
    pub fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        self.table.retain(|e| keep(&mut e.value));
    }

    /// Every series but the overflow one, sorted by label values.
    pub fn sorted(&self) -> Vec<&Entry<V>> {
        let mut entries: Vec<&Entry<V>> = self.table.iter().collect();
        entries.sort_unstable_by(|a, b| a.values.cmp(&b.values));
        entries
    }

    /// An entry's labels: (key, value) for each label it has.
    pub fn labels(&self, e: &Entry<V>) -> Vec<(Arc<str>, Arc<str>)> {
        self.keys
            .iter()
            .zip(e.values.iter())
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .collect()
    }

    /// Counts `n` observations that overflowed outside this table's own overflow series.
    pub fn count_overflow(&mut self, n: u64) {
        self.overflowed += n;
    }

    /// Series, the overflow one included.
    pub fn len(&self) -> usize {
        self.table.len() + usize::from(self.overflow.is_some())
    }

    /// True when there is no series.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops series idle for `expiry_ns` or more at `now` (`expiry_ns` 0: none).
    pub fn expire(&mut self, now: u64, expiry_ns: u64) {
        if expiry_ns == 0 {
            return;
        }
        let live = |e: &Entry<V>| now.saturating_sub(e.last) < expiry_ns;
        self.table.retain(|e| live(e));
        if self.overflow.as_ref().is_some_and(|e| !live(e)) {
            self.overflow = None;
        }
    }

    /// Sends the overflow count since the last flush to the gateway's own telemetry.
    pub fn flush_overflow(&mut self) {
        if self.overflowed == 0 {
            return;
        }
        for family in self.families {
            metrics::counter!("tracegate_span_metrics_overflow_total", "metric" => *family)
                .increment(self.overflowed);
        }
        self.overflowed = 0;
    }

    /// The series as snapshot [`Series`], sorted by label values with the overflow series
    /// last; `value` maps a series' value (`None` leaves the series out).
    pub fn snapshot(&self, mut value: impl FnMut(&V) -> Option<Value>) -> Vec<Series> {
        let entries = self.sorted();
        let mut out = Vec::with_capacity(entries.len() + 1);
        for e in entries {
            if let Some(v) = value(&e.value) {
                out.push(Series {
                    labels: self.labels(e),
                    start_time_unix_nano: e.start,
                    last_update_unix_nano: e.last,
                    value: v,
                });
            }
        }
        if let Some((e, v)) = self
            .overflow
            .as_ref()
            .and_then(|e| Some((e, value(&e.value)?)))
        {
            out.push(Series {
                labels: vec![(Arc::from(OVERFLOW_KEY), Arc::from("true"))],
                start_time_unix_nano: e.start,
                last_update_unix_nano: e.last,
                value: v,
            });
        }
        out
    }

    /// Visits every series' value, the overflow one included.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.table
            .iter()
            .map(|e| &e.value)
            .chain(self.overflow.iter().map(|e| &e.value))
    }
}

impl<V: HeapSize> SeriesTable<V> {
    /// Approximate heap bytes: the hash table, each series' label values and value.
    pub fn heap_bytes(&self) -> usize {
        let arc = 2 * std::mem::size_of::<usize>();
        let entry = |e: &Entry<V>| {
            e.values.len() * std::mem::size_of::<Option<Arc<str>>>()
                + e.values
                    .iter()
                    .flatten()
                    .map(|v| arc + v.len())
                    .sum::<usize>()
                + e.value.heap_bytes()
        };
        self.table.allocation_size()
            + self.table.iter().map(entry).sum::<usize>()
            + self
                .overflow
                .as_ref()
                .map_or(0, |e| std::mem::size_of::<Entry<V>>() + entry(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(t: &mut SeriesTable<f64>, key: &[Option<&str>], now: u64, v: f64) {
        *t.get(KeyHasher::of(key), key, now, || 0.0) += v;
    }

    fn counters(t: &SeriesTable<f64>) -> Vec<(String, f64)> {
        t.snapshot(|v| Some(Value::Counter(*v)))
            .into_iter()
            .map(|s| {
                let labels: Vec<String> =
                    s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let Value::Counter(c) = s.value else {
                    unreachable!()
                };
                (labels.join(","), c)
            })
            .collect()
    }

    #[test]
    fn absent_is_not_empty_and_hits_do_not_duplicate() {
        let mut t = SeriesTable::new(&["a", "b"], 10, &[]);
        add(&mut t, &[Some("x"), None], 1, 1.0);
        add(&mut t, &[Some("x"), Some("")], 1, 2.0);
        add(&mut t, &[Some("x"), None], 2, 3.0);
        assert_eq!(t.len(), 2);
        assert_eq!(
            counters(&t),
            [("a=x".to_owned(), 4.0), ("a=x,b=".to_owned(), 2.0)]
        );
    }

    #[test]
    fn overflow_takes_the_rest_and_totals_stay_exact() {
        let mut t = SeriesTable::new(&["k"], 3, &[]);
        let names: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
        for round in 0..2 {
            for n in &names {
                add(&mut t, &[Some(n)], round, 1.0);
            }
        }
        let c = counters(&t);
        assert_eq!(c.len(), 4);
        assert_eq!(c[3], ("otel.metric.overflow=true".to_owned(), 14.0));
        assert_eq!(c.iter().map(|(_, v)| v).sum::<f64>(), 20.0);
        assert_eq!(t.overflowed, 14);
        // Existing series still hit after the table is full.
        add(&mut t, &[Some("v0")], 3, 1.0);
        assert_eq!(counters(&t)[0], ("k=v0".to_owned(), 3.0));
    }

    #[test]
    fn expiry_drops_idle_series_and_a_new_one_starts_again() {
        let mut t = SeriesTable::new(&["k"], 1, &[]);
        add(&mut t, &[Some("a")], 100, 1.0);
        add(&mut t, &[Some("b")], 100, 1.0); // overflow
        add(&mut t, &[Some("a")], 150, 1.0);
        t.expire(199, 100);
        assert_eq!(t.len(), 2);
        t.expire(200, 100);
        // The overflow series was idle since 100; "a" since 150.
        assert_eq!(counters(&t), [("k=a".to_owned(), 2.0)]);
        t.expire(250, 100);
        assert!(t.is_empty());
        add(&mut t, &[Some("a")], 300, 1.0);
        let s = t.snapshot(|v| Some(Value::Counter(*v)));
        assert_eq!(s[0].start_time_unix_nano, 300);
        assert_eq!(s[0].value, Value::Counter(1.0));
        t.expire(u64::MAX, 0);
        assert_eq!(t.len(), 1);
    }
}
