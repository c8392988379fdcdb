//! Spans for this crate's tests.

use std::sync::Arc;
use tracegate_model::{Resource, Scope, Span, SpanId, SpanKind, Status, TraceId};

/// Span `n`: four spans per trace, distinct span ids.
pub(crate) fn span(n: u64) -> Span {
    let mut trace = [0u8; 16];
    trace[..8].copy_from_slice(&(n / 4 + 1).to_be_bytes());
    Span {
        resource: Arc::new(Resource::with_service("svc")),
        scope: Arc::new(Scope::default()),
        trace_id: TraceId(trace),
        span_id: SpanId((n + 1).to_be_bytes()),
        parent_span_id: None,
        trace_state: String::new(),
        flags: 0,
        name: format!("span-{n}"),
        kind: SpanKind::Internal,
        start_time_unix_nano: n,
        end_time_unix_nano: n + 1,
        attributes: vec![],
        dropped_attributes_count: 0,
        events: vec![],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        facts: Default::default(),
        origin: Default::default(),
        status: Status::default(),
    }
}

/// A write-ahead log in memory: records in a vector, LSN = byte offset.
#[derive(Debug, Default)]
pub(crate) struct MemoryLog {
    pub(crate) state: std::sync::Mutex<MemoryLogState>,
}

#[derive(Debug, Default)]
pub(crate) struct MemoryLogState {
    pub(crate) records: Vec<(u64, Vec<u8>)>,
    pub(crate) end: u64,
    pub(crate) checkpoints: std::collections::BTreeMap<String, u64>,
    /// Refuse appends as full.
    pub(crate) full: bool,
    /// Fail appends as a disk error would.
    pub(crate) failing: bool,
}

#[async_trait::async_trait]
impl crate::durability::Log for MemoryLog {
    async fn append(&self, record: Vec<u8>) -> Result<u64, crate::durability::LogError> {
        let mut s = self.state.lock().unwrap();
        if s.failing {
            return Err(crate::durability::LogError::Failed(
                "write segment: No space left on device".into(),
            ));
        }
        if s.full {
            return Err(crate::durability::LogError::Full {
                used: s.end,
                max_bytes: s.end,
            });
        }
        let lsn = s.end;
        s.end += record.len().max(1) as u64;
        s.records.push((lsn, record));
        Ok(lsn)
    }
    fn checkpoint(&self, consumer: &str, durable_before: u64) {
        let mut s = self.state.lock().unwrap();
        let c = s.checkpoints.entry(consumer.to_owned()).or_default();
        *c = (*c).max(durable_before);
    }
    fn end(&self) -> u64 {
        self.state.lock().unwrap().end
    }
    async fn flush(&self) {}
}
