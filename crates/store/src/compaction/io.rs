//! The hour's objects: finding the hours due, listing one, reading and committing its
//! record, deleting files, and the tables' root records.

use super::plan::{FileEntry, due};
use super::record::{RECORD_NAME, Record};
use super::run::{Compactor, HourDir, TABLES};
use crate::error::StoreError;
use crate::layout::hour_of_path;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};

impl Compactor {
    /// The hour directories of both tables (and every tenant) that ended between
    /// `min_age_secs` and `max_age_secs` before `now_secs`, oldest first.
    pub async fn hours(
        &self,
        now_secs: u64,
        min_age_secs: u64,
        max_age_secs: u64,
    ) -> Result<Vec<HourDir>, StoreError> {
        let mut hours = Vec::new();
        for table in TABLES {
            let root = self.prefix.clone().join(table);
            let mut dirs = vec![root];
            // Down through `tenant=` and `dt=` levels to the `hour=` directories.
            while let Some(dir) = dirs.pop() {
                let listed =
                    self.store
                        .list_with_delimiter(Some(&dir))
                        .await
                        .map_err(|source| StoreError::ObjectStore {
                            op: "list",
                            path: dir.to_string(),
                            source,
                        })?;
                for sub in listed.common_prefixes {
                    let Some(last) = sub.filename() else { continue };
                    if last.starts_with("tenant=") {
                        dirs.push(sub);
                    } else if let Some(day) = last.strip_prefix("dt=") {
                        if day_in_range(day, now_secs, min_age_secs, max_age_secs) {
                            dirs.push(sub);
                        }
                    } else if last.starts_with("hour=")
                        && let Some(hour) = hour_of_path(sub.as_ref())
                        && due(hour, now_secs, min_age_secs, max_age_secs)
                    {
                        hours.push(HourDir {
                            table,
                            dir: sub,
                            hour,
                        });
                    }
                }
            }
        }
        hours.sort_by(|a, b| a.hour.cmp(&b.hour).then_with(|| a.dir.cmp(&b.dir)));
        Ok(hours)
    }

    pub(super) async fn list_hour(&self, dir: &Path) -> Result<Vec<FileEntry>, StoreError> {
        let listed: Vec<_> = self
            .store
            .list(Some(dir))
            .try_collect()
            .await
            .map_err(|source| StoreError::ObjectStore {
                op: "list",
                path: dir.to_string(),
                source,
            })?;
        Ok(listed
            .into_iter()
            .filter_map(|m| {
                Some(FileEntry {
                    name: m.location.filename()?.to_owned(),
                    size: m.size,
                })
            })
            .collect())
    }

    pub(super) async fn read_record(
        &self,
        dir: &Path,
    ) -> Result<Option<(Record, UpdateVersion)>, StoreError> {
        let path = dir.clone().join(RECORD_NAME);
        let got = match self.store.get(&path).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => {
                return Err(StoreError::ObjectStore {
                    op: "read",
                    path: path.to_string(),
                    source,
                });
            }
        };
        let version = UpdateVersion {
            e_tag: got.meta.e_tag.clone(),
            version: got.meta.version.clone(),
        };
        let bytes = got
            .bytes()
            .await
            .map_err(|source| StoreError::ObjectStore {
                op: "read",
                path: path.to_string(),
                source,
            })?;
        let record = Record::parse(&bytes).map_err(|reason| StoreError::Compaction {
            dir: dir.to_string(),
            reason: format!("{RECORD_NAME}: {reason}; the hour is left alone"),
        })?;
        Ok(Some((record, version)))
    }

    pub(super) async fn commit(
        &self,
        dir: &Path,
        record: &Record,
        previous: Option<&UpdateVersion>,
    ) -> Result<(), StoreError> {
        let path = dir.clone().join(RECORD_NAME);
        let mode = match previous {
            None => PutMode::Create,
            Some(v) if self.conditional_update => PutMode::Update(v.clone()),
            // A local disk has no conditional update: the lease keeps other compactors out.
            Some(_) => PutMode::Overwrite,
        };
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(record.to_json()), opts)
            .await
        {
            Ok(_) => Ok(()),
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(StoreError::Compaction {
                dir: dir.to_string(),
                reason: "another compactor committed first; this run's files were deleted".into(),
            }),
            Err(source) => Err(StoreError::ObjectStore {
                op: "commit",
                path: path.to_string(),
                source,
            }),
        }
    }

    pub(super) async fn delete(&self, dir: &Path, names: &[String]) -> Result<(), StoreError> {
        if names.is_empty() {
            return Ok(());
        }
        let paths: Vec<object_store::Result<Path>> = names
            .iter()
            .map(|n| Ok(dir.clone().join(n.as_str())))
            .collect();
        let mut results = self
            .store
            .delete_stream(futures::stream::iter(paths).boxed());
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(source) => {
                    return Err(StoreError::ObjectStore {
                        op: "delete",
                        path: dir.to_string(),
                        source,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Writes an empty record at each table's root, `{table}/_compaction.json`, if there is
/// none: from then on a DuckDB query over `{table}/**/_compaction.json` always finds a file
/// (DuckDB refuses a glob that matches nothing), also once every compacted hour is gone.
/// The compactor writes it before its first output, so an archive no compaction touched
/// has none (and needs none: a plain glob reads it exactly).
pub async fn mark_tables(
    store: &dyn ObjectStore,
    prefix: &Path,
    owner: &str,
) -> Result<(), StoreError> {
    let empty = Record {
        version: super::record::RECORD_VERSION,
        by: owner.to_owned(),
        ..Record::default()
    };
    for table in TABLES {
        let path = prefix.clone().join(table).join(RECORD_NAME);
        let create = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        match store
            .put_opts(&path, PutPayload::from(empty.to_json()), create)
            .await
        {
            Ok(_)
            | Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => {}
            Err(source) => {
                return Err(StoreError::ObjectStore {
                    op: "write",
                    path: path.to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

/// Whether a `dt=YYYY-MM-DD` day holds any hour due.
fn day_in_range(day: &str, now_secs: u64, min_age: u64, max_age: u64) -> bool {
    let Some(first) = hour_of_path(&format!("dt={day}/hour=00")) else {
        return false;
    };
    let start = first.hours_since_epoch() * 3_600;
    let end = start + 86_400;
    // Some hour of the day ended in [now - max_age, now - min_age].
    end <= now_secs.saturating_sub(min_age) + 86_400
        && end >= now_secs.saturating_sub(max_age)
        && start < now_secs
}
