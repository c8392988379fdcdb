//! Notifications against an in-process Alertmanager-shaped server on 127.0.0.1:0.

use super::{alerts, rag};
use crate::alerts::Notification;
use crate::alerts::config::{RetryConfig, Target};
use crate::alerts::notify::{Notifier, SendError, body};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracegate_pipeline::Duration as ConfigDuration;
use tracegate_testkit::metrics::CapturedMetrics;

/// What the server received: path, content type, body.
type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

#[derive(Clone, Default)]
struct Fake {
    /// Status codes to answer, in order; then 200.
    answers: Arc<Mutex<VecDeque<u16>>>,
    received: Received,
}

async fn handle(
    State(fake): State<Fake>,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.received
        .lock()
        .unwrap()
        .push((uri.path().to_owned(), ct, value));
    let code = fake.answers.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

async fn start(answers: &[u16]) -> (String, Fake) {
    let fake = Fake::default();
    fake.answers.lock().unwrap().extend(answers.iter().copied());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().fallback(handle).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), fake)
}

fn retry(initial_ms: u64, max_elapsed_ms: u64) -> RetryConfig {
    RetryConfig {
        initial_backoff: ConfigDuration::from_millis(initial_ms),
        max_backoff: ConfigDuration::from_millis(initial_ms * 4),
        max_elapsed: ConfigDuration::from_millis(max_elapsed_ms),
    }
}

fn target(url: String) -> Target {
    Target {
        name: "alertmanager".into(),
        url,
        timeout: Duration::from_secs(2),
        tls: None,
    }
}

