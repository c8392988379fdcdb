//! [`CompactionView`]: an object store whose listings show each hour's files as a reader
//! should count them, through compactions that run meanwhile.
//!
//! It passes every call through to the store it wraps, and filters what `list` and
//! `list_with_delimiter` return: in each hour directory listed, the files the hour's
//! [`Record`] does not count ([`visible`]) are left out. A listing is not a snapshot: a
//! compaction may commit while it runs. So after a listing, the view reads each listed
//! hour's record again and accepts the hour only if that record is the one the listing
//! showed (the same ETag, or absent from both) and every output it names was listed; an hour
//! that fails is listed again, up to [`MAX_RELISTS`] times. This is exact whatever order the
//! store lists in: a file the record counts is only deleted after a later commit, which
//! would change the record, and an output is written before the commit that names it.
//!
//! The cost is one `GET` per hour directory listed (a 404 for an hour never compacted), 32
//! at a time.

use super::record::{RECORD_NAME, Record, is_data_file, visible};
use crate::layout::hour_of_path;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// Listings of one hour tried at most before the view gives up (with a retryable error).
pub const MAX_RELISTS: usize = 5;
/// Records read at once.
const CONCURRENT_GETS: usize = 32;

/// `inner`, with listings that count each compacted hour's files once.
#[derive(Debug, Clone)]
pub struct CompactionView {
    inner: Arc<dyn ObjectStore>,
}

impl CompactionView {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self { inner }
    }

    /// `objects` (a listing of `inner`) without the files no reader counts.
    pub async fn filter(&self, objects: Vec<ObjectMeta>) -> Result<Vec<ObjectMeta>> {
        filter(&self.inner, objects).await
    }
}

/// The hour directory of a listed object, if it is in one (`…/hour=HH/name`).
fn hour_dir(path: &Path) -> Option<(String, &str)> {
    let text = path.as_ref();
    let (dir, name) = text.rsplit_once('/')?;
    let last = dir.rsplit('/').next()?;
    (last.starts_with("hour=") && hour_of_path(dir).is_some()).then(|| (dir.to_owned(), name))
}

async fn filter(inner: &Arc<dyn ObjectStore>, objects: Vec<ObjectMeta>) -> Result<Vec<ObjectMeta>> {
    let mut out = Vec::with_capacity(objects.len());
    let mut hours: BTreeMap<String, Vec<ObjectMeta>> = BTreeMap::new();
    for meta in objects {
        match hour_dir(&meta.location) {
            Some((dir, _)) => hours.entry(dir).or_default().push(meta),
            None => out.push(meta),
        }
    }
    let settled: Vec<Vec<ObjectMeta>> = stream::iter(hours)
        .map(|(dir, listed)| settle(inner, dir, listed))
        .buffer_unordered(CONCURRENT_GETS)
        .try_collect()
        .await?;
    out.extend(settled.into_iter().flatten());
    Ok(out)
}

/// One hour's listed files, as a reader counts them, listing again until the listing and
/// the record agree.
async fn settle(
    inner: &Arc<dyn ObjectStore>,
    dir: String,
    mut listed: Vec<ObjectMeta>,
) -> Result<Vec<ObjectMeta>> {
    let record_path = Path::from(format!("{dir}/{RECORD_NAME}"));
    for _ in 0..MAX_RELISTS {
        let current = match inner.get(&record_path).await {
            Ok(got) => {
                let meta = got.meta.clone();
                let bytes = got.bytes().await?;
                let record =
                    Record::parse(&bytes).map_err(|reason| object_store::Error::Generic {
                        store: "compaction",
                        source: format!("{record_path}: {reason}").into(),
                    })?;
                Some((meta, record))
            }
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => {
                return Err(object_store::Error::Generic {
                    store: "compaction",
                    source: format!("could not read {record_path}: {e}").into(),
                });
            }
        };
        let listed_record = listed.iter().find(|m| m.location == record_path);
        let same = match (&current, listed_record) {
            (None, None) => true,
            (Some((meta, _)), Some(listed)) => same_version(meta, listed),
            _ => false,
        };
        let outputs_listed = current.as_ref().is_none_or(|(_, record)| {
            record.outputs.iter().all(|o| {
                listed
                    .iter()
                    .any(|m| m.location.filename() == Some(o.as_str()))
            })
        });
        if same && outputs_listed {
            let record = current.map(|(_, r)| r);
            listed.retain(|m| {
                m.location
                    .filename()
                    .is_none_or(|name| !is_data_file(name) || visible(name, record.as_ref()))
            });
            return Ok(listed);
        }
        // A compaction committed while the listing ran: list the hour again.
        listed = inner
            .list(Some(&Path::from(dir.as_str())))
            .try_collect()
            .await?;
    }
    Err(object_store::Error::Generic {
        store: "compaction",
        source: format!(
            "the hour {dir} changed in each of {MAX_RELISTS} listings (compactions committing); try again"
        )
        .into(),
    })
}

fn same_version(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    match (&a.e_tag, &b.e_tag) {
        (Some(x), Some(y)) => x == y,
        _ => a.last_modified == b.last_modified && a.size == b.size,
    }
}

impl fmt::Display for CompactionView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompactionView({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for CompactionView {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.clone();
        let listing = self.inner.list(prefix);
        stream::once(async move {
            let objects: Vec<ObjectMeta> = listing.try_collect().await?;
            filter(&inner, objects).await
        })
        .map_ok(|objects| stream::iter(objects.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let mut result = self.inner.list_with_delimiter(prefix).await?;
        result.objects = filter(&self.inner, std::mem::take(&mut result.objects)).await?;
        Ok(result)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
