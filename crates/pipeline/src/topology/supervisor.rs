//! Watches every pipeline, shard, trace-stage and exporter task: a panic or an unexpected
//! return is logged once with its cause, counted, and marks the component failed in
//! [`Health`], so `/healthz` stops saying ok.

use crate::health::Health;
use crate::telemetry;
use std::collections::HashMap;
use std::future::Future;
use tokio::task::{JoinError, JoinSet};

/// A set of named tasks that each run until their input closes.
#[derive(Debug)]
pub(super) struct Supervisor {
    tasks: JoinSet<()>,
    names: HashMap<tokio::task::Id, String>,
    health: Health,
    /// The first failure, as `component: cause`.
    first_failure: Option<String>,
}

impl Supervisor {
    pub(super) fn new(health: Health) -> Self {
        Self {
            tasks: JoinSet::new(),
            names: HashMap::new(),
            health,
            first_failure: None,
        }
    }

    /// Runs `task` as `component` (`pipeline/traces`, `exporter/archive`, ...).
    pub(super) fn spawn<F>(&mut self, component: String, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let handle = self.tasks.spawn(task);
        self.names.insert(handle.id(), component);
    }

    /// Waits for the next task to end and judges it: a panic is a failure; so is a return
    /// while `running`, unless another component failed first (a stage returns when the
    /// stage before it is gone: that is the first failure's doing, not its own). Returns
    /// `None` when no task is left.
    pub(super) async fn join_next(&mut self, running: bool) -> Option<()> {
        let done = self.tasks.join_next_with_id().await?;
        let (id, cause) = match done {
            Ok((id, ())) if running && self.first_failure.is_none() => {
                (id, Some("stopped unexpectedly".to_owned()))
            }
            Ok((id, ())) => (id, None),
            Err(e) => (e.id(), Some(cause_of(e))),
        };
        let component = self.names.remove(&id).unwrap_or_else(|| "task".to_owned());
        if let Some(cause) = cause {
            self.fail(&component, &cause);
        }
        Some(())
    }

    /// Records `component` as failed because of `cause`.
    pub(super) fn fail(&mut self, component: &str, cause: &str) {
        tracing::error!(
            component,
            cause,
            "component failed: the gateway cannot do its job until it is restarted"
        );
        telemetry::component_failed(component);
        self.health.failed(component, cause);
        if self.first_failure.is_none() {
            self.first_failure = Some(format!("{component}: {cause}"));
        }
    }

    /// The first failure, if any, as `component: cause`.
    pub(super) fn first_failure(&self) -> Option<&str> {
        self.first_failure.as_deref()
    }

    /// Aborts every task still running; returns their components.
    pub(super) fn abort_all(&mut self) -> Vec<String> {
        self.tasks.abort_all();
        self.tasks.detach_all();
        self.names.drain().map(|(_, n)| n).collect()
    }
}

/// A task's failure in words: the panic message, or that it was cancelled.
pub(super) fn cause_of(e: JoinError) -> String {
    if !e.is_panic() {
        return "task was cancelled".to_owned();
    }
    let panic = e.into_panic();
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".to_owned());
    format!("panicked: {message}")
}
