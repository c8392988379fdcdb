//! Request parameters as Tempo reads them: trace ids, `start`/`end`, `limit`, `spss`,
//! Go durations and logfmt tags, each with Tempo's 400 message.

use super::ApiError;
use crate::traceql::format_go_duration;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracegate_model::TraceId;

/// The query string's parameters, in order. A parameter given twice counts once, first
/// value first, and an empty value counts as absent, as Go's `url.Values.Get` with Tempo's
/// `extractQueryParam`.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// From the decoded pairs.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// Parses a trace id as Tempo's `HexStringToTraceID`: hex of any case, an odd length gets a
/// leading zero, short ids are left-padded with zero bytes to 16, and more than 16 bytes is
/// refused.
pub fn parse_trace_id(text: &str) -> Result<TraceId, ApiError> {
    if text.is_empty() {
        return Err(ApiError::bad_request("invalid trace id: empty"));
    }
    if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(format!(
            "invalid trace id {:?}: trace IDs are hex digits only",
            text.chars().take(64).collect::<String>()
        )));
    }
    let digits = text.len().div_ceil(2) * 2;
    if digits > 32 {
        // Leading zero bytes beyond 16 still make the id too long, as in Tempo.
        return Err(ApiError::bad_request(
            "trace IDs can't be larger than 128 bits",
        ));
    }
    TraceId::parse_padded(text).map_err(|e| ApiError::bad_request(format!("invalid trace id: {e}")))
}

/// A unix-seconds parameter (`start`, `end`) as Tempo parses it: a 32-bit integer.
pub fn parse_unix_seconds(params: &Params, name: &str) -> Result<Option<u32>, ApiError> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    match text.parse::<i64>() {
        Ok(v) if (0..=i64::from(i32::MAX)).contains(&v) => Ok(Some(v as u32)),
        Ok(_) => Err(ApiError::bad_request(format!(
            "invalid {name}: strconv.ParseInt: parsing {text:?}: value out of range"
        ))),
        Err(_) => Err(ApiError::bad_request(format!(
            "invalid {name}: strconv.ParseInt: parsing {text:?}: invalid syntax"
        ))),
    }
}

/// A positive count parameter (`limit`, `spss`), or `None` when absent.
pub fn parse_positive(params: &Params, name: &str) -> Result<Option<u32>, ApiError> {
    let Some(text) = params.get(name) else {
        return Ok(None);
    };
    let value: i64 = text.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "invalid {name}: strconv.Atoi: parsing {text:?}: invalid syntax"
        ))
    })?;
    if value <= 0 {
        return Err(ApiError::bad_request(format!(
            "invalid {name}: must be a positive number"
        )));
    }
    Ok(Some(u32::try_from(value).unwrap_or(u32::MAX)))
}

/// The window `[start_ns, end_ns]` of a request: `start`/`end` when given (unix seconds;
/// `end` must be after `start`, and the range at most `max_range`), otherwise the last
/// `default_window` up to now.
pub fn parse_window(
    params: &Params,
    default_window: Duration,
    max_range: Option<Duration>,
) -> Result<(u64, u64), ApiError> {
    let start = parse_unix_seconds(params, "start")?;
    let end = parse_unix_seconds(params, "end")?;
    if start.is_none() && end.is_none() {
        let now = now_ns();
        let window = u64::try_from(default_window.as_nanos()).unwrap_or(u64::MAX);
        return Ok((now.saturating_sub(window), now));
    }
    let (start, end) = (start.unwrap_or(0), end.unwrap_or(0));
    if end <= start {
        return Err(ApiError::bad_request(format!(
            "http parameter start must be before end. received start={start} end={end}"
        )));
    }
    if let Some(max) = max_range
        && !max.is_zero()
        && u64::from(end - start) > max.as_secs()
    {
        return Err(ApiError::bad_request(format!(
            "range specified by start and end exceeds {}. received start={start} end={end}",
            go_duration(max)
        )));
    }
    // `end` is whole seconds; include its whole second.
    let start_ns = u64::from(start) * 1_000_000_000;
    let end_ns = u64::from(end) * 1_000_000_000 + 999_999_999;
    Ok((start_ns, end_ns))
}

