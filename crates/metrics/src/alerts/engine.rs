//! [`Engine`]: every rule's windows and alerts. [`Engine::observe`] turns traces into
//! samples of each rule's groups; [`Engine::evaluate`] computes each group's aggregate,
//! steps its [`AlertState`] and returns the [`Notification`]s to send.
//!
//! Bounds: a rule keeps at most `max_groups` groups plus one overflow group; a group whose
//! window has emptied and whose alert is not active is dropped at the next evaluation.

use super::config::{RuleDef, Settings};
use super::extract;
use super::rule::{Func, Rule, ValueKind};
use super::state::{AlertState, Transition};
use super::window::{Summary, Window};
use std::collections::{BTreeMap, HashMap};
use tracegate_model::{Span, Trace};

/// Separates the values of a group key (a value holding it could collide with another
/// group; attribute values do not hold NUL in practice).
const SEP: char = '\0';

/// An alert to send: the Alertmanager v2 fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// `alertname`, `severity`, the rule's labels and the group's.
    pub labels: BTreeMap<String, String>,
    /// The rule's annotations, with `{{ $value }}` and `{{ $labels.X }}` filled in.
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing, ns since the epoch.
    pub starts_at_unix_nano: u64,
    /// For a resolved alert, when it resolved; for a firing one, how long it stays valid
    /// without a resend (now + 4 × max(resend_interval, evaluation_interval), as Prometheus
    /// sets it), so the receiver resolves it if the gateway goes away.
    pub ends_at_unix_nano: u64,
    /// Where the alert comes from (`{external_url}/api/v1/rules`).
    pub generator_url: String,
    /// True for a resolved alert.
    pub resolved: bool,
}

/// One group of one rule: its window and its alert.
#[derive(Debug, Clone)]
pub struct Group {
    /// The `by` labels (empty values left out).
    pub labels: BTreeMap<String, String>,
    window: Window,
    /// The alert's state.
    pub state: AlertState,
    /// The aggregate at the last evaluation (NaN with no samples).
    pub value: f64,
    last_sent: Option<u64>,
}

impl Group {
    fn new(labels: BTreeMap<String, String>, window_ns: u64, unit: Option<f64>) -> Self {
        Self {
            labels,
            window: Window::new(window_ns, unit),
            state: AlertState::Inactive,
            value: f64::NAN,
            last_sent: None,
        }
    }
}

/// One rule at run time.
#[derive(Debug, Clone)]
pub struct RuleRuntime {
    /// The validated rule.
    pub def: RuleDef,
    window_ns: u64,
    unit: Option<f64>,
    /// Groups by their key (the `by` values joined by NUL; `""` with no `by`).
    pub groups: HashMap<String, Group>,
    /// Where samples of groups over the bound go.
    pub overflow: Option<Group>,
    /// The last evaluation, ns since the epoch.
    pub last_evaluation: Option<u64>,
    /// How long it took, s.
    pub evaluation_secs: f64,
}

impl RuleRuntime {
    fn new(def: RuleDef) -> Self {
        let window_ns = (def.rule.window_secs * 1e9) as u64;
        let unit = match (def.rule.func, def.rule.value) {
            (Func::Quantile(_), Some(v)) => Some(Window::unit(matches!(
                v,
                ValueKind::Tokens | ValueKind::InputTokens | ValueKind::OutputTokens
            ))),
            _ => None,
        };
        let mut groups = HashMap::new();
        if def.rule.by.is_empty() {
            groups.insert(String::new(), Group::new(BTreeMap::new(), window_ns, unit));
        }
        Self {
            def,
            window_ns,
            unit,
            groups,
            overflow: None,
            last_evaluation: None,
            evaluation_secs: 0.0,
        }
    }

    /// Every group, the overflow one last.
    pub fn all_groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values().chain(self.overflow.iter())
    }
}

/// The state of every rule of one `alerts` processor.
#[derive(Debug, Clone)]
pub struct Engine {
    id: String,
    /// The validated config.
    pub settings: Settings,
    /// The rules, in config order.
    pub rules: Vec<RuleRuntime>,
    /// The last evaluation, ns since the epoch.
    pub last_evaluation: Option<u64>,
    /// How long it took, s.
    pub evaluation_secs: f64,
}

