//! The `alerts` trace processor: streaming alert rules evaluated in the gateway, over 100 %
//! of traces before sampling.
//!
//! A rule such as `error_ratio > 0.05 over 5m` or `p95(duration of category=llm) > 10s over
//! 10m` (the language and its grammar: [`rule`]) keeps a sliding window of the traces or
//! spans it counts ([`window`]: sub-windows with counts and HDR histograms, with the error
//! bounds stated there). Every `evaluation_interval` the [`engine`] computes each rule's
//! aggregate, per group when the rule has `by (...)`, and steps each alert through
//! inactive → pending → firing → resolved ([`state`], Prometheus's semantics for `for`).
//! Pending and firing alerts are listed in Prometheus's JSON shapes ([`api`]); alerts that
//! start firing, are due for a resend, or resolve are POSTed to an Alertmanager and any
//! webhooks with retry ([`notify`]).
//!
//! - [`config`]: `processors.alerts`, parsed and validated with key paths;
//! - [`extract`]: a rule's keys and values read from spans and traces;
//! - [`processor`]: [`AlertsFactory`] and [`AlertsProcessor`];
//! - this file: [`Alerts`], the shared handle the processor feeds and the endpoints read.
//!
//! Time is processing time, ns since the Unix epoch, passed in (`observe(&traces, now)`,
//! `evaluate(now)`) so tests drive it.

pub mod api;
pub mod config;
pub mod engine;
pub mod extract;
pub mod notify;
pub mod processor;
pub mod rule;
pub mod state;
pub mod window;

#[cfg(test)]
mod tests;

pub use config::{AlertsConfig, RuleConfig, Settings, seed_rules};
pub use engine::{Engine, Notification};
pub use processor::{AlertsFactory, AlertsProcessor};

use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;
use tracegate_model::Trace;
use tracegate_pipeline::ConfigError;

/// A handle on one `alerts` processor's engine. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Alerts {
    engine: Arc<Mutex<Engine>>,
    settings: Arc<Settings>,
    id: Arc<str>,
}

impl Alerts {
    /// The alerts of processor `id` from its config; errors name key paths under
    /// `processors.{id}`.
    pub fn new(id: &str, config: &AlertsConfig) -> Result<Self, ConfigError> {
        let settings = config.validate(&format!("processors.{id}"))?;
        Ok(Self::from_settings(id, settings))
    }

    /// The alerts of processor `id` from validated settings.
    pub fn from_settings(id: &str, settings: Settings) -> Self {
        Self {
            engine: Arc::new(Mutex::new(Engine::new(id, settings.clone()))),
            settings: Arc::new(settings),
            id: id.into(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        // Every update leaves the engine consistent between samples; a panic mid-update
        // loses at most that batch's samples.
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The processor id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The validated settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Adds `traces`, seen at `now_unix_nano`, to every rule's windows (one lock per call).
    pub fn observe(&self, traces: &[Trace], now_unix_nano: u64) {
        if traces.is_empty() {
            return;
        }
        self.lock().observe(traces, now_unix_nano);
    }

    /// Evaluates every rule at `now_unix_nano`; returns the state changes to send.
    pub fn evaluate(&self, now_unix_nano: u64) -> Vec<Notification> {
        self.lock().evaluate(now_unix_nano)
    }

    /// JSON array: the items of `GET /api/v1/alerts` `data.alerts` (pending and firing).
    pub fn prometheus_alerts(&self) -> serde_json::Value {
        api::alerts(&self.lock())
    }

    /// One item of `GET /api/v1/rules` `data.groups`.
    pub fn prometheus_rules(&self) -> serde_json::Value {
        api::rules_group(&self.lock())
    }

    /// Evaluates every `evaluation_interval` and sends notifications with retry, until
    /// `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        notify::run(self, shutdown).await;
    }
}
