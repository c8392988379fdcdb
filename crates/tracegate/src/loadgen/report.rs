//! Pacing and the numbers a run reports: counts, throughput and export-call latency.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Highest latency the histogram tracks, in µs (larger values are clamped).
const MAX_LATENCY_US: u64 = 120_000_000;

/// When a request is due at a fixed rate: the one that starts after `spans_before` spans is
/// sent `spans_before / rate` seconds after the start. `None` means "now" (no rate).
pub(crate) fn due(spans_before: u64, rate: Option<f64>) -> Duration {
    match rate {
        Some(rate) if rate.is_finite() && rate > 0.0 => {
            Duration::try_from_secs_f64(spans_before as f64 / rate).unwrap_or(Duration::MAX)
        }
        _ => Duration::ZERO,
    }
}

/// What one connection saw.
#[derive(Debug)]
pub(crate) struct Tally {
    pub(crate) requests: u64,
    pub(crate) sent_spans: u64,
    pub(crate) sent_bytes: u64,
    pub(crate) accepted_spans: u64,
    pub(crate) accepted_bytes: u64,
    /// Spans refused inside an accepted request (OTLP partial success).
    pub(crate) rejected_spans: u64,
    /// Spans of refused or failed requests, by status (`UNAVAILABLE`, `HTTP 503`, …).
    pub(crate) refused: BTreeMap<String, u64>,
    /// Export-call latency in µs.
    pub(crate) latency_us: Histogram<u64>,
}

impl Tally {
    pub(crate) fn new() -> anyhow::Result<Self> {
        Ok(Self {
            requests: 0,
            sent_spans: 0,
            sent_bytes: 0,
            accepted_spans: 0,
            accepted_bytes: 0,
            rejected_spans: 0,
            refused: BTreeMap::new(),
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
        })
    }

    pub(crate) fn record_latency(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us
            .saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    pub(crate) fn merge(&mut self, other: &Tally) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.sent_spans += other.sent_spans;
        self.sent_bytes += other.sent_bytes;
        self.accepted_spans += other.accepted_spans;
        self.accepted_bytes += other.accepted_bytes;
        self.rejected_spans += other.rejected_spans;
        for (code, spans) in &other.refused {
            *self.refused.entry(code.clone()).or_default() += spans;
        }
        self.latency_us.add(&other.latency_us)?;
        Ok(())
    }

    pub(crate) fn refused_spans(&self) -> u64 {
        self.refused.values().sum()
    }

    /// The summary of a run that took `elapsed`.
    pub(crate) fn summary(&self, elapsed: Duration) -> Summary {
        let secs = elapsed.as_secs_f64();
        let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let ms = |q: f64| {
            if self.latency_us.is_empty() {
                0.0
            } else {
                self.latency_us.value_at_quantile(q) as f64 / 1000.0
            }
        };
        Summary {
            requests: self.requests,
            sent_spans: self.sent_spans,
            sent_bytes: self.sent_bytes,
            accepted_spans: self.accepted_spans,
            accepted_bytes: self.accepted_bytes,
            rejected_spans: self.rejected_spans,
            refused_spans: self.refused_spans(),
            refused: self.refused.clone(),
            elapsed_s: secs,
            spans_per_s: per_s(self.accepted_spans),
            bytes_per_s: per_s(self.accepted_bytes),
            latency_ms: Latency {
                p50: ms(0.5),
                p99: ms(0.99),
                p999: ms(0.999),
                max: if self.latency_us.is_empty() {
                    0.0
                } else {
                    self.latency_us.max() as f64 / 1000.0
                },
                mean: self.latency_us.mean() / 1000.0,
            },
        }
    }
}

/// Export-call latency quantiles, in ms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
    pub(crate) mean: f64,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    pub(crate) requests: u64,
    pub(crate) sent_spans: u64,
    pub(crate) sent_bytes: u64,
    pub(crate) accepted_spans: u64,
    pub(crate) accepted_bytes: u64,
    pub(crate) rejected_spans: u64,
    pub(crate) refused_spans: u64,
    pub(crate) refused: BTreeMap<String, u64>,
    pub(crate) elapsed_s: f64,
    /// Accepted spans per second.
    pub(crate) spans_per_s: f64,
    /// Accepted protobuf bytes per second.
    pub(crate) bytes_per_s: f64,
    pub(crate) latency_ms: Latency,
}

