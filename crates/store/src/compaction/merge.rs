//! The k-way merge: files sorted by (trace_id, time) in, one sorted stream out, one row per
//! row key.
//!
//! Each input is read a batch at a time, so memory is the inputs' current batches plus one
//! output batch, whatever the files' sizes. A min-heap keyed by (trace_id, time) picks the
//! next row; rows are copied out with `interleave` a batch at a time.
//!
//! Duplicates (a span uploaded twice after a retry, or replayed from the write-ahead log
//! after a crash) are rows of one trace with the same row key: for `spans` the span id,
//! for `traces` (start time, end time, span count), so that two fragments of one trace
//! released apart both stay. Rows of a trace are contiguous in the merged order, so the
//! keys seen are kept for the current trace only; the first row of a key is kept.
//!
//! `logs` and `scores` have no row key: two log records may be alike in every column and
//! still be two records (a retried call logging the same line twice), so none is dropped.
//! Their rows without a trace id (records outside any trace, scores not joined) sort last,
//! by time, as their writer sorts them.

use crate::error::StoreError;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampNanosecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{DataType, SchemaRef};
use arrow_select::interleave::interleave_record_batch;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use tracegate_model::schema::{
    LOGS_TABLE, SCORES_TABLE, SPANS_TABLE, TRACES_TABLE, col, logs_col, scores_col, traces_col,
};

/// A sorted input: its batches, in order.
pub type Input<'a> = Box<dyn Iterator<Item = Result<RecordBatch, StoreError>> + Send + 'a>;

/// What the merge writes to: batches in order.
pub trait Sink {
    /// Takes the next batch of merged rows.
    fn write(&mut self, batch: RecordBatch) -> Result<(), StoreError>;
}

/// How a table's rows are ordered and told apart.
#[derive(Debug, Clone)]
pub struct TableKey {
    /// The schema the output has; inputs are brought to it by column name (a column an
    /// older file lacks is null).
    pub schema: SchemaRef,
    /// The time column that orders rows within a trace.
    pub time: &'static str,
    /// The columns that, with the trace id, identify a row; none: rows are never
    /// duplicates of each other.
    pub identity: &'static [&'static str],
    /// Whether rows may lack a trace id (they sort last).
    pub nullable_trace: bool,
}

impl TableKey {
    /// The `spans` table: ordered by (trace_id, start_time), one row per (trace_id, span_id).
    pub fn spans() -> Self {
        Self {
            schema: tracegate_model::schema::spans_schema(),
            time: col::START_TIME,
            identity: &[col::SPAN_ID],
            nullable_trace: false,
        }
    }

    /// The `traces` table: ordered by (trace_id, start_time), one row per (trace_id,
    /// start_time, end_time, span_count).
    pub fn traces() -> Self {
        Self {
            schema: tracegate_model::schema::traces_schema(),
            time: traces_col::START_TIME,
            identity: &[
                traces_col::START_TIME,
                traces_col::END_TIME,
                traces_col::SPAN_COUNT,
            ],
            nullable_trace: false,
        }
    }

    /// The `logs` table: ordered by (trace_id, time), records without a trace id last;
    /// every row kept (see the [module docs](self)).
    pub fn logs() -> Self {
        Self {
            schema: tracegate_model::schema::logs_schema(),
            time: logs_col::TIME,
            identity: &[],
            nullable_trace: true,
        }
    }

    /// The `scores` table: as [`Self::logs`], by (trace_id, time), unjoined scores last.
    pub fn scores() -> Self {
        Self {
            schema: tracegate_model::schema::scores_schema(),
            time: scores_col::TIME,
            identity: &[],
            nullable_trace: true,
        }
    }

