//! Streaming alert rules (stub: being written).

/// A handle on one `alerts` processor's engine.
#[derive(Debug, Clone, Default)]
pub struct Alerts {}

impl Alerts {
    /// Items of Prometheus's `GET /api/v1/alerts` `data.alerts`.
    pub fn prometheus_alerts(&self) -> serde_json::Value {
        serde_json::Value::Array(Vec::new())
    }

    /// One item of Prometheus's `GET /api/v1/rules` `data.groups`.
    pub fn prometheus_rules(&self) -> serde_json::Value {
        serde_json::json!({"name": "", "file": "", "rules": [], "interval": 15})
    }

    /// Evaluates and notifies until `shutdown`.
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        shutdown.cancelled().await;
    }
}
