use super::*;
use crate::read::spans_from_batch;
use crate::testing;
use crate::{SpanEncoder, WriterOptions, write_spans};
use object_store::PutPayload;
use object_store::memory::InMemory;
use proptest::prelude::*;
use std::collections::BTreeSet;
use tracegate_model::{Span, TraceId};
use tracegate_testkit::Profile;

struct Fixture {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
    spans: Vec<Span>,
    row_groups: usize,
}

async fn fixture(traces: usize, row_group_rows: usize) -> Fixture {
    let spans = testing::testkit_spans(traces, Profile::Rag);
    let mut encoder = SpanEncoder::new();
    spans.iter().for_each(|s| encoder.push(s));
    let encoded = encoder.finish().unwrap();
    let options = WriterOptions {
        row_group_rows,
        ..Default::default()
    };
    let file = write_spans(&encoded.batch, Some(&encoded.order), &options).unwrap();
    let size = file.len() as u64;
    let row_groups = testing::read_parquet(file.clone()).1.num_row_groups();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let path = Path::from("spans/dt=2026-11-22/hour=06/gw-1.parquet");
    store.put(&path, PutPayload::from(file)).await.unwrap();
    Fixture {
        store,
        path,
        size,
        spans,
        row_groups,
    }
}

impl Fixture {
    fn file(&self, fetched: &Arc<AtomicU64>) -> ObjectFile {
        ObjectFile::new(
            self.store.clone(),
            self.path.clone(),
            self.size,
            fetched.clone(),
        )
    }

    fn span_ids_of(&self, id: TraceId) -> BTreeSet<String> {
        self.spans
            .iter()
            .filter(|s| s.trace_id == id)
            .map(|s| s.span_id.to_hex())
            .collect()
    }
}

fn found_span_ids(m: &FileMatch) -> BTreeSet<String> {
    m.batches
        .iter()
        .flat_map(|b| spans_from_batch(b, None).unwrap())
        .map(|s| s.span_id.to_hex())
        .collect()
}

#[tokio::test]
async fn a_present_trace_is_found_whole_reading_one_or_two_row_groups() {
    let f = fixture(120, 64).await;
    assert!(f.row_groups >= 10, "{} row groups", f.row_groups);
    let fetched = Arc::new(AtomicU64::new(0));
    let footer = load_footer(&mut f.file(&fetched)).await.unwrap();
    let footer_bytes = fetched.swap(0, Ordering::Relaxed);
    assert!(
        footer_bytes > 0 && footer_bytes < f.size,
        "{footer_bytes} of {}",
        f.size
    );
    assert_eq!(footer.trace_id_leaf, Some(0));
    assert!(footer.memory_bytes > 0);

    let ids: Vec<TraceId> = {
        let mut seen = Vec::new();
        for s in &f.spans {
            if !seen.contains(&s.trace_id) {
                seen.push(s.trace_id);
            }
        }
        seen
    };
    for &id in ids.iter().step_by(13) {
        fetched.store(0, Ordering::Relaxed);
        let m = find_in_file(f.file(&fetched), &footer, &id.to_hex(), None, usize::MAX)
            .await
            .unwrap();
        assert_eq!(found_span_ids(&m), f.span_ids_of(id), "trace {id}");
        assert!((1..=2).contains(&m.row_groups_read), "{m:?}");
        assert!(m.pruned_by_statistics >= f.row_groups - 2, "{m:?}");
        let read = fetched.load(Ordering::Relaxed);
        assert!(read < f.size / 4, "read {read} of {} bytes", f.size);
        // Every row found is the trace's.
        for b in &m.batches {
            let col = b.column_by_name(col::TRACE_ID).unwrap();
            let col = arrow_array::cast::AsArray::as_string::<i32>(col.as_ref());
            assert!(col.iter().all(|v| v == Some(id.to_hex().as_str())));
        }
    }
}

