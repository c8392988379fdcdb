//! Spans, traces, log records and scores → Parquet bytes, laid out for the data lake
//! (DESIGN.md §4).
//!
//! Every file the writer produces:
//! - has its rows sorted by `trace_id`, then `start_time` (`time` for the `logs` and
//!   `scores` tables, whose rows without a trace id come last), and declares that order in
//!   its row groups' `sorting_columns`;
//! - carries min/max statistics (chunk and page level) and a bloom filter on `trace_id`, so
//!   a lookup by trace id reads few row groups (a hot-store block, which its in-memory index
//!   serves, keeps only the statistics of `trace_id`: [`write_hot_block_to`]);
//! - stores times and durations with `DELTA_BINARY_PACKED`, which every Parquet reader
//!   supports;
//! - is compressed with [`Compression`], zstd by default;
//! - names its table and schema version in the key-value metadata
//!   ([`SCHEMA_VERSION_KEY`], [`TABLE_KEY`]).
//!
//! Rows are reordered a few thousand at a time, so writing a file needs little extra memory
//! besides the input batch and the output.

use crate::error::StoreError;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampNanosecondType;
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_select::take::take_record_batch;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as Codec, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::{KeyValue, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use std::io::Write;
use tracegate_model::schema::{
    self, LOGS_SCHEMA_VERSION, LOGS_TABLE, SCHEMA_VERSION_KEY, SCORES_SCHEMA_VERSION, SCORES_TABLE,
    SPANS_SCHEMA_VERSION, SPANS_TABLE, TABLE_KEY, TRACES_SCHEMA_VERSION, TRACES_TABLE, col,
    logs_col, scores_col, traces_col,
};

/// The compression codec of Parquet pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// zstd level 3: the best size for the CPU spent. The default.
    #[default]
    Zstd,
    /// gzip level 6, for readers without zstd.
    Gzip,
    /// snappy: fastest, largest.
    Snappy,
    /// No compression.
    None,
}

impl Compression {
    fn codec(self) -> Codec {
        match self {
            Compression::Zstd => Codec::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()),
            Compression::Gzip => Codec::GZIP(GzipLevel::default()),
            Compression::Snappy => Codec::SNAPPY,
            Compression::None => Codec::UNCOMPRESSED,
        }
    }
}

/// How files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterOptions {
    /// Page compression.
    pub compression: Compression,
    /// Rows per row group. More rows compress better; fewer let a trace-id lookup skip more.
    pub row_group_rows: usize,
}

impl WriterOptions {
    /// 64 Ki rows per row group.
    pub const DEFAULT_ROW_GROUP_ROWS: usize = 65_536;
    /// Upper bound on a row group's encoded size, whatever its row count.
    pub const MAX_ROW_GROUP_BYTES: usize = 128 * 1024 * 1024;
    /// False-positive rate of the trace_id bloom filter.
    pub const BLOOM_FILTER_FPP: f64 = 0.01;

    /// The Parquet writer properties of a `spans` file.
    pub fn properties(&self) -> WriterProperties {
        let start_time = schema::spans_schema()
            .index_of(col::START_TIME)
            .unwrap_or(9);
        self.properties_for(SPANS_TABLE, SPANS_SCHEMA_VERSION, start_time)
    }

    /// The Parquet writer properties of a hot-store block: a `spans` file as
    /// [`Self::properties`] gives, without what only cold reads use. The hot store finds
    /// traces through its in-memory index, so the block keeps no bloom filter and no
    /// statistics but those of `trace_id`: computing min/max of every string column per page
    /// and hashing every id was a quarter of the Parquet writer's time (measured with
    /// `examples/block_write`), for the same file size.
    pub fn hot_block_properties(&self) -> WriterProperties {
        let start_time = schema::spans_schema()
            .index_of(col::START_TIME)
            .unwrap_or(9);
        self.properties_of(SPANS_TABLE, SPANS_SCHEMA_VERSION, start_time, false)
    }

    /// The Parquet writer properties of a `traces` file.
    pub fn traces_properties(&self) -> WriterProperties {
        let start_time = schema::traces_schema()
            .index_of(traces_col::START_TIME)
            .unwrap_or(3);
        self.properties_for(TRACES_TABLE, TRACES_SCHEMA_VERSION, start_time)
    }

    /// The Parquet writer properties of a `logs` file.
    pub fn logs_properties(&self) -> WriterProperties {
        let time = schema::logs_schema().index_of(logs_col::TIME).unwrap_or(2);
        self.properties_for(LOGS_TABLE, LOGS_SCHEMA_VERSION, time)
    }

    /// The Parquet writer properties of a `scores` file.
    pub fn scores_properties(&self) -> WriterProperties {
        let time = schema::scores_schema()
            .index_of(scores_col::TIME)
            .unwrap_or(2);
        self.properties_for(SCORES_TABLE, SCORES_SCHEMA_VERSION, time)
    }

