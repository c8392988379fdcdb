//! `${env:VAR}` interpolation in config values, as the OTel Collector does it.
//!
//! - `${env:VAR}` is replaced by the variable's value; `${env:VAR:-default}` falls back to
//!   `default` when it is unset or empty.
//! - When a whole scalar is one reference, the value is parsed as YAML, so `port: ${env:PORT}`
//!   gives a number. Inside a longer string it is text.
//! - `$$` writes a literal `$`.
//! - An unset variable with no default is an error naming the key path.

use super::ConfigError;
use serde_yaml_ng::Value;

/// Replaces every reference in the string values of `value`, reading variables with `lookup`.
pub fn interpolate(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) {
    match value {
        Value::String(s) if s.contains('$') => match expand(s, lookup) {
            Ok((text, whole)) => {
                *value = if whole {
                    match serde_yaml_ng::from_str::<Value>(&text) {
                        Ok(v @ (Value::Bool(_) | Value::Number(_))) => v,
                        _ => Value::String(text),
                    }
                } else {
                    Value::String(text)
                }
            }
            Err(message) => errors.push(ConfigError::new(path, message)),
        },
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                interpolate(item, &format!("{path}[{i}]"), lookup, errors);
            }
        }
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => format!("{other:?}"),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                interpolate(v, &child, lookup, errors);
            }
        }
        Value::Tagged(tagged) => interpolate(&mut tagged.value, path, lookup, errors),
        _ => {}
    }
}

/// Expands references in `s`. Returns the text and whether `s` was exactly one reference.
fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut references = 0;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in {s:?}"))?;
            let reference = &body[..end];
            let spec = reference.strip_prefix("env:").ok_or_else(|| {
                format!("unsupported reference ${{{reference}}}: only ${{env:VAR}} is supported")
            })?;
            let (name, default) = match spec.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (spec, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "invalid environment variable name {name:?} in {s:?}"
                ));
            }
            match (lookup(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set; set it, or write \
                         ${{env:{name}:-default}}"
                    ));
                }
            }
            references += 1;
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    let whole = references == 1 && s.starts_with("${") && s.ends_with('}');
    Ok((out, whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(yaml: &str) -> (Value, Vec<ConfigError>) {
        let mut v: Value = serde_yaml_ng::from_str(yaml).unwrap();
        let mut errors = Vec::new();
        let lookup = |name: &str| match name {
            "PORT" => Some("4317".to_owned()),
            "HOST" => Some("tempo".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        interpolate(&mut v, "", &lookup, &mut errors);
        (v, errors)
    }

    #[test]
    fn substitutes_whole_values_as_yaml_and_parts_as_text() {
        let (v, errors) = run(
            "a: ${env:PORT}\nb: http://${env:HOST}:${env:PORT}\nc: ${env:EMPTY:-x}\nd: $$5\ne:\n  - ${env:MISSING:-7}",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v["a"], Value::Number(4317.into()));
        assert_eq!(v["b"], Value::String("http://tempo:4317".into()));
        assert_eq!(v["c"], Value::String("x".into()));
        assert_eq!(v["d"], Value::String("$5".into()));
        assert_eq!(v["e"][0], Value::Number(7.into()));
    }

    #[test]
    fn unset_variables_are_errors_with_their_path() {
        let (_, errors) = run("exporters:\n  archive:\n    url: s3://${env:BUCKET}/x\n");
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "exporters.archive.url");
        assert!(errors[0].message.contains("BUCKET is not set"));
    }
}