/// The optional window of a trace-by-id request: `start`/`end` (unix seconds) when either is
/// given, `None` otherwise. A missing `start` is the epoch, a missing `end` is now; `end`
/// must be after `start`.
pub fn parse_trace_window(params: &Params) -> Result<Option<(u64, u64)>, ApiError> {
    let start = parse_unix_seconds(params, "start")?;
    let end = parse_unix_seconds(params, "end")?;
    if start.is_none() && end.is_none() {
        return Ok(None);
    }
    let start_ns = u64::from(start.unwrap_or(0)) * 1_000_000_000;
    let end_ns = match end {
        Some(end) => u64::from(end) * 1_000_000_000 + 999_999_999,
        None => now_ns(),
    };
    if end_ns <= start_ns {
        return Err(ApiError::bad_request(format!(
            "http parameter start must be before end. received start={} end={}",
            start.unwrap_or(0),
            end.unwrap_or(0)
        )));
    }
    Ok(Some((start_ns, end_ns)))
}

/// Now, ns since the epoch.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Parses a Go duration (`time.ParseDuration`): `300ms`, `1.5h`, `2h45m`, units `ns`, `us`,
/// `µs`, `ms`, `s`, `m`, `h`. Negative durations are refused. Errors carry Go's messages.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(format!("time: negative duration {text:?}"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale = match unit {
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => {
                return Err(format!("time: unknown unit {other:?} in duration {text:?}"));
            }
        };
        total += value * scale;
    }
    if total > i64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Writes a duration as Go's `Duration.String`: `168h0m0s`, `1h30m0s`, `1.5s`, `500ms`,
