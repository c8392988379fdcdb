//! TraceQL values: the literals a query writes and the values attributes and intrinsics have.
//!
//! [`Value`] is the owned form, used for literals in the syntax tree and for what the
//! evaluator hands back (pipeline outputs, [`Attribute::value_of`](super::Attribute::value_of)).
//! `Val` is the borrowed form the evaluator compares, one per span and condition, without
//! copying strings out of the span. [`format_go_duration`] and `parse_go_duration` write and
//! read durations the way Go (and so Tempo and Grafana) does: `1.5s`, `100ms`, `1h2m3s`.

use std::borrow::Cow;
use std::fmt;
use tracegate_model::proto::common::v1::{AnyValue, any_value};

/// A span status, as TraceQL names it (`status = error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKw {
    /// `unset` (OTLP `STATUS_CODE_UNSET`, 0).
    Unset,
    /// `ok` (OTLP `STATUS_CODE_OK`, 1).
    Ok,
    /// `error` (OTLP `STATUS_CODE_ERROR`, 2).
    Error,
}

impl StatusKw {
    /// The status of an OTLP status code; unknown codes read as `unset`.
    pub fn from_code(code: i32) -> Self {
        match code {
            1 => StatusKw::Ok,
            2 => StatusKw::Error,
            _ => StatusKw::Unset,
        }
    }

    /// The OTLP status code.
    pub fn code(self) -> i64 {
        match self {
            StatusKw::Unset => 0,
            StatusKw::Ok => 1,
            StatusKw::Error => 2,
        }
    }

    /// The keyword: `ok`, `error` or `unset`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusKw::Unset => "unset",
            StatusKw::Ok => "ok",
            StatusKw::Error => "error",
        }
    }

    /// The status a keyword names.
    pub fn from_keyword(word: &str) -> Option<Self> {
        match word {
            "unset" => Some(StatusKw::Unset),
            "ok" => Some(StatusKw::Ok),
            "error" => Some(StatusKw::Error),
            _ => None,
        }
    }
}

/// A span kind, as TraceQL names it (`kind = server`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KindKw {
    /// `unspecified` (OTLP 0).
    Unspecified,
    /// `internal` (OTLP 1).
    Internal,
    /// `server` (OTLP 2).
    Server,
    /// `client` (OTLP 3).
    Client,
    /// `producer` (OTLP 4).
    Producer,
    /// `consumer` (OTLP 5).
    Consumer,
}

impl KindKw {
    /// The kind of an OTLP span kind number; unknown numbers read as `unspecified`.
    pub fn from_code(code: i32) -> Self {
        match code {
            1 => KindKw::Internal,
            2 => KindKw::Server,
            3 => KindKw::Client,
            4 => KindKw::Producer,
            5 => KindKw::Consumer,
            _ => KindKw::Unspecified,
        }
    }

    /// The OTLP span kind number.
    pub fn code(self) -> i64 {
        match self {
            KindKw::Unspecified => 0,
            KindKw::Internal => 1,
            KindKw::Server => 2,
            KindKw::Client => 3,
            KindKw::Producer => 4,
            KindKw::Consumer => 5,
        }
    }

    /// The keyword: `server`, `client`, …
    pub fn as_str(self) -> &'static str {
        match self {
            KindKw::Unspecified => "unspecified",
            KindKw::Internal => "internal",
            KindKw::Server => "server",
            KindKw::Client => "client",
            KindKw::Producer => "producer",
            KindKw::Consumer => "consumer",
        }
    }

    /// The kind a keyword names.
    pub fn from_keyword(word: &str) -> Option<Self> {
        match word {
            "unspecified" => Some(KindKw::Unspecified),
            "internal" => Some(KindKw::Internal),
            "server" => Some(KindKw::Server),
            "client" => Some(KindKw::Client),
            "producer" => Some(KindKw::Producer),
            "consumer" => Some(KindKw::Consumer),
            _ => None,
        }
    }
}

/// A TraceQL value, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `nil`: no value.
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
    /// A duration in ns (`1.5s`).
    Duration(u64),
    /// A status keyword.
    Status(StatusKw),
    /// A span kind keyword.
    Kind(KindKw),
}

