//! [`MetricsRegistry`]: where the `span_metrics` and `alerts` processors built from the config
//! leave a handle, so the binary's endpoints (Prometheus scrape, OTLP push, the alerts API)
//! find what to serve.
//!
//! Factories run while the config resolves, before any task starts; each records its
//! component here by id. The binary then reads the registry once to start the servers.

use crate::alerts::Alerts;
use crate::snapshot::{Family, MetricSource};
use std::sync::{Arc, Mutex, MutexGuard};

/// The metric sources and alert engines of one resolved config. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct MetricsRegistry {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    sources: Vec<(String, Arc<dyn MetricSource>)>,
    alerts: Vec<(String, Alerts)>,
}

impl MetricsRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the two lists inconsistent: every
        // critical section is a single push or clone.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the metric source of component `id`, replacing an earlier one of that id.
    pub fn add_source(&self, id: &str, source: Arc<dyn MetricSource>) {
        let mut inner = self.lock();
        inner.sources.retain(|(k, _)| k != id);
        inner.sources.push((id.to_owned(), source));
    }

    /// Records the alert engine of component `id`, replacing an earlier one of that id.
    pub fn add_alerts(&self, id: &str, alerts: Alerts) {
        let mut inner = self.lock();
        inner.alerts.retain(|(k, _)| k != id);
        inner.alerts.push((id.to_owned(), alerts));
    }

    /// The metric sources, by component id, in the order they were added.
    pub fn sources(&self) -> Vec<(String, Arc<dyn MetricSource>)> {
        self.lock().sources.clone()
    }

    /// The alert engines, by component id, in the order they were added.
    pub fn alerts(&self) -> Vec<(String, Alerts)> {
        self.lock().alerts.clone()
    }

    /// True when no component registered anything: nothing to serve.
    pub fn is_empty(&self) -> bool {
        let inner = self.lock();
        inner.sources.is_empty() && inner.alerts.is_empty()
    }

    /// Every source's families as of `now_unix_nano`, concatenated in registration order.
    pub fn collect(&self, now_unix_nano: u64) -> Vec<Family> {
        self.sources()
            .iter()
            .flat_map(|(_, s)| s.collect(now_unix_nano))
            .collect()
    }
}

/// Now, in ns since the Unix epoch (0 if the clock is before 1970).
pub fn now_unix_nano() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
