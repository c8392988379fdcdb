//! The engine in Prometheus's HTTP API shapes, so tools that read Prometheus's alerts read
//! tracegate's:
//! - [`alerts`]: the items of `GET /api/v1/alerts` `data.alerts` (pending and firing):
//!   `{labels, annotations, state, activeAt, value}`, `value` a string as Prometheus writes it
//!   (`1.0000000000e-01`);
//! - [`rules_group`]: one item of `GET /api/v1/rules` `data.groups`: `{name, file, rules,
//!   interval, limit, evaluationTime, lastEvaluation}`, each rule `{state, name, query,
//!   duration, keepFiringFor, labels, annotations, alerts, health, evaluationTime,
//!   lastEvaluation, type: "alerting"}`.
//!
//! The Alertmanager v2 body of notifications is in [`super::notify`].

use super::engine::{Engine, Group, RuleRuntime, alert_labels};
use super::state::AlertState;
use serde_json::{Value, json};

/// RFC 3339 with nanoseconds, UTC, as Prometheus and Alertmanager parse it; `None` is
/// Go's zero time, which Prometheus shows for a rule never evaluated.
pub fn rfc3339(ns: Option<u64>) -> String {
    match ns {
        Some(ns) => humantime::format_rfc3339_nanos(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns),
        )
        .to_string(),
        None => "0001-01-01T00:00:00Z".to_owned(),
    }
}

/// `v` as Go's `strconv.FormatFloat(v, 'e', 10, 64)`, which Prometheus uses for an alert's
/// value: `1.0000000000e-01`, `1.2500000000e+01`, `NaN`, `+Inf`.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let s = format!("{v:.10e}");
    match s.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

fn alert_json(rt: &RuleRuntime, g: &Group) -> Option<Value> {
    let active_at = g.state.active_at()?;
    let labels = alert_labels(&rt.def, g);
    let annotations: serde_json::Map<String, Value> = rt
        .def
        .annotations
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                Value::String(super::engine::expand(t, &labels, g.value)),
            )
        })
        .collect();
    Some(json!({
        "labels": labels,
        "annotations": annotations,
        "state": g.state.as_str(),
        "activeAt": rfc3339(Some(active_at)),
        "value": go_float(g.value),
    }))
}

fn sorted_alerts(rt: &RuleRuntime) -> Vec<Value> {
    let mut groups: Vec<&Group> = rt.all_groups().filter(|g| g.state.is_active()).collect();
    groups.sort_by(|a, b| a.labels.cmp(&b.labels));
    groups
        .into_iter()
        .filter_map(|g| alert_json(rt, g))
        .collect()
}

/// Pending and firing alerts of every rule, as `data.alerts` items.
pub fn alerts(engine: &Engine) -> Value {
    Value::Array(engine.rules.iter().flat_map(sorted_alerts).collect())
}

fn rule_state(rt: &RuleRuntime) -> &'static str {
    let states: Vec<AlertState> = rt.all_groups().map(|g| g.state).collect();
    if states
        .iter()
        .any(|s| matches!(s, AlertState::Firing { .. }))
    {
        "firing"
    } else if states
        .iter()
        .any(|s| matches!(s, AlertState::Pending { .. }))
    {
        "pending"
    } else {
        "inactive"
    }
}

/// The processor's rules as one `data.groups` item, named after the processor.
pub fn rules_group(engine: &Engine) -> Value {
    let rules: Vec<Value> = engine
        .rules
        .iter()
        .map(|rt| {
            let mut labels = rt.def.labels.clone();
            labels.remove("alertname");
            json!({
                "state": rule_state(rt),
                "name": rt.def.alert,
                "query": rt.def.expr,
                "duration": rt.def.for_ns as f64 / 1e9,
                "keepFiringFor": 0,
                "labels": labels,
                "annotations": rt.def.annotations,
                "alerts": sorted_alerts(rt),
                "health": if rt.last_evaluation.is_some() { "ok" } else { "unknown" },
                "evaluationTime": rt.evaluation_secs,
                "lastEvaluation": rfc3339(rt.last_evaluation),
                "type": "alerting",
            })
        })
        .collect();
    json!({
        "name": engine.id(),
        "file": format!("tracegate:processors.{}", engine.id()),
        "rules": rules,
        "interval": engine.settings.evaluation_interval.as_secs_f64(),
        "limit": 0,
        "evaluationTime": engine.evaluation_secs,
        "lastEvaluation": rfc3339(engine.last_evaluation),
    })
}