fn notification(resolved: bool) -> Notification {
    Notification {
        labels: BTreeMap::from([
            ("alertname".into(), "HighErrorRate".into()),
            ("severity".into(), "critical".into()),
        ]),
        annotations: BTreeMap::from([("summary".into(), "errors".into())]),
        starts_at_unix_nano: super::T0,
        ends_at_unix_nano: super::T0 + 240 * super::SEC,
        generator_url: "http://localhost:8889/api/v1/rules".into(),
        resolved,
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn body_is_the_alertmanager_v2_shape() {
    let b: Value = serde_json::from_slice(&body(&[notification(false)])).unwrap();
    assert_eq!(
        b,
        json!([{
            "labels": {"alertname": "HighErrorRate", "severity": "critical"},
            "annotations": {"summary": "errors"},
            "startsAt": "2023-11-14T22:13:20.000000000Z",
            "endsAt": "2023-11-14T22:17:20.000000000Z",
            "generatorURL": "http://localhost:8889/api/v1/rules",
        }])
    );
}

#[test]
fn a_503_is_retried_and_the_second_attempt_delivers() {
    let captured = CapturedMetrics::new();
    captured.run(|| {
        rt().block_on(async {
            let (base, fake) = start(&[503]).await;
            let notifier = Notifier::new("alerts", retry(10, 5_000), &[]).unwrap();
            let t = target(format!("{base}/api/v2/alerts"));
            let b = body(&[notification(false)]);
            notifier
                .send_counted(&t, &b, 1, &CancellationToken::new())
                .await;
            let got = fake.received.lock().unwrap().clone();
            assert_eq!(got.len(), 2);
            for (path, ct, value) in &got {
                assert_eq!(path, "/api/v2/alerts");
                assert_eq!(ct, "application/json");
                assert_eq!(value, &serde_json::from_slice::<Value>(&b).unwrap());
            }
        })
    });
    let labels = [("processor", "alerts"), ("target", "alertmanager")];
    assert_eq!(
        captured.counter("tracegate_alerts_notification_retries_total", &labels),
        1
    );
    assert_eq!(
        captured.counter("tracegate_alerts_notifications_sent_total", &labels),
        1
    );
    assert_eq!(
        captured.counter("tracegate_alerts_notifications_failed_total", &labels),
        0
    );
}

#[test]
fn retries_stop_after_max_elapsed_and_are_counted() {
    let captured = CapturedMetrics::new();
    captured.run(|| {
        rt().block_on(async {
            let (base, fake) = start(&[503; 100]).await;
            let notifier = Notifier::new("alerts", retry(10, 150), &[]).unwrap();
            let t = target(format!("{base}/api/v2/alerts"));
            let started = std::time::Instant::now();
            let err = notifier
                .send(&t, b"[]", &CancellationToken::new())
                .await
                .unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(2));
            let SendError::RetriesExhausted { attempts, last, .. } = &err else {
                panic!("{err:?}");
            };
            // Waits of 10, 20, 40, 40 ms fit in 150 ms; the next would not.
            assert!(*attempts >= 2 && *attempts <= 6, "{attempts}");
            assert_eq!(*attempts as usize, fake.received.lock().unwrap().len());
            assert!(last.contains("503"), "{last}");
            notifier
                .send_counted(&t, b"[1]", 3, &CancellationToken::new())
                .await;
        })
    });
    assert_eq!(
        captured.counter(
            "tracegate_alerts_notifications_failed_total",
            &[("target", "alertmanager"), ("reason", "retries_exhausted")]
        ),
        3
    );
}

#[test]
fn a_4xx_is_not_retried_and_a_refused_connection_is() {
    rt().block_on(async {
        let (base, fake) = start(&[400, 429]).await;
        let notifier = Notifier::new("alerts", retry(10, 300), &[]).unwrap();
        let t = target(base.clone());
        let err = notifier
            .send(&t, b"[]", &CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            matches!(err, SendError::Rejected { status: 400, .. }),
            "{err:?}"
        );
        assert_eq!(err.reason(), "rejected");
        assert_eq!(fake.received.lock().unwrap().len(), 1);
        // 429 is retried.
        notifier
            .send(&t, b"[]", &CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(fake.received.lock().unwrap().len(), 3);

        // Nothing listens on a port just released.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = notifier
            .send(
                &target(format!("http://127.0.0.1:{port}/")),
                b"[]",
                &CancellationToken::new(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, SendError::RetriesExhausted { attempts, .. } if attempts > 1),
            "{err:?}"
        );
        // Shutdown ends the waits at once.
        let cancelled = CancellationToken::new();
        cancelled.cancel();
        let err = notifier
            .send(
                &target(format!("http://127.0.0.1:{port}/")),
                b"[]",
                &cancelled,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::Cancelled { .. }));
    });
}

fn parse_time(v: &Value) -> std::time::SystemTime {
    humantime::parse_rfc3339(v.as_str().unwrap()).unwrap()
}

#[test]
fn run_sends_firing_then_resolved_alerts_to_alertmanager_and_webhooks() {
    let captured = CapturedMetrics::new();
    captured.run(|| {
        rt().block_on(async {
            let (base, fake) = start(&[503]).await;
            let a = alerts(&format!(
                r#"
evaluation_interval: 20ms
rules: [ {{ alert: HighErrorRate, expr: "error_ratio > 0.05 over 10s", severity: critical }} ]
min_count: 5
alertmanager: {{ url: "{base}" }}
webhooks: [ {{ url: "{base}/hook" }} ]
retry: {{ initial_backoff: 10ms, max_backoff: 40ms, max_elapsed: 5s }}
"#
            ));
            let shutdown = CancellationToken::new();
            let task = tokio::spawn(a.clone().run(shutdown.clone()));
            let traces: Vec<_> = (0..10).map(|i| rag(i, 100, i == 0)).collect();
            a.observe(&traces, crate::now_unix_nano());
            let mut fired = false;
            for _ in 0..250 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let got = fake.received.lock().unwrap().clone();
                let to = |p: &str| got.iter().filter(|(path, _, _)| path == p).count();
                // The Alertmanager's first answer was 503: it got the batch twice.
                if to("/api/v2/alerts") >= 2 && to("/hook") >= 1 {
                    fired = true;
                    break;
                }
            }
            assert!(fired, "{:?}", fake.received.lock().unwrap());
            let firing = fake.received.lock().unwrap()[0].2.clone();
            assert_eq!(
                firing[0]["labels"],
                json!({"alertname": "HighErrorRate", "severity": "critical"})
            );
            // A firing alert is valid for 4 resend intervals.
            let valid = parse_time(&firing[0]["endsAt"])
                .duration_since(parse_time(&firing[0]["startsAt"]))
                .unwrap();
            assert_eq!(valid, Duration::from_secs(240));

            // Healthy traffic: 1 error in 110 traces resolves it.
            let healthy: Vec<_> = (10..110).map(|i| rag(i, 100, false)).collect();
            a.observe(&healthy, crate::now_unix_nano());
            let mut resolved = None;
            for _ in 0..250 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let got = fake.received.lock().unwrap().clone();
                resolved = got.into_iter().find(|(path, _, v)| {
                    path == "/hook" && parse_time(&v[0]["endsAt"]) <= std::time::SystemTime::now()
                });
                if resolved.is_some() {
                    break;
                }
            }
            let (_, _, v) = resolved.expect("no resolved alert reached the webhook");
            assert_eq!(v[0]["labels"]["alertname"], "HighErrorRate");
            assert_eq!(v[0]["startsAt"], firing[0]["startsAt"]);
            shutdown.cancel();
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .unwrap()
                .unwrap();
        })
    });
    // Firing and resolved, to each target.
    assert_eq!(
        captured.counter(
            "tracegate_alerts_notifications_sent_total",
            &[("target", "webhook[0]")]
        ),
        2
    );
    assert_eq!(
        captured.counter(
            "tracegate_alerts_notifications_sent_total",
            &[("target", "alertmanager")]
        ),
        2
    );
}

