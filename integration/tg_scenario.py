"""A RAG request traced by the real Python OTel SDK across three services.

Each service has its own TracerProvider and Resource, so one trace spans three resources.
Context crosses services the way it does on the wire: the caller injects W3C `traceparent`
into a carrier, the callee extracts it. Every provider exports through the transport under
test and also records into an in-memory exporter: those ReadableSpans are the truth the
archive is compared with.

One trace (7 spans):

    rag-gateway    POST /v1/chat (server)           attrs of every type, an event
    rag-gateway      retriever.call (client)
    rag-retriever      search (server)
    rag-retriever        embed query (internal)
    rag-retriever        vector.search (client)     an event with attributes
    rag-gateway      llm.call (client)
    rag-llm            chat gpt-4o (server)         a link to vector.search; ERROR on every 3rd trace
"""

from __future__ import annotations

import json
from typing import Callable, Sequence

import requests
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tg_otlp import request_to_otlp_json

SERVICES = ("rag-gateway", "rag-retriever", "rag-llm")
SPANS_PER_TRACE = 7
SCOPE_NAME = "tracegate.integration"
SCOPE_VERSION = "0.1.0"

_propagator = TraceContextTextMapPropagator()


def _handoff():
    """The callee's context, as it would arrive in HTTP headers from the current span."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    assert "traceparent" in carrier
    return _propagator.extract(carrier)


class RagScenario:
    def __init__(self, make_exporter: Callable[[str], SpanExporter], run_id: str) -> None:
        self.run_id = run_id
        self.memory: dict[str, InMemorySpanExporter] = {}
        self.providers: dict[str, TracerProvider] = {}
        self.tracers = {}
        for service in SERVICES:
            resource = Resource.create({
                "service.name": service,
                "service.version": "1.4.2",
                "service.instance.id": f"{service}-{run_id}",
                "deployment.environment.name": "integration",
                "tg.run_id": run_id,
            })
            provider = TracerProvider(resource=resource)
            memory = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(memory))
            provider.add_span_processor(BatchSpanProcessor(
                make_exporter(service), schedule_delay_millis=200, max_export_batch_size=64,
            ))
            self.memory[service] = memory
            self.providers[service] = provider
            self.tracers[service] = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)

    def run(self, n_traces: int = 3) -> None:
        for i in range(n_traces):
            self._trace(i)

    def _trace(self, i: int) -> None:
        gw, rt, llm = (self.tracers[s] for s in SERVICES)
        root_attrs = {
            "http.request.method": "POST",
            "http.route": "/v1/chat",
            "http.response.status_code": 200,
            "tg.cache_hit": False,
            "tg.sample_rate": 0.25,
            "tg.tags": ["a", "b"],
            "tg.run_id": self.run_id,
            "tg.trace_index": i,
        }
        with gw.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER, attributes=root_attrs) as root:
            root.add_event("request.received", {"tg.body_bytes": 512, "tg.user_tier": "pro"})
            with gw.start_as_current_span("retriever.call", kind=SpanKind.CLIENT,
                                          attributes={"server.address": "retriever", "server.port": 8080}):
                ctx = _handoff()
                with rt.start_as_current_span("search", context=ctx, kind=SpanKind.SERVER,
                                              attributes={"tg.query_chars": 42}):
                    with rt.start_as_current_span("embed query", kind=SpanKind.INTERNAL, attributes={
                        "gen_ai.operation.name": "embeddings",
                        "gen_ai.request.model": "text-embedding-3-small",
                        "gen_ai.usage.input_tokens": 12,
                    }):
                        pass
                    with rt.start_as_current_span("vector.search", kind=SpanKind.CLIENT, attributes={
                        "db.system.name": "qdrant", "tg.top_k": 5, "tg.min_score": 0.5,
                    }) as vs:
                        vs.add_event("results", {"tg.hits": 5, "tg.best_score": 0.75, "tg.ids": [3, 1, 4]})
                        search_ctx = vs.get_span_context()
            with gw.start_as_current_span("llm.call", kind=SpanKind.CLIENT):
                ctx = _handoff()
                error = i % 3 == 2
                with llm.start_as_current_span(
                    "chat gpt-4o", context=ctx, kind=SpanKind.SERVER,
                    links=[Link(search_ctx, {"tg.link.reason": "grounding", "tg.link.rank": 1})],
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 1200,
                        "gen_ai.usage.output_tokens": 250,
                        "gen_ai.request.temperature": 0.7,
                        "gen_ai.response.finish_reasons": ["stop"],
                        "tg.streaming": True,
                    },
                    record_exception=False, set_status_on_exception=False,
                ) as ls:
                    ls.add_event("gen_ai.first_token", {"tg.ttft_ms": 180})
                    if error:
                        ls.record_exception(RuntimeError("upstream said 429"))
                        ls.set_status(Status(StatusCode.ERROR, "rate limited by upstream"))
                    else:
                        ls.set_status(Status(StatusCode.OK))

    def finish(self) -> None:
        """Flushes and shuts down every provider. The return values are ignored on purpose:
        the SDK reports success even when the server answered 400, so tests check the server."""
        for provider in self.providers.values():
            provider.force_flush(timeout_millis=20_000)
        for provider in self.providers.values():
            provider.shutdown()

    def spans(self) -> list[ReadableSpan]:
        return [s for m in self.memory.values() for s in m.get_finished_spans()]

    def trace_ids(self) -> set[int]:
        return {s.get_span_context().trace_id for s in self.spans()}


class RecordingSession(requests.Session):
    """A requests Session for the SDK's HTTP exporter that records what went over the wire:
    (Content-Encoding, Content-Type, HTTP status, body) of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str | None, str | None, int, bytes]] = []

    def send(self, request, **kwargs):  # type: ignore[override]
        resp = super().send(request, **kwargs)
        self.records.append((request.headers.get("Content-Encoding"), request.headers.get("Content-Type"),
                             resp.status_code, resp.content))
        return resp


class OtlpJsonSpanExporter(SpanExporter):
    """OTLP/HTTP with JSON bodies, which the Python SDK does not ship: encode with the SDK's own
    encoder, convert to proto3 JSON, rewrite ids to hex as the OTLP/JSON spec requires."""

    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.session = requests.Session()
        self.responses: list[tuple[int, str]] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        body = json.dumps(request_to_otlp_json(encode_spans(spans)))
        try:
            resp = self.session.post(self.endpoint, data=body.encode(), timeout=self.timeout,
                                     headers={"Content-Type": "application/json"})
        except requests.RequestException as exc:
            self.responses.append((0, repr(exc)))
            return SpanExportResult.FAILURE
        self.responses.append((resp.status_code, resp.text))
        return SpanExportResult.SUCCESS if resp.status_code == 200 else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.session.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