#[tokio::test]
async fn an_absent_trace_reads_no_data_pages() {
    let f = fixture(120, 64).await;
    let fetched = Arc::new(AtomicU64::new(0));
    let footer = load_footer(&mut f.file(&fetched)).await.unwrap();
    let mut read_any = 0;
    for i in 0..20u8 {
        let mut id = [0x5a; 16];
        id[15] = i;
        id[0] = i.wrapping_mul(13);
        let id = TraceId(id);
        assert!(f.span_ids_of(id).is_empty());
        fetched.store(0, Ordering::Relaxed);
        let m = find_in_file(f.file(&fetched), &footer, &id.to_hex(), None, usize::MAX)
            .await
            .unwrap();
        assert!(m.batches.is_empty());
        assert_eq!(
            m.pruned_by_statistics + m.pruned_by_bloom + m.row_groups_read,
            f.row_groups
        );
        read_any += m.row_groups_read;
        // At most one bloom filter was fetched, no data.
        assert!(
            fetched.load(Ordering::Relaxed) < 64 * 1024,
            "{}",
            fetched.load(Ordering::Relaxed)
        );
    }
    // The bloom filter's 1% false positives: at most a couple of 20 read a row group.
    assert!(read_any <= 2, "{read_any}");
    // Outside the file's id range, the statistics alone answer.
    let m = find_in_file(
        f.file(&fetched),
        &footer,
        "ffffffffffffffffffffffffffffffff",
        None,
        usize::MAX,
    )
    .await
    .unwrap();
    assert_eq!(m.pruned_by_statistics, f.row_groups);
}

#[tokio::test]
async fn a_file_without_spans_columns_has_nothing() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let batch = RecordBatch::try_from_iter([(
        "other",
        Arc::new(arrow_array::StringArray::from(vec!["a"])) as arrow_array::ArrayRef,
    )])
    .unwrap();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let path = Path::from("x.parquet");
    let size = buf.len() as u64;
    store.put(&path, PutPayload::from(buf)).await.unwrap();
    assert_eq!(object_size(store.as_ref(), &path).await.unwrap(), size);
    let fetched = Arc::new(AtomicU64::new(0));
    let mut file = ObjectFile::new(store.clone(), path.clone(), size, fetched.clone());
    let footer = load_footer(&mut file).await.unwrap();
    assert_eq!(footer.trace_id_leaf, None);
    let m = find_in_file(file, &footer, "00", None, usize::MAX)
        .await
        .unwrap();
    assert!(m.batches.is_empty() && m.row_groups_read == 0);

    // Not Parquet at all: an error naming what was being done.
    let junk = Path::from("junk.parquet");
    store
        .put(&junk, PutPayload::from_static(b"not parquet"))
        .await
        .unwrap();
    let e = load_footer(&mut ObjectFile::new(store, junk, 11, fetched))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("footer"), "{e}");
}

#[tokio::test]
async fn byte_ranges_are_sliced_from_merged_fetches_and_counted_as_transferred() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = Path::from("f");
    store
        .put(&path, PutPayload::from(data.clone()))
        .await
        .unwrap();
    let fetched = Arc::new(AtomicU64::new(0));
    let mut file = ObjectFile::new(store, path, data.len() as u64, fetched.clone());
    let ranges = vec![
        100..200,
        150..300,
        5_000..5_010,
        120_000..120_000,
        2_500_000..2_549_999,
        0..10,
    ];
    let got = file.get_byte_ranges(ranges.clone()).await.unwrap();
    for (r, bytes) in ranges.iter().zip(&got) {
        assert_eq!(&bytes[..], &data[r.start as usize..r.end as usize], "{r:?}");
    }
    // Merged: 0..5_010 (gaps under COALESCE_GAP_BYTES) and 2_500_000..2_549_999.
    assert_eq!(fetched.load(Ordering::Relaxed), 5_010 + 49_999);
}

proptest! {
    #[test]
    fn coalesced_ranges_cover_every_range_and_keep_far_ones_apart(
        ranges in proptest::collection::vec((0u64..10_000, 0u64..500), 0..30),
        gap in 0u64..300,
    ) {
        let ranges: Vec<Range<u64>> = ranges.into_iter().map(|(s, l)| s..s + l).collect();
        let merged = coalesce(&ranges, gap);
        for r in ranges.iter().filter(|r| r.start < r.end) {
            prop_assert!(merged.iter().any(|m| m.start <= r.start && r.end <= m.end), "{:?}", r);
        }
        for w in merged.windows(2) {
            prop_assert!(w[0].end + gap < w[1].start, "{:?}", w);
        }
        // Every merged byte is in some range or in a gap of at most `gap`.
        let covered: u64 = merged.iter().map(|m| m.end - m.start).sum();
        let total: u64 = ranges.iter().map(|r| r.end.saturating_sub(r.start)).sum();
        prop_assert!(covered <= total + gap * ranges.len() as u64);
    }
}

