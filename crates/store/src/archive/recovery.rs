//! The archive's recovery at start, with the write-ahead log on: which replayed spans are
//! archived already.
//!
//! 1. read the intent journal (`journal.rs`), skipping a torn last line and counting damaged
//!    ones;
//! 2. drop the entries whose newest record is below this exporter's checkpoint
//!    ([`Release::replay_floor`]): none of their spans is replayed;
//! 3. read each remaining object back: not found means its upload never happened; found, its
//!    ids go into the [`DoneSets`] (`trace_id` and `span_id` of a spans file, `trace_id` of a
//!    traces file, read alone through a projection; the fingerprint of each whole row of a
//!    logs or scores file, `fingerprint.rs`);
//! 4. rewrite the journal with the entries whose object was found: they stay needed until the
//!    checkpoint passes them.
//!
//! Errors of the store are retried with the uploads' backoff for as long as it takes: while
//! the store is unreachable the exporter does not start, and the pipeline holds new payloads
//! back (the receivers answer with a retryable status once the buffers fill). A permanent
//! error (credentials, a missing bucket) marks the exporter degraded until it clears.

use super::durable::DoneSets;
use super::fingerprint;
use super::journal::Journal;
use super::retry::{blocking, retry};
use super::upload::Shared;
use crate::error::StoreError;
use crate::layout::{LOGS_TABLE, SCORES_TABLE, SPANS_TABLE};
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use bytes::Bytes;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::sync::Arc;
use tracegate_model::schema::col;
use tracegate_model::{SpanId, TraceId};
use tracegate_pipeline::durability::Release;

/// Recovers the ids archived by uploads the journal says may have happened, remembering at
/// most `limit`; `None` when there are none.
pub(super) async fn recover(
    shared: &Arc<Shared>,
    release: &Release,
    journal: &Journal,
    limit: usize,
) -> Option<DoneSets> {
    let name = shared.name.as_str();
    let contents = retry(shared, "read the archive's intent journal", || {
        let journal = journal.clone();
        async move {
            let dir = journal.dir().to_owned();
            blocking("read", &dir, move || journal.read()).await
        }
    })
    .await;
    if contents.damaged > 0 || contents.torn {
        tracing::warn!(
            exporter = name,
            damaged_lines = contents.damaged,
            torn_last_line = contents.torn,
            "archive intent journal: skipped damaged lines; uploads they named may be archived twice"
        );
    }
    let floor = release.replay_floor();
    let mut done = DoneSets::new(limit);
    let mut kept = Vec::new();
    let (mut missing, mut unreadable) = (0usize, 0usize);
    for entry in contents.entries.into_iter().filter(|e| e.max_lsn >= floor) {
        let path = Path::from(entry.path.as_str());
        let Some(bytes) = retry(shared, "read back an archived file", || {
            fetch(shared, &path)
        })
        .await
        else {
            missing += 1;
            continue;
        };
        let table = entry.table;
        // With multi-tenancy the file's `tenant=` level: its ids are that tenant's.
        let tenant = crate::layout::tenant_of_path(shared.destination.prefix(), table, &entry.path);
        let exporter = shared.name.clone();
        let read = tokio::task::spawn_blocking(move || {
            let read = read_ids(&exporter, bytes, table, tenant.as_deref(), &mut done);
            (done, read)
        })
        .await;
        match read {
            Ok((back, Ok(()))) => {
                done = back;
                done.covers(entry.max_lsn);
                kept.push(entry);
            }
            Ok((back, Err(e))) => {
                done = back;
                unreadable += 1;
                tracing::error!(exporter = name, path = %path, error = %e, "archive recovery: could not read back an archived file; spans it holds may be archived twice");
            }
            Err(e) => {
                tracing::error!(exporter = name, error = %e, "archive recovery stopped early; replayed spans may be archived twice");
                done = DoneSets::new(limit);
                break;
            }
        }
    }
    let files = kept.len();
    retry(shared, "rewrite the archive's intent journal", || {
        let (journal, kept) = (journal.clone(), kept.clone());
        async move {
            let dir = journal.dir().to_owned();
            blocking("rewrite", &dir, move || journal.replace(kept)).await
        }
    })
    .await;
    tracing::info!(
        exporter = name,
        files,
        never_uploaded = missing,
        unreadable,
        ids = done.len(),
        ids_not_remembered = done.dropped(),
        "archive recovery: read back the files uploaded before the restart"
    );
    done.record(name);
    (!done.is_empty()).then_some(done)
}

