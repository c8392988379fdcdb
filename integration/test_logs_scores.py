"""LLM logs and quality scores, end to end, with the real OTel Python SDK.

1. The seed's ``StructuredLogger`` writes request, response and quality logs through the SDK's
   logging bridge (``LoggingHandler`` + the OTLP log exporter), over gRPC and over HTTP. The
   archive's ``logs`` table holds every record with the canonical LLM columns filled (model,
   tokens, cost from the price table, latency, time to first token, model settings), the
   ``scores`` table holds the rating, and no personal data planted in the prompts, responses
   and feedback appears in any column of either.
2. A trace with an LLM span is sent, and 5 s later three evaluations of that span: one with the
   span's trace context, one naming only its ``gen_ai.response.id``, one (the seed's quality
   log) naming only the application's ``request_id``. Each ``scores`` row carries the span's
   trace and span ids and joins to the trace's ``traces`` row in DuckDB.
3. A low score that arrives while ``trace_assembly`` still holds its trace lets an
   ``evaluation_score`` policy keep a trace that the baseline (0 %) would drop; the
   ``traces`` row carries the score.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from conftest import KEEP_EVERY_SPAN, default_log_processors, default_processors, wait_until
from tg_logs import StructuredLogger, read_table, sdk_logging, strings_in

PREFIX = "llm"
CATALOGUE = Path(__file__).resolve().parent.parent / "crates" / "genai" / "testdata" / "redaction" / "secrets.json"
SECRETS = [s["value"] for s in json.loads(CATALOGUE.read_text())]
MODEL = "gpt-4o-mini"


def start_gateway(gateway_factory, moto, bucket: str, *, policies: list | None = None, idle_after_root: str = "500ms"):
    processors = default_processors(idle_after_root=idle_after_root)
    if policies is not None:
        processors["tail_sampling"] = {"policies": policies}
    archive = moto.archive_exporter(bucket, PREFIX, flush_age="1s", **KEEP_EVERY_SPAN)
    return gateway_factory({"archive": archive}, processors=processors,
                           logs={"processors": default_log_processors(), "exporters": ["archive"]})


def no_secret_in(rows: list[dict], table: str) -> None:
    leaks = [(table, col, s) for row in rows for col, value in row.items()
             for text in strings_in(value) for s in SECRETS if s in text]
    assert not leaks, f"personal data reached the archive: {leaks[:10]}"


# ---------------------------------------------------------------------------------------------
# 1. The seed's structured logs through the SDK's logging bridge
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_structured_llm_logs_land_in_the_logs_and_scores_tables_without_personal_data(
        transport, gateway_factory, moto):
    bucket = moto.new_bucket(f"logs-{transport}")
    gw = start_gateway(gateway_factory, moto, bucket)
    run = uuid.uuid4().hex[:8]
    request_id = f"req-{run}"
    pii = " ".join(SECRETS)
    with sdk_logging(transport, gw) as (logger, _provider):
        seed = StructuredLogger(logger)
        seed.log_request(request_id, user_id="u-42", model=MODEL,
                         prompt=f"Summarise the account of {pii}", system_prompt="You are a banking assistant.",
                         temperature=0.2, max_tokens=512, metadata={"route": "/v1/chat"})
        seed.log_response(request_id, model=MODEL, response=f"The customer ({SECRETS[0]}) asked about fees.",
                          input_tokens=1200, output_tokens=300, latency_ms=1850.5, ttft_ms=420.0)
        seed.log_quality(request_id, rating=2, feedback=f"Wrong: it leaked {SECRETS[1]}",
                         annotations={"category": "privacy"}, reviewer_id="rev-7")
        logger.info("cache warmed for tenant acme")

    logs = wait_until(lambda: (rows := read_table(moto, bucket, PREFIX, "logs")) and len(rows) >= 4 and rows,
                      30, interval=0.5, what="four log records in the logs table")
    assert gw.running(), gw.describe_exit()
    assert len(logs) == 4, logs
    by_event = {}
    for row in logs:
        body = row["body"] or ""
        event = json.loads(body).get("event") if body.startswith("{") else "plain"
        by_event[event] = row
    assert set(by_event) == {"llm_request", "llm_response", "quality", "plain"}, by_event.keys()
    for row in logs:
        assert row["service_name"] == "rag-api"
        assert row["severity_text"] == "INFO"

    req, resp = by_event["llm_request"], by_event["llm_response"]
    assert req["kind"] == resp["kind"] == "llm_call"
    assert req["request_model"] == resp["request_model"] == MODEL
    assert req["request_id"] == resp["request_id"] == request_id
    assert req["user_id"] == "u-42"
    assert req["temperature"] == pytest.approx(0.2)
    assert req["max_tokens"] == 512
    assert (resp["input_tokens"], resp["output_tokens"]) == (1200, 300)
    assert resp["latency_ms"] == pytest.approx(1850.5)
    assert resp["ttft_ms"] == pytest.approx(420.0)
    assert resp["cost_usd"] is not None and resp["cost_usd"] > 0, resp
    assert "stop" in str(resp["finish_reason"])
    assert by_event["plain"]["kind"] == "log"
    assert by_event["plain"]["request_model"] is None
    assert by_event["quality"]["kind"] == "score"
    assert by_event["quality"]["request_id"] == request_id, "a quality row names the call it rates"

    scores = wait_until(lambda: read_table(moto, bucket, PREFIX, "scores"), 30, interval=0.5,
                        what="the rating in the scores table")
    assert len(scores) == 1, scores
    score = scores[0]
    assert score["value"] == 2
    assert score["request_id"] == request_id
    assert score["reviewer_id"] == "rev-7"
    assert score["source"] == "log"
    assert "Wrong: it leaked" in score["explanation"]
    no_secret_in(logs, "logs")
    no_secret_in(scores, "scores")


# ---------------------------------------------------------------------------------------------
# 2. Evaluations that arrive after the trace, joined three ways
# ---------------------------------------------------------------------------------------------

def send_llm_trace(gw, run: str) -> tuple[int, int, str, str]:
    """One trace: `POST /v1/chat` with an LLM span carrying a response id and the app's request
    id. Returns (trace id, LLM span id, response id, request id)."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    provider = TracerProvider(resource=Resource.create({"service.name": "rag-api"}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=f"http://{gw.grpc_target}", insecure=True, timeout=10)))
    tracer = provider.get_tracer("rag")
    response_id, request_id = f"chatcmpl-{run}", f"req-{run}"
    with tracer.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER) as root:
        with tracer.start_as_current_span(f"chat {MODEL}", kind=SpanKind.CLIENT, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": MODEL, "gen_ai.response.id": response_id,
            "gen_ai.usage.input_tokens": 800, "gen_ai.usage.output_tokens": 120,
            "request_id": request_id,
        }) as llm:
            time.sleep(0.05)
        trace_id, span_id = llm.get_span_context().trace_id, llm.get_span_context().span_id
        assert root.get_span_context().trace_id == trace_id
    provider.shutdown()
    return trace_id, span_id, response_id, request_id


