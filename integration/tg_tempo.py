"""Grafana's side of the Tempo API, for the compatibility suite: strict decoders and requests
made the way Grafana's Tempo datasource makes them (shared/TEMPO_API.md).

- ``SEARCH_SCHEMA``: the JSON schema of ``tempopb.SearchResponse`` as of Tempo commit
  87c2dc380c (the version Grafana vendors), with **unknown fields denied** everywhere, as
  Grafana's ``jsonpb.Unmarshal`` does (§5). 64-bit integers may be strings or numbers
  (jsonpb takes both), 32-bit ones are numbers.
- ``TraceByIDResponse`` and ``Trace``: protobuf classes built at run time from Tempo's
  message definitions (tempo.proto), over the OTLP types of ``opentelemetry-proto``; Tempo's
  ``Trace`` has the wire format of OTLP ``TracesData``.
- ``check_trace_invariants``: what Grafana's trace view dereferences without a nil check (§3.4).
"""

from __future__ import annotations

import time
from typing import Any

import jsonschema
import requests
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from opentelemetry.proto.trace.v1 import trace_pb2

# ---------------------------------------------------------------------------------------------
# Search JSON, strictly
# ---------------------------------------------------------------------------------------------

_U64 = {"anyOf": [{"type": "string", "pattern": "^[0-9]+$"}, {"type": "integer", "minimum": 0}]}
_I64 = {"anyOf": [{"type": "string", "pattern": "^-?[0-9]+$"}, {"type": "integer"}]}
_U32 = {"type": "integer", "minimum": 0, "maximum": 4294967295}


