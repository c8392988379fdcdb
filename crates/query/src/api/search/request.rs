//! The parameters of `/api/search`, read as Tempo reads them (`ParseSearchRequest` and the
//! query frontend's limits), with Tempo's 400 messages.

use crate::api::params::{Params, parse_go_duration, parse_logfmt, parse_positive, parse_window};
use crate::api::tql::{self, Query};
use crate::api::{ApiConfig, ApiError};
use std::fmt::Write as _;
use std::time::Duration;

/// Parameters that are not legacy tags when a request has neither `q`, `tags`, `start`
/// nor `end` (Tempo then reads every other parameter as a tag).
const RESERVED: &[&str] = &[
    "q",
    "tags",
    "minDuration",
    "maxDuration",
    "limit",
    "spss",
    "start",
    "end",
];

/// One search, validated.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// The query (legacy parameters become TraceQL).
    pub query: Query,
    /// The TraceQL text evaluated.
    pub text: String,
    /// Most traces returned.
    pub limit: u32,
    /// Most spans per spanset.
    pub spss: u32,
    /// Window start, ns.
    pub start_ns: u64,
    /// Window end, ns.
    pub end_ns: u64,
}

impl SearchRequest {
    /// Reads and checks the parameters.
    pub fn parse(params: &Params, config: &ApiConfig) -> Result<Self, ApiError> {
        let q = params.get("q");
        let tags = params.get("tags");
        if q.is_some() && tags.is_some() {
            return Err(ApiError::bad_request(
                "invalid request: can't specify tags and q in the same query",
            ));
        }
        let min = duration_param(params, "minDuration")?;
        let max = duration_param(params, "maxDuration")?;
        if let (Some(min), Some(max)) = (min, max)
            && !min.is_zero()
            && min > max
        {
            return Err(ApiError::bad_request(
                "invalid maxDuration: must be greater than minDuration",
            ));
        }
        let limit = parse_positive(params, "limit")?
            .unwrap_or(config.default_limit)
            .min(config.max_limit.max(1));
        let spss = parse_positive(params, "spss")?.unwrap_or(config.default_spss);
        if config.max_spss != 0 && spss > config.max_spss {
            return Err(ApiError::bad_request(format!(
                "spans per span set exceeds {}. received {spss}",
                config.max_spss
            )));
        }
        let (start_ns, end_ns) = parse_window(
            params,
            config.default_search_window.get(),
            Some(config.max_search_range.get()),
        )?;
        let text = match q {
            Some(q) => q.to_owned(),
            None => {
                let mut pairs = match tags {
                    Some(t) => parse_logfmt(t)?,
                    None => Vec::new(),
                };
                if tags.is_none() && params.get("start").is_none() && params.get("end").is_none() {
                    for (k, v) in params.pairs() {
                        if !RESERVED.contains(&k.as_str())
                            && !v.is_empty()
                            && !pairs.iter().any(|(pk, _)| pk == k)
                        {
                            pairs.push((k.clone(), v.clone()));
                        }
                    }
                }
                legacy_to_traceql(&pairs, min, max)
            }
        };
        let query = tql::parse(&text)
            .map_err(|e| ApiError::bad_request(format!("invalid TraceQL query: {e}")))?;
        Ok(Self {
            query,
            text,
            limit,
            spss,
            start_ns,
            end_ns,
        })
    }
}

fn duration_param(params: &Params, name: &str) -> Result<Option<Duration>, ApiError> {
    params
        .get(name)
        .map(|text| {
            parse_go_duration(text)
                .map_err(|e| ApiError::bad_request(format!("invalid {name}: {e}")))
        })
        .transpose()
}

/// The TraceQL of a legacy tag search: each tag must match a span or resource attribute of
/// some span (`{.k="v"}`, one spanset per tag, joined with `&&` so tags may sit on
/// different spans, as in Tempo's tag search); `minDuration`/`maxDuration` bound the trace's
/// duration. No tag and no duration is `{}`.
pub fn legacy_to_traceql(
    tags: &[(String, String)],
    min: Option<Duration>,
    max: Option<Duration>,
) -> String {
    let mut parts = Vec::new();
    for (k, v) in tags {
        parts.push(format!("{{.{}={}}}", attribute_name(k), quote(v)));
    }
    if let Some(min) = min.filter(|d| !d.is_zero()) {
        parts.push(format!("{{traceDuration>={}ns}}", min.as_nanos()));
    }
    if let Some(max) = max.filter(|d| !d.is_zero()) {
        parts.push(format!("{{traceDuration<={}ns}}", max.as_nanos()));
    }
    if parts.is_empty() {
        "{}".into()
    } else {
        parts.join(" && ")
    }
}

/// An attribute name after `.`: as it is when plain, quoted otherwise.
fn attribute_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/'))
        && !name.starts_with('.');
    if plain { name.to_owned() } else { quote(name) }
}

/// A TraceQL string literal.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => {
                let _ = write!(out, "{c}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_parameters_become_traceql() {
        let tags = vec![
            ("service.name".to_owned(), "shop".to_owned()),
            ("a b".to_owned(), "say \"hi\"".to_owned()),
        ];
        assert_eq!(
            legacy_to_traceql(
                &tags,
                Some(Duration::from_millis(100)),
                Some(Duration::from_secs(2))
            ),
            r#"{.service.name="shop"} && {."a b"="say \"hi\""} && {traceDuration>=100000000ns} && {traceDuration<=2000000000ns}"#
        );
        assert_eq!(legacy_to_traceql(&[], None, None), "{}");
    }
}
