//! The in-memory index of one block: which traces it holds, where their rows are, and the
//! facts a search filters on, so neither a lookup by id nor a search opens a block that
//! cannot match.
//!
//! A block's rows are sorted by trace id ([`crate::writer`]), so each trace's rows are one
//! contiguous range. [`BlockIndex`] keeps, per trace, sorted by id: the first row and the
//! row count, the earliest start and latest end, the longest span, and a bit set of the
//! block's services the trace has spans of. A lookup is a binary search (no false
//! positives, unlike a bloom filter, for 40 bytes per trace); a search checks the
//! [`ScanFilter`] against these facts and decodes only the rows of the traces that pass.
//!
//! The index is built in file order with [`IndexBuilder`], from the spans when a block is
//! written and from four projected columns when an existing block is reopened.

use crate::error::StoreError;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampNanosecondType;
use arrow_array::{Array, RecordBatch};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracegate_model::TraceId;
use tracegate_model::schema::col;

/// What a search wants, for a store to skip blocks and traces before decoding them. Every
/// constraint is conservative: `None` means "no constraint".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanFilter {
    /// Only traces with a span overlapping [start_ns, end_ns] (ns since the epoch).
    pub start_ns: u64,
    /// See `start_ns`; `u64::MAX` for no upper bound.
    pub end_ns: u64,
    /// Some span's resource `service.name` is one of these.
    pub service_names: Option<Vec<String>>,
    /// Some span lasts at least this long.
    pub min_span_duration_ns: Option<u64>,
    /// The trace (its spans in one block or in one head payload) lasts at least this long.
    pub min_trace_duration_ns: Option<u64>,
    /// One and the same span is of one of `service_names` and lasts at least
    /// `min_span_duration_ns` (TraceQL's `{resource.service.name="x" && duration>1s}`): a
    /// scan then reads those two columns of each candidate trace's rows and decodes only the
    /// traces that have such a span.
    pub same_span: bool,
    /// Raised by the reader during a scan: a trace (or fragment) that starts before it can
    /// no longer be one of the results, so the scan skips it, and whole blocks that end
    /// before it. See [`ScanFloor`].
    pub floor: ScanFloor,
}

/// The earliest start (ns since the epoch) a trace must have to still matter to a
/// newest-first search that already holds its `limit` results: the start of the oldest
/// of them. The search raises it as it finds newer traces; the store reads it before each
/// block and trace it visits. Shared (an `Arc`), and it only goes up.
#[derive(Debug, Clone, Default)]
pub struct ScanFloor(Arc<AtomicU64>);

impl ScanFloor {
    /// The current floor; 0 until raised.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Raises the floor to `ns` (a lower value leaves it as it is).
    pub fn raise(&self, ns: u64) {
        self.0.fetch_max(ns, Ordering::Relaxed);
    }
}

impl PartialEq for ScanFloor {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for ScanFloor {}

impl ScanFilter {
    /// Everything, at any time.
    pub fn all() -> Self {
        Self {
            start_ns: 0,
            end_ns: u64::MAX,
            ..Self::default()
        }
    }

    /// Whether a trace with these facts can match.
    pub(crate) fn admits(&self, facts: &TraceFacts, services: impl FnOnce() -> bool) -> bool {
        facts.start_ns <= self.end_ns
            && facts.end_ns >= self.start_ns
            && facts.start_ns >= self.floor.get()
            && self
                .min_span_duration_ns
                .is_none_or(|min| facts.max_span_ns >= min)
            && self
                .min_trace_duration_ns
                .is_none_or(|min| facts.end_ns.saturating_sub(facts.start_ns) >= min)
            && (self.service_names.is_none() || services())
    }
}

/// The facts of one trace (or fragment) a filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceFacts {
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) max_span_ns: u64,
}

impl TraceFacts {
    pub(crate) fn of_span(start_ns: u64, end_ns: u64) -> Self {
        Self {
            start_ns,
            end_ns,
            max_span_ns: end_ns.saturating_sub(start_ns),
        }
    }

