//! [`Wal`] as the pipeline's [`Log`]: what the ingest path appends to and the exporters'
//! checkpoints go to.

use crate::{Wal, WalError};
use async_trait::async_trait;
use tracegate_pipeline::durability::{Log, LogError};

#[async_trait]
impl Log for Wal {
    async fn append(&self, record: Vec<u8>) -> Result<u64, LogError> {
        Wal::append(self, record).await.map_err(|e| match e {
            WalError::Full { used, max_bytes } => LogError::Full { used, max_bytes },
            WalError::TooLarge { bytes, max } => LogError::TooLarge { bytes, max },
            other => LogError::Failed(other.to_string()),
        })
    }

    fn checkpoint(&self, consumer: &str, durable_before: u64) {
        if let Err(e) = Wal::checkpoint(self, consumer, durable_before) {
            tracing::error!(consumer, error = %e, "WAL checkpoint refused; the WAL keeps more than it must");
        }
    }

    fn end(&self) -> u64 {
        Wal::end(self)
    }

    async fn flush(&self) {
        Wal::flush(self).await;
    }
}

#[cfg(test)]
mod tests {
    use crate::{Wal, WalConfig};
    use std::sync::Arc;
    use tracegate_model::Origin;
    use tracegate_pipeline::durability::{Ledger, Log, LogError, OriginCounts};

    #[tokio::test]
    async fn ledger_checkpoints_reach_the_wal_and_free_its_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = WalConfig::new(dir.path());
        config.segment_bytes = tracegate_pipeline::ByteSize::kib(64);
        config.max_bytes = tracegate_pipeline::ByteSize::kib(256);
        let (wal, _) = Wal::open(&config, &["archive"]).unwrap();
        let log: Arc<dyn Log> = Arc::new(wal.clone());
        let ledger = Ledger::new(log.clone(), vec!["archive".into()]);
        let mut lsns = Vec::new();
        for _ in 0..6 {
            let t = ledger.begin();
            let lsn = log.append(vec![7; 40 * 1024]).await.unwrap();
            ledger.logged(Some(t), lsn, 1, &[0]);
            lsns.push(lsn);
        }
        // Full: 6 × 40 KiB is 240 KiB; one more does not fit in 256 KiB.
        let t = ledger.begin();
        let refused = log.append(vec![7; 40 * 1024]).await;
        assert!(matches!(refused, Err(LogError::Full { .. })), "{refused:?}");
        drop(t);
        let mut counts = OriginCounts::default();
        for lsn in &lsns {
            counts.add(Origin::logged(*lsn));
        }
        ledger.durable(0, &mut counts);
        ledger.checkpoint();
        log.flush().await;
        assert_eq!(wal.checkpoint_of("archive"), Some(log.end()));
        assert!(wal.stats().bytes < 64 * 1024, "{:?}", wal.stats());
        wal.close().await;
    }
}
