"""GenAI enrichment end to end: one LLM call, emitted by the real Python OTel SDK in three
attribute dialects (current OTel GenAI, OpenInference, OpenLLMetry's older names), comes out of
the archive with identical LLM columns; and no email or card number from the prompts is
anywhere under the gateway's data directory.

The pipeline is the default one without tail_sampling: genai_normalize → redaction → trace_assembly →
latency_breakdown, into a local archive written without compression, so that a byte search
of every file under the data directory is meaningful.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

import tg_archive

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"  # Luhn-valid test card
PROMPT = f"My email is {EMAIL} and my card is {CARD}. Summarise my last three orders."
COMPLETION = "You ordered a kettle, a lamp and a rug."
MODEL = "gpt-4o-mini"
START_NS = 1_763_790_000_000_000_000  # 2025-11-22T05:40:00Z
DURATION_NS = 2_000_000_000
TTFT_NS = 350_000_000

PIPELINE = ["genai_normalize", "redaction", "trace_assembly", "latency_breakdown"]
PROCESSORS = {
    "genai_normalize": {},
    "redaction": {},
    "trace_assembly": {"idle_after_root": "500ms", "max_wait": "5s"},
    "latency_breakdown": {},
}


def current_genai() -> tuple[dict, str]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.cache_read.input_tokens": 200,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.request.stream": True,
        "gen_ai.input.messages": json.dumps(
            [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
        ),
        "gen_ai.output.messages": json.dumps(
            [{"role": "assistant", "parts": [{"type": "text", "content": COMPLETION}], "finish_reason": "stop"}]
        ),
    }, "gen_ai.content.completion.chunk"


def openinference() -> tuple[dict, str]:
    return {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": MODEL,
        "llm.token_count.prompt": 1200,
        "llm.token_count.completion": 300,
        "llm.token_count.prompt_details.cache_read": 200,
        "llm.response.finish_reason": "stop",
        "llm.is_streaming": True,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": PROMPT,
        "llm.output_messages.0.message.role": "assistant",
        "llm.output_messages.0.message.content": COMPLETION,
    }, "First Token Stream Event"


def openllmetry_old() -> tuple[dict, str]:
    return {
        "llm.request.type": "chat",
        "gen_ai.system": "OpenAI",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": MODEL,
        "gen_ai.usage.prompt_tokens": 1200,
        "gen_ai.usage.completion_tokens": 300,
        "gen_ai.usage.cache_read_input_tokens": 200,
        "llm.is_streaming": True,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": PROMPT,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": COMPLETION,
        "gen_ai.completion.0.finish_reason": "stop",
    }, "llm.content.completion.chunk"


DIALECTS = {"genai": current_genai, "openinference": openinference, "openllmetry": openllmetry_old}

LLM_COLUMNS = [
    "category", "gen_ai_operation", "gen_ai_provider", "request_model", "response_model",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
    "cost_usd", "ttft_ms", "decode_ms", "output_tokens_per_s", "finish_reason",
]


def emit(traces_url: str) -> None:
    """One trace per dialect: a server root and the LLM call under it, at fixed times."""
    provider = TracerProvider(resource=Resource.create({"service.name": "llm-app"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=traces_url, timeout=10)))
    tracer = provider.get_tracer("tracegate.integration.genai")
    for i, (dialect, build) in enumerate(DIALECTS.items()):
        start = START_NS + i * 10_000_000_000
        attrs, first_chunk_event = build()
        root = tracer.start_span(f"POST /chat {dialect}", kind=SpanKind.SERVER, start_time=start)
        from opentelemetry import trace as trace_api

        ctx = trace_api.set_span_in_context(root)
        llm = tracer.start_span(f"chat {MODEL}", context=ctx, kind=SpanKind.CLIENT, start_time=start + 1_000_000,
                                attributes=attrs)
        llm.add_event(first_chunk_event, timestamp=start + 1_000_000 + TTFT_NS)
        llm.set_attribute("tg.dialect", dialect)
        llm.end(end_time=start + 1_000_000 + DURATION_NS)
        root.end(end_time=start + 1_000_000 + DURATION_NS + 1_000_000)
    provider.force_flush()
    provider.shutdown()


@pytest.mark.timeout(120)
def test_three_dialects_give_identical_llm_columns_and_no_pii_reaches_disk(gateway_factory, tmp_path):
    data = tmp_path / "data"
    archive = data / "archive"
    gw = gateway_factory({"archive": {"url": str(archive), "flush_age": "1s", "compression": "none"}}, start=False)
    gw.config["processors"] = PROCESSORS
    gw.config["service"]["pipelines"]["traces"]["processors"] = PIPELINE
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    gw.start()
    emit(gw.traces_url)
    code = gw.stop()
    assert code == 0, gw.describe_exit()

    files = [p.as_posix() for p in tg_archive.parquet_files(archive) if "/spans/" in p.as_posix()]
    assert files, f"no spans files under {archive}"
    con = tg_archive.connect()
    cur = con.execute(
        f"SELECT attributes['tg.dialect'] AS dialect, name, {', '.join(LLM_COLUMNS)}, "
        "CAST(attributes AS VARCHAR) AS attrs_text, CAST(events AS VARCHAR) AS events_text "
        "FROM read_parquet(?, hive_partitioning = true, union_by_name = true)",
        [files],
    )
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    llm_rows = {r["dialect"]: r for r in rows if r["name"].startswith("chat ")}
    assert set(llm_rows) == set(DIALECTS), f"LLM spans found: {sorted(str(k) for k in llm_rows)}"

    reference = {c: llm_rows["genai"][c] for c in LLM_COLUMNS}
    # The facts every dialect carries, spelled out.
    assert reference["category"] == "llm"
    assert reference["gen_ai_operation"] == "chat"
    assert reference["gen_ai_provider"] == "openai"
    assert reference["request_model"] == MODEL
    assert (reference["input_tokens"], reference["output_tokens"], reference["cache_read_tokens"]) == (1200, 300, 200)
    assert reference["cost_usd"] is not None and reference["cost_usd"] > 0, "gpt-4o-mini is in the price table"
    assert reference["ttft_ms"] == pytest.approx(TTFT_NS / 1e6)
    assert reference["decode_ms"] == pytest.approx((DURATION_NS - TTFT_NS) / 1e6)
    assert reference["finish_reason"] == "stop"
    for dialect in ("openinference", "openllmetry"):
        got = {c: llm_rows[dialect][c] for c in LLM_COLUMNS}
        assert got == reference, f"{dialect} differs from the current GenAI dialect:\n{got}\n{reference}"

    # No email or card number anywhere under the data directory: every byte of every file.
    needles = [EMAIL.encode(), CARD.encode(), CARD.replace(" ", "").encode()]
    files = [p for p in data.rglob("*") if p.is_file()]
    assert files, "the gateway wrote nothing"
    for path in files:
        blob = path.read_bytes()
        for needle in needles:
            assert needle not in blob, f"{needle!r} found in {path}"
    # And through DuckDB: the prompts are there, redacted.
    text = "\n".join(r["attrs_text"] + r["events_text"] for r in rows)
    assert "<EMAIL>" in text and EMAIL not in text
