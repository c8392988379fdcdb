//! The compactor against a local disk and moto's S3 server: commits, crashes, leases, a
//! reader during compaction.

use super::*;

pub(super) struct Archive {
    pub(super) store: Arc<dyn ObjectStore>,
    prefix: Path,
    conditional: bool,
    _dir: Option<tempfile::TempDir>,
    _moto: Option<testing::Moto>,
}

pub(super) fn local(rt: &Runtime) -> Archive {
    let dir = tempfile::tempdir().unwrap();
    let destination = Destination::from_url(dir.path().to_str().unwrap(), None).unwrap();
    let store = rt.block_on(destination.open()).unwrap();
    Archive {
        store,
        prefix: destination.prefix().clone(),
        conditional: false,
        _dir: Some(dir),
        _moto: None,
    }
}

pub(super) fn on_moto(rt: &Runtime) -> Option<Archive> {
    let moto = testing::moto()?;
    let bucket = format!("compact-{}", Ulid::new().to_string().to_lowercase());
    let created = testing::http(&moto.endpoint, &format!("PUT /{bucket} HTTP/1.1\r\n")).unwrap();
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let s3 = S3Options {
        endpoint: Some(moto.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some("test".into()),
        allow_http: Some(true),
        virtual_hosted_style: Some(false),
        ..Default::default()
    };
    let destination = Destination::from_url(&format!("s3://{bucket}/llm"), Some(&s3)).unwrap();
    let store = rt.block_on(destination.open()).unwrap();
    Some(Archive {
        store,
        prefix: destination.prefix().clone(),
        conditional: true,
        _dir: None,
        _moto: Some(moto),
    })
}

impl Archive {
    pub(super) fn compactor(&self, config: CompactionConfig) -> Compactor {
        Compactor::new(
            "test",
            "test-1",
            self.store.clone(),
            self.prefix.clone(),
            config,
            WriterOptions {
                row_group_rows: 1_000,
                ..WriterOptions::default()
            },
            self.conditional,
        )
    }

    pub(super) fn hour_dir(&self, table: &str) -> Path {
        crate::layout::Partition::new(None, HourPartition::of_unix_nanos(BASE))
            .dir(&self.prefix, table)
    }

    pub(super) fn put(&self, rt: &Runtime, name: &str, table: &str, file: Bytes) -> Path {
        let path = self.hour_dir(table).join(name);
        rt.block_on(self.store.put(&path, PutPayload::from(file)))
            .unwrap();
        path
    }

    /// Small files of `spans`, one per chunk, as the exporter writes them.
    fn put_spans(&self, rt: &Runtime, spans: &[Span], files: usize) -> Vec<Path> {
        spans
            .chunks(spans.len().div_ceil(files))
            .map(|chunk| {
                let path = file_path(
                    &self.prefix,
                    SPANS_TABLE,
                    HourPartition::of_unix_nanos(BASE),
                    "gw-1",
                    Ulid::new(),
                );
                rt.block_on(self.store.put(&path, PutPayload::from(spans_file(chunk))))
                    .unwrap();
                path
            })
            .collect()
    }

    pub(super) fn names(&self, rt: &Runtime, table: &str) -> Vec<String> {
        let listed: Vec<_> = rt
            .block_on(
                self.store
                    .list(Some(&self.hour_dir(table)))
                    .try_collect::<Vec<_>>(),
            )
            .unwrap();
        let mut names: Vec<String> = listed
            .into_iter()
            .map(|m| m.location.filename().unwrap().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Rows and distinct (trace_id, span_id) of the spans table, as an exact reader
    /// counts them: listing through the view, and listing again when a file listed was
    /// deleted before it was read (a compaction committed meanwhile).
    fn count(&self, rt: &Runtime) -> (usize, usize) {
        for _ in 0..20 {
            if let Some(counted) = self.try_count(rt) {
                return counted;
            }
        }
        panic!("every listing raced a deletion");
    }

    fn try_count(&self, rt: &Runtime) -> Option<(usize, usize)> {
        let view = CompactionView::new(self.store.clone());
        let root = self.prefix.clone().join(SPANS_TABLE);
        let listed: Vec<_> = rt
            .block_on(view.list(Some(&root)).try_collect::<Vec<_>>())
            .unwrap();
        let mut rows = 0;
        let mut ids = BTreeSet::new();
        for meta in listed
            .iter()
            .filter(|m| m.location.as_ref().ends_with(".parquet"))
        {
            let bytes =
                match rt.block_on(async { self.store.get(&meta.location).await?.bytes().await }) {
                    Ok(bytes) => bytes,
                    Err(object_store::Error::NotFound { .. }) => return None,
                    Err(e) => panic!("{e}"),
                };
            let (batch, _) = testing::read_parquet(bytes);
            for row in testing::rows_of(&batch) {
                rows += 1;
                ids.insert((row.trace_id, row.span_id));
            }
        }
        Some((rows, ids.len()))
    }

    pub(super) fn hour(&self, table: &'static str) -> HourDir {
        HourDir {
            table,
            dir: self.hour_dir(table),
            hour: HourPartition::of_unix_nanos(BASE),
        }
    }
}

pub(super) fn compacted(outcome: Result<HourOutcome, StoreError>) -> HourReport {
    match outcome.unwrap() {
        HourOutcome::Compacted(r) => r,
        other => panic!("not compacted: {other:?}"),
    }
}

fn rag(traces: usize) -> Vec<Span> {
    testing::testkit_spans(traces, Profile::Rag)
        .into_iter()
        .map(|mut s| {
            // All in the test's hour.
            let offset = s.start_time_unix_nano % 1_000_000_000_000;
            let length = s.end_time_unix_nano - s.start_time_unix_nano;
            s.start_time_unix_nano = BASE + offset;
            s.end_time_unix_nano = BASE + offset + length;
            s
        })
        .collect()
}

fn compacts_many_files_into_one(archive: &Archive) {
    let rt = rt();
    let spans = rag(120);
    let files = archive.put_spans(&rt, &spans, 12);
    // A replayed file: the same rows again under another name.
    let copy = rt
        .block_on(async { archive.store.get(&files[3]).await?.bytes().await })
        .unwrap();
    let copied = testing::read_parquet(copy.clone()).0.num_rows();
    archive.put(&rt, "gw-2-replayed.parquet", SPANS_TABLE, copy);
    assert_eq!(archive.count(&rt), (spans.len() + copied, spans.len()));

    let compactor = archive.compactor(CompactionConfig::default());
    let report = compacted(compactor.compact_hour(
        &rt,
        &archive.hour(SPANS_TABLE),
        &CancellationToken::new(),
        &mut |_| {},
    ));
    assert_eq!(report.inputs, 13);
    assert_eq!(report.outputs, 1);
    assert_eq!(report.rows.rows_out as usize, spans.len());
    assert_eq!(report.rows.duplicates as usize, copied);
    assert_eq!(report.generation, 1);
    // One output, the record; the inputs and the lease are gone.
    let names = archive.names(&rt, SPANS_TABLE);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("_compaction.json"), "{names:?}");
    assert!(names[1].starts_with("compacted-g000001-"), "{names:?}");
    // Every span once, and a plain listing agrees now that the inputs are deleted.
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
    let out = rt
        .block_on(async {
            archive
                .store
                .get(&archive.hour_dir(SPANS_TABLE).join(names[1].as_str()))
                .await?
                .bytes()
                .await
        })
        .unwrap();
    let (batch, meta) = testing::read_parquet(out);
    assert!(testing::is_sorted(&testing::rows_of(&batch)));
    // The writer's layout: row groups of the configured size, the trace_id bloom filter.
    assert!(meta.num_row_groups() > 1);
    assert!(meta.row_group(0).column(0).bloom_filter_offset().is_some());
    // Nothing left to do: the output is the only file.
    assert_eq!(
        compactor
            .compact_hour(
                &rt,
                &archive.hour(SPANS_TABLE),
                &CancellationToken::new(),
                &mut |_| {}
            )
            .unwrap(),
        HourOutcome::Nothing
    );
}

#[test]
fn on_a_local_disk_many_files_become_one_with_each_span_once() {
    let rt = rt();
    compacts_many_files_into_one(&local(&rt));
}

#[test]
fn on_s3_many_files_become_one_with_each_span_once() {
    let rt = rt();
    let Some(archive) = on_moto(&rt) else {
        eprintln!(
            "skipped: set TRACEGATE_MOTO to a moto_server program or endpoint to run this test"
        );
        return;
    };
    compacts_many_files_into_one(&archive);
}

#[test]
fn late_files_are_merged_with_the_last_generation() {
    let rt = rt();
    let archive = local(&rt);
    let spans = rag(40);
    let (early, late) = spans.split_at(spans.len() / 2);
    archive.put_spans(&rt, early, 4);
    let compactor = archive.compactor(CompactionConfig::default());
    let hour = archive.hour(SPANS_TABLE);
    let first =
        compacted(compactor.compact_hour(&rt, &hour, &CancellationToken::new(), &mut |_| {}));
    archive.put_spans(&rt, late, 2);
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
    let second =
        compacted(compactor.compact_hour(&rt, &hour, &CancellationToken::new(), &mut |_| {}));
    assert_eq!((first.generation, second.generation), (1, 2));
    // The first output and the two late files.
    assert_eq!(second.inputs, 3);
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
    let names = archive.names(&rt, SPANS_TABLE);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[1].starts_with("compacted-g000002-"));
}

#[test]
fn what_a_crash_leaves_is_not_counted_and_the_next_run_cleans_it() {
    let rt = rt();
    let archive = local(&rt);
    let spans = rag(30);
    let files = archive.put_spans(&rt, &spans, 3);
    // A crash before the commit: an output no record names.
    let orphan = output_name(1, Ulid::new());
    let copy = rt
        .block_on(async { archive.store.get(&files[0]).await?.bytes().await })
        .unwrap();
    archive.put(&rt, &orphan, SPANS_TABLE, copy.clone());
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
    let compactor = archive.compactor(CompactionConfig::default());
    let hour = archive.hour(SPANS_TABLE);
    let report =
        compacted(compactor.compact_hour(&rt, &hour, &CancellationToken::new(), &mut |_| {}));
    assert_eq!((report.garbage, report.inputs), (1, 3));
    assert!(!archive.names(&rt, SPANS_TABLE).contains(&orphan));

    // A crash after the commit, before the inputs were deleted: one is back in place.
    let first = files[0].filename().unwrap().to_owned();
    archive.put(&rt, &first, SPANS_TABLE, copy);
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
    assert_eq!(
        compactor
            .compact_hour(&rt, &hour, &CancellationToken::new(), &mut |_| {})
            .unwrap(),
        HourOutcome::Cleaned { garbage: 1 }
    );
    assert!(!archive.names(&rt, SPANS_TABLE).contains(&first));
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
}

fn leases_keep_compactors_apart(archive: &Archive) {
    let rt = rt();
    archive.put_spans(&rt, &rag(10), 2);
    let hour = archive.hour(SPANS_TABLE);
    let lease = |expires_at_ms| {
        serde_json::to_vec(&Lease {
            owner: "other".into(),
            expires_at_ms,
            host: "elsewhere".into(),
            pid: 1,
        })
        .unwrap()
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    archive.put(
        &rt,
        LEASE_NAME,
        SPANS_TABLE,
        Bytes::from(lease(now_ms + 60_000)),
    );
    let compactor = archive.compactor(CompactionConfig::default());
    let cancel = CancellationToken::new();
    assert_eq!(
        compactor
            .compact_hour(&rt, &hour, &cancel, &mut |_| {})
            .unwrap(),
        HourOutcome::Busy
    );
    // The other's lease is left alone.
    assert!(
        archive
            .names(&rt, SPANS_TABLE)
            .contains(&LEASE_NAME.to_owned())
    );
    // Expired: taken over.
    archive.put(&rt, LEASE_NAME, SPANS_TABLE, Bytes::from(lease(now_ms - 1)));
    compacted(compactor.compact_hour(&rt, &hour, &cancel, &mut |_| {}));
    assert!(
        !archive
            .names(&rt, SPANS_TABLE)
            .contains(&LEASE_NAME.to_owned())
    );
}

#[test]
fn on_a_local_disk_a_held_lease_keeps_a_second_compactor_out() {
    leases_keep_compactors_apart(&local(&rt()));
}

#[test]
fn on_s3_a_held_lease_keeps_a_second_compactor_out() {
    let rt = rt();
    let Some(archive) = on_moto(&rt) else {
        eprintln!(
            "skipped: set TRACEGATE_MOTO to a moto_server program or endpoint to run this test"
        );
        return;
    };
    leases_keep_compactors_apart(&archive);
}

#[test]
fn on_s3_a_commit_over_another_compactors_loses_and_cleans_up() {
    let rt = rt();
    let Some(archive) = on_moto(&rt) else {
        eprintln!(
            "skipped: set TRACEGATE_MOTO to a moto_server program or endpoint to run this test"
        );
        return;
    };
    let spans = rag(20);
    archive.put_spans(&rt, &spans, 3);
    // Another compactor's record appears while this one merges (the progress callback
    // runs mid-merge).
    let record = Record {
        version: record::RECORD_VERSION,
        generation: 1,
        by: "other".into(),
        ..Record::default()
    };
    let compactor = archive.compactor(CompactionConfig::default());
    let mut written = false;
    let err = compactor
        .compact_hour(
            &rt,
            &archive.hour(SPANS_TABLE),
            &CancellationToken::new(),
            &mut |_| {
                if !written {
                    written = true;
                    let path = archive.hour_dir(SPANS_TABLE).join(RECORD_NAME);
                    let store = archive.store.clone();
                    let body = record.to_json();
                    std::thread::spawn(move || {
                        rt_put(store, path, body);
                    })
                    .join()
                    .unwrap();
                }
            },
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("another compactor committed first"),
        "{err}"
    );
    // Its output is gone; the inputs are still there.
    let names = archive.names(&rt, SPANS_TABLE);
    assert!(
        !names.iter().any(|n| n.starts_with("compacted-")),
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|n| n.starts_with("gw-1-")).count(), 3);
}

fn rt_put(store: Arc<dyn ObjectStore>, path: Path, body: Vec<u8>) {
    rt().block_on(store.put(&path, PutPayload::from(body)))
        .unwrap();
}

#[test]
fn a_listing_taken_before_a_commit_is_settled_by_the_view() {
    let rt = rt();
    let archive = local(&rt);
    let spans = rag(30);
    archive.put_spans(&rt, &spans, 5);
    let root = archive.prefix.clone().join(SPANS_TABLE);
    let stale: Vec<_> = rt
        .block_on(archive.store.list(Some(&root)).try_collect::<Vec<_>>())
        .unwrap();
    compacted(archive.compactor(CompactionConfig::default()).compact_hour(
        &rt,
        &archive.hour(SPANS_TABLE),
        &CancellationToken::new(),
        &mut |_| {},
    ));
    // The stale listing names five deleted files and no output; the view lists again.
    let settled = rt
        .block_on(CompactionView::new(archive.store.clone()).filter(stale))
        .unwrap();
    let names: Vec<&str> = settled
        .iter()
        .filter_map(|m| m.location.filename())
        .filter(|n| n.ends_with(".parquet"))
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("compacted-g000001-"));
}

