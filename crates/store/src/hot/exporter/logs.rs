//! Log payloads at the hot store: their late scores.
//!
//! A record whose `facts.score` is joined to a trace (`score.trace_id` set) gives its score,
//! under the record's tenant, to the store's late scores ([`HotStore`]'s `late`), which keep
//! it in memory (served at once) and append it to their file on a blocking thread. With the
//! write-ahead log on, such a record is reported durable once the append returns (synced as
//! the log's `sync` says); every other record at once. A failed append keeps its scores in
//! memory and their records waiting: the next append, or the next tick, writes them, and
//! only then are they reported; meanwhile the exporter is degraded, and once the unwritten
//! bytes pass `late_scores.max_bytes`, export waits for the file (back-pressure).
//!
//! [`HotStore`]: crate::hot::HotStore

use super::HotStoreExporter;
use crate::error::StoreError;
use std::sync::Arc;
use tracegate_model::{LogBatch, Score};
use tracegate_pipeline::durability::OriginCounts;

impl HotStoreExporter {
    /// Takes the late scores of `batch`.
    pub(super) async fn export_logs(&mut self, batch: &LogBatch) {
        let mut plain = OriginCounts::default();
        let mut scored = OriginCounts::default();
        let mut scores: Vec<(Arc<str>, Score)> = Vec::new();
        let mut tenant: Option<Arc<str>> = None;
        for record in &batch.records {
            match record
                .facts
                .score
                .as_deref()
                .filter(|s| s.trace_id.is_some())
            {
                Some(score) => {
                    // Records of one batch nearly always share a tenant: share its name.
                    let name = match &tenant {
                        Some(t) if **t == *record.tenant() => t.clone(),
                        _ => {
                            let t: Arc<str> = Arc::from(record.tenant());
                            tenant = Some(t.clone());
                            t
                        }
                    };
                    scores.push((name, score.clone()));
                    scored.add(record.origin);
                }
                None => plain.add(record.origin),
            }
        }
        if let Some(release) = &self.release {
            release.durable(plain);
        }
        if scores.is_empty() {
            return;
        }
        self.late_waiting.merge(scored);
        let store = self.store.clone();
        let now = store.now_ms();
        let done = tokio::task::spawn_blocking(move || store.late.add(scores, now)).await;
        self.late_done(done.map(|r| r.map(|_| ())));
        // Past the bound on unwritten scores, wait for the file.
        while self.late_degraded && self.store.late.pending_bytes() >= self.late_max_bytes {
            tokio::time::sleep(self.tick_period()).await;
            self.retry_late().await;
        }
    }

    /// Writes late scores a failed append left, if any.
    pub(super) async fn retry_late(&mut self) {
        if self.late_waiting.is_empty() && !self.late_degraded {
            return;
        }
        let store = self.store.clone();
        let done = tokio::task::spawn_blocking(move || store.late.flush()).await;
        self.late_done(done);
    }

    /// Handles the end of an append or a retry.
    fn late_done(&mut self, done: Result<Result<(), StoreError>, tokio::task::JoinError>) {
        let component = format!("{}/late_scores", self.component);
        match done {
            Ok(Ok(())) => {
                if let Some(release) = &self.release {
                    release.durable(std::mem::take(&mut self.late_waiting));
                } else {
                    self.late_waiting = OriginCounts::default();
                }
                if self.late_degraded {
                    self.late_degraded = false;
                    self.health.recovered(&component);
                }
            }
            Ok(Err(e)) => {
                super::super::metrics::late_write_failed(self.store.name());
                tracing::error!(exporter = %self.store.name(), error = %e, "hot store: could not write late scores to their file; they are served from memory and the write is tried again");
                if !self.late_degraded {
                    self.late_degraded = true;
                    self.health
                        .degraded(&component, format!("cannot write late scores: {e}"));
                }
            }
            Err(e) => {
                tracing::error!(exporter = %self.store.name(), error = %e, "hot store: a late-score write task failed; it is tried again");
                self.late_degraded = true;
            }
        }
    }
}
