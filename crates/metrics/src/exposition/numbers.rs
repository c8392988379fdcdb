//! Numbers as Prometheus's Go clients write them: Go's shortest `%g` (`0.25`, `1e+06`,
//! `1.048576e+06`) for the text format, the same with a `.0` on integral values for
//! OpenMetrics (`1.0`, `5.0`), and exact decimal seconds for exemplar timestamps.
//!
//! Matching the Go output matters beyond looks: `le` label values are part of a series'
//! identity, so a bucket must come out as the same string as from the Go clients and from
//! scrape to scrape.

use std::fmt::Write as _;

/// Appends `f` the way Go's `strconv.FormatFloat(f, 'g', -1, 64)` writes it (`+Inf`, `-Inf`,
/// `NaN` for the special values), as Prometheus's text format has it.
pub(crate) fn write_go_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
        return;
    }
    if f.is_infinite() {
        out.push_str(if f > 0.0 { "+Inf" } else { "-Inf" });
        return;
    }
    if f == 0.0 {
        out.push_str(if f.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, as Go's -1 precision does.
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    // Go: %e when the exponent is < -4 or >= the precision, which is 6 for the shortest
    // form (so 1e+06, but 123456).
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "{mantissa}e{sign}{:02}", exp.unsigned_abs());
        return;
    }
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if negative {
        out.push('-');
    }
    let point = exp + 1; // digits before the decimal point
    let nd = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point >= nd {
        out.push_str(&digits);
        for _ in 0..point - nd {
            out.push('0');
        }
    } else {
        let split = usize::try_from(point).unwrap_or(0);
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    }
}

/// Appends `f` as OpenMetrics wants a float: Go's shortest form with `.0` added when it would
/// otherwise read as an integer (`1.0`, `0.0`, `1e+06` stays as it is).
pub(crate) fn write_om_float(out: &mut String, f: f64) {
    let start = out.len();
    write_go_float(out, f);
    let written = &out[start..];
    if f.is_finite() && !written.contains(['e', '.']) {
        out.push_str(".0");
    }
}

/// Appends a Unix timestamp in ns as exact decimal seconds (`1700000000.5`), without the
/// rounding a conversion to `f64` would bring.
pub(crate) fn write_seconds(out: &mut String, unix_nano: u64) {
    let secs = unix_nano / 1_000_000_000;
    let nanos = unix_nano % 1_000_000_000;
    let _ = write!(out, "{secs}");
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(f: f64) -> String {
        let mut s = String::new();
        write_go_float(&mut s, f);
        s
    }

    fn om(f: f64) -> String {
        let mut s = String::new();
        write_om_float(&mut s, f);
        s
    }

    #[test]
    fn go_g_format_golden() {
        // Values as Go's strconv.FormatFloat(f, 'g', -1, 64) prints them.
        let cases = [
            (1.0, "1"),
            (0.0, "0"),
            (-1.0, "-1"),
            (0.25, "0.25"),
            (0.002, "0.002"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1_048_576.0, "1.048576e+06"),
            (16_777_216.0, "1.6777216e+07"),
            (1.4, "1.4"),
            (-2.5, "-2.5"),
            (12.8, "12.8"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-07"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(go(f), want, "{f}");
        }
    }

    #[test]
    fn openmetrics_floats_golden() {
        let cases = [
            (1.0, "1.0"),
            (0.0, "0.0"),
            (5.0, "5.0"),
            (0.5, "0.5"),
            (1e6, "1e+06"),
            (f64::INFINITY, "+Inf"),
        ];
        for (f, want) in cases {
            assert_eq!(om(f), want, "{f}");
        }
    }

    #[test]
    fn seconds_are_exact() {
        let mut s = String::new();
        write_seconds(&mut s, 1_700_000_000_123_456_789);
        assert_eq!(s, "1700000000.123456789");
        s.clear();
        write_seconds(&mut s, 1_700_000_000_500_000_000);
        assert_eq!(s, "1700000000.5");
        s.clear();
        write_seconds(&mut s, 1_700_000_000_000_000_000);
        assert_eq!(s, "1700000000");
    }

    proptest::proptest! {
        #[test]
        fn go_floats_parse_back_exactly(f in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL) {
            let s = go(f);
            proptest::prop_assert_eq!(s.parse::<f64>().ok(), Some(f), "{}", s);
            let o = om(f);
            proptest::prop_assert_eq!(o.parse::<f64>().ok(), Some(f), "{}", o);
        }
    }
}