    pub(crate) fn add(&mut self, start_ns: u64, end_ns: u64) {
        self.start_ns = self.start_ns.min(start_ns);
        self.end_ns = self.end_ns.max(end_ns);
        self.max_span_ns = self.max_span_ns.max(end_ns.saturating_sub(start_ns));
    }
}

/// One trace of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: TraceId,
    first_row: u32,
    rows: u32,
    facts: TraceFacts,
    /// Bit `i` (< 63): the trace has a span of the block's service `i`; bit 63: of a service
    /// numbered 63 or more.
    services: u64,
}

/// The bit of service number `i`.
fn service_bit(i: usize) -> u64 {
    1u64 << i.min(63)
}

/// The index of one block. See the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockIndex {
    entries: Vec<Entry>,
    services: Vec<String>,
    rows: u64,
    start_ns: u64,
    end_ns: u64,
}

impl BlockIndex {
    /// Spans (rows) in the block.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Traces (or fragments) in the block.
    pub fn traces(&self) -> usize {
        self.entries.len()
    }

    /// The earliest span start and the latest span end in the block.
    pub fn time_range(&self) -> (u64, u64) {
        (self.start_ns, self.end_ns)
    }

    /// The rows of trace `id`, if the block has any.
    pub fn rows_of(&self, id: &TraceId) -> Option<Range<usize>> {
        let i = self.entries.binary_search_by(|e| e.id.cmp(id)).ok()?;
        let e = &self.entries[i];
        Some(e.first_row as usize..(e.first_row + e.rows) as usize)
    }

    /// Bytes of memory the index holds.
    pub fn estimated_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.services.iter().map(|s| s.len() + 24).sum::<usize>()
    }

    /// Whether any trace of the block can match `filter`, by the block's time range and
    /// services alone.
    pub fn may_match(&self, filter: &ScanFilter) -> bool {
        self.rows > 0
            && self.start_ns <= filter.end_ns
            && self.end_ns >= filter.start_ns
            // Every span, so every trace, of the block starts by its end.
            && self.end_ns >= filter.floor.get()
            && self.wanted_services(filter) != 0
    }

    /// The service bits `filter` wants: all bits when it names none; 0 when the block has
    /// none of them.
    fn wanted_services(&self, filter: &ScanFilter) -> u64 {
        let Some(names) = &filter.service_names else {
            return u64::MAX;
        };
        names
            .iter()
            .filter_map(|n| self.services.iter().position(|s| s == n))
            .fold(0, |bits, i| bits | service_bit(i))
    }

    /// The traces that may match `filter`, as (trace id, rows), in file order (by trace id),
    /// so reading them in order decompresses each page once.
    pub fn candidates(&self, filter: &ScanFilter) -> Vec<(TraceId, Range<usize>)> {
        self.candidates_with_start(filter)
            .into_iter()
            .map(|(id, rows, _)| (id, rows))
            .collect()
    }

    /// As [`Self::candidates`], with each trace's earliest span start (ns since the epoch),
    /// for a scan that visits the newest first.
    pub fn candidates_with_start(&self, filter: &ScanFilter) -> Vec<(TraceId, Range<usize>, u64)> {
        let wanted = self.wanted_services(filter);
        if wanted == 0 {
            return Vec::new();
        }
        self.entries
            .iter()
            .filter(|e| filter.admits(&e.facts, || e.services & wanted != 0))
            .map(|e| {
                let rows = e.first_row as usize..(e.first_row + e.rows) as usize;
                (e.id, rows, e.facts.start_ns)
            })
            .collect()
    }

    /// Builds the index of a block from its `trace_id`, `service_name`, `start_time` and
    /// `end_time` columns, read in file order.
    pub fn from_batches(
        batches: impl IntoIterator<Item = Result<RecordBatch, StoreError>>,
    ) -> Result<Self, StoreError> {
        let mut builder = IndexBuilder::default();
        for batch in batches {
            let batch = batch?;
            let ids = string_column(&batch, col::TRACE_ID)?;
            let services = string_column(&batch, col::SERVICE_NAME)?;
            let starts = time_column(&batch, col::START_TIME)?;
            let ends = time_column(&batch, col::END_TIME)?;
            for row in 0..batch.num_rows() {
                let id = TraceId::from_hex(ids.value(row)).map_err(|_| StoreError::Schema {
                    column: col::TRACE_ID,
                })?;
                let service = if services.is_null(row) {
                    ""
                } else {
                    services.value(row)
                };
                let start = u64::try_from(starts.value(row)).unwrap_or(0);
                let end = u64::try_from(ends.value(row)).unwrap_or(0);
                builder.push(id, start, end, service);
            }
        }
        Ok(builder.finish())
    }
}

