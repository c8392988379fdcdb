//! `processors.alerts`: the raw config, and its validation into [`Settings`] with every rule
//! parsed. Errors name their key path (`processors.alerts.rules[0].expr`).
//!
//! ```yaml
//! alerts:
//!   evaluation_interval: 15s
//!   rules:                       # default: the seed's HighErrorRate and SlowInference
//!     - alert: HighErrorRate
//!       expr: error_ratio > 0.05 over 5m
//!       for: 1m
//!       severity: critical
//!       labels: {}
//!       annotations: { summary: "..." }
//!   alertmanager: { url: http://alertmanager:9093, timeout: 5s }
//!   webhooks:
//!     - { url: http://hook.example/alerts, timeout: 5s }
//!     - url: https://hooks.internal/alerts   # the system's CAs, or:
//!       tls: { ca_file: /etc/tracegate/tls/hooks-ca.crt, cert_file: …, key_file: … }
//!   retry: { initial_backoff: 500ms, max_backoff: 30s, max_elapsed: 5m }
//!   resend_interval: 1m
//!   min_count: 10
//!   max_groups: 100
//!   external_url: http://localhost:8889
//! ```

use super::rule::{self, Rule};
use serde::Deserialize;
use std::collections::BTreeMap;
use tracegate_pipeline::{ConfigError, Duration};
use tracegate_tls::TlsClientConfig;

/// `processors.alerts`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// How often rules are evaluated. Default `15s`.
    pub evaluation_interval: Duration,
    /// The rules. Default: the seed's two, [`seed_rules`]; `rules: []` for none.
    pub rules: Vec<RuleConfig>,
    /// An Alertmanager: alerts are POSTed to `{url}/api/v2/alerts`.
    pub alertmanager: Option<TargetConfig>,
    /// Webhooks: each gets the same JSON body POSTed to its `url` as it is.
    pub webhooks: Vec<TargetConfig>,
    /// Retries of a failed send.
    pub retry: RetryConfig,
    /// Firing alerts are sent again this often, as Prometheus does, so the receiver keeps
    /// them alive. Default `1m`.
    pub resend_interval: Duration,
    /// A window with fewer samples than this never satisfies a rule, so one error in one
    /// trace cannot page. Applies to `error_ratio` (samples are the traces or spans counted)
    /// and value aggregates (samples with a value); not to `count` and `rate`, whose value
    /// is the number of samples. Default 10; a rule may set its own.
    pub min_count: u64,
    /// The most groups (`by (...)` value lists) one rule keeps; samples of further groups go
    /// to one overflow group labelled `overflow="true"`, and are counted in
    /// `tracegate_alerts_group_overflow_total`. Default 100.
    pub max_groups: usize,
    /// The base of each alert's `generatorURL`: `{external_url}/api/v1/rules`. Default
    /// `http://localhost:8889`.
    pub external_url: String,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            evaluation_interval: Duration::from_secs(15),
            rules: seed_rules(),
            alertmanager: None,
            webhooks: Vec::new(),
            retry: RetryConfig::default(),
            resend_interval: Duration::from_secs(60),
            min_count: 10,
            max_groups: 100,
            external_url: "http://localhost:8889".to_owned(),
        }
    }
}

/// The seed's two rules: HighErrorRate (critical) and SlowInference (warning).
pub fn seed_rules() -> Vec<RuleConfig> {
    vec![
        RuleConfig {
            alert: "HighErrorRate".into(),
            expr: "error_ratio > 0.05 over 5m".into(),
            for_: Duration::from_secs(60),
            severity: "critical".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::from([
                (
                    "summary".into(),
                    "More than 5 % of traces have an error".into(),
                ),
                (
                    "description".into(),
                    "{{ $value }} of the traces seen in the last 5 minutes have a span with ERROR status.".into(),
                ),
            ]),
            min_count: None,
        },
        RuleConfig {
            alert: "SlowInference".into(),
            expr: "p95(duration of category=llm) > 10s over 10m".into(),
            for_: Duration::from_secs(0),
            severity: "warning".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::from([
                ("summary".into(), "P95 LLM latency is above 10 s".into()),
                (
                    "description".into(),
                    "The P95 duration of LLM spans over the last 10 minutes is {{ $value }} s.".into(),
                ),
            ]),
            min_count: None,
        },
    ]
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The alert's name (`alertname`): letters, digits and `_`, not starting with a digit.
    pub alert: String,
    /// The condition, in the rule language ([`crate::alerts::rule`]).
    pub expr: String,
    /// How long the condition must hold before the alert fires. Default `0s`.
    #[serde(default, rename = "for")]
    pub for_: Duration,
    /// The `severity` label. Default `warning`.
    #[serde(default = "default_severity")]
    pub severity: String,
    /// Extra labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations; `{{ $value }}` and `{{ $labels.NAME }}` are filled in.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// This rule's own `min_count`.
    #[serde(default)]
    pub min_count: Option<u64>,
}

