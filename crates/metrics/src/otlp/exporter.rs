//! [`OtlpMetricsExporter`]: pushes the registry's metrics to an OTLP/gRPC endpoint every
//! `interval`, until shutdown, then once more.
//!
//! Each push is a chain of stages:
//!
//! 1. collect: every source's families as of now ([`MetricsRegistry::collect`]);
//! 2. convert: [`to_request`] (cumulative, or delta against the [`DeltaState`]), then
//!    [`split`] into requests of at most [`MAX_POINTS_PER_REQUEST`] data points;
//! 3. send each request with `MetricsService/Export`, each attempt bounded by `timeout`;
//!    retryable codes (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED`, `ABORTED`,
//!    …, as the trace exporter has them) are retried with exponential backoff, but never
//!    past the time the next push is due: a newer snapshot then supersedes this one.
//!
//! With delta temporality, a push none of whose requests got through puts the delta state
//! back as it was, so the next push's deltas cover both intervals and nothing is lost. When
//! only some requests of a push got through, the rest are lost (and counted), since taking
//! the state back would send the delivered ones twice.
//!
//! The channel connects lazily, so an endpoint that is down does not fail the start. At
//! shutdown a final push sends what changed since the last one, bounded by `timeout`.
//!
//! Telemetry: `tracegate_metrics_otlp_exports_total{outcome}` per request, `outcome` =
//! `success` (delivered), `retry` (an attempt failed and is retried) or `failure` (given up
//! or refused); `tracegate_metrics_otlp_rejected_points_total` for points the endpoint
//! refused in a partial success.

use super::config::{Compression, OtlpMetricsConfig, Resolved, Temporality};
use super::convert::{DeltaState, to_request};
use super::split::{request_points, split};
use crate::registry::MetricsRegistry;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tonic::codec::CompressionEncoding;
use tonic::transport::Channel;
use tracegate_otlp::exporter::is_retryable;

/// Pushes and attempts, by `outcome`.
pub const EXPORTS_TOTAL: &str = "tracegate_metrics_otlp_exports_total";
/// Data points the endpoint refused (OTLP partial success).
pub const REJECTED_POINTS_TOTAL: &str = "tracegate_metrics_otlp_rejected_points_total";
/// The most data points in one request.
pub const MAX_POINTS_PER_REQUEST: usize = 2_000;
/// The config path used in error messages of [`OtlpMetricsExporter::new`].
const PATH: &str = "metrics.otlp";

/// Pushes the data metrics of a [`MetricsRegistry`] over OTLP/gRPC.
#[derive(Debug)]
pub struct OtlpMetricsExporter {
    config: OtlpMetricsConfig,
    resolved: Resolved,
    registry: MetricsRegistry,
    resource: Resource,
}

/// How sending one request ended.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Delivered,
    GaveUp,
}

impl OtlpMetricsExporter {
    /// An exporter of `registry`'s metrics; checks the endpoint, headers and durations.
    /// Connects nothing yet.
    pub fn new(config: OtlpMetricsConfig, registry: MetricsRegistry) -> Result<Self, String> {
        let resolved = config.resolve(PATH).map_err(|e| e.to_string())?;
        let resource = config.resource();
        Ok(Self {
            config,
            resolved,
            registry,
            resource,
        })
    }

