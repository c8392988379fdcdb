//! A `logs` pipeline beside a `traces` pipeline fed by the same receiver: log records run
//! through their own processors, are logged to the WAL before the ack, reach only the
//! exporters their pipeline lists, and are replayed after a restart.

use super::*;
use crate::component::LogProcessor;
use crate::durability::{Durability, encode_log_record};
use crate::test_support::MemoryLog;
use tracegate_model::{LogBatch, LogRecord, Signal, attr};

fn record(n: u64) -> LogRecord {
    LogRecord {
        body: Some(attr::string_value(format!("log-{n}"))),
        ..LogRecord::empty()
    }
}

/// Sends `batches` span batches and as many log batches of `per` items each.
#[derive(Debug)]
struct MixedReceiver {
    batches: u64,
    per: u64,
    acked_logs: Arc<Mutex<Vec<u64>>>,
}

#[async_trait]
impl Receiver for MixedReceiver {
    async fn bind(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
    async fn run(self: Box<Self>, ctx: ReceiverContext) -> Result<(), ComponentError> {
        assert!(ctx.output.takes_logs() && ctx.output.takes_traces());
        for b in 0..self.batches {
            let ids: Vec<u64> = (b * self.per..(b + 1) * self.per).collect();
            let spans = SpanBatch {
                spans: ids.iter().map(|&n| span(n)).collect(),
            };
            ctx.output.send(spans).await.unwrap();
            let logs = LogBatch {
                records: ids.iter().map(|&n| record(n)).collect(),
            };
            ctx.output.send_logs(logs).await.unwrap();
            self.acked_logs.lock().unwrap().extend(ids);
        }
        ctx.shutdown.cancelled().await;
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Seen {
    spans: usize,
    logs: Vec<String>,
    logged_logs: usize,
}

#[derive(Debug)]
struct SeeingExporter {
    seen: Arc<Mutex<Seen>>,
    logs: bool,
}

#[async_trait]
impl Exporter for SeeingExporter {
    async fn export(&mut self, payload: Arc<Payload>) -> Result<(), ExportError> {
        let mut seen = self.seen.lock().unwrap();
        match &*payload {
            Payload::Logs(batch) => {
                for r in &batch.records {
                    seen.logs.push(r.body_str().unwrap_or_default().to_owned());
                    seen.logged_logs += usize::from(r.origin.lsn().is_some());
                }
            }
            other => seen.spans += other.span_count(),
        }
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
    fn signals(&self) -> &'static [Signal] {
        if self.logs {
            &[Signal::Traces, Signal::Logs]
        } else {
            &[Signal::Traces]
        }
    }
}

/// Drops the log records whose number ends in 9.
#[derive(Debug)]
struct DropNines;

impl LogProcessor for DropNines {
    fn process(&mut self, mut batch: LogBatch) -> LogBatch {
        batch
            .records
            .retain(|r| !r.body_str().is_some_and(|b| b.ends_with('9')));
        batch
    }
}

struct LogsHarness {
    config: Config,
    acked: Arc<Mutex<Vec<u64>>>,
    archive: Arc<Mutex<Seen>>,
    tempo: Arc<Mutex<Seen>>,
}

fn logs_harness(batches: u64, per: u64) -> LogsHarness {
    let id = |s: &str| ComponentId::parse(s).unwrap();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let archive = Arc::new(Mutex::new(Seen::default()));
    let tempo = Arc::new(Mutex::new(Seen::default()));
    let receiver = MixedReceiver {
        batches,
        per,
        acked_logs: acked.clone(),
    };
    let config = Config {
        receivers: BTreeMap::from([(id("mixed"), Box::new(receiver) as Box<dyn Receiver>)]),
        exporters: BTreeMap::from([
            (
                id("archive"),
                Box::new(SeeingExporter {
                    seen: archive.clone(),
                    logs: true,
                }) as Box<dyn Exporter>,
            ),
            (
                id("tempo"),
                Box::new(SeeingExporter {
                    seen: tempo.clone(),
                    logs: false,
                }) as Box<dyn Exporter>,
            ),
        ]),
        pipelines: vec![
            Pipeline {
                signal: Signal::Traces,
                id: "traces".into(),
                receivers: vec![id("mixed")],
                processors: Vec::new(),
                exporters: vec![id("archive"), id("tempo")],
            },
            Pipeline {
                signal: Signal::Logs,
                id: "logs".into(),
                receivers: vec![id("mixed")],
                processors: vec![(id("drop_nines"), Processor::Log(Box::new(DropNines)))],
                exporters: vec![id("archive")],
            },
        ],
        service: ServiceConfig::default(),
        health: Default::default(),
        durability: None,
        query: Default::default(),
    };
    LogsHarness {
        config,
        acked,
        archive,
        tempo,
    }
}

fn expected_logs(acked: &[u64]) -> Vec<String> {
    let mut v: Vec<String> = acked
        .iter()
        .map(|n| format!("log-{n}"))
        .filter(|n| !n.ends_with('9'))
        .collect();
    v.sort();
    v
}

fn durability(log: &Arc<MemoryLog>, replay: crate::durability::ReplayRecords) -> Durability {
    Durability {
        log: log.clone(),
        state_dir: std::env::temp_dir().join("tracegate-topology-logs-test-state"),
        sync: false,
        checkpoints: Default::default(),
        replay_end: log.state.lock().unwrap().end,
        replay,
    }
}

#[tokio::test]
async fn log_records_are_logged_then_reach_only_the_exporters_of_their_pipeline() {
    let mut h = logs_harness(10, 10);
    let log = Arc::new(MemoryLog::default());
    h.config.durability = Some(durability(&log, Box::new(std::iter::empty())));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let acked = h.acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 100);
    let archive = h.archive.lock().unwrap();
    let mut got = archive.logs.clone();
    got.sort();
    assert_eq!(got, expected_logs(&acked), "the log processor ran once");
    assert_eq!(
        archive.logged_logs,
        got.len(),
        "every record carries its WAL origin"
    );
    assert_eq!(archive.spans, 100);
    let tempo = h.tempo.lock().unwrap();
    assert!(tempo.logs.is_empty(), "tempo is not in the logs pipeline");
    assert_eq!(tempo.spans, 100);

    // The WAL holds the log records as the processor left them, in records of their own.
    let state = log.state.lock().unwrap();
    let mut logged: Vec<String> = state
        .records
        .iter()
        .filter_map(
            |(_, b)| match crate::durability::decode_record(b).unwrap() {
                crate::durability::Record {
                    pipeline,
                    batch: crate::sender::Batch::Logs(l),
                } => {
                    assert_eq!(pipeline, "logs");
                    Some(l.records)
                }
                _ => None,
            },
        )
        .flatten()
        .map(|r| r.body_str().unwrap_or_default().to_owned())
        .collect();
    logged.sort();
    assert_eq!(logged, expected_logs(&acked));
    assert_eq!(state.checkpoints.get("archive"), Some(&state.end));
}

#[tokio::test]
async fn a_logged_log_record_is_replayed_to_its_pipeline_after_a_restart() {
    let mut h = logs_harness(0, 0);
    let log = Arc::new(MemoryLog::default());
    let mut bytes = Vec::new();
    encode_log_record("logs", &[record(7), record(8)], &mut bytes);
    let records = vec![Ok((0u64, bytes::Bytes::from(bytes)))];
    log.state.lock().unwrap().end = 100;
    h.config.durability = Some(durability(&log, Box::new(records.into_iter())));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(h.config, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(h.archive.lock().unwrap().logs, ["log-7", "log-8"]);
    assert!(h.tempo.lock().unwrap().logs.is_empty());
    assert_eq!(
        log.state.lock().unwrap().checkpoints.get("archive"),
        Some(&100)
    );
}