fn string_column<'a>(
    batch: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a arrow_array::StringArray, StoreError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or(StoreError::Schema { column: name })
}

fn time_column<'a>(
    batch: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a arrow_array::TimestampNanosecondArray, StoreError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>())
        .ok_or(StoreError::Schema { column: name })
}

/// Builds a [`BlockIndex`] from rows pushed in file order (sorted by trace id).
#[derive(Debug, Default)]
pub struct IndexBuilder {
    index: BlockIndex,
    last_service: Option<usize>,
}

impl IndexBuilder {
    /// Adds the next row of the file.
    pub fn push(&mut self, id: TraceId, start_ns: u64, end_ns: u64, service: &str) {
        let index = &mut self.index;
        let row = u32::try_from(index.rows).unwrap_or(u32::MAX);
        let service = match self.last_service {
            Some(i) if index.services[i] == service => i,
            _ => {
                let i = match index.services.iter().position(|s| s == service) {
                    Some(i) => i,
                    None => {
                        index.services.push(service.to_owned());
                        index.services.len() - 1
                    }
                };
                self.last_service = Some(i);
                i
            }
        };
        if index.rows == 0 {
            index.start_ns = start_ns;
            index.end_ns = end_ns;
        } else {
            index.start_ns = index.start_ns.min(start_ns);
            index.end_ns = index.end_ns.max(end_ns);
        }
        index.rows += 1;
        match index.entries.last_mut() {
            Some(e) if e.id == id => {
                e.rows += 1;
                e.facts.add(start_ns, end_ns);
                e.services |= service_bit(service);
            }
            _ => index.entries.push(Entry {
                id,
                first_row: row,
                rows: 1,
                facts: TraceFacts::of_span(start_ns, end_ns),
                services: service_bit(service),
            }),
        }
    }

    /// The index. Rows pushed out of trace-id order make a trace appear more than once; the
    /// entries are sorted all the same, so lookups find one of its ranges.
    pub fn finish(mut self) -> BlockIndex {
        if !self.index.entries.is_sorted_by(|a, b| a.id <= b.id) {
            self.index.entries.sort_by_key(|e| e.id);
        }
        self.index.entries.shrink_to_fit();
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u8) -> TraceId {
        let mut b = [0u8; 16];
        b[15] = n;
        TraceId(b)
    }

    fn index(rows: &[(u8, u64, u64, &str)]) -> BlockIndex {
        let mut b = IndexBuilder::default();
        for &(t, s, e, svc) in rows {
            b.push(id(t), s, e, svc);
        }
        b.finish()
    }