def emit_evaluation(provider, name: str, value: float, *, context=None, response_id: str | None = None) -> None:
    """A `gen_ai.evaluation.result` event as the OTel GenAI conventions send it: a log record,
    with the evaluated span's trace context when the evaluator has it."""
    attributes = {"gen_ai.evaluation.name": name, "gen_ai.evaluation.score.value": value,
                  "gen_ai.evaluation.score.label": "pass" if value >= 0.5 else "fail",
                  "gen_ai.evaluation.explanation": f"{name} judged by the offline evaluator"}
    if response_id:
        attributes["gen_ai.response.id"] = response_id
    provider.get_logger("evaluator").emit(event_name="gen_ai.evaluation.result", context=context,
                                          attributes=attributes)


def span_context(trace_id: int, span_id: int):
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    return trace.set_span_in_context(NonRecordingSpan(SpanContext(trace_id, span_id, is_remote=True,
                                                                  trace_flags=TraceFlags(1))))


def test_late_scores_join_their_trace_by_context_response_id_and_request_id(gateway_factory, moto):
    bucket = moto.new_bucket("late-scores")
    gw = start_gateway(gateway_factory, moto, bucket)
    run = uuid.uuid4().hex[:8]
    trace_id, span_id, response_id, request_id = send_llm_trace(gw, run)
    time.sleep(5)
    with sdk_logging("grpc", gw, service="evaluator") as (logger, provider):
        emit_evaluation(provider, "relevance", 0.9, context=span_context(trace_id, span_id))
        emit_evaluation(provider, "faithfulness", 0.7, response_id=response_id)
        StructuredLogger(logger, service="feedback").log_quality(request_id, rating=4, feedback="helpful",
                                                                 reviewer_id="rev-1")

    trace_hex, span_hex = f"{trace_id:032x}", f"{span_id:016x}"
    con = moto.duckdb()
    base = f"s3://{bucket}/{PREFIX}"
    query = f"""
        SELECT s.name, s.value, s.trace_id, s.span_id, s.joined_by, t.root_name, t.span_count
        FROM read_parquet('{base}/scores/**/*.parquet', hive_partitioning = true) s
        JOIN read_parquet('{base}/traces/**/*.parquet', hive_partitioning = true) t USING (trace_id)
        ORDER BY s.name"""

    def joined():
        try:
            rows = con.execute(query).fetchall()
        except Exception:  # a table with no file yet
            return None
        return rows if len(rows) >= 3 else None

    rows = wait_until(joined, 30, interval=0.5, what="three scores joined to the traces row")
    assert gw.running(), gw.describe_exit()
    got = {name: (value, tid, sid, how, root, n) for name, value, tid, sid, how, root, n in rows}
    assert set(got) == {"relevance", "faithfulness", "user_feedback"}, got
    assert got["relevance"][1:4] == (trace_hex, span_hex, "trace_context")
    assert got["faithfulness"][1:4] == (trace_hex, span_hex, "response_id")
    assert got["user_feedback"][1:4] == (trace_hex, span_hex, "request_id")
    assert got["relevance"][0] == pytest.approx(0.9)
    assert got["user_feedback"][0] == 4
    assert all(r[4] == "POST /v1/chat" and r[5] == 2 for r in got.values())