    /// The key of archive table `table`, if compaction knows it.
    pub fn of(table: &str) -> Option<Self> {
        match table {
            SPANS_TABLE => Some(Self::spans()),
            TRACES_TABLE => Some(Self::traces()),
            LOGS_TABLE => Some(Self::logs()),
            SCORES_TABLE => Some(Self::scores()),
            _ => None,
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Rows read.
    pub rows_in: u64,
    /// Rows written.
    pub rows_out: u64,
    /// Rows left out as duplicates.
    pub duplicates: u64,
}

/// A trace id as the archive writes it: 32 lowercase hex characters.
const ID_LEN: usize = 32;
/// The heap key of a row without a trace id: above every hex id, so such rows come last.
const NO_TRACE: [u8; ID_LEN] = [0xff; ID_LEN];

/// One input's position.
struct Cursor<'a> {
    input: Input<'a>,
    batch: RecordBatch,
    /// The batch's index among the batches the pending output refers to.
    slot: usize,
    row: usize,
    trace_ids: ArrayRef,
    times: ArrayRef,
    identity: Vec<ArrayRef>,
}

impl Cursor<'_> {
    fn key(&self, index: usize) -> Result<HeapKey, StoreError> {
        let ids = self.trace_ids.as_string::<i32>();
        let trace = if ids.is_null(self.row) {
            NO_TRACE
        } else {
            let id = ids.value(self.row).as_bytes();
            if id.len() != ID_LEN {
                return Err(StoreError::Schema {
                    column: col::TRACE_ID,
                });
            }
            let mut trace = [0u8; ID_LEN];
            trace.copy_from_slice(id);
            trace
        };
        let times = self.times.as_primitive::<TimestampNanosecondType>();
        let time = if times.is_valid(self.row) {
            times.value(self.row)
        } else {
            i64::MIN
        };
        Ok(HeapKey { trace, time, index })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct HeapKey {
    trace: [u8; ID_LEN],
    time: i64,
    /// The input: ties go to the earlier input, so the merge is stable.
    index: usize,
}

/// Merges `inputs`, each sorted by (trace_id, time), into `sink` in batches of at most
/// `batch_rows` rows, dropping duplicates of a row key.
pub fn merge(
    inputs: Vec<Input<'_>>,
    key: &TableKey,
    batch_rows: usize,
    sink: &mut dyn Sink,
) -> Result<MergeStats, StoreError> {
    let batch_rows = batch_rows.max(1);
    let mut stats = MergeStats::default();
    let mut slots: Vec<RecordBatch> = Vec::new();
    let mut cursors: Vec<Option<Cursor<'_>>> = Vec::with_capacity(inputs.len());
    let mut heap = BinaryHeap::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let cursor = open(input, key, &mut slots, &mut stats)?;
        if let Some(c) = &cursor {
            heap.push(Reverse(c.key(index)?));
        }
        cursors.push(cursor);
    }

    let mut pending: Vec<(usize, usize)> = Vec::with_capacity(batch_rows);
    let mut trace: Option<[u8; ID_LEN]> = None;
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut identity = Vec::with_capacity(64);
    while let Some(Reverse(top)) = heap.pop() {
        let Some(cursor) = cursors[top.index].as_mut() else {
            continue;
        };
        if trace != Some(top.trace) {
            trace = Some(top.trace);
            seen.clear();
        }
        if key.identity.is_empty() {
            pending.push((cursor.slot, cursor.row));
        } else {
            identity.clear();
            for column in &cursor.identity {
                identity_bytes(column, cursor.row, &mut identity);
            }
            if seen.contains(identity.as_slice()) {
                stats.duplicates += 1;
            } else {
                seen.insert(identity.clone());
                pending.push((cursor.slot, cursor.row));
            }
        }
        cursor.row += 1;
        if cursor.row >= cursor.batch.num_rows() {
            // The next batch of this input; its rows are referred to by a new slot.
            let next = next_batch(&mut cursor.input, key, &mut stats)?;
            match next {
                Some(batch) => {
                    cursor.set_batch(batch, key, &mut slots)?;
                }
                None => cursors[top.index] = None,
            }
        }
        if let Some(cursor) = &cursors[top.index] {
            heap.push(Reverse(cursor.key(top.index)?));
        }
        // Flush at the batch size, or when too many input batches wait on the output (an
        // input whose rows were all duplicates keeps its batches referenced otherwise).
        if pending.len() >= batch_rows || slots.len() > 2 * cursors.len() + 16 {
            flush(&mut pending, &mut slots, &mut cursors, sink, &mut stats)?;
        }
    }
    flush(&mut pending, &mut slots, &mut cursors, sink, &mut stats)?;
    Ok(stats)
}

impl Cursor<'_> {
    fn set_batch(
        &mut self,
        batch: RecordBatch,
        key: &TableKey,
        slots: &mut Vec<RecordBatch>,
    ) -> Result<(), StoreError> {
        let (trace_ids, times, identity) = columns(&batch, key)?;
        self.slot = slots.len();
        slots.push(batch.clone());
        self.batch = batch;
        self.row = 0;
        self.trace_ids = trace_ids;
        self.times = times;
        self.identity = identity;
        Ok(())
    }
}