impl Engine {
    /// An engine for processor `id`.
    pub fn new(id: &str, settings: Settings) -> Self {
        let rules = settings
            .rules
            .iter()
            .cloned()
            .map(RuleRuntime::new)
            .collect();
        Self {
            id: id.to_owned(),
            settings,
            rules,
            last_evaluation: None,
            evaluation_secs: 0.0,
        }
    }

    /// The processor id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Adds `traces`, seen at `now` (ns since the epoch), to every rule's windows.
    pub fn observe(&mut self, traces: &[Trace], now: u64) {
        let max_groups = self.settings.max_groups;
        let mut key = String::new();
        let mut scratch = String::new();
        for rt in &mut self.rules {
            let mut overflowed = 0u64;
            // One small copy per call, so the groups can be updated while it is read.
            let filter = rt.def.rule.filter.clone();
            for trace in traces {
                match &filter {
                    // A fragment (late spans, spans over the per-trace cap) is part of a
                    // trace already counted or passed through: not a trace of its own.
                    None if trace.fragment.is_some() => {}
                    None => {
                        let value = match rt.def.rule.value {
                            Some(kind) => match extract::trace_value(trace, kind) {
                                Some(v) => v,
                                None => continue,
                            },
                            None => 0.0,
                        };
                        let Some(span) = extract::representative(trace) else {
                            continue;
                        };
                        let err = extract::trace_errs(trace);
                        overflowed += record(rt, max_groups, span, now, err, value, &mut key);
                    }
                    Some(conds) => {
                        for span in &trace.spans {
                            if !extract::matches(span, conds, &mut scratch) {
                                continue;
                            }
                            let value = match rt.def.rule.value {
                                Some(kind) => match extract::span_value(span, kind) {
                                    Some(v) => v,
                                    None => continue,
                                },
                                None => 0.0,
                            };
                            overflowed +=
                                record(rt, max_groups, span, now, span.is_error(), value, &mut key);
                        }
                    }
                }
            }
            if overflowed > 0 {
                metrics::counter!(
                    "tracegate_alerts_group_overflow_total",
                    "processor" => self.id.clone(),
                    "alert" => rt.def.alert.clone()
                )
                .increment(overflowed);
            }
        }
    }