# ---------------------------------------------------------------------------------------------
# 3. A low score that arrives before release keeps the trace
# ---------------------------------------------------------------------------------------------

def test_a_low_score_before_release_lets_evaluation_score_keep_the_trace(gateway_factory, moto):
    bucket = moto.new_bucket("score-sampling")
    policies = [
        {"name": "low-score", "type": "evaluation_score", "evaluation_score": {"max_value": 0.3}},
        {"name": "baseline", "type": "probabilistic", "probabilistic": {"sampling_percentage": 0}},
    ]
    gw = start_gateway(gateway_factory, moto, bucket, policies=policies, idle_after_root="4s")
    rated = send_llm_trace(gw, uuid.uuid4().hex[:8])
    unrated = send_llm_trace(gw, uuid.uuid4().hex[:8])
    with sdk_logging("http", gw, service="evaluator") as (_logger, provider):
        emit_evaluation(provider, "relevance", 0.1, context=span_context(rated[0], rated[1]))

    def both():
        rows = read_table(moto, bucket, PREFIX, "traces")
        return rows if len(rows) >= 2 else None

    rows = {r["trace_id"]: r for r in wait_until(both, 40, interval=0.5, what="both traces rows")}
    kept, dropped = rows[f"{rated[0]:032x}"], rows[f"{unrated[0]:032x}"]
    assert kept["sampled"] is True and kept["sampling_policy"] == "low-score", kept
    assert dropped["sampled"] is False, dropped
    names = [s["name"] for s in kept["scores"]]
    assert names == ["relevance"], kept["scores"]
    assert kept["scores"][0]["value"] == pytest.approx(0.1)
    assert kept["scores"][0]["span_id"] == f"{rated[1]:016x}"
    assert dropped["scores"] == []


# ---------------------------------------------------------------------------------------------
# 4. Late scores on the span they rate, through the Tempo API
# ---------------------------------------------------------------------------------------------

def test_a_late_score_shows_as_a_span_event_in_the_tempo_api(gateway_factory, moto):
    from tg_tempo import Grafana

    bucket = moto.new_bucket("late-score-events")
    archive = moto.archive_exporter(bucket, PREFIX, flush_age="1s", **KEEP_EVERY_SPAN)
    gw = gateway_factory({"hot_store": {}, "archive": archive},
                         processors=default_processors(idle_after_root="300ms"), query={},
                         logs={"processors": default_log_processors(), "exporters": ["hot_store", "archive"]})
    grafana = Grafana(gw.query_url)
    trace_id, span_id, _response_id, _request_id = send_llm_trace(gw, uuid.uuid4().hex[:8])
    trace_hex, span_hex = f"{trace_id:032x}", f"{span_id:016x}"

    def spans():
        msg = grafana.trace_v2(trace_hex)
        return [s for rs in msg.trace.resourceSpans for ss in rs.scope_spans for s in ss.spans]

    assert len(wait_until(lambda: len(spans()) == 2 and spans(), 20, interval=0.3,
                          what="the trace in the hot store")) == 2
    # Released and stored: the evaluation comes afterwards, as offline evaluations do.
    with sdk_logging("grpc", gw, service="evaluator") as (_logger, provider):
        emit_evaluation(provider, "relevance", 0.25, context=span_context(trace_id, span_id))

    def evaluation_events():
        out = []
        for s in spans():
            for e in s.events:
                if e.name == "gen_ai.evaluation.result":
                    attrs = {a.key: a.value for a in e.attributes}
                    out.append((s.span_id.hex(), attrs["gen_ai.evaluation.name"].string_value,
                                attrs["gen_ai.evaluation.score.value"].double_value))
        return out or None

    events = wait_until(evaluation_events, 20, interval=0.3, what="the score as a span event")
    assert events == [(span_hex, "relevance", pytest.approx(0.25))], events
