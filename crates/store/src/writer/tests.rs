use super::*;
use crate::encoder::SpanEncoder;
use crate::testing::{self, Row, expected_row, is_sorted, read_parquet, rows_of};
use parquet::basic::Compression as Codec;
use parquet::file::properties::ReaderProperties;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;
use std::collections::HashMap;
use tracegate_model::Span;
use tracegate_testkit::Profile;

fn spans() -> Vec<Span> {
    let mut spans = testing::testkit_spans(300, Profile::Rag);
    spans.extend(testing::edge_case_spans());
    spans
}

fn write(spans: &[Span], options: &WriterOptions) -> Bytes {
    let mut encoder = SpanEncoder::new();
    spans.iter().for_each(|s| encoder.push(s));
    let encoded = encoder.finish().unwrap();
    write_spans(&encoded.batch, Some(&encoded.order), options).unwrap()
}

fn by_span_id(rows: Vec<Row>) -> HashMap<(String, String), Row> {
    rows.into_iter()
        .map(|r| ((r.trace_id.clone(), r.span_id.clone()), r))
        .collect()
}

#[test]
fn round_trips_every_column_through_parquet() {
    let spans = spans();
    let file = write(&spans, &WriterOptions::default());
    let (batch, _) = read_parquet(file);
    let rows = rows_of(&batch);
    assert_eq!(rows.len(), spans.len());
    assert!(is_sorted(&rows), "rows sorted by trace_id, then start_time");
    let actual = by_span_id(rows);
    assert_eq!(actual.len(), spans.len(), "span ids are unique per trace");
    for span in &spans {
        let expected = expected_row(span);
        let key = (expected.trace_id.clone(), expected.span_id.clone());
        assert_eq!(actual[&key], expected, "span {key:?}");
    }
}

#[test]
fn sorts_batches_from_elsewhere_too() {
    let spans = spans();
    let batch = SpanEncoder::encode(&spans).unwrap();
    let order = sort_order(&batch).unwrap();
    let file = write_spans(&batch, None, &WriterOptions::default()).unwrap();
    let rows = rows_of(&read_parquet(file).0);
    assert!(is_sorted(&rows));
    assert_eq!(rows.len(), spans.len());
    assert_eq!(order.len(), spans.len());
    let mut seen = order.clone();
    seen.sort_unstable();
    assert!(
        seen.iter().copied().eq(0..spans.len() as u32),
        "a permutation"
    );
    assert!(
        write_spans(&batch, Some(&order[1..]), &WriterOptions::default()).is_err(),
        "wrong length"
    );
}

#[test]
fn row_groups_carry_trace_id_statistics_and_bloom_filters() {
    let spans = testing::testkit_spans(200, Profile::Tiny);
    let options = WriterOptions {
        row_group_rows: 500,
        ..Default::default()
    };
    let file = write(&spans, &options);
    let (batch, metadata) = read_parquet(file.clone());
    let rows = rows_of(&batch);

    let groups = metadata.row_groups();
    assert_eq!(groups.len(), spans.len().div_ceil(500));
    let schema = metadata.file_metadata().schema_descr();
    assert_eq!(schema.column(0).name(), col::TRACE_ID);
    assert_eq!(
        schema.column(9).name(),
        col::START_TIME,
        "sorting_columns index"
    );
    let mut first_row = 0;
    let mut previous_max: Option<Vec<u8>> = None;
    for group in groups {
        let n = group.num_rows() as usize;
        let stats = group.column(0).statistics().expect("trace_id statistics");
        let (min, max) = (
            stats.min_bytes_opt().unwrap(),
            stats.max_bytes_opt().unwrap(),
        );
        assert_eq!(min, rows[first_row].trace_id.as_bytes());
        assert_eq!(max, rows[first_row + n - 1].trace_id.as_bytes());
        if let Some(prev) = &previous_max {
            assert!(prev.as_slice() <= min, "row groups are in trace_id order");
        }
        previous_max = Some(max.to_vec());
        assert!(
            group.column(0).bloom_filter_offset().is_some(),
            "trace_id has a bloom filter"
        );
        assert!(
            group.column(1).bloom_filter_offset().is_none(),
            "span_id has none"
        );
        let sorting = group.sorting_columns().expect("sorting columns");
        assert_eq!(
            sorting.iter().map(|c| c.column_idx).collect::<Vec<_>>(),
            [0, 9]
        );
        first_row += n;
    }

    let options = ReadOptionsBuilder::new()
        .with_reader_properties(
            ReaderProperties::builder()
                .set_read_bloom_filter(true)
                .build(),
        )
        .build();
    let reader = SerializedFileReader::new_with_options(file, options).unwrap();
    let group = reader.get_row_group(0).unwrap();
    let bloom = group.get_column_bloom_filter(0).expect("bloom filter read");
    assert!(bloom.check(rows[0].trace_id.as_str()));
    assert!(bloom.check(rows[499].trace_id.as_str()));
    let absent = (0..1000)
        .filter(|i| bloom.check(format!("{i:032x}").as_str()))
        .count();
    assert!(absent < 50, "{absent} false positives in 1000");
}

