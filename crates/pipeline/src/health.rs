//! The gateway's health as `/healthz` and `/readyz` report it.
//!
//! [`Health`] is a cheap, cloneable handle shared by the topology and every component (it
//! reaches factories through [`BuildContext`](crate::BuildContext)). A component marks itself
//! [`degraded`](Health::degraded) when it still runs but cannot do its job (the archive's store
//! refuses its credentials), [`failed`](Health::failed) when it is gone (a task panicked), and
//! [`recovered`](Health::recovered) when it works again. Readiness is separate: the gateway is
//! not ready while it starts, replays or drains, even when every component is healthy.
//!
//! ```
//! use tracegate_pipeline::health::{Health, Status};
//!
//! let health = Health::default();
//! health.set_ready(true);
//! health.degraded("exporter/archive", "403 Forbidden: check the credentials");
//! let report = health.report();
//! assert_eq!(report.status, Status::Degraded);
//! assert!(report.ready);
//! health.recovered("exporter/archive");
//! assert_eq!(health.report().status, Status::Ok);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// How well a component, or the whole gateway, works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Working.
    Ok,
    /// Running, but not doing its job (for example, a destination refuses every write).
    Degraded,
    /// Gone: the gateway cannot do its job until it is restarted.
    Failed,
}

/// One component's entry in a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ComponentHealth {
    /// The component (`exporter/archive`, `pipeline/traces`, ...).
    pub component: String,
    /// Its status.
    pub status: Status,
    /// Why, in words an operator can act on.
    pub reason: String,
}

/// A snapshot of the gateway's health.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The worst status of any component (`ok` when none reported a problem).
    pub status: Status,
    /// Whether the gateway takes traffic (false while starting, replaying or draining).
    pub ready: bool,
    /// Components that are not `ok`.
    pub components: Vec<ComponentHealth>,
}

#[derive(Debug, Default)]
struct State {
    ready: bool,
    problems: BTreeMap<String, (Status, String)>,
}

/// Shared health state; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Health {
    state: Arc<Mutex<State>>,
}

impl Health {
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic while holding this lock cannot leave the map inconsistent: recover it.
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    fn set(&self, component: &str, status: Status, reason: String) {
        let changed = self.with_state(|s| {
            let entry = s.problems.get(component);
            if entry.is_some_and(|(st, r)| *st == status && *r == reason) {
                return false;
            }
            // A failed component stays failed: it cannot recover by itself.
            if entry.is_some_and(|(st, _)| *st == Status::Failed) {
                return false;
            }
            s.problems
                .insert(component.to_owned(), (status, reason.clone()));
            true
        });
        if changed {
            match status {
                Status::Failed => tracing::error!(component, %reason, "component failed"),
                _ => tracing::warn!(component, %reason, "component degraded"),
            }
        }
    }

    /// `component` runs but cannot do its job, because of `reason`. Logged once per change.
    pub fn degraded(&self, component: &str, reason: impl Into<String>) {
        self.set(component, Status::Degraded, reason.into());
    }

    /// `component` is gone, because of `reason`. Logged once; it stays failed.
    pub fn failed(&self, component: &str, reason: impl Into<String>) {
        self.set(component, Status::Failed, reason.into());
    }

    /// `component` works again (a failed component stays failed).
    pub fn recovered(&self, component: &str) {
        let was = self.with_state(|s| match s.problems.get(component) {
            Some((Status::Degraded, _)) => s.problems.remove(component).is_some(),
            _ => false,
        });
        if was {
            tracing::info!(component, "component recovered");
        }
    }

    /// Marks the gateway ready (taking traffic) or not.
    pub fn set_ready(&self, ready: bool) {
        self.with_state(|s| s.ready = ready);
    }

    /// The current health.
    pub fn report(&self) -> Report {
        self.with_state(|s| Report {
            status: s
                .problems
                .values()
                .map(|(st, _)| *st)
                .max()
                .unwrap_or(Status::Ok),
            ready: s.ready,
            components: s
                .problems
                .iter()
                .map(|(c, (st, r))| ComponentHealth {
                    component: c.clone(),
                    status: *st,
                    reason: r.clone(),
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_component_sets_the_status_and_failure_is_final() {
        let h = Health::default();
        assert_eq!(h.report().status, Status::Ok);
        assert!(!h.report().ready);
        h.degraded("exporter/a", "slow");
        h.failed("pipeline/traces", "panicked: boom");
        let r = h.report();
        assert_eq!(r.status, Status::Failed);
        assert_eq!(r.components.len(), 2);
        h.recovered("pipeline/traces");
        h.degraded("pipeline/traces", "again");
        assert_eq!(h.report().status, Status::Failed);
        h.recovered("exporter/a");
        assert_eq!(h.report().components.len(), 1);
    }
}