    /// Properties of a file of `table`, whose first column is `trace_id` and whose start
    /// time is column `start_time`.
    fn properties_for(&self, table: &str, version: &str, start_time: usize) -> WriterProperties {
        self.properties_of(table, version, start_time, true)
    }

    /// [`Self::properties_for`]; `for_cold_reads` adds the statistics of every column and the
    /// `trace_id` bloom filter.
    fn properties_of(
        &self,
        table: &str,
        version: &str,
        start_time: usize,
        for_cold_reads: bool,
    ) -> WriterProperties {
        let trace_id = ColumnPath::from(col::TRACE_ID);
        // Times and durations in ns are nearly unique, so a dictionary does not pay; their
        // deltas are small (rows are sorted by trace, then start), so DELTA_BINARY_PACKED
        // stores them in about two thirds of the bytes PLAIN + zstd does.
        let delta_columns: &[&str] = match table {
            SPANS_TABLE => &[
                col::START_TIME,
                col::END_TIME,
                col::DURATION_NS,
                col::SELF_TIME_NS,
                col::CRITICAL_PATH_NS,
            ],
            TRACES_TABLE => &[
                traces_col::START_TIME,
                traces_col::END_TIME,
                traces_col::DURATION_NS,
            ],
            LOGS_TABLE => &[logs_col::TIME, logs_col::OBSERVED_TIME],
            _ => &[scores_col::TIME],
        };
        let mut builder = WriterProperties::builder();
        if !for_cold_reads {
            builder = builder.set_statistics_enabled(EnabledStatistics::None);
        }
        if table == SPANS_TABLE {
            // Span ids never repeat: a dictionary only adds a page that every trace-id lookup
            // touching the column chunk reads whole. PLAIN + zstd is about 6 % smaller files
            // and a third fewer bytes per cold lookup (measured with examples/cold_lookup).
            for column in [col::SPAN_ID, col::PARENT_SPAN_ID] {
                builder = builder.set_column_dictionary_enabled(ColumnPath::from(column), false);
            }
        }
        for &column in delta_columns {
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(column), false)
                .set_column_encoding(ColumnPath::from(column), Encoding::DELTA_BINARY_PACKED);
        }
        let builder = builder
            .set_compression(self.compression.codec())
            .set_max_row_group_row_count(Some(self.row_group_rows.max(1)))
            .set_max_row_group_bytes(Some(Self::MAX_ROW_GROUP_BYTES))
            .set_created_by(format!("tracegate {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(TABLE_KEY.to_owned(), table.to_owned()),
                KeyValue::new(SCHEMA_VERSION_KEY.to_owned(), version.to_owned()),
            ]))
            .set_sorting_columns(Some(vec![
                SortingColumn {
                    column_idx: 0,
                    descending: false,
                    nulls_first: false,
                },
                SortingColumn {
                    column_idx: i32::try_from(start_time).unwrap_or(i32::MAX),
                    descending: false,
                    nulls_first: false,
                },
            ]))
            .set_column_statistics_enabled(trace_id.clone(), EnabledStatistics::Page);
        if !for_cold_reads {
            return builder.build();
        }
        builder
            .set_column_bloom_filter_enabled(trace_id.clone(), true)
            .set_column_bloom_filter_fpp(trace_id, Self::BLOOM_FILTER_FPP)
            .build()
    }
}

impl Default for WriterOptions {
    fn default() -> Self {
        Self {
            compression: Compression::default(),
            row_group_rows: Self::DEFAULT_ROW_GROUP_ROWS,
        }
    }
}

/// The row order that sorts a batch of the spans (or traces) schema by `trace_id`, then
/// `start_time`.
///
/// [`SpanEncoder`](crate::SpanEncoder) already knows this order from the raw ids and gives
/// it with its batch; this is for batches from elsewhere.
pub fn sort_order(batch: &RecordBatch) -> Result<Vec<u32>, StoreError> {
    let column = |name: &'static str| {
        batch
            .column_by_name(name)
            .ok_or(StoreError::Schema { column: name })
    };
    let ids = column(col::TRACE_ID)?
        .as_string_opt::<i32>()
        .ok_or(StoreError::Schema {
            column: col::TRACE_ID,
        })?;
    let starts = column(col::START_TIME)?
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or(StoreError::Schema {
            column: col::START_TIME,
        })?;
    let rows = u32::try_from(batch.num_rows()).map_err(|_| {
        StoreError::arrow("sort rows")(arrow_schema::ArrowError::InvalidArgumentError(format!(
            "{} rows are more than a file holds",
            batch.num_rows()
        )))
    })?;
    // Both columns are non-nullable in the schema; a null (from elsewhere) sorts first, as
    // Arrow's sort does by default.
    let id = |i: u32| ids.is_valid(i as usize).then(|| ids.value(i as usize));
    let start = |i: u32| {
        starts
            .is_valid(i as usize)
            .then(|| starts.value(i as usize))
    };
    let mut order: Vec<u32> = (0..rows).collect();
    order.sort_by(|&a, &b| id(a).cmp(&id(b)).then_with(|| start(a).cmp(&start(b))));
    Ok(order)
}

