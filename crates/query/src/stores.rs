//! [`Stores`], the [`Backend`] the gateway serves: the hot store, with the archive as the cold
//! fallback for trace-by-id lookups.
//!
//! - Trace by id asks the hot store first (its in-memory heads, then its blocks through the
//!   per-block index). A trace it does not hold, or no longer holds, is looked up in the
//!   archive's `spans` table ([`ColdArchive`]), which reads only the row groups whose
//!   `trace_id` statistics and bloom filter can hold it, with the trace's scores from the
//!   archive's `scores` table as `gen_ai.evaluation.result` span events, as the hot store
//!   shows them (a cut or unreadable set of scores makes the answer partial).
//! - Search and tags scan the hot store only, newest first: the archive is for data lakes,
//!   and a scan over it would be a full table scan.
//!
//! Without multi-tenancy the cold fallback answers only the single tenant
//! ([`DEFAULT_TENANT`]). With it ([`Stores::with_multitenancy`]), the archive is written
//! under `{table}/tenant={T}/…` and a lookup for tenant T lists only `tenant=T/` of the
//! `spans` and `scores` tables ([`ColdArchive::find_trace_of`]): a tenant never reads
//! another's archived spans, even of a trace id both sent.
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
    /// The archive is partitioned by tenant: cold lookups read the asking tenant's part.
    multitenancy: bool,
}

impl Stores {
    /// Serves `hot` (if any) with `cold` as the trace-by-id fallback (if any); the cold
    /// lookups run on `runtime`.
    pub fn new(
        hot: Option<Arc<HotStore>>,
        cold: Option<Arc<ColdArchive>>,
        runtime: Handle,
    ) -> Self {
        Self {
            hot,
            cold,
            runtime,
            multitenancy: false,
        }
    }

    /// With `on`, the archive was written with `service.multitenancy_enabled`: a cold
    /// lookup for tenant T reads only its `tenant=T/` partitions (and any tenant may have
    /// cold data). Off, only [`DEFAULT_TENANT`] reads the archive, which has no tenant levels.
    pub fn with_multitenancy(mut self, on: bool) -> Self {
        self.multitenancy = on;
        self
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
        let Some(cold) = self
            .cold
            .as_ref()
            .filter(|_| self.multitenancy || tenant == DEFAULT_TENANT)
        else {
            return Ok(None);
        };
        let started = Instant::now();
        let part = self.multitenancy.then_some(tenant);
        let lookup = self
            .runtime
            .block_on(cold.find_trace_of(part, id, window))
            .map_err(|e| BackendError::new(format!("reading the archive: {e}")))?;
        tracing::debug!(
            trace_id = %id,
            spans = lookup.spans.len(),
            files_listed = lookup.files_listed,
            row_groups_read = lookup.row_groups_read,
            bytes_read = lookup.bytes_read,
            scores = lookup.scores.events_added,
            scores_files_listed = lookup.scores.files_listed,
            scores_bytes_read = lookup.scores.bytes_read,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "cold trace lookup"
        );
        if lookup.spans.is_empty() {
            return Ok(None);
        }
        let mut why = Vec::new();
        if lookup.truncated {
            why.push(format!(
                "the archive holds more spans of this trace than a lookup returns ({})",
                cold.options().max_spans
            ));
        }
        if lookup.scores.truncated {
            why.push(format!(
                "the archive holds more scores of this trace than a lookup adds ({})",
                cold.options().max_scores
            ));
        }
        if let Some(e) = &lookup.scores.error {
            why.push(format!("the trace's scores could not be read: {e}"));
        }
        let partial = (!why.is_empty()).then(|| why.join("; "));
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
            floor: request.floor.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tracegate_model::proto::trace::v1::span::SpanKind;
    use tracegate_model::{Resource, Scope, Score, ScoreJoin, SpanId, Status, attr, keys};
    use tracegate_store::{Destination, ScoreEncoder, SpanEncoder, WriterOptions};

    /// 2026-11-22T06:00:00Z.
    const BASE: u64 = 1_795_327_200_000_000_000;
    const HOUR: u64 = 3_600_000_000_000;

    fn span(id: u8, parent: Option<u8>) -> Span {
        Span {
            resource: Arc::new(Resource::with_service("api")),
            trace_id: TraceId([7; 16]),
            span_id: SpanId([id; 8]),
            parent_span_id: parent.map(|p| SpanId([p; 8])),
            name: format!("op-{id}"),
            kind: SpanKind::Internal,
            start_time_unix_nano: BASE + u64::from(id) * 1_000,
            end_time_unix_nano: BASE + u64::from(id) * 1_000 + 500,
            scope: Arc::new(Scope::default()),
            trace_state: String::new(),
            flags: 0,
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

    /// An archive directory with trace 7 (spans 1 and 2) in `spans` and, two hours later,
    /// a score of span 2 in `scores`.
    fn archive(dir: &std::path::Path) {
        let options = WriterOptions::default();
        let encoded = {
            let mut e = SpanEncoder::new();
            e.push(&span(1, None));
            e.push(&span(2, Some(1)));
            e.finish().unwrap()
        };
        let spans =
            tracegate_store::write_spans(&encoded.batch, Some(&encoded.order), &options).unwrap();
        let score = Score {
            name: "helpfulness".into(),
            value: Some(0.25),
            label: Some("meh".into()),
            trace_id: Some(TraceId([7; 16])),
            span_id: Some(SpanId([2; 8])),
            joined_by: ScoreJoin::ResponseId,
            time_unix_nano: BASE + 2 * HOUR,
            service_name: "eval".into(),
            ..Score::default()
        };
        let mut e = ScoreEncoder::new();
        e.push(&score, 0);
        let encoded = e.finish().unwrap();
        let scores =
            tracegate_store::write_scores(&encoded.batch, &encoded.order, &options).unwrap();
        for (table, hour, bytes) in [("spans", "06", spans), ("scores", "08", scores)] {
            let part = dir
                .join(table)
                .join("dt=2026-11-22")
                .join(format!("hour={hour}"));
            std::fs::create_dir_all(&part).unwrap();
            std::fs::write(part.join("gw-1-a.parquet"), bytes).unwrap();
        }
    }

    #[test]
    fn a_cold_trace_is_served_with_its_scores_as_span_events() {
        let dir = std::env::temp_dir().join(format!("tracegate-stores-{}", std::process::id()));
        archive(&dir);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let destination = Destination::from_url(&dir.display().to_string(), None).unwrap();
        let cold = Arc::new(ColdArchive::new(destination, Default::default()));
        let stores = Stores::new(None, Some(cold), runtime.handle().clone());
        let found = stores
            .trace(DEFAULT_TENANT, &TraceId([7; 16]), Some((BASE, BASE + 1)))
            .unwrap()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(found.partial, None);
        let rated = found
            .spans
            .iter()
            .find(|s| s.span_id == SpanId([2; 8]))
            .unwrap();
        assert_eq!(rated.events.len(), 1);
        let event = &rated.events[0];
        assert_eq!(event.name, keys::GEN_AI_EVALUATION_RESULT);
        assert_eq!(event.time_unix_nano, BASE + 2 * HOUR);
        assert_eq!(
            attr::get_str(&event.attributes, keys::GEN_AI_EVALUATION_NAME),
            Some("helpfulness")
        );
        assert_eq!(
            attr::get_f64(&event.attributes, keys::GEN_AI_EVALUATION_SCORE_VALUE),
            Some(0.25)
        );
        let root = found.spans.iter().find(|s| s.span_id == SpanId([1; 8]));
        assert!(root.unwrap().events.is_empty());
    }
}
