//! OpenTelemetry names and attribute keys made valid for Prometheus.
//!
//! - [`metric_name`]: `[a-zA-Z_:][a-zA-Z0-9_:]*`; anything else becomes `_`.
//! - [`label_name`]: `[a-zA-Z_][a-zA-Z0-9_]*`; anything else becomes `_`, and a key that
//!   starts with a digit gets `key_` in front (as the Collector's Prometheus translator does).
//! - [`labels`]: a series' attributes as Prometheus labels. Two keys that sanitise to the
//!   same label (`a.b` and `a_b`) would make a scrape invalid (duplicate label), so their
//!   values are joined with `;` under the first one, again as the translator does.
//! - [`unit_suffix`]: the Prometheus unit word of a UCUM unit (`s` → `seconds`), for
//!   OpenMetrics' `# UNIT` line.

use std::borrow::Cow;

/// `name` as a valid Prometheus metric name.
pub fn metric_name(name: &str) -> Cow<'_, str> {
    let valid = |i: usize, c: char| {
        c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
    };
    if !name.is_empty() && name.chars().enumerate().all(|(i, c)| valid(i, c)) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if name.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        }
    }));
    Cow::Owned(out)
}

/// `key` as a valid Prometheus label name.
pub fn label_name(key: &str) -> Cow<'_, str> {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let starts_well = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if starts_well && key.chars().all(ok) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 4);
    if key.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        out.push_str("key_");
    }
    out.extend(key.chars().map(|c| if ok(c) { c } else { '_' }));
    Cow::Owned(out)
}

/// A series' labels as Prometheus label pairs: names sanitised, colliding names merged
/// (values joined with `;`, in the order given), empty keys dropped. Order is kept.
pub fn labels<'a>(
    pairs: &'a [(std::sync::Arc<str>, std::sync::Arc<str>)],
) -> Vec<(Cow<'a, str>, Cow<'a, str>)> {
    let mut out: Vec<(Cow<'a, str>, Cow<'a, str>)> = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        if key.is_empty() {
            continue;
        }
        let name = label_name(key);
        if let Some((_, existing)) = out.iter_mut().find(|(n, _)| *n == name) {
            let joined = format!("{existing};{value}");
            *existing = Cow::Owned(joined);
        } else {
            out.push((name, Cow::Borrowed(value.as_ref())));
        }
    }
    out
}

/// The Prometheus unit word for a UCUM unit (`s` → `seconds`, `By` → `bytes`, `USD` →
/// `usd`), or `None` for units Prometheus leaves out of names (`1`, `{token}`, empty).
pub fn unit_suffix(unit: &str) -> Option<Cow<'static, str>> {
    let word = match unit {
        "" | "1" => return None,
        u if u.starts_with('{') && u.ends_with('}') => return None,
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "%" => "percent",
        "Hz" => "hertz",
        "Cel" => "celsius",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "m" => "meters",
        other => {
            let word: String = other
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let word = word.trim_matches('_').to_owned();
            return (!word.is_empty()).then_some(Cow::Owned(word));
        }
    };
    Some(Cow::Borrowed(word))
}

/// The Prometheus unit word of `unit` when the family name `name` ends with `_<word>`, as
/// OpenMetrics requires for a `# UNIT` line (`…_seconds` with `s`); `None` otherwise.
pub fn unit_in_name(name: &str, unit: &str) -> Option<Cow<'static, str>> {
    let word = unit_suffix(unit)?;
    let stem = name.strip_suffix(word.as_ref())?;
    (stem.len() > 1 && stem.ends_with('_')).then_some(word)
}

/// Appends `value` escaped for a label value: `\` → `\\`, `"` → `\"`, newline → `\n` (the
/// same in the text format and OpenMetrics).
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends help text escaped: `\` → `\\`, newline → `\n`, and, for OpenMetrics
/// (`quotes`), `"` → `\"`.
pub(crate) fn escape_help(out: &mut String, help: &str, quotes: bool) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quotes => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn metric_names() {
        assert_eq!(
            metric_name("traces_spanmetrics_calls"),
            "traces_spanmetrics_calls"
        );
        assert_eq!(
            metric_name("gen_ai.client.token.usage"),
            "gen_ai_client_token_usage"
        );
        assert_eq!(metric_name("a:b-c/d"), "a:b_c_d");
        assert_eq!(metric_name("9lives"), "_9lives");
        assert_eq!(metric_name(""), "_");
        assert_eq!(metric_name("naïve"), "na_ve");
    }

    #[test]
    fn label_names() {
        assert_eq!(label_name("service"), "service");
        assert_eq!(label_name("gen_ai.request.model"), "gen_ai_request_model");
        assert_eq!(label_name("http.status-code"), "http_status_code");
        assert_eq!(label_name("2xx"), "key_2xx");
        assert_eq!(label_name("a:b"), "a_b");
        assert_eq!(label_name("_private"), "_private");
    }

    #[test]
    fn colliding_labels_are_joined() {
        let pairs: Vec<(Arc<str>, Arc<str>)> = vec![
            ("a.b".into(), "1".into()),
            ("c".into(), "x".into()),
            ("a_b".into(), "2".into()),
            ("".into(), "dropped".into()),
        ];
        let got: Vec<(String, String)> = labels(&pairs)
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a_b".to_owned(), "1;2".to_owned()),
                ("c".to_owned(), "x".to_owned())
            ]
        );
    }

    #[test]
    fn units() {
        assert_eq!(unit_suffix("s").as_deref(), Some("seconds"));
        assert_eq!(unit_suffix("USD").as_deref(), Some("usd"));
        assert_eq!(unit_suffix("{token}"), None);
        assert_eq!(unit_suffix("1"), None);
        assert_eq!(unit_suffix("By").as_deref(), Some("bytes"));
        assert_eq!(
            unit_in_name("x_duration_seconds", "s").as_deref(),
            Some("seconds")
        );
        assert_eq!(
            unit_in_name("tracegate_gen_ai_cost_usd", "USD").as_deref(),
            Some("usd")
        );
        assert_eq!(unit_in_name("traces_spanmetrics_latency", "s"), None);
        assert_eq!(unit_in_name("xseconds", "s"), None);
        assert_eq!(unit_in_name("seconds", "s"), None);
        assert_eq!(unit_in_name("x_tokens", "{token}"), None);
    }

    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_label_value(&mut s, "a\\b\"c\nd");
        assert_eq!(s, r#"a\\b\"c\nd"#);
        s.clear();
        escape_help(&mut s, "a\\b\"c\nd", false);
        assert_eq!(s, r#"a\\b"c\nd"#);
        s.clear();
        escape_help(&mut s, "a\\b\"c\nd", true);
        assert_eq!(s, r#"a\\b\"c\nd"#);
    }

    proptest::proptest! {
        #[test]
        fn sanitised_names_are_valid(name in "\\PC{0,20}") {
            let m = metric_name(&name);
            let mut chars = m.chars();
            let first = chars.next();
            proptest::prop_assert!(first.is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':'));
            proptest::prop_assert!(chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'));
            let l = label_name(&name);
            let mut chars = l.chars();
            let first = chars.next();
            proptest::prop_assert!(first.is_some_and(|c| c.is_ascii_alphabetic() || c == '_'));
            proptest::prop_assert!(chars.all(|c| c.is_ascii_alphanumeric() || c == '_'));
        }
    }
}