fn default_severity() -> String {
    "warning".into()
}

/// Where alerts are POSTed.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// An `http://` or `https://` URL.
    pub url: String,
    /// Per attempt. Default `5s`.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// For an `https://` URL: the CA file to verify the server against (default: the
    /// system's CA certificates), a client certificate for mTLS, the minimum version; the
    /// OTLP exporter's `tls:` block ([`TlsClientConfig`]), without `server_name_override`.
    #[serde(default)]
    pub tls: Option<TlsClientConfig>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Retry of a send that failed with a connection error, a timeout, a 5xx or a 429.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// The first wait. Default `500ms`.
    pub initial_backoff: Duration,
    /// Waits double up to this. Default `30s`.
    pub max_backoff: Duration,
    /// Give up (and count it) once the next wait would end past this much time since the
    /// first attempt. Default `5m`.
    pub max_elapsed: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_elapsed: Duration::from_secs(300),
        }
    }
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    /// The alert's name.
    pub alert: String,
    /// The rule text, as written.
    pub expr: String,
    /// The parsed rule.
    pub rule: Rule,
    /// `for`, ns.
    pub for_ns: u64,
    /// `alertname`, `severity` and the rule's labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations, as written.
    pub annotations: BTreeMap<String, String>,
    /// Samples needed before the rule can hold.
    pub min_count: u64,
}

/// A validated target.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// For metric labels and logs: `alertmanager` or `webhook[N]`.
    pub name: String,
    /// The URL POSTed to.
    pub url: String,
    /// Per attempt.
    pub timeout: std::time::Duration,
    /// For an `https://` URL, how to connect (the default: the system's CA certificates);
    /// `None` for `http://`. Its files were read when the config was checked.
    pub tls: Option<TlsClientConfig>,
}

/// ALPN of a webhook connection: the notifier speaks HTTP/1.1.
pub const WEBHOOK_ALPN: &[&[u8]] = &[b"http/1.1"];

/// The whole config, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Evaluation period.
    pub evaluation_interval: std::time::Duration,
    /// The rules.
    pub rules: Vec<RuleDef>,
    /// Where to send.
    pub targets: Vec<Target>,
    /// Retry.
    pub retry: RetryConfig,
    /// Resend period of firing alerts, ns.
    pub resend_ns: u64,
    /// Group bound per rule.
    pub max_groups: usize,
    /// `generatorURL` of every alert.
    pub generator_url: String,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.get().as_nanos()).unwrap_or(u64::MAX)
}

/// True for a valid Prometheus label (and alert) name.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A target's URL and its TLS settings, checked: `tls:` only with `https://`, whose files
/// are read now so a bad path stops the start with the key named.
fn target_url(
    path: &str,
    text: &str,
    tls: Option<&TlsClientConfig>,
) -> Result<(String, Option<TlsClientConfig>), ConfigError> {
    let url = url(&format!("{path}.url"), text)?;
    let tls_path = format!("{path}.tls");
    if !url.starts_with("https://") {
        if tls.is_some() {
            return Err(ConfigError::new(
                tls_path,
                format!("set for {text:?}, an http:// URL; use https:// or remove tls:"),
            ));
        }
        return Ok((url, None));
    }
    let tls = tls.cloned().unwrap_or_default();
    if tls.server_name_override.is_some() {
        return Err(ConfigError::new(
            format!("{tls_path}.server_name_override"),
            "not supported for alert targets: use a URL with the name the server's \
             certificate carries",
        ));
    }
    tls.load(&tls_path, WEBHOOK_ALPN)?;
    Ok((url, Some(tls)))
}

