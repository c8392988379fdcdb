//! Results as text or files: a table for a terminal, CSV, JSON lines, Parquet, Arrow IPC.

use crate::SqlError;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use std::io::Write;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An aligned table with a header, for a terminal.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row.
    Jsonl,
    /// One JSON array of row objects.
    Json,
    /// A Parquet file (zstd).
    Parquet,
    /// An Arrow IPC stream (`application/vnd.apache.arrow.stream`).
    Arrow,
}

impl Format {
    /// Parses `table`, `csv`, `jsonl`, `json`, `parquet` or `arrow`.
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "table" => Some(Format::Table),
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            "parquet" => Some(Format::Parquet),
            "arrow" | "ipc" => Some(Format::Arrow),
            _ => None,
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Table => "text/plain; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Jsonl => "application/x-ndjson",
            Format::Json => "application/json",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

fn failed(what: &str) -> impl Fn(String) -> SqlError + '_ {
    move |e| SqlError::Execution(format!("could not write the {what} output: {e}"))
}

/// Writes `batches` (of `schema`) to `out` as `format`.
pub fn write(
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: impl Write + Send,
) -> Result<(), SqlError> {
    match format {
        Format::Table => {
            let mut out = out;
            let text = datafusion::arrow::util::pretty::pretty_format_batches(batches)
                .map_err(|e| failed("table")(e.to_string()))?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                writeln!(out, "{}\n(0 rows)", names.join(" | "))
                    .map_err(|e| failed("table")(e.to_string()))?;
                return Ok(());
            }
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            writeln!(
                out,
                "{text}\n({rows} row{})",
                if rows == 1 { "" } else { "s" }
            )
            .map_err(|e| failed("table")(e.to_string()))
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for b in batches {
                writer.write(b).map_err(|e| failed("CSV")(e.to_string()))?;
            }
            Ok(())
        }
        Format::Jsonl => {
            let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                writer.write(b).map_err(|e| failed("JSON")(e.to_string()))?;
            }
            writer.finish().map_err(|e| failed("JSON")(e.to_string()))
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(out);
            for b in batches {
                writer.write(b).map_err(|e| failed("JSON")(e.to_string()))?;
            }
            writer.finish().map_err(|e| failed("JSON")(e.to_string()))
        }
        Format::Parquet => {
            let props = datafusion::parquet::file::properties::WriterProperties::builder()
                .set_compression(datafusion::parquet::basic::Compression::ZSTD(
                    Default::default(),
                ))
                .build();
            let mut writer =
                datafusion::parquet::arrow::ArrowWriter::try_new(out, schema.clone(), Some(props))
                    .map_err(|e| failed("Parquet")(e.to_string()))?;
            for b in batches {
                writer
                    .write(b)
                    .map_err(|e| failed("Parquet")(e.to_string()))?;
            }
            writer
                .close()
                .map(|_| ())
                .map_err(|e| failed("Parquet")(e.to_string()))
        }
        Format::Arrow => {
            let mut writer = datafusion::arrow::ipc::writer::StreamWriter::try_new(out, schema)
                .map_err(|e| failed("Arrow")(e.to_string()))?;
            for b in batches {
                writer
                    .write(b)
                    .map_err(|e| failed("Arrow")(e.to_string()))?;
            }
            writer.finish().map_err(|e| failed("Arrow")(e.to_string()))
        }
    }
}
