//! The WAL's configuration lives in the pipeline crate, as `service.wal`, so the service
//! section parses in one place; it is re-exported here.

pub use tracegate_pipeline::config::wal::{
    MAX_SEGMENT_BYTES, MIN_SEGMENT_BYTES, SyncMode, WalConfig,
};