/// The object at `path`, or `None` if it does not exist.
async fn fetch(shared: &Shared, path: &Path) -> Result<Option<Bytes>, StoreError> {
    let failed = |op: &'static str| {
        move |source: object_store::Error| StoreError::ObjectStore {
            op,
            path: path.to_string(),
            source,
        }
    };
    let store = shared.destination.open().await?;
    match store.get(path).await {
        Ok(found) => found.bytes().await.map(Some).map_err(failed("read")),
        Err(e @ object_store::Error::NotFound { .. }) if !missing_bucket(&e) => Ok(None),
        Err(e) => Err(failed("get")(e)),
    }
}

/// A 404 for the bucket rather than the key: the store is misconfigured, not empty.
fn missing_bucket(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.to_string().contains("NoSuchBucket") {
            return true;
        }
        next = e.source();
    }
    false
}

/// Adds the ids of an archived file of `table` to `done`.
fn read_ids(
    exporter: &str,
    file: Bytes,
    table: &'static str,
    tenant: Option<&str>,
    done: &mut DoneSets,
) -> Result<(), StoreError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(StoreError::parquet("open an archived file"))?;
    if table == LOGS_TABLE || table == SCORES_TABLE {
        // No ids: every column, for the rows' fingerprints.
        let reader = builder
            .build()
            .map_err(StoreError::parquet("read an archived file"))?;
        for batch in reader {
            let batch = batch.map_err(StoreError::arrow("read an archived file"))?;
            for row in fingerprint::rows(&batch)? {
                done.add_row(exporter, table, tenant, row);
            }
        }
        return Ok(());
    }
    let spans = table == SPANS_TABLE;
    let wanted: &[&'static str] = if spans {
        &[col::TRACE_ID, col::SPAN_ID]
    } else {
        &[col::TRACE_ID]
    };
    let mut roots = Vec::with_capacity(wanted.len());
    for &column in wanted {
        let index = builder
            .schema()
            .index_of(column)
            .map_err(|_| StoreError::Schema { column })?;
        roots.push(index);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(StoreError::parquet("read an archived file"))?;
    for batch in reader {
        let batch = batch.map_err(StoreError::arrow("read an archived file"))?;
        let traces = hex_column(&batch, col::TRACE_ID)?;
        if spans {
            let span_ids = hex_column(&batch, col::SPAN_ID)?;
            for (t, s) in traces.iter().zip(span_ids.iter()) {
                let (Some(t), Some(s)) = (t, s) else { continue };
                if let (Ok(t), Ok(s)) = (TraceId::from_hex(t), SpanId::from_hex(s)) {
                    done.add_span(exporter, tenant, t, s);
                }
            }
        } else {
            for t in traces.iter().flatten() {
                if let Ok(t) = TraceId::from_hex(t) {
                    done.add_trace(exporter, tenant, t);
                }
            }
        }
    }
    Ok(())
}

fn hex_column<'a>(
    batch: &'a RecordBatch,
    column: &'static str,
) -> Result<&'a arrow_array::StringArray, StoreError> {
    batch
        .column_by_name(column)
        .and_then(|a| a.as_string_opt::<i32>())
        .filter(|a| a.len() == batch.num_rows())
        .ok_or(StoreError::Schema { column })
}