#[test]
fn compression_is_as_configured() {
    let spans = testing::testkit_spans(20, Profile::Rag);
    for (setting, codec) in [
        (
            Compression::Zstd,
            Codec::ZSTD(ZstdLevel::try_new(3).unwrap()),
        ),
        (Compression::Gzip, Codec::GZIP(GzipLevel::default())),
        (Compression::Snappy, Codec::SNAPPY),
        (Compression::None, Codec::UNCOMPRESSED),
    ] {
        let file = write(
            &spans,
            &WriterOptions {
                compression: setting,
                ..Default::default()
            },
        );
        let (_, metadata) = read_parquet(file);
        for column in metadata.row_group(0).columns() {
            // The file stores the codec, not the level.
            assert_eq!(
                std::mem::discriminant(&column.compression()),
                std::mem::discriminant(&codec),
                "{setting:?} {}",
                column.column_path()
            );
        }
    }
    assert_eq!(Compression::default(), Compression::Zstd);
}

#[test]
fn key_value_metadata_names_table_and_schema_version() {
    let file = write(&testing::edge_case_spans(), &WriterOptions::default());
    let (batch, metadata) = read_parquet(file);
    let kv: HashMap<_, _> = metadata
        .file_metadata()
        .key_value_metadata()
        .unwrap()
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(kv[SCHEMA_VERSION_KEY], SPANS_SCHEMA_VERSION);
    assert_eq!(kv[TABLE_KEY], "spans");
    assert!(kv.contains_key("ARROW:schema"));
    assert!(
        metadata
            .file_metadata()
            .created_by()
            .unwrap()
            .starts_with("tracegate ")
    );
    // The Arrow schema, with its own metadata, survives the trip.
    assert_eq!(batch.schema(), schema::spans_schema());
}

#[test]
fn an_empty_batch_is_a_valid_file() {
    let file = write(&[], &WriterOptions::default());
    let (batch, metadata) = read_parquet(file);
    assert_eq!(batch.num_rows(), 0);
    assert_eq!(metadata.file_metadata().num_rows(), 0);
}

