"""Metrics and alerts from every trace (issue 14), with real components.

- The Python OTel SDK sends an LLM app's traces over OTLP/gRPC: a chat API that calls a
  retriever service (which queries a vector database) and an LLM provider.
- The gateway runs the span_metrics and alerts processors before tail_sampling, which keeps
  10 %; its data metrics endpoint is scraped directly and by a real Prometheus (Debian's),
  which also evaluates the shipped config/prometheus/alerts.yaml with test-sized windows.
- An Alertmanager-shaped webhook receives the gateway's alerts (answering 503 first, so the
  retry is exercised).
- Every PromQL expression of the shipped Grafana dashboard and alert rules reads only metrics
  the real scrape has.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from tg_archive import read_spans
from tg_otlp import metric_sum, parse_prometheus
from tg_prometheus import PrometheusServer, WebhookReceiver, metric_names, prometheus_binary, wait_for

REPO = Path(__file__).resolve().parent.parent
MS = 1_000_000
MODEL = "gpt-4o-mini"


class LlmApp:
    """Two services traced by the SDK, exporting over OTLP/gRPC to the gateway.

    One request (5 spans): chat-api ``POST /chat`` (server) → ``retriever.call`` (client) →
    retriever ``search`` (server) → ``vector.search`` (client, db.system=qdrant); and
    chat-api ``chat gpt-4o-mini`` (client, an OpenAI chat call with tokens and TTFT)."""

    SPANS = 5

    def __init__(self, grpc_target: str) -> None:
        self.providers = []
        self.tracers = {}
        for service in ("chat-api", "retriever"):
            provider = TracerProvider(resource=Resource.create({"service.name": service}))
            provider.add_span_processor(BatchSpanProcessor(
                OTLPSpanExporter(endpoint=grpc_target, insecure=True),
                schedule_delay_millis=100, max_export_batch_size=512, max_queue_size=20000))
            self.providers.append(provider)
            self.tracers[service] = provider.get_tracer("tracegate.metrics-test")
        self.input_tokens = 0
        self.sent = 0
        self.errors = 0

    def request(self, i: int, error: bool = False, llm_s: float = 0.4) -> None:
        api, retr = self.tracers["chat-api"], self.tracers["retriever"]
        llm_ns = int(llm_s * 1e9)
        t0 = time.time_ns() - (40 * MS + llm_ns)
        root = api.start_span("POST /chat", kind=SpanKind.SERVER, start_time=t0)
        ctx = set_span_in_context(root)
        call = api.start_span("retriever.call", kind=SpanKind.CLIENT, context=ctx, start_time=t0 + 1 * MS)
        search = retr.start_span("search", kind=SpanKind.SERVER, context=set_span_in_context(call),
                                 start_time=t0 + 2 * MS)
        vec = retr.start_span("vector.search", kind=SpanKind.CLIENT, context=set_span_in_context(search),
                              start_time=t0 + 3 * MS, attributes={"db.system": "qdrant"})
        vec.end(end_time=t0 + 20 * MS)
        search.end(end_time=t0 + 25 * MS)
        call.end(end_time=t0 + 30 * MS)
        tokens = 100 + i % 50
        llm = api.start_span(f"chat {MODEL}", kind=SpanKind.CLIENT, context=ctx, start_time=t0 + 31 * MS,
                             attributes={
                                 "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                 "gen_ai.request.model": MODEL, "gen_ai.response.model": MODEL,
                                 "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": 20,
                                 "gen_ai.response.time_to_first_chunk": 0.15,
                             })
        llm.end(end_time=t0 + 31 * MS + llm_ns)
        if error:
            root.set_status(Status(StatusCode.ERROR, "upstream failed"))
        root.end(end_time=t0 + 35 * MS + llm_ns)
        self.input_tokens += tokens
        self.sent += 1
        self.errors += int(error)

    def flush(self) -> None:
        for p in self.providers:
            assert p.force_flush(30_000)

    def shutdown(self) -> None:
        for p in self.providers:
            p.shutdown()


class Loader:
    """Sends requests in the background, at about ``per_s`` a second, until stopped."""

    def __init__(self, app: LlmApp, per_s: float = 40) -> None:
        self.app, self.interval = app, 1 / per_s
        self.error_every: int | None = None
        self.llm_s = 0.4
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            error = self.error_every is not None and i % self.error_every == 0
            self.app.request(i, error=error, llm_s=self.llm_s)
            i += 1
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def processors(alerts: dict | None = None) -> dict:
    p = {
        "genai_normalize": {},
        "trace_assembly": {"idle_after_root": "300ms"},
        "latency_breakdown": {},
        "span_metrics": {},
    }
    if alerts is not None:
        p["alerts"] = alerts
    p["tail_sampling"] = {"policies": [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "baseline", "type": "probabilistic", "probabilistic": {"sampling_percentage": 10}},
    ]}
    return p


def hot_store(tmp_path: Path) -> dict:
    """An exporter to give the pipeline somewhere to go (the tests here read metrics)."""
    return {"hot_store": {"path": str(tmp_path / "hot")}}


def scrape(gw, accept: str | None = None) -> requests.Response:
    headers = {"Accept": accept} if accept else {}
    resp = requests.get(f"{gw.data_metrics_url}/metrics", headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text[:500]
    return resp


# ---------------------------------------------------------------------------------------------
# Exact counts over every trace while sampling keeps 10 %
# ---------------------------------------------------------------------------------------------

def test_metrics_are_exact_over_every_trace_while_sampling_keeps_ten_percent(gateway_factory, tmp_path):
    archive = tmp_path / "archive"
    gw = gateway_factory({"archive": {"url": str(archive), "flush_age": "1s"}}, processors=processors(), metrics={})
    app = LlmApp(gw.grpc_target)
    n = 200
    for i in range(n):
        app.request(i, error=(i % 10 == 0))
    app.flush()
    app.shutdown()

    def all_counted():
        s = parse_prometheus(scrape(gw).text)
        return s if metric_sum(s, "tracegate_traces_total") >= n else None

    s = wait_for(all_counted, 20, "every trace to be counted by span_metrics")
    assert metric_sum(s, "tracegate_traces_total") == n
    assert metric_sum(s, "tracegate_traces_total", error="true") == app.errors == 20
    # RED: one call per span, by service, span name, kind and status.
    assert metric_sum(s, "traces_spanmetrics_calls_total", service="chat-api", span_name="POST /chat") == n
    assert metric_sum(s, "traces_spanmetrics_calls_total", service="chat-api", span_name="POST /chat",
                      span_kind="SPAN_KIND_SERVER", status_code="STATUS_CODE_ERROR") == 20
    assert metric_sum(s, "traces_spanmetrics_calls_total") == n * LlmApp.SPANS
    assert metric_sum(s, "traces_spanmetrics_latency_count") == n * LlmApp.SPANS
    assert metric_sum(s, "traces_spanmetrics_latency_bucket", service="retriever", span_name="search", le="+Inf") == n
    # vector.search lasts 17 ms: above the 10 ms bucket, inside the 50 ms one.
    assert metric_sum(s, "traces_spanmetrics_latency_bucket", span_name="vector.search", le="0.01") == 0
    assert metric_sum(s, "traces_spanmetrics_latency_bucket", span_name="vector.search", le="0.05") == n
    # GenAI metrics, with the semantic conventions' names and labels.
    llm = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": MODEL}
    assert metric_sum(s, "gen_ai_client_token_usage_sum", gen_ai_token_type="input", **llm) == app.input_tokens
    assert metric_sum(s, "gen_ai_client_token_usage_sum", gen_ai_token_type="output", **llm) == 20 * n
    assert metric_sum(s, "gen_ai_client_token_usage_count", gen_ai_token_type="input", **llm) == n
    assert metric_sum(s, "gen_ai_client_operation_duration_seconds_count", **llm) == n
    assert metric_sum(s, "gen_ai_client_operation_duration_seconds_sum", **llm) == pytest.approx(0.4 * n, rel=1e-6)
    assert metric_sum(s, "gen_ai_server_time_to_first_token_seconds_count", **llm) == n
    assert metric_sum(s, "gen_ai_server_time_to_first_token_seconds_sum", **llm) == pytest.approx(0.15 * n, rel=1e-6)
    assert metric_sum(s, "gen_ai_server_time_per_output_token_seconds_count", **llm) == n
    # Cost from the price table (gpt-4o-mini is priced), and the breakdown as a metric.
    assert metric_sum(s, "tracegate_gen_ai_cost_usd_total", gen_ai_request_model=MODEL) > 0
    assert metric_sum(s, "tracegate_critical_path_seconds_count", root_operation="POST /chat", category="llm") == n
    assert metric_sum(s, "tracegate_critical_path_seconds_sum", root_operation="POST /chat",
                      category="llm") == pytest.approx(0.4 * n, rel=0.01)
    # The service graph: user → chat-api → retriever → qdrant, and chat-api → openai.
    for client, server in [("user", "chat-api"), ("chat-api", "retriever"), ("retriever", "qdrant"),
                           ("chat-api", "openai")]:
        assert metric_sum(s, "traces_service_graph_request_total", client=client, server=server) == n, (client, server)
    assert metric_sum(s, "traces_service_graph_request_failed_total", client="user", server="chat-api") == 20
    assert metric_sum(s, "traces_service_graph_request_server_seconds_count", client="chat-api", server="retriever") == n

    # Meanwhile tail_sampling kept only the errors and about 10 % of the rest.
    decisions = parse_prometheus(requests.get(gw.metrics_url, timeout=5).text)
    kept = metric_sum(decisions, "tracegate_sampling_decisions_total", outcome="sampled")
    assert 20 <= kept < n / 2, kept
    gw.stop()
    spans = read_spans(archive)
    assert len(spans) == kept * LlmApp.SPANS, "the archive's spans table has only the kept traces"


def test_openmetrics_scrape_carries_trace_exemplars(gateway_factory, tmp_path):
    gw = gateway_factory(hot_store(tmp_path), processors=processors(), metrics={})
    app = LlmApp(gw.grpc_target)
    for i in range(20):
        app.request(i)
    app.flush()
    app.shutdown()
    wait_for(lambda: metric_sum(parse_prometheus(scrape(gw).text), "tracegate_traces_total") >= 20, 20,
             "the traces to be counted")
    resp = scrape(gw, "application/openmetrics-text;version=1.0.0")
    assert resp.headers["content-type"].startswith("application/openmetrics-text")
    text = resp.text
    assert text.rstrip().endswith("# EOF")
    exemplars = re.findall(r'^traces_spanmetrics_latency_bucket\{[^}]*\} \S+ # \{([^}]*)\} (\S+)', text, re.M)
    assert exemplars, text[:2000]
    labels, value = exemplars[0]
    assert re.fullmatch(r'trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"', labels), labels
    assert float(value) > 0
    # The plain text format has no exemplars, and counters end in _total in both.
    plain = scrape(gw).text
    assert "# {" not in plain
    assert "# TYPE traces_spanmetrics_calls_total counter" in plain
    assert "# TYPE traces_spanmetrics_calls counter" in text


# ---------------------------------------------------------------------------------------------
# Alerts: in the gateway, in Prometheus over the exported metrics, and at the webhook
# ---------------------------------------------------------------------------------------------

def test_prometheus_rules_file_is_valid():
    prometheus_binary()
    out = subprocess.run(["promtool", "check", "rules", str(REPO / "config/prometheus/alerts.yaml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 rules found" in out.stdout


def sized_rules(tmp_path) -> Path:
    """The shipped Prometheus rules with test-sized windows (30 s, `for` 1 s)."""
    text = (REPO / "config/prometheus/alerts.yaml").read_text()
    sized = re.sub(r"\[(5m|10m)\]", "[30s]", text)
    sized = re.sub(r"for: \d+m", "for: 1s", sized)
    assert sized != text
    path = tmp_path / "alerts.yaml"
    path.write_text(sized)
    return path


GATEWAY_RULES = [
    # The default config's two rules, with test-sized windows.
    {"alert": "HighErrorRate", "expr": "error_ratio > 0.05 over 20s", "for": "2s", "severity": "critical",
     "annotations": {"summary": "More than 5 % of requests failed"}},
    {"alert": "SlowInference", "expr": "p95(duration of category=llm) > 10s over 20s", "for": "2s",
     "severity": "warning"},
]


def firing(alerts: list[dict], name: str) -> list[dict]:
    return [a for a in alerts if a["labels"].get("alertname") == name and a["state"] == "firing"]


def test_seed_alerts_fire_in_the_gateway_in_prometheus_and_at_the_webhook(gateway_factory, tmp_path):
    webhook = WebhookReceiver(fail_first=1)
    alerts = {"evaluation_interval": "1s", "rules": GATEWAY_RULES,
              "alertmanager": {"url": webhook.url},
              "retry": {"initial_backoff": "100ms", "max_backoff": "1s"}, "resend_interval": "5s"}
    gw = gateway_factory(hot_store(tmp_path), processors=processors(alerts), metrics={})
    prom = PrometheusServer(tmp_path / "prometheus",
                            [f"127.0.0.1:{gw.prometheus_port}", f"127.0.0.1:{gw.metrics_port}"],
                            [sized_rules(tmp_path)])
    app = LlmApp(gw.grpc_target)
    loader = Loader(app)
    try:
        wait_for(prom.targets_up, 20, "prometheus to scrape both of the gateway's endpoints")
        # Phase 1: 10 % of requests fail. HighErrorRate fires everywhere; SlowInference does not.
        loader.error_every = 10

        def gateway_alerts() -> list[dict]:
            r = requests.get(f"{gw.data_metrics_url}/api/v1/alerts", timeout=5)
            assert r.status_code == 200
            body = r.json()
            assert body["status"] == "success"
            return body["data"]["alerts"]

        wait_for(lambda: firing(gateway_alerts(), "HighErrorRate"), 40, "HighErrorRate to fire in the gateway")
        alert = firing(gateway_alerts(), "HighErrorRate")[0]
        assert alert["labels"]["severity"] == "critical"
        assert 0.05 < float(alert["value"]) < 0.2
        wait_for(lambda: webhook.alerts("HighErrorRate"), 20, "the webhook to receive HighErrorRate")
        sent = webhook.alerts("HighErrorRate")[0]
        assert webhook.posts[0][0] == "/api/v2/alerts"
        assert sent["labels"]["severity"] == "critical" and sent["startsAt"]
        assert sent["annotations"]["summary"] == "More than 5 % of requests failed"
        assert webhook.attempts > len(webhook.posts), "the first POST got 503 and was retried"
        wait_for(lambda: firing(prom.alerts(), "HighErrorRate"), 60, "HighErrorRate to fire in Prometheus")
        assert not firing(gateway_alerts(), "SlowInference")

        # Phase 2: no more errors, and LLM calls take 12 s. SlowInference fires; HighErrorRate
        # resolves once the errors leave its window, and the webhook hears it.
        loader.error_every = None
        loader.llm_s = 12.0
        wait_for(lambda: firing(gateway_alerts(), "SlowInference"), 40, "SlowInference to fire in the gateway")
        assert firing(gateway_alerts(), "SlowInference")[0]["labels"]["severity"] == "warning"
        wait_for(lambda: firing(prom.alerts(), "SlowInference"), 60, "SlowInference to fire in Prometheus")
        wait_for(lambda: not firing(gateway_alerts(), "HighErrorRate"), 60, "HighErrorRate to resolve")

        def resolved():
            return [a for a in webhook.alerts("HighErrorRate")
                    if a.get("endsAt") and not a["endsAt"].startswith("0001")
                    and time.time() >= _epoch(a["endsAt"]) - 1]
        wait_for(resolved, 30, "the webhook to hear HighErrorRate resolved")

        # The rules are listed as Prometheus lists them.
        rules = requests.get(f"{gw.data_metrics_url}/api/v1/rules", timeout=5).json()
        listed = [r["name"] for g in rules["data"]["groups"] for r in g["rules"]]
        assert listed == ["HighErrorRate", "SlowInference"]

        # Every metric the dashboard and the Prometheus rules read is in the real scrape.
        exprs = dashboard_exprs() + rule_exprs()
        assert len(exprs) >= 15
        names = set().union(*(metric_names(e) for e in exprs))
        missing = sorted(n for n in names if not prom.has_series(n))
        assert not missing, f"dashboard/rule metrics Prometheus never scraped: {missing}"
    finally:
        loader.stop()
        app.shutdown()
        prom.stop()
        webhook.stop()


def _epoch(rfc3339: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def dashboard_exprs() -> list[str]:
    dash = json.loads((REPO / "config/grafana/dashboards/tracegate-llm.json").read_text())
    exprs = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            exprs.append(target["expr"])
    return exprs


def rule_exprs() -> list[str]:
    text = (REPO / "config/prometheus/alerts.yaml").read_text()
    # The rules file is plain YAML with block-scalar expressions: take each `expr: |` block.
    blocks = re.findall(r"expr: \|\n((?:\s{10,}.*\n)+)", text)
    assert len(blocks) == 2, blocks
    return blocks


def test_exponential_histograms_reach_prometheus_as_native_histograms(gateway_factory, tmp_path):
    """`histogram: {type: exponential}`: Prometheus (with native histograms on) asks for the
    protobuf format and stores the RED latency as a native histogram."""
    procs = processors()
    procs["span_metrics"] = {"histogram": {"type": "exponential"}}
    gw = gateway_factory(hot_store(tmp_path), processors=procs, metrics={})
    prom = PrometheusServer(tmp_path / "prometheus", [f"127.0.0.1:{gw.prometheus_port}"], native_histograms=True)
    app = LlmApp(gw.grpc_target)
    try:
        for i in range(30):
            app.request(i)
        app.flush()
        wait_for(prom.targets_up, 20, "prometheus to scrape the gateway")

        def native():
            result = prom.query('traces_spanmetrics_latency{span_name="vector.search"}')
            return result if result and "histogram" in result[0] else None

        result = wait_for(native, 30, "a native histogram of vector.search's latency")
        _, histogram = result[0]["histogram"]
        assert int(histogram["count"]) == 30
        # Every value (17 ms) falls in buckets around 0.017 s.
        for _, lower, upper, count in histogram["buckets"]:
            assert float(lower) <= 0.017 <= float(upper) * 1.0001 or float(count) == 0
        assert prom.value('histogram_count(traces_spanmetrics_latency{span_name="vector.search"})') == 30
        # The GenAI histograms keep the semantic conventions' explicit buckets.
        assert prom.value('sum(gen_ai_client_operation_duration_seconds_count)') == 30
    finally:
        app.shutdown()
        prom.stop()