#[test]
fn a_reader_during_compaction_counts_every_span_once() {
    let rt = rt();
    let archive = Arc::new(local(&rt));
    let spans = rag(200);
    archive.put_spans(&rt, &spans, 40);
    let expected = (spans.len(), spans.len());
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let archive = archive.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let rt = self::rt();
            let mut counts = vec![];
            while !done.load(Ordering::Relaxed) || counts.len() < 3 {
                counts.push(archive.count(&rt));
            }
            counts
        })
    };
    // Several outputs, so that the commit is not the only step the reader can fall into.
    let config = CompactionConfig {
        target_file_size: tracegate_pipeline::ByteSize::mib(1),
        ..CompactionConfig::default()
    };
    let report = compacted(archive.compactor(config).compact_hour(
        &rt,
        &archive.hour(SPANS_TABLE),
        &CancellationToken::new(),
        &mut |_| {},
    ));
    done.store(true, Ordering::Relaxed);
    let counts = reader.join().unwrap();
    assert!(report.inputs == 40);
    assert!(counts.iter().all(|&c| c == expected), "{counts:?}");
}

#[test]
fn a_cancelled_compaction_leaves_the_hour_as_it_was() {
    let rt = rt();
    let archive = local(&rt);
    let spans = rag(60);
    archive.put_spans(&rt, &spans, 6);
    let before = archive.names(&rt, SPANS_TABLE);
    let cancel = CancellationToken::new();
    let err = archive
        .compactor(CompactionConfig::default())
        .compact_hour(&rt, &archive.hour(SPANS_TABLE), &cancel, &mut |_| {
            cancel.cancel()
        })
        .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    assert_eq!(archive.names(&rt, SPANS_TABLE), before);
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
}

