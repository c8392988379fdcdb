//! Hooks the archive's tests use: smaller multipart parts, a fixed jitter seed and clock,
//! and waiting for or forcing the cuts.

use super::{ArchiveExporter, log_task_end};
use std::sync::Arc;

impl ArchiveExporter {
    /// Uploads files larger than `threshold` in parts of `part_size`, so tests can exercise
    /// multipart uploads with small files.
    pub(crate) fn with_multipart(mut self, threshold: usize, part_size: usize) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.multipart_threshold = threshold;
            shared.part_size = part_size.max(1);
        }
        self
    }

    /// Draws the retry jitter from `seed`, so a test replays the same waits.
    pub(crate) fn with_jitter_seed(mut self, seed: u64) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.jitter_seed = Some(seed);
        }
        self
    }

    /// Reads `now` (ns since the epoch) as the wall clock, for placing rows.
    pub(crate) fn set_now(&mut self, now: u64) {
        self.fixed_now = Some(now);
    }

    /// Waits for the files already cut, without cutting more.
    pub(crate) async fn drain(&mut self) {
        while let Some(done) = self.uploads.join_next().await {
            log_task_end(&self.shared.name, done);
        }
    }

    /// Cuts every open partition now, without waiting for the uploads.
    pub(crate) fn flush_now(&mut self) {
        self.cut_all();
        self.sync_buffered();
    }

    /// Whether the exporter still remembers ids archived before the restart.
    pub(crate) fn remembers_archived_ids(&self) -> bool {
        self.done.is_some()
    }
}