fn url(path: &str, text: &str) -> Result<String, ConfigError> {
    let parsed = reqwest::Url::parse(text)
        .map_err(|e| ConfigError::new(path, format!("invalid URL {text:?}: {e}")))?;
    match parsed.scheme() {
        "http" | "https" => {}
        _ => {
            return Err(ConfigError::new(
                path,
                format!("URL {text:?} must start with http:// or https://"),
            ));
        }
    }
    Ok(text.to_owned())
}

impl AlertsConfig {
    /// Validates the config of the component at `path` (`processors.alerts`).
    pub fn validate(&self, path: &str) -> Result<Settings, ConfigError> {
        if self.evaluation_interval.get().is_zero() {
            return Err(ConfigError::new(
                format!("{path}.evaluation_interval"),
                "must be more than 0s",
            ));
        }
        if self.max_groups == 0 {
            return Err(ConfigError::new(
                format!("{path}.max_groups"),
                "must be at least 1",
            ));
        }
        let r = &self.retry;
        if r.initial_backoff.get().is_zero() || r.max_backoff < r.initial_backoff {
            return Err(ConfigError::new(
                format!("{path}.retry"),
                "initial_backoff must be more than 0s and at most max_backoff",
            ));
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (i, rc) in self.rules.iter().enumerate() {
            let at = format!("{path}.rules[{i}]");
            if !valid_name(&rc.alert) {
                return Err(ConfigError::new(
                    format!("{at}.alert"),
                    format!(
                        "{:?} is not a valid alert name: use letters, digits and `_`, not starting with a digit",
                        rc.alert
                    ),
                ));
            }
            if self.rules[..i].iter().any(|o| o.alert == rc.alert) {
                return Err(ConfigError::new(
                    format!("{at}.alert"),
                    format!(
                        "{:?} is used by an earlier rule: names must be unique",
                        rc.alert
                    ),
                ));
            }
            let rule = rule::parse(&rc.expr).map_err(|e| {
                ConfigError::new(format!("{at}.expr"), format!("{e} in {:?}", rc.expr))
            })?;
            if rc.severity.is_empty() {
                return Err(ConfigError::new(
                    format!("{at}.severity"),
                    "must not be empty",
                ));
            }
            let mut labels = BTreeMap::new();
            for (k, v) in &rc.labels {
                if !valid_name(k) || k == "alertname" || k == "severity" {
                    return Err(ConfigError::new(
                        format!("{at}.labels.{k}"),
                        "not a valid label name (letters, digits and `_`), or one set by tracegate (alertname, severity)",
                    ));
                }
                labels.insert(k.clone(), v.clone());
            }
            if let Some(key) = rule.by.iter().find(|k| labels.contains_key(&k.label())) {
                return Err(ConfigError::new(
                    format!("{at}.labels.{}", key.label()),
                    format!("also a `by` label of the rule ({key})"),
                ));
            }
            labels.insert("severity".into(), rc.severity.clone());
            labels.insert("alertname".into(), rc.alert.clone());
            rules.push(RuleDef {
                alert: rc.alert.clone(),
                expr: rc.expr.clone(),
                rule,
                for_ns: ns(rc.for_),
                labels,
                annotations: rc.annotations.clone(),
                min_count: rc.min_count.unwrap_or(self.min_count),
            });
        }
        let mut targets = Vec::new();
        if let Some(am) = &self.alertmanager {
            let (url, tls) = target_url(&format!("{path}.alertmanager"), &am.url, am.tls.as_ref())?;
            targets.push(Target {
                name: "alertmanager".into(),
                url: format!("{}/api/v2/alerts", url.trim_end_matches('/')),
                timeout: am.timeout.get(),
                tls,
            });
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            let (url, tls) = target_url(&format!("{path}.webhooks[{i}]"), &w.url, w.tls.as_ref())?;
            targets.push(Target {
                name: format!("webhook[{i}]"),
                url,
                timeout: w.timeout.get(),
                tls,
            });
        }
        let base = url(&format!("{path}.external_url"), &self.external_url)?;
        let base = base.trim_end_matches('/');
        Ok(Settings {
            evaluation_interval: self.evaluation_interval.get(),
            rules,
            targets,
            retry: self.retry,
            resend_ns: ns(self.resend_interval),
            max_groups: self.max_groups,
            generator_url: format!("{base}/api/v1/rules"),
        })
    }
}