#[test]
fn traces_rows_of_one_release_are_kept_once() {
    let rt = rt();
    let archive = local(&rt);
    let traces = testing::group_into_traces(&rag(20));
    let file = |traces: &[tracegate_model::Trace]| {
        write_traces(
            &TraceEncoder::encode(traces).unwrap(),
            None,
            &WriterOptions::default(),
        )
        .unwrap()
    };
    let (a, b) = traces.split_at(traces.len() / 2);
    archive.put(&rt, "gw-1-a.parquet", TRACES_TABLE, file(a));
    archive.put(&rt, "gw-1-b.parquet", TRACES_TABLE, file(b));
    // An upload retried: the same rows again.
    archive.put(&rt, "gw-1-c.parquet", TRACES_TABLE, file(b));
    let report = compacted(archive.compactor(CompactionConfig::default()).compact_hour(
        &rt,
        &archive.hour(TRACES_TABLE),
        &CancellationToken::new(),
        &mut |_| {},
    ));
    assert_eq!(report.rows.rows_out as usize, traces.len());
    assert_eq!(report.rows.duplicates as usize, b.len());
}

#[test]
fn a_run_finds_the_hours_due_of_every_table() {
    let rt = rt();
    let archive = local(&rt);
    archive.put_spans(&rt, &rag(10), 2);
    let traces = testing::group_into_traces(&rag(10));
    let batch = TraceEncoder::encode(&traces).unwrap();
    archive.put(
        &rt,
        "gw-1-a.parquet",
        TRACES_TABLE,
        write_traces(&batch, None, &WriterOptions::default()).unwrap(),
    );
    let compactor = archive.compactor(CompactionConfig::default());
    let hour_end = BASE / 1_000_000_000 + HOUR_SECS;
    // Too young, then due.
    let hours = rt
        .block_on(compactor.hours(hour_end + 60, 3_600, 86_400))
        .unwrap();
    assert!(hours.is_empty());
    let hours = rt
        .block_on(compactor.hours(hour_end + 3_600, 3_600, 86_400))
        .unwrap();
    assert_eq!(
        hours.iter().map(|h| h.table).collect::<Vec<_>>(),
        [SPANS_TABLE, TRACES_TABLE]
    );
    let mut events = 0;
    let report = compactor
        .run(
            &rt,
            hour_end + 3_600,
            3_600,
            86_400,
            &CancellationToken::new(),
            &mut |_| events += 1,
        )
        .unwrap();
    // The spans hour is compacted; the traces hour has a single file.
    assert_eq!((report.hours, report.compacted, report.failed), (2, 1, 0));
    assert!(events >= 4);
}

