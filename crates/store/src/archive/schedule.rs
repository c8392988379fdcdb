//! The archive exporter's background jobs, started with it and stopped with it: the
//! periodic [`crate::lifecycle`] run (a move under way is aborted, the object left as it
//! was) and [`crate::compaction`] (an hour under way is given up, its outputs deleted).

use super::config::ArchiveConfig;
use crate::compaction::{self, CompactionConfig};
use crate::destination::Destination;
use crate::lifecycle::{Lifecycle, LifecycleConfig, Rules, spawn_schedule};
use crate::writer::WriterOptions;
use tokio_util::sync::{CancellationToken, DropGuard};

/// The exporter's background jobs: their settings, and once started, what stops them.
#[derive(Debug)]
pub(super) struct Background {
    lifecycle: LifecycleConfig,
    compaction: CompactionConfig,
    writer: WriterOptions,
    /// Compaction opens the archive again from these, with an S3 client of its own: a
    /// client's connections belong to the runtime that opened them, and compaction runs on
    /// a runtime of its own.
    url: String,
    s3: Option<crate::destination::S3Options>,
    lifecycle_guard: Option<DropGuard>,
    compaction_stop: Option<CancellationToken>,
    compaction_thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    pub(super) fn new(config: &ArchiveConfig) -> Self {
        Self {
            lifecycle: config.lifecycle.clone(),
            compaction: config.compaction.clone(),
            writer: config.writer_options(),
            url: config.url.clone(),
            s3: config.s3.clone(),
            lifecycle_guard: None,
            compaction_stop: None,
            compaction_thread: None,
        }
    }

    /// Starts both jobs (each unless its interval is zero) on the archive at `destination`.
    pub(super) async fn start(
        &mut self,
        exporter: &str,
        instance: &str,
        destination: &Destination,
        past_window: std::time::Duration,
    ) {
        self.lifecycle_guard =
            start_lifecycle(exporter, destination, &self.lifecycle, past_window).await;
        let own = match Destination::from_url(&self.url, self.s3.as_ref()) {
            Ok(own) => own,
            Err(e) => {
                tracing::warn!(exporter, error = %e, "compaction: not scheduled, the archive cannot be opened");
                return;
            }
        };
        if own.to_string() != destination.to_string() {
            // An exporter built on a given store (tests, embedding): nothing to reopen.
            return;
        }
        if self.compaction.interval.get().is_zero() {
            return;
        }
        let cancel = CancellationToken::new();
        match compaction::spawn_schedule(
            exporter,
            instance,
            own,
            self.compaction.clone(),
            self.writer,
            cancel.clone(),
        ) {
            Ok(thread) => {
                tracing::info!(
                    exporter,
                    every = %self.compaction.interval,
                    target_file_size = %self.compaction.target_file_size,
                    min_age = %self.compaction.min_age,
                    "compaction: scheduled"
                );
                self.compaction_stop = Some(cancel);
                self.compaction_thread = Some(thread);
            }
            Err(e) => {
                tracing::warn!(exporter, error = %e, "compaction: not scheduled, no thread for it")
            }
        }
    }

    /// Stops both jobs, without waiting.
    pub(super) fn stop(&mut self) {
        self.lifecycle_guard = None;
        if let Some(cancel) = self.compaction_stop.take() {
            cancel.cancel();
        }
    }

    /// Stops both jobs, waiting up to [`compaction::STOP_WAIT`] for compaction to give up
    /// the hour it is on (so that no uncommitted output is left for the next start).
    pub(super) async fn stop_and_wait(&mut self) {
        self.stop();
        let Some(thread) = self.compaction_thread.take() else {
            return;
        };
        let joined = tokio::task::spawn_blocking(move || thread.join());
        if tokio::time::timeout(compaction::STOP_WAIT, joined)
            .await
            .is_err()
        {
            tracing::warn!(
                "compaction: still stopping at shutdown; the next start cleans up after it"
            );
        }
    }
}

/// Starts the periodic lifecycle of the archive at `destination`, unless its interval is
/// zero. Dropping the guard stops it.
async fn start_lifecycle(
    exporter: &str,
    destination: &Destination,
    config: &LifecycleConfig,
    past_window: std::time::Duration,
) -> Option<DropGuard> {
    let interval = config.interval.get();
    if interval.is_zero() {
        return None;
    }
    let store = match destination.open().await {
        Ok(store) => store,
        Err(e) => {
            // The uploads report the store's problems; the lifecycle waits for the next start.
            tracing::warn!(exporter, error = %e, "lifecycle: not scheduled, the archive cannot be opened");
            return None;
        }
    };
    let rules = Rules::new(config, !destination.is_local()).with_past_window(past_window);
    let lifecycle = Lifecycle::new(
        exporter,
        store,
        destination.prefix().clone(),
        rules,
        config.max_actions_per_run,
    );
    let cancel = CancellationToken::new();
    tracing::info!(
        exporter,
        every = %config.interval,
        cold_after = ?rules.cold_after.map(crate::lifecycle::run::format_age),
        cold_class = %rules.cold_class,
        delete_after = ?rules.delete_after.map(crate::lifecycle::run::format_age),
        "lifecycle: scheduled"
    );
    drop(spawn_schedule(lifecycle, interval, cancel.clone()));
    Some(cancel.drop_guard())
}
