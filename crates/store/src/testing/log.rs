//! [`TestLog`]: a write-ahead log for exporter tests that only numbers its records.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use tracegate_pipeline::durability::{Log, LogError};

/// A log that only numbers records.
#[derive(Debug, Default)]
pub struct TestLog {
    /// The next record's LSN: the log's end.
    pub end: AtomicU64,
}

#[async_trait]
impl Log for TestLog {
    async fn append(&self, _record: Vec<u8>) -> Result<u64, LogError> {
        Ok(self.end.fetch_add(1, Ordering::SeqCst))
    }
    fn checkpoint(&self, _consumer: &str, _durable_before: u64) {}
    fn end(&self) -> u64 {
        self.end.load(Ordering::SeqCst)
    }
    async fn flush(&self) {}
}