    /// Evaluates every rule at `now` and returns the alerts to send: those that started
    /// firing, firing ones due for a resend, and those that resolved (once).
    pub fn evaluate(&mut self, now: u64) -> Vec<Notification> {
        let started = std::time::Instant::now();
        let valid_for = 4 * self
            .settings
            .resend_ns
            .max(u64::try_from(self.settings.evaluation_interval.as_nanos()).unwrap_or(u64::MAX));
        let resend = self.settings.resend_ns;
        let url = self.settings.generator_url.clone();
        let mut out = Vec::new();
        for rt in &mut self.rules {
            let rule_started = std::time::Instant::now();
            let def = &rt.def;
            let groups = rt.groups.values_mut().chain(rt.overflow.iter_mut());
            for g in groups {
                let summary = g.window.summary(now);
                let value = aggregate(&def.rule, &summary);
                g.value = value.unwrap_or(f64::NAN);
                let enough = match def.rule.func {
                    Func::Count | Func::Rate => true,
                    _ => summary.count >= def.min_count,
                };
                let holds =
                    enough && value.is_some_and(|v| def.rule.op.holds(v, def.rule.threshold));
                let transition = g.state.step(holds, now, def.for_ns);
                let send = match (transition, g.state) {
                    (Transition::Fired, _) => true,
                    (Transition::Resolved, _) => true,
                    (Transition::None, AlertState::Firing { .. }) => {
                        g.last_sent.is_none_or(|t| now.saturating_sub(t) >= resend)
                    }
                    _ => false,
                };
                if !send {
                    continue;
                }
                g.last_sent = Some(now);
                let labels = alert_labels(def, g);
                let (starts, ends, resolved) = match g.state {
                    AlertState::Resolved {
                        fired_at,
                        resolved_at,
                        ..
                    } => (fired_at, resolved_at, true),
                    AlertState::Firing { fired_at, .. } => {
                        (fired_at, now.saturating_add(valid_for), false)
                    }
                    _ => continue,
                };
                out.push(Notification {
                    annotations: expand_all(&def.annotations, &labels, g.value),
                    labels,
                    starts_at_unix_nano: starts,
                    ends_at_unix_nano: ends,
                    generator_url: url.clone(),
                    resolved,
                });
            }
            let by_rule = !rt.def.rule.by.is_empty();
            rt.groups
                .retain(|_, g| !by_rule || !g.window.is_empty() || g.state.is_active());
            if rt
                .overflow
                .as_ref()
                .is_some_and(|g| g.window.is_empty() && !g.state.is_active())
            {
                rt.overflow = None;
            }
            rt.last_evaluation = Some(now);
            rt.evaluation_secs = rule_started.elapsed().as_secs_f64();
        }
        self.last_evaluation = Some(now);
        self.evaluation_secs = started.elapsed().as_secs_f64();
        // Groups live in hash maps: give receivers (and tests) a stable order.
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

/// Records one sample in its group; returns 1 when it went to the overflow group.
fn record(
    rt: &mut RuleRuntime,
    max_groups: usize,
    span: &Span,
    now: u64,
    error: bool,
    value: f64,
    key: &mut String,
) -> u64 {
    key.clear();
    for (i, k) in rt.def.rule.by.iter().enumerate() {
        if i > 0 {
            key.push(SEP);
        }
        extract::key_text(span, k, key);
    }
    if let Some(g) = rt.groups.get_mut(key.as_str()) {
        g.window.record(now, error, value);
        return 0;
    }
    let (window_ns, unit) = (rt.window_ns, rt.unit);
    if rt.groups.len() >= max_groups {
        let g = rt.overflow.get_or_insert_with(|| {
            Group::new(
                BTreeMap::from([("overflow".to_owned(), "true".to_owned())]),
                window_ns,
                unit,
            )
        });
        g.window.record(now, error, value);
        return 1;
    }
    let labels = rt
        .def
        .rule
        .by
        .iter()
        .zip(key.split(SEP))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.label(), v.to_owned()))
        .collect();
    let mut g = Group::new(labels, window_ns, unit);
    g.window.record(now, error, value);
    rt.groups.insert(key.clone(), g);
    0
}

/// The rule's aggregate over a window; `None` when it has no value (no samples).
pub fn aggregate(rule: &Rule, s: &Summary) -> Option<f64> {
    match rule.func {
        Func::Count => Some(s.count as f64),
        Func::Rate => Some(s.count as f64 / rule.window_secs),
        Func::ErrorRatio => (s.count > 0).then(|| s.errors as f64 / s.count as f64),
        Func::Avg => s.avg(),
        Func::Sum => (s.count > 0).then_some(s.sum),
        Func::Min => (s.count > 0).then_some(s.min),
        Func::Max => (s.count > 0).then_some(s.max),
        Func::Quantile(_) => rule.func.quantile().and_then(|q| s.quantile(q)),
    }
}

/// The alert's labels: the group's, then the rule's (which win), `severity` and `alertname`.
pub fn alert_labels(def: &RuleDef, g: &Group) -> BTreeMap<String, String> {
    let mut labels = g.labels.clone();
    labels.extend(def.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels
}

fn expand_all(
    templates: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
    value: f64,
) -> BTreeMap<String, String> {
    templates
        .iter()
        .map(|(k, t)| (k.clone(), expand(t, labels, value)))
        .collect()
}

/// Fills `{{ $value }}` and `{{ $labels.NAME }}` in `template` (spaces inside the braces
/// optional); anything else between braces is left as written.
pub fn expand(template: &str, labels: &BTreeMap<String, String>, value: f64) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = after[..close].trim();
        if inner == "$value" {
            out.push_str(&format_value(value));
        } else if let Some(name) = inner.strip_prefix("$labels.") {
            out.push_str(labels.get(name).map_or("", String::as_str));
        } else {
            out.push_str(&rest[open..open + 2 + close + 2]);
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// A value as annotations show it: the shortest text that reads back to it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}