    /// Pushes every `interval` (the first one interval after the start) until `shutdown`,
    /// then a final push bounded by `timeout`.
    pub async fn run(self, shutdown: CancellationToken) {
        let channel = self.resolved.endpoint.connect_lazy();
        let mut client = MetricsServiceClient::new(channel);
        if self.config.compression == Compression::Gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        let mut state = DeltaState::new();
        let interval = self.config.interval.get();
        let mut due = Instant::now() + interval;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(due) => {}
            }
            let next = due + interval;
            self.push(&mut client, &mut state, next, Some(&shutdown))
                .await;
            let now = Instant::now();
            due = if next > now { next } else { now + interval };
        }
        let deadline = Instant::now() + self.config.timeout.get();
        self.push(&mut client, &mut state, deadline, None).await;
        tracing::debug!(endpoint = %self.config.endpoint, "OTLP metrics exporter stopped");
    }

    /// One push: collect, convert, send; retries end by `deadline` or when `cancel` fires.
    async fn push(
        &self,
        client: &mut MetricsServiceClient<Channel>,
        state: &mut DeltaState,
        deadline: Instant,
        cancel: Option<&CancellationToken>,
    ) {
        let families = self.registry.collect(crate::now_unix_nano());
        let saved = (self.config.temporality == Temporality::Delta).then(|| state.clone());
        let request = to_request(&families, self.config.temporality, state, &self.resource);
        let requests = split(request, MAX_POINTS_PER_REQUEST);
        let (mut delivered, mut lost) = (0usize, 0usize);
        for request in requests {
            let points = request_points(&request);
            match self.send(client, request, deadline, cancel).await {
                Sent::Delivered => delivered += 1,
                Sent::GaveUp => lost += points,
            }
        }
        if lost > 0 {
            if delivered == 0
                && let Some(saved) = saved
            {
                // Nothing got through: the next push's deltas cover this interval too.
                *state = saved;
            }
            tracing::warn!(
                endpoint = %self.config.endpoint,
                points = lost,
                "OTLP metrics push failed; {}",
                if self.config.temporality == Temporality::Cumulative || delivered == 0 {
                    "the next push sends the values again"
                } else {
                    "these deltas are lost"
                }
            );
        }
    }

    /// Sends one request, retrying retryable failures until `deadline`.
    async fn send(
        &self,
        client: &mut MetricsServiceClient<Channel>,
        request: ExportMetricsServiceRequest,
        deadline: Instant,
        cancel: Option<&CancellationToken>,
    ) -> Sent {
        let interval = self.config.interval.get();
        let mut backoff = (interval / 10).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let max_backoff = (interval / 2).max(backoff);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return self.give_up(&Status::deadline_exceeded(
                    "no time left before the next push",
                ));
            }
            let attempt_timeout = self.config.timeout.get().min(deadline - now);
            let mut attempt = tonic::Request::new(request.clone());
            *attempt.metadata_mut() = self.resolved.headers.clone();
            attempt.set_timeout(attempt_timeout);
            let status = match tokio::time::timeout(attempt_timeout, client.export(attempt)).await {
                Ok(Ok(response)) => {
                    let partial = response.into_inner().partial_success.unwrap_or_default();
                    if partial.rejected_data_points > 0 {
                        let rejected = u64::try_from(partial.rejected_data_points).unwrap_or(0);
                        metrics::counter!(REJECTED_POINTS_TOTAL).increment(rejected);
                        tracing::warn!(
                            endpoint = %self.config.endpoint,
                            rejected,
                            message = %partial.error_message,
                            "the OTLP metrics endpoint refused some data points"
                        );
                    }
                    metrics::counter!(EXPORTS_TOTAL, "outcome" => "success").increment(1);
                    return Sent::Delivered;
                }
                Ok(Err(status)) => status,
                Err(_) => {
                    Status::deadline_exceeded(format!("no answer within {attempt_timeout:?}"))
                }
            };
            if !is_retryable(status.code()) {
                return self.give_up(&status);
            }
            // Wait, with up to 50 % jitter taken from the clock, unless that runs past the
            // deadline.
            let jitter = backoff.mul_f64(
                f64::from(u32::try_from(crate::now_unix_nano() % 500).unwrap_or(0)) / 1000.0,
            );
            let wait = backoff + jitter;
            if Instant::now() + wait >= deadline {
                return self.give_up(&status);
            }
            metrics::counter!(EXPORTS_TOTAL, "outcome" => "retry").increment(1);
            tracing::debug!(
                endpoint = %self.config.endpoint,
                code = ?status.code(),
                message = status.message(),
                retry_in = ?wait,
                "OTLP metrics push failed; retrying"
            );
            match cancel {
                Some(cancel) => tokio::select! {
                    () = cancel.cancelled() => return self.give_up(&status),
                    () = tokio::time::sleep(wait) => {}
                },
                None => tokio::time::sleep(wait).await,
            }
            backoff = (backoff * 2).min(max_backoff);
        }
    }

    fn give_up(&self, status: &Status) -> Sent {
        metrics::counter!(EXPORTS_TOTAL, "outcome" => "failure").increment(1);
        tracing::warn!(
            endpoint = %self.config.endpoint,
            code = ?status.code(),
            message = status.message(),
            "OTLP metrics push given up{}",
            if is_retryable(status.code()) { " (out of time before the next push)" } else { " (the endpoint refused it)" }
        );
        Sent::GaveUp
    }
}