fn open<'a>(
    mut input: Input<'a>,
    key: &TableKey,
    slots: &mut Vec<RecordBatch>,
    stats: &mut MergeStats,
) -> Result<Option<Cursor<'a>>, StoreError> {
    let Some(batch) = next_batch(&mut input, key, stats)? else {
        return Ok(None);
    };
    let (trace_ids, times, identity) = columns(&batch, key)?;
    let slot = slots.len();
    slots.push(batch.clone());
    Ok(Some(Cursor {
        input,
        batch,
        slot,
        row: 0,
        trace_ids,
        times,
        identity,
    }))
}

/// The input's next batch with rows, brought to the output schema.
fn next_batch(
    input: &mut Input<'_>,
    key: &TableKey,
    stats: &mut MergeStats,
) -> Result<Option<RecordBatch>, StoreError> {
    for batch in input.by_ref() {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        stats.rows_in += batch.num_rows() as u64;
        return conform(batch, &key.schema).map(Some);
    }
    Ok(None)
}

/// `batch` with the columns of `schema`, in its order: a column the batch lacks (a file of
/// an older schema version) is null; one it has that `schema` lacks (a newer tracegate's)
/// is refused, since it would be lost.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, StoreError> {
    if batch.schema().fields() == schema.fields() {
        return RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
            .map_err(StoreError::arrow("bring a file to the archive schema"));
    }
    for field in batch.schema().fields() {
        if schema.field_with_name(field.name()).is_err() {
            return Err(StoreError::Arrow {
                context: "bring a file to the archive schema",
                source: arrow_schema::ArrowError::SchemaError(format!(
                    "column {:?} is not in this build's schema (a newer tracegate wrote the file); \
                     compact with that version",
                    field.name()
                )),
            });
        }
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| match batch.column_by_name(field.name()) {
            Some(column) => column.clone(),
            None => new_null_array(field.data_type(), batch.num_rows()),
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
        .map_err(StoreError::arrow("bring a file to the archive schema"))
}

type Columns = (ArrayRef, ArrayRef, Vec<ArrayRef>);

fn columns(batch: &RecordBatch, key: &TableKey) -> Result<Columns, StoreError> {
    let column = |name: &'static str| {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or(StoreError::Schema { column: name })
    };
    let trace_ids = column(col::TRACE_ID)?;
    if trace_ids.data_type() != &DataType::Utf8
        || (!key.nullable_trace && trace_ids.null_count() > 0)
    {
        return Err(StoreError::Schema {
            column: col::TRACE_ID,
        });
    }
    let times = column(key.time)?;
    if times
        .as_primitive_opt::<TimestampNanosecondType>()
        .is_none()
    {
        return Err(StoreError::Schema { column: key.time });
    }
    let identity = key
        .identity
        .iter()
        .map(|&name| column(name))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((trace_ids, times, identity))
}

/// Appends the bytes of row `row` of `column` (a string, timestamp or integer) to `out`,
/// with a marker for null.
fn identity_bytes(column: &ArrayRef, row: usize, out: &mut Vec<u8>) {
    if column.is_null(row) {
        out.push(0);
        return;
    }
    out.push(1);
    if let Some(strings) = column.as_string_opt::<i32>() {
        let value = strings.value(row).as_bytes();
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    } else if let Some(times) = column.as_primitive_opt::<TimestampNanosecondType>() {
        out.extend_from_slice(&times.value(row).to_le_bytes());
    } else if let Some(ints) = column.as_primitive_opt::<Int64Type>() {
        out.extend_from_slice(&ints.value(row).to_le_bytes());
    }
}

/// Writes the pending rows as one batch, then keeps only the batches the cursors are on.
fn flush(
    pending: &mut Vec<(usize, usize)>,
    slots: &mut Vec<RecordBatch>,
    cursors: &mut [Option<Cursor<'_>>],
    sink: &mut dyn Sink,
    stats: &mut MergeStats,
) -> Result<(), StoreError> {
    if !pending.is_empty() {
        let refs: Vec<&RecordBatch> = slots.iter().collect();
        let batch = interleave_record_batch(&refs, pending)
            .map_err(StoreError::arrow("copy merged rows"))?;
        stats.rows_out += batch.num_rows() as u64;
        pending.clear();
        sink.write(batch)?;
    }
    slots.clear();
    for cursor in cursors.iter_mut().flatten() {
        cursor.slot = slots.len();
        slots.push(cursor.batch.clone());
    }
    Ok(())
}
