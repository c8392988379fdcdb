use super::merge::{Sink, TableKey, merge};
use super::record::{LEASE_NAME, Lease, RECORD_NAME, Record, output_name};
use super::*;
use crate::destination::{Destination, S3Options};
use crate::error::StoreError;
use crate::layout::{HourPartition, SPANS_TABLE, TRACES_TABLE, file_path};
use crate::testing::{self, Row};
use crate::{SpanEncoder, TraceEncoder, WriterOptions, write_spans, write_traces};
use arrow_array::RecordBatch;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use tracegate_model::Span;
use tracegate_testkit::Profile;
use ulid::Ulid;

/// 2026-11-22T01:00:00Z in ns.
const BASE: u64 = 1_795_309_200_000_000_000;
const HOUR_SECS: u64 = 3_600;

fn rt() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn spans_file(spans: &[Span]) -> Bytes {
    let mut encoder = SpanEncoder::new();
    spans.iter().for_each(|s| encoder.push(s));
    let encoded = encoder.finish().unwrap();
    write_spans(
        &encoded.batch,
        Some(&encoded.order),
        &WriterOptions::default(),
    )
    .unwrap()
}

fn batch_of(spans: &[Span]) -> RecordBatch {
    let file = spans_file(spans);
    testing::read_parquet(file).0
}

struct Collect(Vec<RecordBatch>);

impl Sink for Collect {
    fn write(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        self.0.push(batch);
        Ok(())
    }
}

fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    batches.iter().flat_map(testing::rows_of).collect()
}

fn inputs(batches: Vec<Vec<RecordBatch>>) -> Vec<merge::Input<'static>> {
    batches
        .into_iter()
        .map(|bs| Box::new(bs.into_iter().map(Ok)) as merge::Input<'static>)
        .collect()
}

#[test]
fn golden_merge_sorts_and_drops_duplicates() {
    // Trace 1 spans in both files (one of them twice), trace 2 in the second only.
    let a = batch_of(&[testing::span(1, 1, 10), testing::span(1, 3, 30)]);
    let b = batch_of(&[
        testing::span(1, 2, 20),
        testing::span(1, 3, 30),
        testing::span(2, 9, 5),
    ]);
    let mut out = Collect(vec![]);
    let stats = merge(
        inputs(vec![vec![a], vec![b]]),
        &TableKey::spans(),
        2,
        &mut out,
    )
    .unwrap();
    assert_eq!((stats.rows_in, stats.rows_out, stats.duplicates), (5, 4, 1));
    // Batches of at most two rows.
    assert!(out.0.iter().all(|b| b.num_rows() <= 2));
    let ids: Vec<String> = rows(&out.0).into_iter().map(|r| r.span_id).collect();
    assert_eq!(
        ids,
        [
            "0101010101010101",
            "0202020202020202",
            "0303030303030303",
            "0909090909090909"
        ]
    );
}

#[test]
fn a_span_with_another_start_but_the_same_id_is_still_a_duplicate() {
    let a = batch_of(&[testing::span(1, 1, 10)]);
    let b = batch_of(&[testing::span(1, 2, 5), testing::span(1, 1, 50)]);
    let mut out = Collect(vec![]);
    let stats = merge(
        inputs(vec![vec![a], vec![b]]),
        &TableKey::spans(),
        100,
        &mut out,
    )
    .unwrap();
    assert_eq!((stats.rows_out, stats.duplicates), (2, 1));
}

#[test]
fn a_file_of_another_table_is_refused() {
    let traces = testing::group_into_traces(&[testing::span(1, 1, 10)]);
    let batch = TraceEncoder::encode(&traces).unwrap();
    let mut out = Collect(vec![]);
    // A traces batch has no span_id: merging it as spans names the column.
    let err = merge(inputs(vec![vec![batch]]), &TableKey::spans(), 10, &mut out).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"root_service\" is not in this build's schema"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// However spans are spread over files (each sorted, some spans in several), the merge
    /// gives each (trace_id, span_id) once, sorted, and counts what it dropped.
    #[test]
    fn merging_gives_each_span_once_in_order(
        spans in proptest::collection::vec((0u8..6, 0u8..20, 0u64..50), 1..80),
        spread in proptest::collection::vec(0usize..5, 80),
        copies in proptest::collection::vec(any::<bool>(), 80),
        batch_rows in 1usize..9,
    ) {
        let files = 5;
        let mut per_file: Vec<Vec<Span>> = vec![vec![]; files];
        let mut unique = BTreeSet::new();
        let mut first_start = std::collections::HashMap::new();
        for (i, &(trace, id, start)) in spans.iter().enumerate() {
            // One start per span id, so that the duplicates are true copies.
            let start = *first_start.entry((trace, id)).or_insert(start);
            let span = testing::span(trace, id, start);
            unique.insert((trace, id));
            per_file[spread[i]].push(span.clone());
            if copies[i] {
                per_file[(spread[i] + 1) % files].push(span);
            }
        }
        let total: usize = per_file.iter().map(Vec::len).sum();
        let batches: Vec<Vec<RecordBatch>> = per_file
            .iter()
            .map(|f| if f.is_empty() { vec![] } else {
                // Each file in batches of three rows, as a reader gives them.
                let b = batch_of(f);
                (0..b.num_rows()).step_by(3).map(|o| b.slice(o, 3.min(b.num_rows() - o))).collect()
            })
            .collect();
        let mut out = Collect(vec![]);
        let stats = merge(inputs(batches), &TableKey::spans(), batch_rows, &mut out).unwrap();
        let merged = rows(&out.0);
        prop_assert_eq!(stats.rows_in as usize, total);
        prop_assert_eq!(merged.len(), unique.len());
        prop_assert_eq!(stats.duplicates as usize, total - unique.len());
        prop_assert!(testing::is_sorted(&merged));
        let ids: BTreeSet<(String, String)> = merged.iter().map(|r| (r.trace_id.clone(), r.span_id.clone())).collect();
        prop_assert_eq!(ids.len(), merged.len());
    }
}

mod logs;
mod store;
