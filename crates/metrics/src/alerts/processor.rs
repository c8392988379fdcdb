//! [`AlertsFactory`] builds the `alerts` processor from `processors.alerts[/NAME]` and
//! registers its [`Alerts`] handle; [`AlertsProcessor`] feeds it every trace and passes the
//! traces on unchanged.

use super::{Alerts, AlertsConfig};
use crate::MetricsRegistry;
use serde_yaml_ng::Value;
use tracegate_model::Trace;
use tracegate_pipeline::{
    BuildContext, ComponentId, ConfigError, Processor, ProcessorFactory, TraceProcessor,
    parse_section,
};

/// Builds [`AlertsProcessor`]s and records each one's [`Alerts`] in the registry, where the
/// binary finds them to serve `/api/v1/alerts` and to [`Alerts::run`] them.
#[derive(Debug, Clone)]
pub struct AlertsFactory {
    registry: MetricsRegistry,
}

impl AlertsFactory {
    /// A factory that registers into `registry`.
    pub fn new(registry: MetricsRegistry) -> Self {
        Self { registry }
    }
}

impl ProcessorFactory for AlertsFactory {
    fn type_name(&self) -> &'static str {
        "alerts"
    }

    fn build(
        &self,
        id: &ComponentId,
        config: Value,
        _ctx: &BuildContext,
    ) -> Result<Processor, ConfigError> {
        let path = format!("processors.{id}");
        let config: AlertsConfig = parse_section(&path, config)?;
        let alerts = Alerts::new(id.as_str(), &config)?;
        self.registry.add_alerts(id.as_str(), alerts.clone());
        Ok(Processor::Trace(Box::new(AlertsProcessor::new(alerts))))
    }
}

/// Feeds every trace to its [`Alerts`] at the wall-clock time it is seen.
#[derive(Debug, Clone)]
pub struct AlertsProcessor {
    alerts: Alerts,
}

impl AlertsProcessor {
    /// A processor feeding `alerts`.
    pub fn new(alerts: Alerts) -> Self {
        Self { alerts }
    }
}

impl TraceProcessor for AlertsProcessor {
    fn process(&mut self, traces: Vec<Trace>) -> Vec<Trace> {
        self.alerts.observe(&traces, crate::now_unix_nano());
        traces
    }
}