impl Value {
    /// As Tempo shows it in search results: status/kind as strings ("error", "server"),
    /// durations as Go duration strings ("1.5s"), numbers as OTLP int/double; `nil` as an
    /// empty `AnyValue`.
    pub fn to_any_value(&self) -> AnyValue {
        use any_value::Value as V;
        let value = match self {
            Value::Nil => None,
            Value::Bool(b) => Some(V::BoolValue(*b)),
            Value::Int(i) => Some(V::IntValue(*i)),
            Value::Float(f) => Some(V::DoubleValue(*f)),
            Value::Str(s) => Some(V::StringValue(s.clone())),
            Value::Duration(ns) => Some(V::StringValue(format_go_duration(*ns))),
            Value::Status(s) => Some(V::StringValue(s.as_str().to_owned())),
            Value::Kind(k) => Some(V::StringValue(k.as_str().to_owned())),
        };
        AnyValue { value }
    }

    /// The borrowed form, for comparisons.
    pub(crate) fn as_val(&self) -> Val<'_> {
        match self {
            Value::Nil => Val::Nil,
            Value::Bool(b) => Val::Bool(*b),
            Value::Int(i) => Val::Int(*i),
            Value::Float(f) => Val::Float(*f),
            Value::Str(s) => Val::Str(Cow::Borrowed(s)),
            Value::Duration(d) => Val::Duration(*d),
            Value::Status(s) => Val::Status(*s),
            Value::Kind(k) => Val::Kind(*k),
        }
    }
}

/// Writes the value as a TraceQL literal: strings quoted and escaped, durations in Go form,
/// floats always with a `.` so they read back as floats.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => {
                // `Debug` is the shortest text that reads back as the same value, with an
                // exponent for large and small ones (`1e300`, not 301 digits: canonical text
                // must stay within MAX_QUERY_BYTES when the query did).
                let text = format!("{x:?}");
                if text.contains(['.', 'e', 'E', 'i', 'N']) {
                    f.write_str(&text)
                } else {
                    write!(f, "{text}.0")
                }
            }
            Value::Str(s) => write_quoted(s, f),
            Value::Duration(ns) => f.write_str(&format_go_duration(*ns)),
            Value::Status(s) => f.write_str(s.as_str()),
            Value::Kind(k) => f.write_str(k.as_str()),
        }
    }
}

/// Writes `s` as a double-quoted TraceQL string, escaping what the lexer unescapes.
pub(crate) fn write_quoted(s: &str, f: &mut impl fmt::Write) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A value the evaluator compares: borrowed from a span or from the query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Duration(u64),
    Status(StatusKw),
    Kind(KindKw),
}

impl Val<'_> {
    /// The owned form.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Val::Nil => Value::Nil,
            Val::Bool(b) => Value::Bool(*b),
            Val::Int(i) => Value::Int(*i),
            Val::Float(f) => Value::Float(*f),
            Val::Str(s) => Value::Str(s.to_string()),
            Val::Duration(d) => Value::Duration(*d),
            Val::Status(s) => Value::Status(*s),
            Val::Kind(k) => Value::Kind(*k),
        }
    }
}

/// Nanoseconds per unit of a duration literal. Go's units, plus Prometheus' `d`, `w`, `y`.
fn unit_ns(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        "w" => 604_800_000_000_000,
        "y" => 31_536_000_000_000_000,
        _ => return None,
    })
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Text at this byte offset is not a number followed by a unit.
    Syntax(usize),
    /// The unit at this byte offset is not one of [`DURATION_UNITS`].
    Unit(usize, String),
    /// Larger than `u64::MAX` ns (about 584 years).
    Overflow,
}

/// Reads a Go duration without a sign (`1.5s`, `1h30m`, `250µs`) as ns. Returns the value and
/// the number of bytes read; reading stops before the first byte that cannot continue it.
pub(crate) fn scan_go_duration(text: &str) -> Result<(u64, usize), DurationError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut total: u128 = 0;
    loop {
        let int_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == int_start {
            return Err(DurationError::Syntax(pos));
        }
        let int_part = &text[int_start..pos];
        let mut frac_part = "";
        if pos + 1 < bytes.len() && bytes[pos] == b'.' && bytes[pos + 1].is_ascii_digit() {
            let frac_start = pos + 1;
            pos = frac_start;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            frac_part = &text[frac_start..pos];
        }
        let unit_start = pos;
        while pos < bytes.len() && text[pos..].starts_with(|c: char| c.is_alphabetic()) {
            pos += text[pos..].chars().next().map_or(1, char::len_utf8);
        }
        let unit = &text[unit_start..pos];
        if unit.is_empty() {
            return Err(DurationError::Syntax(unit_start));
        }
        let per = unit_ns(unit).ok_or_else(|| DurationError::Unit(unit_start, unit.to_owned()))?;
        let whole: u128 = int_part.parse().map_err(|_| DurationError::Overflow)?;
        total = total
            .checked_add(whole.checked_mul(per).ok_or(DurationError::Overflow)?)
            .ok_or(DurationError::Overflow)?;
        // The fraction, exactly: digits beyond ns precision are dropped as Go does.
        let mut scale = per;
        for d in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            total += u128::from(d - b'0') * scale;
        }
        if total > u128::from(u64::MAX) {
            return Err(DurationError::Overflow);
        }
        if !(pos < bytes.len() && bytes[pos].is_ascii_digit()) {
            break;
        }
    }
    u64::try_from(total)
        .map(|ns| (ns, pos))
        .map_err(|_| DurationError::Overflow)
}