#[test]
fn times_are_delta_encoded_and_other_columns_keep_their_dictionaries() {
    let spans = testing::testkit_spans(50, Profile::Rag);
    let (_, metadata) = read_parquet(write(&spans, &WriterOptions::default()));
    let group = &metadata.row_groups()[0];
    let encodings = |name: &str| {
        let column = group
            .columns()
            .iter()
            .find(|c| c.column_path().string() == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        column.encodings().collect::<Vec<_>>()
    };
    for name in [
        col::START_TIME,
        col::END_TIME,
        col::DURATION_NS,
        col::SELF_TIME_NS,
        col::CRITICAL_PATH_NS,
    ] {
        let e = encodings(name);
        assert!(e.contains(&Encoding::DELTA_BINARY_PACKED), "{name}: {e:?}");
        assert!(!e.contains(&Encoding::RLE_DICTIONARY), "{name}: {e:?}");
    }
    assert!(encodings(col::SERVICE_NAME).contains(&Encoding::RLE_DICTIONARY));
}

#[test]
fn row_groups_keep_their_size_when_rows_are_reordered_in_smaller_pieces() {
    let spans = testing::testkit_spans(1000, Profile::Tiny);
    assert!(spans.len() > REORDER_ROWS * 2, "{} spans", spans.len());
    let options = WriterOptions {
        row_group_rows: REORDER_ROWS + 1000,
        ..Default::default()
    };
    let (batch, metadata) = read_parquet(write(&spans, &options));
    let sizes: Vec<usize> = metadata
        .row_groups()
        .iter()
        .map(|g| g.num_rows() as usize)
        .collect();
    assert_eq!(sizes.iter().sum::<usize>(), spans.len());
    assert!(
        sizes[..sizes.len() - 1]
            .iter()
            .all(|&n| n == REORDER_ROWS + 1000),
        "{sizes:?}"
    );
    assert!(is_sorted(&rows_of(&batch)));
}

#[test]
fn spans_pushed_in_order_are_written_as_built_and_read_back_the_same() {
    let mut spans = spans();
    let unsorted = write(&spans, &WriterOptions::default());
    spans.sort_by_key(|s| (s.trace_id, s.start_time_unix_nano));
    let mut encoder = SpanEncoder::new();
    spans.iter().for_each(|s| encoder.push(s));
    let encoded = encoder.finish().unwrap();
    assert!(
        encoded
            .order
            .iter()
            .enumerate()
            .all(|(i, &r)| r as usize == i),
        "pushed in order, the order is the identity"
    );
    let options = WriterOptions {
        row_group_rows: 64,
        ..WriterOptions::default()
    };
    let sorted = write_spans(&encoded.batch, Some(&encoded.order), &options).unwrap();
    let (a, _) = read_parquet(unsorted);
    let (b, groups) = read_parquet(sorted.clone());
    assert_eq!(rows_of(&a), rows_of(&b));
    assert!(is_sorted(&rows_of(&b)));
    assert!(
        groups.num_row_groups() > 1,
        "row groups are still cut at row_group_rows"
    );
}

#[test]
fn a_hot_block_holds_the_same_rows_with_trace_id_statistics_only_and_no_bloom_filter() {
    let spans = spans();
    let options = WriterOptions {
        row_group_rows: 128,
        ..Default::default()
    };
    let mut encoder = SpanEncoder::new();
    spans.iter().for_each(|s| encoder.push(s));
    let encoded = encoder.finish().unwrap();
    let hot = Bytes::from(
        write_hot_block_to(Vec::new(), &encoded.batch, Some(&encoded.order), &options).unwrap(),
    );
    let archive = write(&spans, &options);
    let (hot_batch, hot_meta) = read_parquet(hot);
    let (archive_batch, archive_meta) = read_parquet(archive);
    // The same schema, rows, order, metadata and sorting columns as an archive file.
    assert_eq!(hot_batch.schema(), archive_batch.schema());
    assert_eq!(rows_of(&hot_batch), rows_of(&archive_batch));
    assert_eq!(
        hot_meta.file_metadata().key_value_metadata(),
        archive_meta.file_metadata().key_value_metadata()
    );
    assert!(hot_meta.row_groups().len() > 1);
    for (hot, archive) in hot_meta.row_groups().iter().zip(archive_meta.row_groups()) {
        assert_eq!(hot.sorting_columns(), archive.sorting_columns());
        assert!(hot.column(0).statistics().is_some(), "trace_id statistics");
        assert!(
            hot.column(0).bloom_filter_offset().is_none(),
            "no bloom filter"
        );
        assert!(archive.column(0).bloom_filter_offset().is_some());
        for (i, column) in hot.columns().iter().enumerate().skip(1) {
            assert!(
                column.statistics().is_none(),
                "column {i} ({}) has no statistics in a hot block",
                column.column_path()
            );
        }
        assert!(
            archive.column(5).statistics().is_some(),
            "an archive file keeps every column's"
        );
    }
}