def _obj(props: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": props, "additionalProperties": False, "required": required or []}


SEARCH_SCHEMA: dict = {
    "$defs": {
        "AnyValue": _obj({
            "stringValue": {"type": "string"},
            "boolValue": {"type": "boolean"},
            "intValue": _I64,
            "doubleValue": {"type": "number"},
            "arrayValue": _obj({"values": {"type": "array", "items": {"$ref": "#/$defs/AnyValue"}}}),
            "kvlistValue": _obj({"values": {"type": "array", "items": {"$ref": "#/$defs/KeyValue"}}}),
            "bytesValue": {"type": "string"},
        }),
        "KeyValue": _obj({"key": {"type": "string"}, "value": {"$ref": "#/$defs/AnyValue"}}, ["key"]),
        "Span": _obj({
            "spanID": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "name": {"type": "string"},
            "startTimeUnixNano": _U64,
            "durationNanos": _U64,
            "attributes": {"type": "array", "items": {"$ref": "#/$defs/KeyValue"}},
        }, ["spanID", "startTimeUnixNano"]),
        "SpanSet": _obj({
            "spans": {"type": "array", "items": {"$ref": "#/$defs/Span"}},
            "matched": _U32,
            "attributes": {"type": "array", "items": {"$ref": "#/$defs/KeyValue"}},
        }),
        "ServiceStats": _obj({"spanCount": _U32, "errorCount": _U32}),
        "TraceSearchMetadata": _obj({
            "traceID": {"type": "string", "pattern": "^[0-9a-f]+$"},
            "rootServiceName": {"type": "string"},
            "rootTraceName": {"type": "string"},
            "startTimeUnixNano": _U64,
            "durationMs": _U32,
            "spanSet": {"$ref": "#/$defs/SpanSet"},
            "spanSets": {"type": "array", "items": {"$ref": "#/$defs/SpanSet"}},
            "serviceStats": {"type": "object", "additionalProperties": {"$ref": "#/$defs/ServiceStats"}},
        }, ["traceID"]),
        "SearchMetrics": _obj({
            "inspectedTraces": _U32,
            "inspectedBytes": _U64,
            "totalBlocks": _U32,
            "completedJobs": _U32,
            "totalJobs": _U32,
            "totalBlockBytes": _U64,
            "inspectedSpans": _U64,
        }),
    },
    **_obj({
        "traces": {"type": "array", "items": {"$ref": "#/$defs/TraceSearchMetadata"}},
        "metrics": {"$ref": "#/$defs/SearchMetrics"},
    }),
}

_VALIDATOR = jsonschema.Draft202012Validator(SEARCH_SCHEMA)


def strict_search(body: Any) -> dict:
    """Validates a search answer against the May-2025 schema, unknown fields denied."""
    errors = sorted(_VALIDATOR.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "search JSON outside Grafana's schema:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors[:10])
    return body


# ---------------------------------------------------------------------------------------------
# Trace by id, as protobuf
# ---------------------------------------------------------------------------------------------

def _tempo_messages():
    fdp = descriptor_pb2.FileDescriptorProto(
        name="tracegate_test/tempopb_min.proto", package="tempopb", syntax="proto3",
        dependency=[trace_pb2.DESCRIPTOR.name])
    F = descriptor_pb2.FieldDescriptorProto
    trace = fdp.message_type.add(name="Trace")
    trace.field.add(name="resourceSpans", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                    type_name=".opentelemetry.proto.trace.v1.ResourceSpans")
    metrics = fdp.message_type.add(name="TraceByIDMetrics")
    metrics.field.add(name="inspectedBytes", number=1, type=F.TYPE_UINT64, label=F.LABEL_OPTIONAL)
    status = fdp.enum_type.add(name="PartialStatus")
    status.value.add(name="COMPLETE", number=0)
    status.value.add(name="PARTIAL", number=1)
    resp = fdp.message_type.add(name="TraceByIDResponse")
    resp.field.add(name="trace", number=1, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=".tempopb.Trace")
    resp.field.add(name="metrics", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                   type_name=".tempopb.TraceByIDMetrics")
    resp.field.add(name="status", number=3, type=F.TYPE_ENUM, label=F.LABEL_OPTIONAL, type_name=".tempopb.PartialStatus")
    resp.field.add(name="message", number=4, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.Default()
    try:
        pool.Add(fdp)
    except TypeError:
        pass  # already added by an earlier import in this process
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("tempopb.Trace")), get(pool.FindMessageTypeByName("tempopb.TraceByIDResponse"))


Trace, TraceByIDResponse = _tempo_messages()
PARTIAL = 1


def check_trace_invariants(resource_spans) -> int:
    """§3.4: every resource has attributes (service.name among them), every scope and status is
    present. Returns the number of spans."""
    n = 0
    for rs in resource_spans:
        assert rs.HasField("resource"), "a ResourceSpans without a resource: Grafana dereferences nil"
        keys = [kv.key for kv in rs.resource.attributes]
        assert keys, "a resource without attributes: Grafana drops all its spans"
        assert "service.name" in keys, keys
        for ss in rs.scope_spans:
            assert ss.HasField("scope"), "a ScopeSpans without a scope: Grafana dereferences nil"
            for span in ss.spans:
                assert span.HasField("status"), f"span {span.name} has no status message"
                assert len(span.trace_id) == 16 and len(span.span_id) == 8
                n += 1
    return n


# ---------------------------------------------------------------------------------------------
# Grafana's requests
# ---------------------------------------------------------------------------------------------

class Grafana:
    """Makes the requests Grafana's Tempo datasource makes (TEMPO_API.md §1, §2, §3.1)."""

    def __init__(self, url: str, tenant: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.headers = {"X-Scope-OrgID": tenant} if tenant else {}

    def get(self, path: str, accept: str = "application/json", **params: Any) -> requests.Response:
        return requests.get(f"{self.url}{path}", params=params, timeout=10,
                            headers={"Accept": accept, **self.headers})

    def search(self, q: str, since_s: int = 3600, **params: Any) -> dict:
        """A TraceQL search over the panel's time range, as Grafana's backend sends it (q,
        start, end in unix seconds; limit and spss only when set)."""
        end = int(time.time()) + 1
        resp = self.get("/api/search", q=q, start=end - since_s, end=end, **params)
        assert resp.status_code == 200, f"search {q!r}: {resp.status_code} {resp.text[:300]}"
        assert resp.headers["content-type"].startswith("application/json")
        return strict_search(resp.json())

    def trace_ids(self, q: str, **params: Any) -> set[str]:
        return {t["traceID"] for t in self.search(q, **params).get("traces", [])}

    def trace_v2(self, trace_id: str):
        """GET /api/v2/traces/{id} with Accept: application/protobuf, decoded as Grafana does."""
        resp = self.get(f"/api/v2/traces/{trace_id}", accept="application/protobuf")
        assert resp.status_code == 200, f"v2 trace {trace_id}: {resp.status_code} {resp.text[:300]}"
        msg = TraceByIDResponse()
        msg.ParseFromString(resp.content)
        assert msg.HasField("trace"), "TraceByIDResponse.trace must be present (Grafana reads it without a nil check)"
        return msg

    def trace_v1(self, trace_id: str) -> requests.Response:
        return self.get(f"/api/traces/{trace_id}", accept="application/protobuf")


def trimmed(trace_id_hex: str) -> str:
    """A trace id as Tempo's search shows it: lowercase hex, leading zeros trimmed."""
    return trace_id_hex.lower().lstrip("0") or "0"