/// Reads a whole string as a Go duration (`"1.5s"`), for string attributes compared with a
/// duration.
pub(crate) fn parse_go_duration(text: &str) -> Option<u64> {
    match scan_go_duration(text.trim()) {
        Ok((ns, len)) if len == text.trim().len() => Some(ns),
        _ => None,
    }
}

/// Writes ns the way Go's `time.Duration.String` does: `0s`, `999ns`, `1.5µs`, `100ms`,
/// `1.5s`, `2m0s`, `1h0m0s`.
pub fn format_go_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".to_owned();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", fraction(ns, 1_000));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", fraction(ns, 1_000_000));
    }
    let secs = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let s = fraction(secs % 60 * 1_000_000_000 + sub, 1_000_000_000);
    let mins = secs / 60;
    if mins == 0 {
        return format!("{s}s");
    }
    let hours = mins / 60;
    if hours == 0 {
        return format!("{}m{s}s", mins % 60);
    }
    format!("{hours}h{}m{s}s", mins % 60)
}

/// `value / unit` in decimal, without trailing zeros in the fraction.
fn fraction(value: u64, unit: u64) -> String {
    let whole = value / unit;
    let rest = value % unit;
    if rest == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_as_go_does() {
        for (ns, text) in [
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_500, "1.5µs"),
            (100_000_000, "100ms"),
            (2_500_000, "2.5ms"),
            (1_500_000_000, "1.5s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (1_000_000_001, "1.000000001s"),
        ] {
            assert_eq!(format_go_duration(ns), text, "{ns}");
            assert_eq!(parse_go_duration(text), Some(ns), "{text}");
        }
    }

    #[test]
    fn reads_go_durations() {
        assert_eq!(scan_go_duration("1.5s}"), Ok((1_500_000_000, 4)));
        assert_eq!(scan_go_duration("1h30m "), Ok((5_400_000_000_000, 5)));
        assert_eq!(scan_go_duration("250us"), Ok((250_000, 5)));
        assert_eq!(scan_go_duration("250μs"), Ok((250_000, 6)));
        assert_eq!(scan_go_duration("2d"), Ok((172_800_000_000_000, 2)));
        assert_eq!(
            scan_go_duration("5x"),
            Err(DurationError::Unit(1, "x".into()))
        );
        assert_eq!(scan_go_duration("5"), Err(DurationError::Syntax(1)));
        assert_eq!(
            scan_go_duration("99999999999999h"),
            Err(DurationError::Overflow)
        );
        assert_eq!(parse_go_duration("1.5 s"), None);
    }

    #[test]
    fn any_values_as_tempo_shows_them() {
        use any_value::Value as V;
        assert_eq!(
            Value::Status(StatusKw::Error).to_any_value().value,
            Some(V::StringValue("error".into()))
        );
        assert_eq!(
            Value::Kind(KindKw::Server).to_any_value().value,
            Some(V::StringValue("server".into()))
        );
        assert_eq!(
            Value::Duration(1_500_000_000).to_any_value().value,
            Some(V::StringValue("1.5s".into()))
        );
        assert_eq!(Value::Int(3).to_any_value().value, Some(V::IntValue(3)));
        assert_eq!(Value::Nil.to_any_value().value, None);
    }

    #[test]
    fn literals_print_as_they_read() {
        assert_eq!(Value::Float(1.0).to_string(), "1.0");
        assert_eq!(Value::Float(0.25).to_string(), "0.25");
        assert_eq!(Value::Float(1e300).to_string(), "1e300");
        assert_eq!(Value::Float(-2.5e-8).to_string(), "-2.5e-8");
        assert_eq!(Value::Str("a\"b\\c\n".into()).to_string(), r#""a\"b\\c\n""#);
    }
}