    #[test]
    fn golden_lookup_and_filters() {
        let ix = index(&[
            (1, 100, 200, "api"),
            (1, 150, 2_000, "db"),
            (2, 50, 60, "api"),
            (7, 5_000, 5_010, "llm"),
        ]);
        assert_eq!(ix.rows(), 4);
        assert_eq!(ix.traces(), 3);
        assert_eq!(ix.time_range(), (50, 5_010));
        assert_eq!(ix.rows_of(&id(1)), Some(0..2));
        assert_eq!(ix.rows_of(&id(2)), Some(2..3));
        assert_eq!(ix.rows_of(&id(7)), Some(3..4));
        assert_eq!(ix.rows_of(&id(3)), None);

        let ids = |f: &ScanFilter| {
            ix.candidates(f)
                .into_iter()
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        // In file order.
        assert_eq!(ids(&ScanFilter::all()), [id(1), id(2), id(7)]);
        let api = ScanFilter {
            service_names: Some(vec!["api".into()]),
            ..ScanFilter::all()
        };
        assert_eq!(ids(&api), [id(1), id(2)]);
        let slow_span = ScanFilter {
            min_span_duration_ns: Some(1_000),
            ..ScanFilter::all()
        };
        assert_eq!(ids(&slow_span), [id(1)]);
        let db_slow = ScanFilter {
            service_names: Some(vec!["db".into()]),
            min_trace_duration_ns: Some(1_900),
            ..ScanFilter::all()
        };
        assert_eq!(ids(&db_slow), [id(1)]);
        let window = ScanFilter {
            start_ns: 1_000,
            end_ns: 4_000,
            ..ScanFilter::default()
        };
        assert_eq!(ids(&window), [id(1)]);
        let nobody = ScanFilter {
            service_names: Some(vec!["web".into()]),
            ..ScanFilter::all()
        };
        assert!(!ix.may_match(&nobody));
        assert!(ids(&nobody).is_empty());
        assert!(!ix.may_match(&ScanFilter {
            start_ns: 6_000,
            ..ScanFilter::all()
        }));
    }

    #[test]
    fn services_past_63_are_kept_conservatively() {
        let names: Vec<String> = (0..70).map(|i| format!("s{i}")).collect();
        let rows: Vec<_> = (0..70u8)
            .map(|i| (i, 10, 20, names[i as usize].as_str()))
            .collect();
        let ix = index(&rows);
        let f = ScanFilter {
            service_names: Some(vec!["s65".into()]),
            ..ScanFilter::all()
        };
        let got = ix.candidates(&f);
        // s63..s69 share the overflow bit: a superset, never a miss.
        assert!(got.iter().any(|(i, _)| *i == id(65)));
        assert_eq!(got.len(), 7);
    }

    proptest! {
        #[test]
        fn candidates_are_a_superset_of_exact_matches(
            mut rows in proptest::collection::vec((0u8..20, 0u64..1_000, 0u64..1_000, 0usize..4), 1..60),
            lo in 0u64..1_000, len in 0u64..1_000, min_span in proptest::option::of(0u64..500),
            svc in proptest::option::of(0usize..4),
        ) {
            let services = ["a", "b", "c", "d"];
            rows.sort_by_key(|r| r.0);
            let rows: Vec<_> = rows.into_iter().map(|(t, s, d, v)| (t, s, s + d, services[v])).collect();
            let ix = index(&rows);
            let filter = ScanFilter {
                start_ns: lo,
                end_ns: lo + len,
                service_names: svc.map(|v| vec![services[v].to_owned()]),
                min_span_duration_ns: min_span,
                min_trace_duration_ns: None,
                same_span: false,
                floor: ScanFloor::default(),
            };
            let got: Vec<TraceId> = ix.candidates(&filter).into_iter().map(|(i, _)| i).collect();
            let mut traces: Vec<u8> = rows.iter().map(|r| r.0).collect();
            traces.dedup();
            for t in traces {
                let mine: Vec<_> = rows.iter().filter(|r| r.0 == t).collect();
                let overlaps = mine.iter().map(|r| r.1).min().unwrap() <= filter.end_ns
                    && mine.iter().map(|r| r.2).max().unwrap() >= filter.start_ns;
                let long = min_span.is_none_or(|m| mine.iter().any(|r| r.2 - r.1 >= m));
                let service = svc.is_none_or(|v| mine.iter().any(|r| r.3 == services[v]));
                prop_assert_eq!(got.contains(&id(t)), overlaps && long && service);
                let range = ix.rows_of(&id(t)).unwrap();
                prop_assert_eq!(range.len(), mine.len());
            }
        }
    }
}
