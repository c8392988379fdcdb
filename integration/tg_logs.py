"""LLM logs for the end-to-end tests: the seed's structured logger, the real OTel Python SDK's
logging bridge to send what it writes, and DuckDB readers of the archive's `logs` and `scores`
tables.

The seed's ``StructuredLogger`` writes one JSON document per event through Python's
``logging``: a request log (prompt, system prompt, model config), a response log (completion,
tokens, stop reason, latency and time to first token under ``metrics``) and a quality log
(rating, feedback, annotations, reviewer). Pointing it at tracegate takes the SDK's
``LoggingHandler`` with an OTLP log exporter, which is all ``sdk_logging`` sets up."""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from typing import Any, Iterator

LOGS_QUERY = "SELECT * FROM read_parquet(?, hive_partitioning = true, union_by_name = true)"


class StructuredLogger:
    """The seed's structured LLM logger: one JSON record per event, written with ``logging``."""

    def __init__(self, logger: logging.Logger, service: str = "rag-api") -> None:
        self.logger = logger
        self.service = service

    def _emit(self, level: int, record: dict[str, Any]) -> None:
        record.setdefault("timestamp", time.time())
        record.setdefault("service", self.service)
        record["level"] = logging.getLevelName(level)
        self.logger.log(level, json.dumps(record))

    def log_request(self, request_id: str, user_id: str, model: str, prompt: str, system_prompt: str,
                    temperature: float, max_tokens: int, metadata: dict | None = None) -> None:
        self._emit(logging.INFO, {
            "event": "llm_request", "request_id": request_id, "user_id": user_id, "model": model,
            "prompt": prompt, "system_prompt": system_prompt,
            "config": {"temperature": temperature, "max_tokens": max_tokens},
            "metadata": metadata or {},
        })

    def log_response(self, request_id: str, model: str, response: str, input_tokens: int, output_tokens: int,
                     latency_ms: float, ttft_ms: float, stop_reason: str = "stop") -> None:
        self._emit(logging.INFO, {
            "event": "llm_response", "request_id": request_id, "model": model, "response": response,
            "stop_reason": stop_reason,
            "metrics": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                        "latency_ms": latency_ms, "first_token_latency_ms": ttft_ms},
        })

    def log_quality(self, request_id: str, rating: float, feedback: str, annotations: dict | None = None,
                    reviewer_id: str | None = None) -> None:
        self._emit(logging.INFO, {
            "event": "quality", "request_id": request_id, "rating": rating, "feedback": feedback,
            "annotations": annotations or {}, "reviewer_id": reviewer_id,
        })


def log_exporter(kind: str, gateway):
    """The SDK's OTLP log exporter for ``kind`` (``grpc`` or ``http``) pointed at ``gateway``."""
    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=f"http://{gateway.grpc_target}", insecure=True, timeout=10)
    if kind == "http":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter(endpoint=gateway.logs_url, timeout=10)
    raise ValueError(kind)


@contextmanager
def sdk_logging(kind: str, gateway, service: str = "rag-api", name: str = "llm") -> Iterator[tuple[logging.Logger, Any]]:
    """A Python logger whose records go through the SDK's ``LoggingHandler`` to ``gateway``,
    and the SDK ``LoggerProvider`` (for the Logs API's ``emit``). Flushed and shut down on exit."""
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter(kind, gateway)))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    logger = logging.getLogger(f"{name}.{kind}.{id(provider)}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield logger, provider
    finally:
        provider.force_flush()
        logger.removeHandler(handler)
        provider.shutdown()


def read_table(moto, bucket: str, prefix: str, table: str) -> list[dict]:
    """Every row of the archive's ``table`` (``logs``, ``scores``, ``traces``) as DuckDB reads it
    from S3 in place; ``[]`` while the table has no file yet."""
    con = moto.duckdb()
    pattern = f"s3://{bucket}/{prefix}/{table}/**/*.parquet"
    if not con.execute("SELECT count(*) FROM glob(?)", [pattern]).fetchall()[0][0]:
        return []
    cur = con.execute(LOGS_QUERY, [pattern])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a row value (maps, lists and structs included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings_in(v)