/// `1.5µs`, `0s` (TraceQL's writer, [`format_go_duration`]).
pub fn go_duration(d: Duration) -> String {
    format_go_duration(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Parses logfmt (`k=v k2="v 2" flag`) as go-logfmt does, refusing a key given twice with
/// Tempo's message. Keys without `=` get an empty value.
pub fn parse_logfmt(text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let bytes = text.as_bytes();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    let syntax = |msg: &str, pos: usize| {
        ApiError::bad_request(format!("invalid tags: {msg} at pos {}", pos + 1))
    };
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'=' {
            if bytes[i] == b'"' {
                return Err(syntax("unexpected '\"'", i));
            }
            i += 1;
        }
        if i == key_start {
            return Err(syntax("unexpected '='", i));
        }
        let key = text[key_start..i].to_owned();
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            if i < bytes.len() && bytes[i] == b'"' {
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if i + 1 < bytes.len() => {
                            let escaped = match bytes[i + 1] {
                                b'n' => '\n',
                                b't' => '\t',
                                b'r' => '\r',
                                other => char::from(other),
                            };
                            value.push(escaped);
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            closed = true;
                            break;
                        }
                        _ => {
                            let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                            value.push_str(&text[i..i + ch_len]);
                            i += ch_len;
                        }
                    }
                }
                if !closed {
                    return Err(syntax("unterminated quoted value", i.saturating_sub(1)));
                }
            } else {
                let value_start = i;
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    if bytes[i] == b'=' || bytes[i] == b'"' {
                        return Err(syntax(&format!("unexpected '{}'", char::from(bytes[i])), i));
                    }
                    i += 1;
                }
                value = text[value_start..i].to_owned();
            }
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(ApiError::bad_request(format!(
                "invalid tags: tag {key} has been set twice"
            )));
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn params(q: &[(&str, &str)]) -> Params {
        Params::new(
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn trace_ids_are_padded_like_tempos() {
        let id = parse_trace_id("f1cfe82a8eef933b").unwrap();
        assert_eq!(id.to_hex(), "0000000000000000f1cfe82a8eef933b");
        let id = parse_trace_id("abc").unwrap();
        assert_eq!(id.to_hex(), "00000000000000000000000000000abc");
        let id = parse_trace_id("5B8EFFF798038103D269B633813FC60C").unwrap();
        assert_eq!(id.to_hex(), "5b8efff798038103d269b633813fc60c");
        let err = parse_trace_id(&"1".repeat(33)).unwrap_err();
        assert_eq!(err.message, "trace IDs can't be larger than 128 bits");
        assert!(parse_trace_id("xyz").is_err());
        assert!(parse_trace_id("").is_err());
    }

    #[test]
    fn windows_follow_tempos_rules() {
        let day = Duration::from_secs(86_400);
        let max = Some(Duration::from_secs(168 * 3600));
        let (s, e) = parse_window(&params(&[("start", "10"), ("end", "20")]), day, max).unwrap();
        assert_eq!((s, e), (10_000_000_000, 20_999_999_999));
        let err = parse_window(&params(&[("start", "20"), ("end", "10")]), day, max).unwrap_err();
        assert_eq!(
            err.message,
            "http parameter start must be before end. received start=20 end=10"
        );
        let err =
            parse_window(&params(&[("start", "1"), ("end", "604802")]), day, max).unwrap_err();
        assert_eq!(
            err.message,
            "range specified by start and end exceeds 168h0m0s. received start=1 end=604802"
        );
        let err = parse_window(&params(&[("start", "1700000000000000000")]), day, max).unwrap_err();
        assert!(err.message.starts_with("invalid start:"), "{}", err.message);
        let (s, e) = parse_window(&params(&[]), day, max).unwrap();
        assert_eq!(e - s, 86_400_000_000_000);
    }

    #[test]
    fn counts_must_be_positive() {
        assert_eq!(
            parse_positive(&params(&[("limit", "5")]), "limit").unwrap(),
            Some(5)
        );
        assert_eq!(
            parse_positive(&params(&[("limit", "")]), "limit").unwrap(),
            None
        );
        assert_eq!(
            parse_positive(&params(&[("limit", "0")]), "limit")
                .unwrap_err()
                .message,
            "invalid limit: must be a positive number"
        );
        assert!(parse_positive(&params(&[("spss", "x")]), "spss").is_err());
    }

    #[test]
    fn go_durations_parse_and_print() {
        assert_eq!(
            parse_go_duration("100ms").unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_go_duration("2h45m").unwrap(),
            Duration::from_secs(9900)
        );
        assert_eq!(parse_go_duration("3µs").unwrap(), Duration::from_micros(3));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(
            parse_go_duration("10seconds").unwrap_err(),
            "time: unknown unit \"seconds\" in duration \"10seconds\""
        );
        assert_eq!(
            parse_go_duration("10").unwrap_err(),
            "time: missing unit in duration \"10\""
        );
        assert!(parse_go_duration("").is_err());
        assert!(parse_go_duration("ms").is_err());
        assert_eq!(go_duration(Duration::from_secs(168 * 3600)), "168h0m0s");
        assert_eq!(go_duration(Duration::from_secs(5400)), "1h30m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }

    proptest! {
        #[test]
        fn go_duration_round_trips(ns in 0u64..1_000_000_000_000_000) {
            let d = Duration::from_nanos(ns);
            prop_assert_eq!(parse_go_duration(&go_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn logfmt_tags() {
        assert_eq!(
            parse_logfmt(r#"service.name=foo  k="a \"b\" c" flag"#).unwrap(),
            vec![
                ("service.name".into(), "foo".into()),
                ("k".into(), "a \"b\" c".into()),
                ("flag".into(), String::new()),
            ]
        );
        assert_eq!(
            parse_logfmt("service.name=foo service.name=bar")
                .unwrap_err()
                .message,
            "invalid tags: tag service.name has been set twice"
        );
        assert!(parse_logfmt(r#"k="open"#).is_err());
        assert!(parse_logfmt("=v").is_err());
    }
}
