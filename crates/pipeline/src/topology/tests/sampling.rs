//! Exporters that take only sampled traces: the topology leaves out the traces a sampler
//! decided not to keep, and reports their spans durable itself.

use super::*;
use crate::component::TraceProcessor;
use crate::durability::{Durability, OriginCounts, Release};
use crate::helper::FnTraceProcessor;
use crate::test_support::MemoryLog;
use tracegate_model::{Sampling, Trace};

/// A recording exporter that takes only sampled traces and, like the OTLP exporter, takes
/// its `Release` and reports what it was given itself.
#[derive(Debug)]
struct SampledOnly {
    inner: RecordingExporter,
    release: Option<Release>,
}

#[async_trait]
impl Exporter for SampledOnly {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        if let Payload::Traces(traces) = payload.as_ref() {
            assert!(
                traces.iter().all(Trace::is_sampled),
                "an unsampled trace reached a sampled-only exporter"
            );
        }
        let counts = OriginCounts::of(payload.spans());
        self.inner.export(payload).await?;
        if let Some(release) = &self.release {
            release.durable(counts);
        }
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        self.inner.shutdown().await
    }
    fn sampled_only(&self) -> bool {
        true
    }
    fn take_release(&mut self, release: Release) -> bool {
        self.release = Some(release);
        true
    }
}

/// Trace `n` (span numbers 4(n-1)..4n) is kept when `n` is even; the sampler marks the odd
/// ones unsampled.
fn keep(trace: &Trace) -> bool {
    let mut n = [0u8; 8];
    n.copy_from_slice(&trace.trace_id.0[..8]);
    u64::from_be_bytes(n).is_multiple_of(2)
}

fn sampler() -> impl TraceProcessor {
    let policy: Arc<str> = Arc::from("even");
    FnTraceProcessor(move |mut traces: Vec<Trace>| {
        for t in &mut traces {
            t.sampling = Some(Sampling {
                sampled: keep(t),
                policy: policy.clone(),
                probability: 0.5,
            });
        }
        traces
    })
}

#[tokio::test]
async fn unsampled_traces_skip_a_sampled_only_exporter_reach_the_others_and_are_still_released() {
    let mut h = harness(20, 10, Duration::ZERO, 64);
    let id = |s: &str| ComponentId::parse(s).unwrap();
    // rec/fast keeps everything; rec/slow, now sampled-only, takes its release.
    h.config.exporters.insert(
        id("rec/slow"),
        Box::new(SampledOnly {
            inner: RecordingExporter {
                record: h.slow.clone(),
                delay: Duration::ZERO,
            },
            release: None,
        }),
    );
    let pipeline = &mut h.config.pipelines[0];
    pipeline.processors.push((
        id("trace_assembly"),
        Processor::Assemble(vec![Box::new(GroupingAssembler::default())]),
    ));
    pipeline
        .processors
        .push((id("tail_sampling"), Processor::Trace(Box::new(sampler()))));
    let log = Arc::new(MemoryLog::default());
    h.config.durability = Some(Durability {
        log: log.clone(),
        state_dir: std::env::temp_dir().join("tracegate-topology-sampling-state"),
        sync: false,
        checkpoints: BTreeMap::new(),
        replay_end: 0,
        replay: Box::new(std::iter::empty()),
    });

    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let accepted = h.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 200);
    let all = expected_names(&accepted);
    // Span n belongs to trace n/4 + 1: the sampled traces are those with n/4 odd.
    let sampled: Vec<String> = all
        .iter()
        .filter(|name| {
            let n: u64 = name.trim_start_matches("span-").parse().unwrap();
            (n / 4 + 1).is_multiple_of(2)
        })
        .cloned()
        .collect();
    assert!(!sampled.is_empty() && sampled.len() < all.len());
    let names = |r: &Arc<Mutex<Record>>| {
        let mut v = r.lock().unwrap().spans.clone();
        v.sort();
        v
    };
    assert_eq!(names(&h.fast), all, "an exporter that keeps everything");
    assert_eq!(names(&h.slow), sampled, "a sampled-only exporter");
    let state = log.state.lock().unwrap();
    assert!(state.end > 0);
    for exporter in ["rec/fast", "rec/slow"] {
        assert_eq!(
            state.checkpoints.get(exporter),
            Some(&state.end),
            "{exporter}: every span is released, the left-out ones too"
        );
    }
}
