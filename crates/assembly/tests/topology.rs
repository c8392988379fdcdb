//! Trace assembly through the real pipeline topology: the factory builds the shards from
//! YAML, the topology's async shell runs them on a real clock, and whole traces reach an
//! exporter on time; what is still held at shutdown is released, marked `shutdown`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracegate_assembly::TraceAssemblyFactory;
use tracegate_model::{ReleaseReason, SpanBatch, TraceId};
use tracegate_pipeline::config::{Config, Pipeline, ServiceConfig};
use tracegate_pipeline::{
    BuildContext, ComponentError, ComponentId, ExportError, Exporter, Payload, ProcessorFactory,
    Receiver, ReceiverContext,
};
use tracegate_testkit::{Generator, GeneratorConfig};

/// Sends every trace's non-root spans, then, 30 ms later, the roots of the first half; the
/// other half never gets a root. Then waits for shutdown.
#[derive(Debug)]
struct RagReceiver {
    batch: SpanBatch,
}

#[async_trait]
impl Receiver for RagReceiver {
    async fn bind(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
    async fn run(self: Box<Self>, ctx: ReceiverContext) -> Result<(), ComponentError> {
        let mut ids: Vec<TraceId> = self.batch.spans.iter().map(|s| s.trace_id).collect();
        ids.dedup();
        let rooted: Vec<TraceId> = ids[..ids.len() / 2].to_vec();
        let (roots, children): (Vec<_>, Vec<_>) = self
            .batch
            .spans
            .into_iter()
            .partition(|s| s.is_root() && rooted.contains(&s.trace_id));
        let orphan_roots = children.iter().filter(|s| s.is_root()).count();
        assert_eq!(orphan_roots, ids.len() - rooted.len());
        // Roots of the second half never come: drop them from the children too.
        let children: Vec<_> = children.into_iter().filter(|s| !s.is_root()).collect();
        ctx.output
            .send(SpanBatch { spans: children })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        ctx.output.send(SpanBatch { spans: roots }).await.unwrap();
        ctx.shutdown.cancelled().await;
        Ok(())
    }
}

type Got = Arc<Mutex<Vec<(TraceId, usize, ReleaseReason, bool)>>>;

#[derive(Debug)]
struct TraceRecorder(Got);

#[async_trait]
impl Exporter for TraceRecorder {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        let Payload::Traces(traces) = payload.as_ref() else {
            panic!("expected traces");
        };
        let mut got = self.0.lock().unwrap();
        for t in traces {
            got.push((t.trace_id, t.spans.len(), t.release_reason, t.is_complete()));
        }
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_traces_reach_the_exporter_on_time_and_the_rest_at_shutdown() {
    let batch = Generator::new(GeneratorConfig::default()).batch_with_traces(20);
    let mut sizes: HashMap<TraceId, usize> = HashMap::new();
    for s in &batch.spans {
        *sizes.entry(s.trace_id).or_default() += 1;
    }
    let id = |s: &str| ComponentId::parse(s).unwrap();
    let assembly = TraceAssemblyFactory::default()
        .build(
            &id("trace_assembly"),
            serde_yaml_ng::from_str("{ idle_after_root: 100ms, max_wait: 1h, shards: 3 }").unwrap(),
            &BuildContext::new("test"),
        )
        .unwrap();
    let got: Got = Arc::default();
    let config = Config {
        receivers: BTreeMap::from([(
            id("rag"),
            Box::new(RagReceiver { batch }) as Box<dyn Receiver>,
        )]),
        exporters: BTreeMap::from([(
            id("rec"),
            Box::new(TraceRecorder(got.clone())) as Box<dyn Exporter>,
        )]),
        pipelines: vec![Pipeline {
            signal: tracegate_model::Signal::Traces,
            id: "traces".into(),
            receivers: vec![id("rag")],
            processors: vec![(id("trace_assembly"), assembly)],
            exporters: vec![id("rec")],
        }],
        service: ServiceConfig {
            queue_size: 8,
            refuse_after: tracegate_pipeline::Duration::from_secs(5),
            shutdown_timeout: tracegate_pipeline::Duration::from_secs(5),
            ..Default::default()
        },
        health: Default::default(),
        durability: None,
        query: Default::default(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(tracegate_pipeline::topology::run(config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let on_time = got.lock().unwrap().clone();
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let got = got.lock().unwrap();

    // The ten rooted traces went idle 100 ms after their roots and came out whole.
    assert_eq!(on_time.len(), 10, "{on_time:?}");
    for (trace, spans, reason, complete) in &on_time {
        assert_eq!(*reason, ReleaseReason::Complete);
        assert!(complete);
        assert_eq!(*spans, sizes[trace]);
    }
    // The ten without roots waited for max_wait and were released at shutdown.
    let at_shutdown: Vec<_> = got[10..].to_vec();
    assert_eq!(at_shutdown.len(), 10);
    for (trace, spans, reason, complete) in &at_shutdown {
        assert_eq!(*reason, ReleaseReason::Shutdown);
        assert!(!complete);
        assert_eq!(*spans, sizes[trace] - 1);
    }
}