#[test]
fn a_run_over_an_archive_without_a_traces_table_compacts_the_spans() {
    let rt = rt();
    let archive = local(&rt);
    archive.put_spans(&rt, &rag(10), 3);
    let hour_end = BASE / 1_000_000_000 + HOUR_SECS;
    let report = archive
        .compactor(CompactionConfig::default())
        .run(
            &rt,
            hour_end + 7_200,
            3_600,
            86_400,
            &CancellationToken::new(),
            &mut |_| {},
        )
        .unwrap();
    assert_eq!((report.hours, report.compacted, report.failed), (1, 1, 0));
}

#[test]
fn an_hour_larger_than_memory_admits_is_merged_in_passes() {
    let rt = rt();
    let archive = local(&rt);
    let spans = rag(60);
    let files = archive.put_spans(&rt, &spans, 6);
    let copy = rt
        .block_on(async { archive.store.get(&files[1]).await?.bytes().await })
        .unwrap();
    let copied = testing::read_parquet(copy.clone()).0.num_rows();
    archive.put(&rt, "gw-2-replayed.parquet", SPANS_TABLE, copy);
    // A budget no input fits in: two inputs per pass, the last pass's output among them.
    let config = CompactionConfig {
        memory: tracegate_pipeline::ByteSize(1),
        ..CompactionConfig::default()
    };
    let report = compacted(archive.compactor(config).compact_hour(
        &rt,
        &archive.hour(SPANS_TABLE),
        &CancellationToken::new(),
        &mut |_| {},
    ));
    // Six passes over seven files, reported as one compaction of the seven.
    assert_eq!(report.generation, 6);
    assert_eq!((report.inputs, report.outputs), (7, 1));
    assert_eq!(report.rows.rows_out as usize, spans.len());
    assert_eq!(report.rows.rows_in as usize, spans.len() + copied);
    assert_eq!(report.rows.duplicates as usize, copied);
    assert_eq!(archive.count(&rt), (spans.len(), spans.len()));
    let names = archive.names(&rt, SPANS_TABLE);
    assert_eq!(names.len(), 2, "{names:?}");
}
