"""Tail sampling end to end: the default policy set, decided on whole traces sent by the real
Python OTel SDK, as the archive records it.

The SDK sends a mix of traces (a server root, a retrieval child and an LLM call each), with
explicit start and end times:

    errors   20   the root's status is ERROR                          → kept by `errors`
    length   20   the LLM call's finish reason is `length`            → kept by `llm-finish-reason`
    slow     20   the root lasts 12 s                                 → kept by `slow`
    normal  400   200 ms, status unset, finish reason `stop`          → 10 % kept by `baseline`

The pipeline is the default one with `tail_sampling` last (`genai_normalize → redaction →
trace_assembly → latency_breakdown → tail_sampling`, the policies as in config/default.yaml),
into an archive on local disk with `flush_age: 1s` and the default `sampled_only_spans: true`.
DuckDB then reads the archive:

- the traces table has one row for every trace sent, each with its decision (`sampled`,
  `sampling_policy`, `sampling_probability`);
- the spans table has every span of every error, length and slow trace, the spans of the kept
  normal traces and none of the others; about 10 % of the normal traces are kept (±3σ of the
  binomial: 400 × 0.1 ± 3 × 6);
- the weights scale back: sum(1 / sampling_probability) over the kept normal traces is the
  number of normal traces, within the same 3σ;
- the spans left out are counted in `tracegate_exporter_unsampled_spans_total`.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

import tg_archive
import tg_otlp
from conftest import wait_until

N_NORMAL = 400
N_EACH = 20  # errors, length, slow
RATE = 0.10
MS = 1_000_000

PIPELINE = ["genai_normalize", "redaction", "trace_assembly", "latency_breakdown", "tail_sampling"]
# The default policy set, as in config/default.yaml.
POLICIES = [
    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
    {"name": "llm-finish-reason", "type": "llm_finish_reason",
     "llm_finish_reason": {"values": ["length", "content_filter"]}},
    {"name": "slow", "type": "latency", "latency": {"threshold_ms": 10000}},
    {"name": "baseline", "type": "probabilistic", "probabilistic": {"sampling_percentage": 10}},
]
PROCESSORS = {
    "genai_normalize": {},
    "redaction": {},
    "trace_assembly": {"idle_after_root": "500ms", "max_wait": "5s"},
    "latency_breakdown": {},
    "tail_sampling": {"policies": POLICIES},
}
# Which policy keeps each kind of trace (normal: `baseline`, when it does).
KEPT_BY = {"errors": "errors", "length": "llm-finish-reason", "slow": "slow"}


def send_mix(endpoint: str) -> dict[str, dict[str, int]]:
    """Sends the mix; returns, per kind, each trace id (hex) with its span count."""
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-app"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=10),
        max_queue_size=8192, max_export_batch_size=256, schedule_delay_millis=100,
    ))
    tracer = provider.get_tracer("tracegate.integration.sampling", "0.1.0")
    # Every trace ended a little while ago: 20 s back leaves room for the 12 s ones.
    base = time.time_ns() - 20_000 * MS
    kinds = ["errors"] * N_EACH + ["length"] * N_EACH + ["slow"] * N_EACH + ["normal"] * N_NORMAL
    sent: dict[str, dict[str, int]] = {k: {} for k in ("errors", "length", "slow", "normal")}
    for i, kind in enumerate(kinds):
        start = base + i * MS
        duration = 12_000 * MS if kind == "slow" else 200 * MS
        root = tracer.start_span("POST /v1/chat", kind=SpanKind.SERVER, start_time=start)
        ctx = trace.set_span_in_context(root)
        retrieve = tracer.start_span("vector.search", context=ctx, kind=SpanKind.CLIENT, start_time=start + 5 * MS)
        retrieve.end(end_time=start + 40 * MS)
        llm = tracer.start_span("chat gpt-4o-mini", context=ctx, kind=SpanKind.CLIENT, start_time=start + 50 * MS)
        llm.set_attribute("gen_ai.operation.name", "chat")
        llm.set_attribute("gen_ai.provider.name", "openai")
        llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        llm.set_attribute("gen_ai.usage.input_tokens", 800)
        llm.set_attribute("gen_ai.usage.output_tokens", 120)
        llm.set_attribute("gen_ai.response.finish_reasons", ["length" if kind == "length" else "stop"])
        llm.end(end_time=start + 190 * MS)
        if kind == "errors":
            root.set_status(Status(StatusCode.ERROR, "upstream failed"))
        root.end(end_time=start + duration)
        sent[kind][format(root.get_span_context().trace_id, "032x")] = 3
    assert provider.force_flush(30_000), "the SDK could not flush its spans"
    provider.shutdown()
    return sent


def span_trace_ids(archive: Path) -> dict[str, int]:
    """Spans per trace id in the spans table."""
    files = [p.as_posix() for p in tg_archive.parquet_files(archive) if "/spans/" in p.as_posix()]
    if not files:
        return {}
    con = tg_archive.connect()
    rows = con.execute(
        "SELECT trace_id, count(*) FROM read_parquet(?, hive_partitioning = true, union_by_name = true) "
        "GROUP BY trace_id", [files],
    ).fetchall()
    return {trace_id: n for trace_id, n in rows}


@pytest.mark.timeout(180)
def test_default_policies_keep_the_rules_and_ten_percent_and_the_traces_table_keeps_every_trace(
        gateway_factory, tmp_path):
    archive = tmp_path / "archive"
    gw = gateway_factory({"archive": {"url": str(archive), "flush_age": "1s"}}, start=False)
    gw.config["processors"] = PROCESSORS
    gw.config["service"]["pipelines"]["traces"]["processors"] = PIPELINE
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    gw.start()

    sent = send_mix(gw.grpc_target)
    total = sum(len(ids) for ids in sent.values())
    assert total == N_NORMAL + 3 * N_EACH

    # Every trace is assembled, decided and archived: one traces row each.
    def all_rows():
        rows = tg_archive.read_traces(archive)
        return rows if len({r["trace_id"] for r in rows}) >= total else None

    wait_until(all_rows, 60, interval=0.5, what=f"{total} traces rows")
    unsampled_metric = tg_otlp.metric_sum(
        tg_otlp.parse_prometheus(gw.metrics_text()), "tracegate_exporter_unsampled_spans_total", exporter="archive")
    assert gw.stop() == 0, gw.describe_exit()

    rows = tg_archive.read_traces(archive)
    by_id = {r["trace_id"]: r for r in rows}
    assert len(rows) == len(by_id) == total, "one row per trace, sampled or not"
    for kind, ids in sent.items():
        for trace_id in ids:
            assert trace_id in by_id, (kind, trace_id)
    for row in rows:
        assert row["sampled"] is not None and row["sampling_policy"] is not None, row
        assert row["sampling_probability"] is not None, row
        assert row["fragment"] is None and row["span_count"] == 3, row

    spans = span_trace_ids(archive)
    # The rules keep every such trace, whole, with weight 1.
    for kind, policy in KEPT_BY.items():
        for trace_id in sent[kind]:
            row = by_id[trace_id]
            assert (row["sampled"], row["sampling_policy"], row["sampling_probability"]) == (True, policy, 1.0), \
                (kind, row)
            assert spans.get(trace_id) == 3, (kind, trace_id)

    # About 10 % of the normal traces: the probabilistic policy, by trace id hash.
    kept = [t for t in sent["normal"] if by_id[t]["sampled"]]
    dropped = [t for t in sent["normal"] if not by_id[t]["sampled"]]
    sigma = math.sqrt(N_NORMAL * RATE * (1 - RATE))
    assert abs(len(kept) - N_NORMAL * RATE) <= 3 * sigma, f"{len(kept)} of {N_NORMAL} normal traces kept"
    for trace_id in kept:
        row = by_id[trace_id]
        assert (row["sampling_policy"], row["sampling_probability"]) == ("baseline", pytest.approx(RATE)), row
        assert spans.get(trace_id) == 3, trace_id
    for trace_id in dropped:
        assert trace_id not in spans, f"unsampled trace {trace_id} has spans in the spans table"
    assert set(spans) == set(sent["errors"]) | set(sent["length"]) | set(sent["slow"]) | set(kept)

    # Weighted by 1/p, the kept normal traces count the normal traces sent.
    weighted = sum(1 / by_id[t]["sampling_probability"] for t in kept)
    assert abs(weighted - N_NORMAL) <= 3 * sigma / RATE, f"weighted count {weighted}, sent {N_NORMAL}"

    # The spans left out are counted.
    assert unsampled_metric == 3 * len(dropped)


@pytest.mark.timeout(120)
def test_a_late_span_follows_its_traces_decision(gateway_factory, tmp_path):
    """Spans that arrive after their trace was released and decided (late fragments) get the
    cached decision: they land in the spans table exactly when their trace was kept."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    archive = tmp_path / "archive"
    gw = gateway_factory({"archive": {"url": str(archive), "flush_age": "1s"}}, start=False)
    gw.config["processors"] = PROCESSORS
    gw.config["service"]["pipelines"]["traces"]["processors"] = PIPELINE
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    gw.start()

    provider = TracerProvider(resource=Resource.create({"service.name": "rag-app"}))
    provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=gw.grpc_target, insecure=True, timeout=10), schedule_delay_millis=100))
    tracer = provider.get_tracer("tracegate.integration.sampling.late", "0.1.0")
    base = time.time_ns() - 5_000 * MS
    roots = {}
    # 60 traces: 10 errors (always kept) and 50 normal ones (about 10 % kept).
    for i in range(60):
        start = base + i * MS
        root = tracer.start_span("POST /v1/chat", kind=SpanKind.SERVER, start_time=start)
        if i < 10:
            root.set_status(Status(StatusCode.ERROR, "upstream failed"))
        root.end(end_time=start + 100 * MS)
        ctx = root.get_span_context()
        roots[format(ctx.trace_id, "032x")] = ctx
    assert provider.force_flush(30_000)

    def decided():
        rows = tg_archive.read_traces(archive)
        return rows if len({r["trace_id"] for r in rows}) >= len(roots) else None

    first = {r["trace_id"]: r for r in wait_until(decided, 30, interval=0.3, what="60 traces decided")}
    # Now a late child of every root, long after its trace was released.
    for ctx in roots.values():
        parent = trace.set_span_in_context(NonRecordingSpan(SpanContext(
            ctx.trace_id, ctx.span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))))
        late = tracer.start_span("late tool call", context=parent, kind=SpanKind.INTERNAL,
                                 start_time=base + 200 * MS)
        late.end(end_time=base + 250 * MS)
    assert provider.force_flush(30_000)
    provider.shutdown()

    def fragments():
        rows = [r for r in tg_archive.read_traces(archive) if r["fragment"] == "late"]
        return rows if len(rows) >= len(roots) else None

    late_rows = {r["trace_id"]: r for r in wait_until(fragments, 30, interval=0.3, what="60 late fragments")}
    hits = tg_otlp.metric_sum(tg_otlp.parse_prometheus(gw.metrics_text()), "tracegate_sampling_cache_hits_total")
    assert gw.stop() == 0, gw.describe_exit()

    spans = span_trace_ids(archive)
    kept = {t for t, r in first.items() if r["sampled"]}
    assert set(first) == set(roots)
    assert {t for t in roots if first[t]["sampling_policy"] == "errors"} >= set(list(roots)[:10])
    assert 0 < len(kept) < len(roots), f"{len(kept)} kept: the check needs both outcomes"
    for trace_id in roots:
        row = late_rows[trace_id]
        assert (row["sampled"], row["sampling_policy"]) == (first[trace_id]["sampled"], first[trace_id]["sampling_policy"]), \
            (trace_id, first[trace_id], row)
        # Root and late child together, or neither.
        assert spans.get(trace_id, 0) == (2 if trace_id in kept else 0), (trace_id, spans.get(trace_id))
    # Each late fragment was answered from the decision cache.
    assert hits >= len(roots), f"{hits} cache hits for {len(roots)} late fragments"
