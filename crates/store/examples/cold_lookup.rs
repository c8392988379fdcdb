//! Trace-by-id lookups on an archive of a given size: builds the archive (realistic RAG
//! traces from the test generator, written as the archive writes them), then times
//! `ColdArchive::find_trace` for a few known trace ids and a few absent ones, cold (empty
//! footer cache) and warm.
//!
//! ```text
//! cargo run --release -p tracegate-store --example cold_lookup -- \
//!     --url /tmp/tg-archive --size-mb 200 [--file-mb 64] [--row-group-rows 65536] \
//!     [--lookups 5] [--reuse] [--concurrency 16] [--page-rows N] [--warm-first]
//! ```
//!
//! `--warm-first` runs `ColdArchive::warm` (what the query API does in the background at
//! start) before the lookups, and prints what it fetched and how long it took.
//!
//! `--page-rows N` writes with Parquet pages of at most N rows (the archive writer's
//! default is 1 MiB pages, with no row limit), to see how much smaller pages save a lookup:
//! the lookup reads only the pages that may hold the trace. `--plain-ids` also turns off
//! dictionary encoding for `span_id` and `parent_span_id`, whose values never repeat (a
//! dictionary page is read whole by every lookup that touches the column chunk).
//!
//! `--url` is anything the archive takes: a local directory, `file:///…` or `s3://bucket/prefix`.
//! For S3 the client is configured from the environment; for moto:
//!
//! ```text
//! .venv/bin/moto_server -H 127.0.0.1 -p 5055 &
//! curl -X PUT http://127.0.0.1:5055/tg-bench
//! AWS_ENDPOINT=http://127.0.0.1:5055 AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
//! AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
//!     cargo run --release -p tracegate-store --example cold_lookup -- --url s3://tg-bench/a --size-mb 200
//! ```
//!
//! (moto keeps objects in memory: a multi-GB archive needs that much RAM there.)
//!
//! The ids looked up are recorded in `{prefix}/cold_lookup_ids.txt`, so `--reuse` times
//! lookups on an archive built before without building it again. Files are cut at
//! `--file-mb` of Parquet and at hour boundaries, named and partitioned as the archive
//! exporter names them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tracegate_model::{Span, TraceId};
use tracegate_store::layout::{HourPartition, SPANS_TABLE, file_path};
use tracegate_store::{
    ColdArchive, ColdOptions, Destination, SpanEncoder, WriterOptions, write_spans,
};
use tracegate_testkit::{Generator, GeneratorConfig, Profile};

struct Args {
    url: String,
    size_mb: u64,
    file_mb: u64,
    row_group_rows: usize,
    lookups: usize,
    reuse: bool,
    warm_first: bool,
    concurrency: usize,
    page_rows: Option<usize>,
    plain_ids: bool,
}

fn args() -> Args {
    let mut a = Args {
        url: String::new(),
        size_mb: 100,
        file_mb: 64,
        row_group_rows: WriterOptions::DEFAULT_ROW_GROUP_ROWS,
        lookups: 5,
        reuse: false,
        warm_first: false,
        concurrency: ColdOptions::default().concurrency,
        page_rows: None,
        plain_ids: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value(),
            "--size-mb" => a.size_mb = value().parse().expect("--size-mb: a number"),
            "--file-mb" => a.file_mb = value().parse().expect("--file-mb: a number"),
            "--row-group-rows" => {
                a.row_group_rows = value().parse().expect("--row-group-rows: a number")
            }
            "--lookups" => a.lookups = value().parse().expect("--lookups: a number"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency: a number"),
            "--page-rows" => a.page_rows = Some(value().parse().expect("--page-rows: a number")),
            "--plain-ids" => a.plain_ids = true,
            "--reuse" => a.reuse = true,
            "--warm-first" => a.warm_first = true,
            other => panic!("unknown argument {other}; see the example's docs"),
        }
    }
    assert!(!a.url.is_empty(), "--url is required");
    a
}