/// The fake server over TLS, with a certificate for `localhost` from `pki`'s CA.
async fn start_https(pki: &tracegate_tls::test_util::TestPki) -> (String, Fake, CancellationToken) {
    let server = pki.server("hook", "localhost");
    let acceptor = tracegate_tls::TlsAcceptor::new(
        "webhook",
        &tracegate_tls::TlsServerConfig::new(&server.cert, &server.key),
        tracegate_tls::ALPN_HTTP,
    )
    .unwrap();
    let fake = Fake::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().fallback(handle).with_state(fake.clone());
    let stop = CancellationToken::new();
    tokio::spawn(tracegate_tls::serve_router(
        listener,
        app,
        Some(Arc::new(acceptor)),
        8,
        stop.clone(),
    ));
    (format!("https://localhost:{port}"), fake, stop)
}

#[test]
fn an_https_target_is_delivered_to_when_its_ca_is_trusted_and_refused_when_not() {
    let captured = CapturedMetrics::new();
    captured.run(|| {
        rt().block_on(async {
            let pki = tracegate_tls::test_util::TestPki::new("hooks-ca");
            let (base, fake, stop) = start_https(&pki).await;
            let trusted = Target {
                name: "webhook[0]".into(),
                tls: Some(tracegate_tls::TlsClientConfig {
                    ca_file: Some(pki.ca_cert.clone()),
                    ..Default::default()
                }),
                ..target(format!("{base}/alerts"))
            };
            // The system's CAs do not know the test CA: every attempt fails the handshake.
            let untrusted = Target {
                name: "webhook[1]".into(),
                tls: Some(tracegate_tls::TlsClientConfig::default()),
                ..target(format!("{base}/alerts"))
            };
            let notifier = Notifier::new(
                "alerts",
                retry(10, 100),
                &[trusted.clone(), untrusted.clone()],
            )
            .unwrap();
            let b = body(&[notification(false)]);
            notifier
                .send(&trusted, &b, &CancellationToken::new())
                .await
                .unwrap();
            let got = fake.received.lock().unwrap().clone();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].0, "/alerts");
            assert_eq!(got[0].2, serde_json::from_slice::<Value>(&b).unwrap());
            let err = notifier
                .send(&untrusted, &b, &CancellationToken::new())
                .await
                .unwrap_err();
            assert!(matches!(err, SendError::RetriesExhausted { .. }), "{err:?}");
            assert_eq!(
                fake.received.lock().unwrap().len(),
                1,
                "nothing reached the server"
            );
            stop.cancel();
        })
    });
}