impl Summary {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "sent_spans": self.sent_spans,
            "sent_bytes": self.sent_bytes,
            "accepted_spans": self.accepted_spans,
            "accepted_bytes": self.accepted_bytes,
            "rejected_spans": self.rejected_spans,
            "refused_spans": self.refused_spans,
            "refused": self.refused,
            "elapsed_s": self.elapsed_s,
            "spans_per_s": self.spans_per_s,
            "bytes_per_s": self.bytes_per_s,
            "latency_ms": {
                "p50": self.latency_ms.p50,
                "p99": self.latency_ms.p99,
                "p999": self.latency_ms.p999,
                "max": self.latency_ms.max,
                "mean": self.latency_ms.mean,
            },
        })
    }

    pub(crate) fn to_text(&self) -> String {
        let refused = if self.refused.is_empty() {
            String::new()
        } else {
            let by_code: Vec<String> = self
                .refused
                .iter()
                .map(|(code, n)| format!("{code}: {n}"))
                .collect();
            format!(" ({})", by_code.join(", "))
        };
        format!(
            "spans sent      {}\n\
             spans accepted  {}\n\
             spans rejected  {} (partial success)\n\
             spans refused   {}{refused}\n\
             requests        {}\n\
             elapsed         {:.2} s\n\
             throughput      {:.0} spans/s, {:.1} MB/s of OTLP protobuf\n\
             export latency  p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms\n",
            self.sent_spans,
            self.accepted_spans,
            self.rejected_spans,
            self.refused_spans,
            self.requests,
            self.elapsed_s,
            self.spans_per_s,
            self.bytes_per_s / 1e6,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.latency_ms.p999,
            self.latency_ms.max,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_due_in_proportion_to_the_spans_before_them() {
        assert_eq!(due(0, Some(1000.0)), Duration::ZERO);
        assert_eq!(due(500, Some(1000.0)), Duration::from_millis(500));
        assert_eq!(due(10_000, Some(10_000.0)), Duration::from_secs(1));
        // No rate, or a nonsensical one: as fast as accepted.
        assert_eq!(due(10_000, None), Duration::ZERO);
        assert_eq!(due(10_000, Some(0.0)), Duration::ZERO);
        assert_eq!(due(10_000, Some(f64::NAN)), Duration::ZERO);
    }

    #[test]
    fn the_summary_adds_up_the_connections() {
        let mut a = Tally::new().unwrap();
        a.requests = 2;
        a.sent_spans = 300;
        a.sent_bytes = 30_000;
        a.accepted_spans = 200;
        a.accepted_bytes = 20_000;
        *a.refused.entry("UNAVAILABLE".into()).or_default() += 100;
        for ms in 1..=100 {
            a.record_latency(Duration::from_millis(ms));
        }
        let mut b = Tally::new().unwrap();
        b.requests = 1;
        b.sent_spans = 100;
        b.sent_bytes = 10_000;
        b.accepted_spans = 98;
        b.accepted_bytes = 10_000;
        b.rejected_spans = 2;
        *b.refused.entry("UNAVAILABLE".into()).or_default() += 5;
        *b.refused.entry("HTTP 503".into()).or_default() += 7;
        b.record_latency(Duration::from_secs(200)); // clamped to the histogram's top

        let mut total = Tally::new().unwrap();
        total.merge(&a).unwrap();
        total.merge(&b).unwrap();
        let s = total.summary(Duration::from_secs(2));
        assert_eq!(s.requests, 3);
        assert_eq!(s.sent_spans, 400);
        assert_eq!(s.accepted_spans, 298);
        assert_eq!(s.rejected_spans, 2);
        assert_eq!(s.refused_spans, 112);
        assert_eq!(s.refused["UNAVAILABLE"], 105);
        assert_eq!(s.refused["HTTP 503"], 7);
        assert!((s.spans_per_s - 149.0).abs() < 1e-9);
        assert!((s.bytes_per_s - 15_000.0).abs() < 1e-9);
        // 101 samples: 1..=100 ms and one at 120 s.
        assert!((s.latency_ms.p50 - 51.0).abs() < 0.1, "{:?}", s.latency_ms);
        assert!((s.latency_ms.p99 - 100.0).abs() < 0.1, "{:?}", s.latency_ms);
        assert!(s.latency_ms.p999 > 119_000.0, "{:?}", s.latency_ms);
        let json = s.to_json();
        assert_eq!(json["accepted_spans"], 298);
        assert_eq!(json["refused"]["HTTP 503"], 7);
        assert!(s.to_text().contains("HTTP 503: 7"));
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let s = Tally::new().unwrap().summary(Duration::ZERO);
        assert_eq!(s.spans_per_s, 0.0);
        assert_eq!(s.latency_ms.p99, 0.0);
    }
}