const IDS_FILE: &str = "cold_lookup_ids.txt";

/// Writes the spans of one file, split by start hour so each lands in its partition.
async fn flush(
    store: &dyn ObjectStore,
    prefix: &Path,
    spans: &mut Vec<Span>,
    options: &WriterOptions,
    page_rows: Option<usize>,
    plain_ids: bool,
) -> (u64, usize) {
    let mut by_hour: BTreeMap<HourPartition, Vec<&Span>> = BTreeMap::new();
    for s in spans.iter() {
        by_hour
            .entry(HourPartition::of_unix_nanos(s.start_time_unix_nano))
            .or_default()
            .push(s);
    }
    let (mut bytes, mut files) = (0, 0);
    for (hour, spans) in by_hour {
        let mut encoder = SpanEncoder::new();
        spans.iter().for_each(|s| encoder.push(s));
        let encoded = encoder.finish().unwrap();
        let file = match (page_rows, plain_ids) {
            (None, false) => write_spans(&encoded.batch, Some(&encoded.order), options).unwrap(),
            (rows, plain_ids) => {
                // The archive writer's layout, with pages cut at `rows` rows as well.
                let mut builder = options.properties().into_builder();
                if let Some(rows) = rows {
                    builder = builder
                        .set_data_page_row_count_limit(rows)
                        .set_write_batch_size(rows.min(1024));
                }
                if plain_ids {
                    for column in ["span_id", "parent_span_id"] {
                        builder = builder.set_column_dictionary_enabled(
                            parquet::schema::types::ColumnPath::from(column),
                            false,
                        );
                    }
                }
                let properties = builder.build();
                let sorted = arrow_select::take::take_record_batch(
                    &encoded.batch,
                    &arrow_array::UInt32Array::from(encoded.order.clone()),
                )
                .unwrap();
                let mut w = parquet::arrow::ArrowWriter::try_new(
                    Vec::new(),
                    sorted.schema(),
                    Some(properties),
                )
                .unwrap();
                w.write(&sorted).unwrap();
                bytes::Bytes::from(w.into_inner().unwrap())
            }
        };
        bytes += file.len() as u64;
        files += 1;
        let path = file_path(prefix, SPANS_TABLE, hour, "bench", ulid::Ulid::new());
        store.put(&path, PutPayload::from(file)).await.unwrap();
    }
    spans.clear();
    (bytes, files)
}

