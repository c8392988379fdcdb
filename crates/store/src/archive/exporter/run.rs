//! The [`Exporter`] side of the archive exporter: the stages of the [module docs](super) as
//! the pipeline drives them. `export` buffers a payload (stage 1, cutting partitions that
//! reach `flush_bytes`), `tick` cuts partitions by age and keeps the intent journal, `start`
//! reads back what a crash left, `shutdown` flushes everything, and `abandon` gives up what
//! is left when the shutdown deadline passes.

use super::*;

#[async_trait]
impl Exporter for ArchiveExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        self.reap();
        self.wait_for_room().await;
        let now = self.now();
        let shared = self.shared.clone();
        let release = shared.durable.get().map(|d| &d.release);
        // The payload's spans (or log records) are durable once every file with rows of it
        // is uploaded: the spans left out of the spans table too, whose traces rows hold the
        // unit.
        let unit = release.map(|_| Unit::new(OriginCounts::of_origins(payload.origins())));
        if let Payload::Logs(batch) = &*payload {
            self.push_logs(batch, now, unit.as_ref(), release);
            return self.export_done(unit, release);
        }
        let mut clamped = Clamped::default();
        let mut skipped = 0;
        let mut last: Option<(Partition, usize)> = None;
        let (spans, unsampled) = spans_to_write(&payload, self.sampled_only_spans);
        if unsampled > 0 {
            telemetry::exporter_unsampled(&self.shared.name, unsampled);
        }
        for span in spans {
            if self.span_archived(release, span) {
                // Archived before the restart: not written again, durable with the unit.
                skipped += 1;
                continue;
            }
            let (hour, placement) = self.placement.place(span.start_time_unix_nano, now);
            clamped.add(placement);
            let tenant = span.resource.tenant.as_ref();
            let index = match &last {
                Some((p, i)) if p.hour == hour && same_tenant(self.multitenancy, p, tenant) => *i,
                _ => self.buffer_for(self.partition(tenant, hour)),
            };
            let partition = self.partitions[index].partition.clone();
            let buffer = &mut self.partitions[index];
            let before = buffer.encoder.estimated_bytes();
            buffer.encoder.push(span);
            buffer.span_units.note(unit.as_ref());
            self.buffered += buffer.encoder.estimated_bytes() - before;
            if buffer.estimated_bytes() >= self.flush_bytes {
                self.cut(index);
                last = None;
            } else {
                last = Some((partition, index));
            }
        }
        clamped.record(&self.shared.name);
        if skipped > 0 {
            telemetry::archive_replay_skipped(&self.shared.name, skipped);
        }
        if let Payload::Traces(traces) = &*payload {
            for trace in traces {
                if !self.trace_archived(release, trace) {
                    self.push_trace(trace, now, unit.as_ref());
                }
                // Its scores go to files of their own, whatever became of the traces row.
                self.push_trace_scores(trace, now, unit.as_ref(), release);
            }
        }
        self.export_done(unit, release)
    }

    /// Takes spans and released traces, and log records (with the scores they carry) from
    /// a `logs` pipeline.
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Traces, Signal::Logs]
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some((self.flush_age / 5).clamp(Duration::from_millis(10), Duration::from_secs(1)))
    }

    async fn tick(&mut self) -> Result<(), ExportError> {
        self.reap();
        let shared = self.shared.clone();
        if let Some(durable) = shared.durable.get() {
            durable.maintain(&shared.name, &mut self.done).await;
        }
        let now = Instant::now();
        let mut i = 0;
        while i < self.partitions.len() {
            if now.duration_since(self.partitions[i].since) >= self.flush_age {
                // `cut` moves the last buffer into `i`; look at `i` again.
                self.cut(i);
            } else {
                i += 1;
            }
        }
        self.sync_buffered();
        Ok(())
    }

    /// Takes the log's handle: spans are reported durable once uploaded, and each upload is
    /// recorded in an intent journal first.
    fn take_release(&mut self, release: Release) -> bool {
        if self.shared.durable.set(Durable::new(release)).is_err() {
            tracing::debug!(exporter = %self.shared.name, "archive: offered a second release; keeping the first");
        }
        true
    }

    /// With the log on, reads back the uploads the journal names (`recovery.rs`), waiting
    /// for the store as long as it takes.
    async fn start(&mut self) -> Result<(), ExportError> {
        let shared = self.shared.clone();
        if let Some(durable) = shared.durable.get() {
            self.done =
                recovery::recover(&shared, &durable.release, &durable.journal, MAX_DONE_IDS).await;
        }
        self.background
            .start(
                &shared.name,
                &shared.instance,
                &shared.destination,
                self.placement.past_window(),
            )
            .await;
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ExportError> {
        self.background.stop_and_wait().await;
        self.cut_all();
        self.sync_buffered();
        if !self.uploads.is_empty() {
            tracing::info!(
                exporter = %self.shared.name,
                files = self.uploads.len(),
                "archive: waiting for the last uploads"
            );
        }
        while let Some(done) = self.uploads.join_next().await {
            log_task_end(&self.shared.name, done);
        }
        Ok(())
    }

    /// Drops the open partitions and stops the upload tasks (a file whose upload is under
    /// way is not completed), and returns the spans they held: buffered, being encoded, or
    /// waiting for upload. A file whose last attempt finishes on another thread at this very
    /// moment may be counted although it was written.
    fn abandon(&mut self) -> usize {
        self.background.stop();
        let buffered = self.buffered_spans();
        let pending = self.shared.pending_spans.load(Ordering::Acquire);
        let files = self.uploads.len();
        self.partitions.clear();
        self.buffered = 0;
        // Dropping the set aborts every task; each releases its reservation as it ends.
        self.uploads = JoinSet::new();
        self.sync_buffered();
        let lost = buffered + pending;
        if lost > 0 || files > 0 {
            tracing::error!(
                exporter = %self.shared.name,
                buffered_spans = buffered,
                pending_spans = pending,
                pending_files = files,
                "archive: the shutdown deadline passed; dropping what was not written"
            );
        }
        lost
    }
}
