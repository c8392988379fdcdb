//! [`Stores`], the [`Backend`] the gateway serves: the hot store, with the archive as the cold
//! fallback for trace-by-id lookups.
//!
//! - Trace by id asks the hot store first (its in-memory heads, then its blocks through the
//!   per-block index). A trace it does not hold, or no longer holds, is looked up in the
//!   archive's `spans` table ([`ColdArchive`]), which reads only the row groups whose
//!   `trace_id` statistics and bloom filter can hold it.
//! - Search and tags scan the hot store only, newest first: the archive is for data lakes,
//!   and a scan over it would be a full table scan.
//!
//! The archive holds no tenant yet, so the cold fallback answers only the single tenant
//! ([`DEFAULT_TENANT`]): with multi-tenancy on, a tenant never reads another's archived spans.
//!
//! Both stores are blocking or async in their own way; the API calls [`Backend`] methods in
//! `spawn_blocking`, so the cold lookup runs its future on the runtime handle given here.

use crate::api::{Backend, BackendError, ScanRequest, ScanStats, TraceLookup};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;
use tokio::runtime::Handle;
use tracegate_model::{DEFAULT_TENANT, Span, TraceId};
use tracegate_store::hot::{HotStore, ScanFilter};
use tracegate_store::read::ColdArchive;

/// The hot store and, optionally, the archive behind it.
#[derive(Debug)]
pub struct Stores {
    hot: Option<Arc<HotStore>>,
    cold: Option<Arc<ColdArchive>>,
    runtime: Handle,
}

impl Stores {
    /// Serves `hot` (if any) with `cold` as the trace-by-id fallback (if any); the cold
    /// lookups run on `runtime`.
    pub fn new(
        hot: Option<Arc<HotStore>>,
        cold: Option<Arc<ColdArchive>>,
        runtime: Handle,
    ) -> Self {
        Self { hot, cold, runtime }
    }
}

impl Backend for Stores {
    fn trace(
        &self,
        tenant: &str,
        id: &TraceId,
        window: Option<(u64, u64)>,
    ) -> Result<Option<TraceLookup>, BackendError> {
        // The hot store is searched whole: it is local and indexed per block, so the window
        // would save little; the archive lists only the partitions the window touches.
        if let Some(hot) = &self.hot {
            let found = hot
                .find_trace(tenant, id)
                .map_err(|e| BackendError::new(format!("reading the hot store: {e}")))?;
            if let Some(spans) = found.filter(|s| !s.is_empty()) {
                return Ok(Some(TraceLookup {
                    spans,
                    partial: None,
                }));
            }
        }
        let Some(cold) = self.cold.as_ref().filter(|_| tenant == DEFAULT_TENANT) else {
            return Ok(None);
        };
        let started = Instant::now();
        let lookup = self
            .runtime
            .block_on(cold.find_trace(id, window))
            .map_err(|e| BackendError::new(format!("reading the archive: {e}")))?;
        tracing::debug!(
            trace_id = %id,
            spans = lookup.spans.len(),
            files_listed = lookup.files_listed,
            row_groups_read = lookup.row_groups_read,
            bytes_read = lookup.bytes_read,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "cold trace lookup"
        );
        if lookup.spans.is_empty() {
            return Ok(None);
        }
        let partial = lookup.truncated.then(|| {
            format!(
                "the archive holds more spans of this trace than a lookup returns ({})",
                cold.options().max_spans
            )
        });
        Ok(Some(TraceLookup {
            spans: lookup.spans,
            partial,
        }))
    }

    fn scan(
        &self,
        tenant: &str,
        request: &ScanRequest,
        visit: &mut dyn FnMut(&[Span]) -> ControlFlow<()>,
    ) -> Result<ScanStats, BackendError> {
        let Some(hot) = &self.hot else {
            return Ok(ScanStats::default());
        };
        let filter = ScanFilter {
            start_ns: request.start_ns,
            end_ns: request.end_ns,
            service_names: request.hints.service_names.clone(),
            min_span_duration_ns: request.hints.min_span_duration_ns,
            // A trace split over blocks is visited as fragments, and a fragment can be shorter
            // than its trace: only the API, which joins fragments, can apply a trace duration.
            min_trace_duration_ns: None,
            same_span: request.hints.same_span,
        };
        let stats = hot
            .scan(tenant, &filter, visit)
            .map_err(|e| BackendError::new(format!("scanning the hot store: {e}")))?;
        Ok(ScanStats {
            inspected_traces: stats.traces as u64,
            inspected_spans: stats.spans as u64,
            inspected_bytes: stats.bytes,
            blocks: u32::try_from(stats.blocks).unwrap_or(u32::MAX),
        })
    }
}