/// Writes `batch` as one Parquet file in memory, rows reordered by `order` (computed with
/// [`sort_order`] when `None`).
pub fn write_spans(
    batch: &RecordBatch,
    order: Option<&[u32]>,
    options: &WriterOptions,
) -> Result<Bytes, StoreError> {
    let out = write_spans_to(Vec::new(), batch, order, options)?;
    Ok(Bytes::from(out))
}

/// As [`write_spans`], into any writer. Returns the writer.
pub fn write_spans_to<W: Write + Send>(
    sink: W,
    batch: &RecordBatch,
    order: Option<&[u32]>,
    options: &WriterOptions,
) -> Result<W, StoreError> {
    write_rows_to(sink, batch, order, options, options.properties())
}

/// As [`write_spans_to`], with [`WriterOptions::hot_block_properties`]: a hot-store block.
pub fn write_hot_block_to<W: Write + Send>(
    sink: W,
    batch: &RecordBatch,
    order: Option<&[u32]>,
    options: &WriterOptions,
) -> Result<W, StoreError> {
    write_rows_to(sink, batch, order, options, options.hot_block_properties())
}

/// Writes `batch`, a batch of the `traces` schema, as one Parquet file in memory, rows
/// reordered by `order` (computed with [`sort_order`] when `None`). The file has the same
/// layout as a spans file: sorted by (trace_id, start_time), statistics and a bloom filter
/// on trace_id, and the table and schema version in its metadata.
pub fn write_traces(
    batch: &RecordBatch,
    order: Option<&[u32]>,
    options: &WriterOptions,
) -> Result<Bytes, StoreError> {
    let out = write_rows_to(
        Vec::new(),
        batch,
        order,
        options,
        options.traces_properties(),
    )?;
    Ok(Bytes::from(out))
}

/// Writes `batch`, a batch of the `logs` schema, as one Parquet file in memory, rows
/// reordered by `order` ([`LogEncoder`](crate::LogEncoder) gives it; required, since
/// [`sort_order`] knows only the spans and traces tables). Same layout as a spans file:
/// statistics and a bloom filter on trace_id, the table and schema version in its metadata.
pub fn write_logs(
    batch: &RecordBatch,
    order: &[u32],
    options: &WriterOptions,
) -> Result<Bytes, StoreError> {
    let out = write_rows_to(
        Vec::new(),
        batch,
        Some(order),
        options,
        options.logs_properties(),
    )?;
    Ok(Bytes::from(out))
}

/// Writes `batch`, a batch of the `scores` schema, as [`write_logs`] does (the order from
/// [`ScoreEncoder`](crate::ScoreEncoder)).
pub fn write_scores(
    batch: &RecordBatch,
    order: &[u32],
    options: &WriterOptions,
) -> Result<Bytes, StoreError> {
    let out = write_rows_to(
        Vec::new(),
        batch,
        Some(order),
        options,
        options.scores_properties(),
    )?;
    Ok(Bytes::from(out))
}

/// Rows reordered (copied in file order) at a time.
const REORDER_ROWS: usize = 4096;

fn write_rows_to<W: Write + Send>(
    sink: W,
    batch: &RecordBatch,
    order: Option<&[u32]>,
    options: &WriterOptions,
    properties: WriterProperties,
) -> Result<W, StoreError> {
    let computed;
    let order = match order {
        Some(order) => order,
        None => {
            computed = sort_order(batch)?;
            &computed
        }
    };
    if order.len() != batch.num_rows() {
        return Err(StoreError::Arrow {
            context: "reorder rows",
            source: arrow_schema::ArrowError::InvalidArgumentError(format!(
                "the order has {} rows, the batch {}",
                order.len(),
                batch.num_rows()
            )),
        });
    }
    let mut writer = ArrowWriter::try_new(sink, batch.schema(), Some(properties))
        .map_err(StoreError::parquet("start a Parquet file"))?;
    if order.iter().enumerate().all(|(i, &row)| row as usize == i) {
        // Already in order (the caller pushed the rows sorted): write the columns as they
        // are, with no copy.
        writer
            .write(batch)
            .map_err(StoreError::parquet("write a row group"))?;
        return writer
            .into_inner()
            .map_err(StoreError::parquet("finish the Parquet file"));
    }
    // Reorder a few thousand rows at a time: the writer appends them to the open row group
    // (cut at `row_group_rows`), and the reordered copy stays small enough to be reused from
    // the allocator's cache, warm, instead of a row group's worth of fresh pages each time.
    for chunk in order.chunks(REORDER_ROWS.min(options.row_group_rows).max(1)) {
        let indices = UInt32Array::from(chunk.to_vec());
        let rows = take_record_batch(batch, &indices).map_err(StoreError::arrow("reorder rows"))?;
        writer
            .write(&rows)
            .map_err(StoreError::parquet("write a row group"))?;
    }
    writer
        .into_inner()
        .map_err(StoreError::parquet("finish the Parquet file"))
}

#[cfg(test)]
mod tests;
