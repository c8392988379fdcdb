//! The checks shared by every policy's build: names, sections, value lists, units.

use super::build::{MAX_POLICIES, MAX_VALUES, NONE_NAME};
use crate::config::PolicyConfig;
use std::collections::HashSet;
use tracegate_pipeline::ConfigError;

pub(super) fn err(path: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::new(path, message)
}

/// Each policy's name (its type when unnamed), checked unique and not reserved.
pub(super) fn check_names(
    policies: &[PolicyConfig],
    path: &str,
) -> Result<Vec<String>, ConfigError> {
    if policies.len() > MAX_POLICIES {
        return Err(err(
            path,
            format!(
                "{} policies; at most {MAX_POLICIES} are allowed",
                policies.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(policies.len());
    for (i, p) in policies.iter().enumerate() {
        let name = p.name.clone().unwrap_or_else(|| p.kind.as_str().to_owned());
        let at = format!("{path}[{i}].name");
        if name.trim().is_empty() {
            return Err(err(
                &at,
                "a policy name must not be empty; write a short name such as `errors`",
            ));
        }
        if name == NONE_NAME {
            return Err(err(
                &at,
                "`none` is the name recorded when no policy matched; choose another name",
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(err(
                &at,
                format!(
                    "another policy here is also named {name:?} (unnamed policies take their type as name); give each policy a unique `name`"
                ),
            ));
        }
        out.push(name);
    }
    Ok(out)
}

/// Checks that only the type's own section is given.
pub(super) fn check_sections(p: &PolicyConfig, at: &str) -> Result<(), ConfigError> {
    let given: [(&str, bool); 22] = [
        ("status_code", p.status_code.is_some()),
        ("latency", p.latency.is_some()),
        ("probabilistic", p.probabilistic.is_some()),
        ("rate_limiting", p.rate_limiting.is_some()),
        ("bytes_limiting", p.bytes_limiting.is_some()),
        ("string_attribute", p.string_attribute.is_some()),
        ("numeric_attribute", p.numeric_attribute.is_some()),
        ("boolean_attribute", p.boolean_attribute.is_some()),
        ("span_count", p.span_count.is_some()),
        ("trace_state", p.trace_state.is_some()),
        ("and", p.and.is_some()),
        ("composite", p.composite.is_some()),
        ("drop", p.drop.is_some()),
        ("llm_cost", p.llm_cost.is_some()),
        ("llm_tokens", p.llm_tokens.is_some()),
        ("llm_ttft", p.llm_ttft.is_some()),
        ("llm_finish_reason", p.llm_finish_reason.is_some()),
        ("llm_error", p.llm_error.is_some()),
        ("llm_retry", p.llm_retry.is_some()),
        ("agent_loop", p.agent_loop.is_some()),
        ("first_per_slice", p.first_per_slice.is_some()),
        ("evaluation_score", p.evaluation_score.is_some()),
    ];
    match given.iter().find(|(k, on)| *on && *k != p.kind.as_str()) {
        Some((k, _)) => Err(err(
            &format!("{at}.{k}"),
            format!(
                "this policy's type is `{}`, so `{k}` does nothing; remove it, or set `type: {k}`",
                p.kind.as_str()
            ),
        )),
        None => Ok(()),
    }
}

pub(super) fn check_values(values: &[String], at: &str) -> Result<(), ConfigError> {
    if values.is_empty() {
        return Err(err(at, "list at least one value"));
    }
    if values.len() > MAX_VALUES {
        return Err(err(
            at,
            format!("{} values; at most {MAX_VALUES} are allowed", values.len()),
        ));
    }
    Ok(())
}

pub(super) fn non_empty(key: &str, at: &str) -> Result<(), ConfigError> {
    if key.trim().is_empty() {
        return Err(err(
            at,
            "the attribute key must not be empty; write a key such as `http.route`",
        ));
    }
    Ok(())
}

pub(super) fn ms_to_ns(ms: f64, at: &str) -> Result<u64, ConfigError> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(err(
            at,
            format!("{ms} is not a duration in ms; write a number of ms, 0 or more"),
        ));
    }
    Ok((ms * 1e6).min(u64::MAX as f64) as u64)
}