/// A bloom store in a map, counting what it was asked.
#[derive(Default)]
struct MapBlooms(std::sync::Mutex<std::collections::HashMap<usize, Option<Arc<Sbbf>>>>);

impl BloomStore for MapBlooms {
    fn get(&self, row_group: usize) -> Option<Option<Arc<Sbbf>>> {
        self.0.lock().unwrap().get(&row_group).cloned()
    }
    fn put(&self, row_group: usize, bloom: Option<Arc<Sbbf>>) {
        self.0.lock().unwrap().insert(row_group, bloom);
    }
}

#[tokio::test]
async fn known_bloom_filters_are_not_fetched_again() {
    let f = fixture(120, 64).await;
    let fetched = Arc::new(AtomicU64::new(0));
    let footer = load_footer(&mut f.file(&fetched)).await.unwrap();
    let blooms = MapBlooms::default();
    let id = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a00";
    fetched.store(0, Ordering::Relaxed);
    let first = find_in_file(f.file(&fetched), &footer, id, Some(&blooms), usize::MAX)
        .await
        .unwrap();
    assert_eq!(first.blooms_fetched, 1);
    assert!(fetched.load(Ordering::Relaxed) > 0);
    fetched.store(0, Ordering::Relaxed);
    let second = find_in_file(f.file(&fetched), &footer, id, Some(&blooms), usize::MAX)
        .await
        .unwrap();
    assert_eq!(second.blooms_fetched, 0);
    if second.row_groups_read == 0 {
        assert_eq!(fetched.load(Ordering::Relaxed), 0, "nothing fetched at all");
    }
}

#[tokio::test]
async fn reading_stops_past_max_rows() {
    let f = fixture(40, 4).await;
    let fetched = Arc::new(AtomicU64::new(0));
    let footer = load_footer(&mut f.file(&fetched)).await.unwrap();
    let id = f.spans[0].trace_id;
    let all = f.span_ids_of(id).len();
    assert!(all > 5);
    let m = find_in_file(f.file(&fetched), &footer, &id.to_hex(), None, 2)
        .await
        .unwrap();
    assert!(m.truncated);
    let rows: usize = m.batches.iter().map(RecordBatch::num_rows).sum();
    assert!(rows > 2 && rows < all, "{rows} of {all}");
    let m = find_in_file(f.file(&fetched), &footer, &id.to_hex(), None, all)
        .await
        .unwrap();
    assert!(!m.truncated);
    assert_eq!(found_span_ids(&m), f.span_ids_of(id));
}

#[tokio::test]
async fn a_loaded_footer_keeps_only_what_lookups_read() {
    let f = fixture(200, 1024).await;
    let fetched = Arc::new(AtomicU64::new(0));
    let footer = load_footer(&mut f.file(&fetched)).await.unwrap();
    let leaf = footer.trace_id_leaf.unwrap();
    let metadata = footer.metadata.metadata();
    assert!(metadata.num_row_groups() > 1);
    for rg in metadata.row_groups() {
        for (i, column) in rg.columns().iter().enumerate() {
            assert_eq!(column.statistics().is_some(), i == leaf, "column {i}");
        }
    }
    let index = metadata.column_index().unwrap();
    for row_group in index {
        for (i, column) in row_group.iter().enumerate() {
            assert_eq!(
                matches!(column, ColumnIndexMetaData::NONE),
                i != leaf,
                "column {i}"
            );
        }
    }
    // Every column still knows where its pages are.
    let offsets = metadata.offset_index().unwrap();
    assert!(
        offsets
            .iter()
            .flatten()
            .all(|o| !o.page_locations().is_empty())
    );
    // And the footer is smaller than the file's whole one.
    let whole = f
        .file(&fetched)
        .get_metadata(None)
        .await
        .unwrap()
        .memory_size();
    assert!(
        footer.memory_bytes < whole,
        "{} vs {whole}",
        footer.memory_bytes
    );
}
