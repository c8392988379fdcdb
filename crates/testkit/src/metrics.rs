//! Captures what a test records through the [`metrics`] facade, on top of `metrics-util`'s
//! [`DebuggingRecorder`].
//!
//! [`CapturedMetrics::run`] runs a closure with the recorder installed for the current thread
//! only ([`metrics::with_local_recorder`]: it does not follow work onto other threads, though
//! a current-thread runtime started inside the closure works). [`CapturedMetrics::global`]
//! installs one recorder for the whole test binary instead; tests sharing it keep apart by
//! giving their components distinct label values.
//!
//! Reading is not destructive: the values a snapshot takes out of the recorder are put back.
//! Histograms are not captured.
//!
//! ```
//! use tracegate_testkit::metrics::CapturedMetrics;
//!
//! let captured = CapturedMetrics::new();
//! captured.run(|| {
//!     metrics::counter!("requests_total", "route" => "a", "code" => "200").increment(2);
//!     metrics::counter!("requests_total", "route" => "b", "code" => "200").increment(3);
//! });
//! assert_eq!(captured.counter("requests_total", &[("route", "a")]), 2);
//! assert_eq!(captured.counter("requests_total", &[("code", "200")]), 5);
//! assert_eq!(captured.counter("requests_total", &[]), 5);
//! assert_eq!(captured.counter("requests_total", &[("route", "c")]), 0);
//! ```

use metrics::{Key, Level, Metadata, Recorder};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, PoisonError};

/// The metadata handles are re-registered with when a read puts values back.
static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::TRACE, None);

/// A [`DebuggingRecorder`] and the means to read its counters and gauges.
#[derive(Debug)]
pub struct CapturedMetrics {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
    /// Serialises reads, so one read never sees values another has taken out and not yet
    /// put back.
    reading: Mutex<()>,
}

impl Default for CapturedMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CapturedMetrics {
    /// A recorder that is not installed anywhere yet; see [`run`](Self::run).
    pub fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Self {
            recorder,
            snapshotter,
            reading: Mutex::new(()),
        }
    }

    /// Runs `f` with this recorder installed for the current thread.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// The recorder installed as the global recorder of this process, installed on first
    /// call. Call it before the code under test records anything.
    ///
    /// # Panics
    ///
    /// If another global recorder is already installed.
    #[allow(clippy::panic)]
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<&'static CapturedMetrics> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let captured: &'static CapturedMetrics = Box::leak(Box::default());
            if metrics::set_global_recorder(&captured.recorder).is_err() {
                panic!("another global metrics recorder is already installed");
            }
            captured
        })
    }

    /// The sum of the counters named `name` whose labels include all of `labels` (0 when
    /// none was recorded).
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.read()
            .into_iter()
            .filter(|(key, _)| matches(key, name, labels))
            .filter_map(|(_, value)| match value {
                DebugValue::Counter(v) => Some(v),
                _ => None,
            })
            .sum()
    }

    /// The sum of the gauges named `name` whose labels include all of `labels` (0.0 when
    /// none was recorded).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.read()
            .into_iter()
            .filter(|(key, _)| matches(key, name, labels))
            .filter_map(|(_, value)| match value {
                DebugValue::Gauge(v) => Some(v.into_inner()),
                _ => None,
            })
            .sum()
    }

    /// Every counter by `name{label=value,...}`, labels in the order they were recorded in.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.read()
            .into_iter()
            .filter_map(|(key, value)| match value {
                DebugValue::Counter(v) => Some((render(&key), v)),
                _ => None,
            })
            .collect()
    }

    /// Every counter and gauge now. A snapshot zeroes what it reads; adding the values back
    /// keeps increments made meanwhile.
    fn read(&self) -> Vec<(Key, DebugValue)> {
        let _reading = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            match (kind, &value) {
                (MetricKind::Counter, DebugValue::Counter(v)) => {
                    self.recorder
                        .register_counter(&key, &METADATA)
                        .increment(*v);
                }
                (MetricKind::Gauge, DebugValue::Gauge(v)) => {
                    self.recorder
                        .register_gauge(&key, &METADATA)
                        .increment(v.into_inner());
                }
                _ => continue,
            }
            out.push((key, value));
        }
        out
    }
}

fn matches(key: &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    key.name() == name
        && labels
            .iter()
            .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

fn render(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    format!("{}{{{}}}", key.name(), labels.join(","))
}