async fn build(args: &Args, store: &dyn ObjectStore, prefix: &Path) -> Vec<TraceId> {
    let options = WriterOptions {
        row_group_rows: args.row_group_rows,
        ..Default::default()
    };
    let mut generator = Generator::new(GeneratorConfig {
        seed: 7,
        profile: Profile::Rag,
        ..Default::default()
    });
    let target = args.size_mb * 1_000_000;
    let file_target = (args.file_mb * 1_000_000) as usize;
    let started = Instant::now();
    // Parquet bytes per encoder byte, learnt from each file written (zstd shrinks the
    // encoder's estimate several times).
    let mut ratio = 0.2;
    let (mut written, mut files, mut traces, mut span_count) = (0u64, 0usize, 0usize, 0usize);
    let mut ids = Vec::new();
    let mut pending: Vec<Span> = Vec::new();
    let mut pending_bytes = 0usize;
    while written < target {
        let batch = generator.batch_with_traces(100);
        for s in &batch.spans {
            pending_bytes += s.estimated_bytes();
        }
        traces += 100;
        span_count += batch.spans.len();
        if traces % 5_000 == 0 || ids.is_empty() {
            ids.push(batch.spans[0].trace_id);
        }
        pending.extend(batch.spans);
        let remaining = (target - written) as f64 / ratio;
        if pending_bytes as f64 * ratio >= file_target as f64 || pending_bytes as f64 >= remaining {
            let (bytes, n) = flush(
                store,
                prefix,
                &mut pending,
                &options,
                args.page_rows,
                args.plain_ids,
            )
            .await;
            ratio = bytes as f64 / pending_bytes as f64;
            pending_bytes = 0;
            written += bytes;
            files += n;
            eprintln!(
                "  {files} files, {:.0} MB, {span_count} spans, {:.1} s",
                written as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
        }
    }
    if !pending.is_empty() {
        let (bytes, n) = flush(
            store,
            prefix,
            &mut pending,
            &options,
            args.page_rows,
            args.plain_ids,
        )
        .await;
        written += bytes;
        files += n;
    }
    println!(
        "built {files} files, {:.1} MB, {span_count} spans in {traces} traces, in {:.1} s",
        written as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    // Spread the picks over the archive: first, evenly between, last.
    let step = (ids.len() / args.lookups.max(1)).max(1);
    ids.into_iter().step_by(step).take(args.lookups).collect()
}

#[tokio::main]
async fn main() {
    let args = args();
    let destination = Destination::from_url(&args.url, None).unwrap();
    let store = destination.open().await.unwrap();
    let ids_path = destination.prefix().clone().join(IDS_FILE);
    let ids: Vec<TraceId> = if args.reuse {
        let text = store.get(&ids_path).await.unwrap().bytes().await.unwrap();
        String::from_utf8(text.to_vec())
            .unwrap()
            .lines()
            .map(|l| TraceId::from_hex(l).unwrap())
            .collect()
    } else {
        let ids = build(&args, store.as_ref(), destination.prefix()).await;
        let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
        store.put(&ids_path, PutPayload::from(text)).await.unwrap();
        ids
    };
    let absent: Vec<TraceId> = (1..=2u8).map(|i| TraceId([i; 16])).collect();

    let archive = Arc::new(ColdArchive::new(
        Destination::from_url(&args.url, None).unwrap(),
        ColdOptions {
            concurrency: args.concurrency,
            ..Default::default()
        },
    ));
    if args.warm_first {
        let started = Instant::now();
        let warm = archive.warm().await.unwrap();
        println!(
            "warm-up: {:.1} s, {warm:?}",
            started.elapsed().as_secs_f64()
        );
    }
    println!(
        "{:<34} {:>5} {:>6} {:>9} {:>7} {:>7} {:>8} {:>7} {:>6} {:>11}",
        "trace", "pass", "spans", "ms", "listed", "opened", "footers", "blooms", "rgs", "bytes"
    );
    for pass in ["cold", "warm"] {
        for (id, known) in ids
            .iter()
            .map(|i| (i, true))
            .chain(absent.iter().map(|i| (i, false)))
        {
            let started = Instant::now();
            let lookup = archive.find_trace(id, None).await.unwrap();
            let ms = started.elapsed().as_secs_f64() * 1e3;
            assert_eq!(!lookup.spans.is_empty(), known, "trace {id}");
            println!(
                "{:<34} {:>5} {:>6} {:>9.1} {:>7} {:>7} {:>8} {:>7} {:>6} {:>11}",
                id.to_hex(),
                pass,
                lookup.spans.len(),
                ms,
                lookup.files_listed,
                lookup.files_opened,
                lookup.footers_fetched,
                lookup.blooms_fetched,
                lookup.row_groups_read,
                lookup.bytes_read
            );
        }
    }
    for (what, stats, bound) in [
        (
            "footer",
            archive.cache_stats(),
            archive.options().footer_cache_bytes,
        ),
        (
            "bloom",
            archive.bloom_cache_stats(),
            archive.options().bloom_cache_bytes,
        ),
    ] {
        println!(
            "{what} cache: {} entries, {:.2} MB of {:.0} MB, {} hits, {} misses, {} evicted",
            stats.entries,
            stats.bytes as f64 / 1e6,
            bound as f64 / 1e6,
            stats.hits,
            stats.misses,
            stats.evictions
        );
    }
}
