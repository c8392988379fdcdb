"""Issue 18, item 1: no personal data or secret reaches the archive or an OTLP backend, wherever
in a span it was sent.

Every kind of data in ``crates/genai/testdata/redaction/secrets.json`` (the catalogue the Rust
tests use) is written into every place a span carries text: span names (the root's too, so
``traces.root_name`` and ``top_contributors`` are covered), the status message, event names
and attributes, link attributes and ``trace_state``, the span's ``trace_state``, the scope's
name and attributes, resource attributes, attribute keys, bytes values (UTF-8 and not), nested
arrays and kvlists, a JSON prompt and a flattened prompt that ``genai_normalize`` turns into
JSON. One trace goes in as OTLP/JSON, one as OTLP/protobuf. After the gateway has stopped,
every column of every row of the ``spans`` and ``traces`` Parquet tables and of the hot store's blocks (read with pyarrow and
rendered as text) and every OTLP request the backend received (as protobuf bytes and as JSON)
must hold none of the secrets, and must hold their placeholders, so the test cannot pass by
losing the data.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

import tg_otlp
from conftest import wait_until
from tg_archive import parquet_files

CATALOGUE = Path(__file__).resolve().parent.parent / "crates" / "genai" / "testdata" / "redaction" / "secrets.json"
SECRETS: list[dict] = json.loads(CATALOGUE.read_text())
# Every secret in one text, kept apart so none changes what its neighbour is.
ALL = " | ".join(s["value"] for s in SECRETS)
HASH_KEY = "0123456789abcdef-integration-key"
SPANS = 4  # two traces of two spans


def needles() -> list[tuple[str, bytes]]:
    """What must not appear: each secret as text, and the parts of a bracketed one inside its
    brackets (the bypass of issue 18)."""
    out = []
    for s in SECRETS:
        value = s["value"]
        out.append((value, value.encode()))
        if value.startswith("<"):
            inner = value.strip("<>").split(":")[-1]
            out.append((inner, inner.encode()))
    return out


class RecordingTraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every Export request it receives."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list = []

    def Export(self, request, context):  # noqa: N802 - gRPC's name
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        with self.lock:
            self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def span_count(self) -> int:
        with self.lock:
            return sum(len(ss.spans) for r in self.requests for rs in r.resource_spans for ss in rs.scope_spans)


@pytest.fixture
def backend():
    service = RecordingTraceService()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield service, port
    server.stop(grace=None).wait(5)


def dirty_attributes() -> list[common_pb2.KeyValue]:
    attrs = {
        "user.note": ALL,
        f"user.{ALL}.score": "7",
        "user.list": ["clean", ALL, ["deeper", ALL]],
        "user.map": {"inner": ALL, ALL: "v", "nested": {"deep": [ALL]}},
        "user.blob": ALL.encode(),
        "user.raw": b"\xff\x00" + ALL.encode() + b"\xfe\x80",
        "user.card_number": 4111111111111111,
        "app.payload": json.dumps({"role": "user", "content": ALL}),
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": ALL}]}]),
    }
    return tg_otlp.key_values(attrs)


def dirty_span(trace_id: bytes, span_id: bytes, parent: bytes, start: int) -> trace_pb2.Span:
    return trace_pb2.Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent,
        name=f"lookup user {ALL}", kind=trace_pb2.Span.SPAN_KIND_SERVER,
        trace_state=f"vendor={ALL}",
        start_time_unix_nano=start, end_time_unix_nano=start + 5_000_000,
        attributes=dirty_attributes(),
        events=[trace_pb2.Span.Event(
            time_unix_nano=start + 1000, name=f"retry for {ALL}",
            attributes=tg_otlp.key_values({"exception.message": ALL, ALL: "v"}),
        )],
        links=[trace_pb2.Span.Link(
            trace_id=tg_otlp.new_trace_id(), span_id=tg_otlp.new_span_id(), trace_state=f"k={ALL}",
            attributes=tg_otlp.key_values({"link.reason": ALL}),
        )],
        status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR, message=f"401: invalid key {ALL}"),
    )


def dirty_request() -> tg_otlp.ExportRequest:
    """One trace: a root and a child, each with every secret in every place."""
    import time

    trace_id, root = tg_otlp.new_trace_id(), tg_otlp.new_span_id()
    start = time.time_ns()
    spans = [dirty_span(trace_id, root, b"", start),
             dirty_span(trace_id, tg_otlp.new_span_id(), root, start + 1000)]
    # The child's name also gets the flattened prompt genai_normalize rebuilds into JSON.
    spans[1].attributes.extend(tg_otlp.key_values({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": ALL}))
    resource = resource_pb2.Resource(attributes=tg_otlp.key_values({
        "service.name": "redaction-e2e", "host.owner": ALL, f"owner.{ALL}": "v",
    }))
    scope = common_pb2.InstrumentationScope(
        name=f"lib for {ALL}", version="1.0", attributes=tg_otlp.key_values({"scope.owner": ALL}),
    )
    return tg_otlp.ExportRequest(resource_spans=[trace_pb2.ResourceSpans(
        resource=resource, scope_spans=[trace_pb2.ScopeSpans(scope=scope, spans=spans)],
    )])


def table_text(root: Path, table: str) -> tuple[str, int]:
    """Every value of every row of one table, each column cast to text by pyarrow (timestamps as
    integers, nested lists, structs and maps whole), and the row count."""
    files = [p for p in parquet_files(root) if f"/{table}/" in p.as_posix()]
    parts, rows = [], 0
    for f in files:
        t = pq.read_table(f)
        rows += t.num_rows
        for name, column in zip(t.column_names, t.columns):
            parts.append(name)
            if has_timestamp(column.type):
                column = column.cast(without_timestamps(column.type))
            # Maps come back as lists of (key, value) pairs: keys and values are both there.
            parts.append(json.dumps(column.to_pylist(), default=str, ensure_ascii=False))
    return "\n".join(parts), rows


def has_timestamp(t: pa.DataType) -> bool:
    return without_timestamps(t) != t


def without_timestamps(t: pa.DataType) -> pa.DataType:
    """``t`` with every timestamp (at any depth) as int64, so pyarrow renders ns exactly."""
    if pa.types.is_timestamp(t):
        return pa.int64()
    if pa.types.is_list(t):
        return pa.list_(pa.field(t.value_field.name, without_timestamps(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, without_timestamps(f.type), f.nullable) for f in t])
    return t


def find_leaks(text: str, raw: bytes | None = None) -> list[str]:
    leaks = []
    # JSON renders newlines as \n: compare against both forms.
    escaped = json.dumps(text, ensure_ascii=False)
    for needle, needle_bytes in needles():
        forms = {needle, json.dumps(needle, ensure_ascii=False)[1:-1], needle_bytes.hex()}
        if any(f in text or f in escaped for f in forms) or (raw is not None and needle_bytes in raw):
            leaks.append(needle)
    return leaks


@pytest.mark.parametrize("mode", ["mask", "hash"])
def test_issue_18_no_secret_reaches_the_archive_or_the_otlp_backend(mode, backend, gateway_factory, tmp_path):
    service, port = backend
    archive = tmp_path / "archive"
    gw = gateway_factory({
        "archive": {"url": str(archive), "flush_age": "1s"},
        "otlp/tempo": {"endpoint": f"http://127.0.0.1:{port}", "compression": "none"},
        "hot_store": {"block_max_age": "100ms"},
    }, start=False)
    redaction = {"mode": mode}
    if mode == "hash":
        redaction["hash_key"] = HASH_KEY
    gw.config["processors"] = {
        "genai_normalize": {},
        "redaction": redaction,
        "trace_assembly": {"idle_after_root": "1s", "max_wait": "5s"},
        "latency_breakdown": {},
    }
    gw.config["service"]["pipelines"]["traces"]["processors"] = [
        "genai_normalize", "redaction", "trace_assembly", "latency_breakdown",
    ]
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    gw.start()

    as_json = json.dumps(tg_otlp.request_to_otlp_json(dirty_request())).encode()
    resp = tg_otlp.post_otlp(gw.traces_url, as_json, tg_otlp.JSON)
    assert resp.status_code == 200, f"OTLP/JSON: {resp.status_code} {resp.text[:500]}"
    resp = tg_otlp.post_otlp(gw.traces_url, dirty_request().SerializeToString(), tg_otlp.PROTOBUF)
    assert resp.status_code == 200, f"OTLP/protobuf: {resp.status_code} {resp.text[:500]}"

    wait_until(lambda: service.span_count() >= SPANS, 30, interval=0.1, what=f"{SPANS} spans at the OTLP backend")
    code = gw.stop()
    assert code == 0, gw.describe_exit()

    spans_text, n_spans = table_text(archive, "spans")
    traces_text, n_traces = table_text(archive, "traces")
    # The hot store's blocks (data/hot/<tenant>/<ulid>.parquet) are in the spans schema.
    hot_text, n_hot = table_text(gw.workdir / "data" / "hot", "single-tenant")
    assert n_hot == SPANS, f"{n_hot} span rows in the hot store"
    assert n_spans == SPANS, f"{n_spans} span rows"
    assert n_traces == 2, f"{n_traces} trace rows"
    with service.lock:
        requests = list(service.requests)
    raw = b"".join(r.SerializeToString() for r in requests)
    otlp_text = "\n".join(json_format.MessageToJson(r) for r in requests)

    for where, text, raw_bytes in [("spans table", spans_text, None), ("traces table", traces_text, None),
                                   ("hot store", hot_text, None), ("OTLP export", otlp_text, raw)]:
        leaks = find_leaks(text, raw_bytes)
        assert not leaks, f"{where} ({mode}) holds {leaks}"

    # Not vacuous: the placeholders are there, in the spans table and in the export, and the
    # root's name reached the traces table redacted.
    for s in SECRETS:
        kind = s["kind"].upper()
        mark = f"<{kind}>" if mode == "mask" else f"<{kind}:"
        for where, text in [("spans table", spans_text), ("hot store", hot_text), ("OTLP export", otlp_text)]:
            assert mark in text, f"{where} ({mode}) has no {mark}"
    assert "lookup user <EMAIL" in traces_text, traces_text[:2000]


def test_no_secret_reaches_the_write_ahead_log(gateway_factory, tmp_path):
    """Redaction runs before the WAL append, so the log on disk holds no secret either. The
    archive points at a store that is never reachable, so nothing becomes durable and the log
    keeps every record while it is read."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()
    gw = gateway_factory({
        "archive": {"url": "s3://never/prefix", "flush_age": "1s", "s3": {
            "endpoint": f"http://127.0.0.1:{dead_port}", "region": "us-east-1",
            "access_key_id": "x", "secret_access_key": "y", "allow_http": True,
        }},
    }, start=False)
    gw.config["processors"] = {"genai_normalize": {}, "redaction": {"mode": "mask"}}
    gw.config["service"]["pipelines"]["traces"]["processors"] = ["genai_normalize", "redaction"]
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    gw.start()
    resp = tg_otlp.post_otlp(gw.traces_url, dirty_request().SerializeToString(), tg_otlp.PROTOBUF)
    assert resp.status_code == 200, f"{resp.status_code} {resp.text[:500]}"

    wal = gw.workdir / "data" / "wal"
    segments = sorted(wal.glob("*.wal"))
    raw = b"".join(p.read_bytes() for p in segments)
    gw.stop(signal.SIGKILL)
    # Not vacuous: the request is in the log, with its placeholders.
    assert b"redaction-e2e" in raw and b"<EMAIL>" in raw, f"the WAL ({segments}) does not hold the request"
    leaks = find_leaks(raw.decode("latin-1"), raw)
    assert not leaks, f"the write-ahead log holds {leaks}"
