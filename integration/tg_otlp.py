"""OTLP by hand: requests built from protobuf types, OTLP/JSON, response and metrics parsing."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable

import requests
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

ExportRequest = trace_service_pb2.ExportTraceServiceRequest
ExportResponse = trace_service_pb2.ExportTraceServiceResponse
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
GRPC_EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


# ---------------------------------------------------------------------------------------------
# Ids and values
# ---------------------------------------------------------------------------------------------

def new_trace_id() -> bytes:
    while True:
        b = os.urandom(16)
        if any(b):
            return b


def new_span_id() -> bytes:
    while True:
        b = os.urandom(8)
        if any(b):
            return b


def any_value(value: Any) -> common_pb2.AnyValue:
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, str):
        return common_pb2.AnyValue(string_value=value)
    if isinstance(value, bytes):
        return common_pb2.AnyValue(bytes_value=value)
    if isinstance(value, (list, tuple)):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return common_pb2.AnyValue(kvlist_value=common_pb2.KeyValueList(values=key_values(value)))
    raise TypeError(f"no OTLP AnyValue for {type(value)}")


def key_values(attrs: dict) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def from_any_value(v: common_pb2.AnyValue) -> Any:
    """An AnyValue as a plain Python value (arrays as lists)."""
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [from_any_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: from_any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, which)


def attrs_dict(kvs: Iterable[common_pb2.KeyValue]) -> dict:
    return {kv.key: from_any_value(kv.value) for kv in kvs}


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpanSpec:
    """A span to put in a hand-built request. Ids are raw bytes, so they can be wrong on purpose."""

    trace_id: bytes
    span_id: bytes
    name: str
    parent_span_id: bytes = b""
    start_ns: int = 0
    duration_ns: int = 1_000_000
    attributes: dict | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.trace_id.hex(), self.span_id.hex()


def make_trace(n_spans: int, name_prefix: str = "op", start_ns: int | None = None, attributes: dict | None = None) -> list[SpanSpec]:
    """One trace: a root and ``n_spans - 1`` children of it, with fresh random ids."""
    trace_id = new_trace_id()
    start = start_ns if start_ns is not None else time.time_ns()
    root = SpanSpec(trace_id, new_span_id(), f"{name_prefix}-root", start_ns=start, duration_ns=5_000_000,
                    attributes=attributes)
    spans = [root]
    for i in range(1, n_spans):
        spans.append(SpanSpec(trace_id, new_span_id(), f"{name_prefix}-{i}", parent_span_id=root.span_id,
                              start_ns=start + i * 1000, duration_ns=1_000_000, attributes=attributes))
    return spans


def make_request(spans: Iterable[SpanSpec], service: str = "tg-test", scope: str = "tg-integration") -> ExportRequest:
    out = []
    for s in spans:
        start = s.start_ns or time.time_ns()
        out.append(trace_pb2.Span(
            trace_id=s.trace_id, span_id=s.span_id, parent_span_id=s.parent_span_id, name=s.name,
            kind=trace_pb2.Span.SPAN_KIND_INTERNAL, start_time_unix_nano=start,
            end_time_unix_nano=start + s.duration_ns, attributes=key_values(s.attributes or {}),
        ))
    return ExportRequest(resource_spans=[trace_pb2.ResourceSpans(
        resource=resource_pb2.Resource(attributes=key_values({"service.name": service})),
        scope_spans=[trace_pb2.ScopeSpans(scope=common_pb2.InstrumentationScope(name=scope, version="1.0"), spans=out)],
    )])


def _b64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def request_to_otlp_json(req: ExportRequest) -> dict:
    """proto3 JSON as OTLP/JSON wants it: enums as integers, trace and span ids as hex (proto3
    JSON would write bytes as base64)."""
    doc = json_format.MessageToDict(req, use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _b64_to_hex(span[key])
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = _b64_to_hex(link[key])
    return doc


def post_otlp(url: str, body: bytes, content_type: str = PROTOBUF, timeout: float = 30, **headers: str) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": content_type, **headers}, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------

def _content_type(resp: requests.Response) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def parse_status(resp: requests.Response) -> tuple[int | None, str]:
    """The (code, message) of an OTLP/HTTP error body: a google.rpc.Status in protobuf or JSON.
    A body in neither form is returned as the message, with code None."""
    ctype = _content_type(resp)
    if ctype == PROTOBUF:
        status = status_pb2.Status()
        status.ParseFromString(resp.content)
        return status.code, status.message
    if ctype == JSON:
        doc = resp.json()
        return doc.get("code"), doc.get("message", "")
    return None, resp.text


def parse_export_response(resp: requests.Response) -> ExportResponse:
    """An ExportTraceServiceResponse from a 200 body in protobuf or JSON (empty body: empty)."""
    out = ExportResponse()
    if not resp.content:
        return out
    if _content_type(resp) == JSON:
        json_format.Parse(resp.text, out, ignore_unknown_fields=True)
    else:
        out.ParseFromString(resp.content)
    return out


# ---------------------------------------------------------------------------------------------
# Prometheus text format
# ---------------------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict
    value: float


def parse_prometheus(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(m.group(2) or "")}
        samples.append(Sample(m.group(1), labels, float(m.group(3))))
    return samples


def metric_sum(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def series(samples: list[Sample], name: str) -> list[Sample]:
    return [s for s in samples if s.name == name]


def dumps_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
