"""Bad input against one running gateway: each is refused with the right status and a message
that says what was wrong, valid spans next to invalid ones are kept, and the gateway stays up.

The module shares one gateway (max_request_bytes 4MiB, max_decompressed_bytes 16MiB) and runs
in file order; the last test checks that it survived everything before it."""

from __future__ import annotations

import functools
import gzip
import os
import re
from types import SimpleNamespace

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

import tg_otlp
from conftest import wait_until
from tg_otlp import JSON, PROTOBUF, SpanSpec, make_request, make_trace, new_span_id, post_otlp

PREFIX = "llm-traces"
MAX_REQUEST = 4 * 1024 * 1024
MAX_DECOMPRESSED = 16 * 1024 * 1024
INVALID_ARGUMENT = 3  # google.rpc.Code


@pytest.fixture(scope="module")
def env(moto, module_gateway_factory):
    bucket = moto.new_bucket("bad-input")
    gw = module_gateway_factory(
        {"archive": moto.archive_exporter(bucket, PREFIX, flush_age="1s")},
        receiver={"max_request_bytes": "4MiB", "max_decompressed_bytes": "16MiB"},
        name="bad-input",
    )
    channel = grpc.insecure_channel(gw.grpc_target)
    yield SimpleNamespace(gw=gw, bucket=bucket, moto=moto, channel=channel,
                          stub=trace_service_pb2_grpc.TraceServiceStub(channel))
    channel.close()


def valid_body(n: int = 3) -> bytes:
    return make_request(make_trace(n, "valid")).SerializeToString()


def with_bad_trace_id(valid: list[SpanSpec]) -> list[SpanSpec]:
    """The valid spans with one span whose trace id is 17 bytes long, second in the request."""
    bad = SpanSpec(trace_id=os.urandom(17), span_id=new_span_id(), name="bad-17-byte-trace-id")
    return valid[:1] + [bad] + valid[1:]


@functools.cache
def gzip_bomb() -> bytes:
    """64 MiB of zeros, gzip'd to about 64 KiB: far under max_request_bytes compressed, 4x
    over max_decompressed_bytes once inflated."""
    return gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)


def assert_error(resp, status: int, pattern: str, request_format: str | None = None) -> str:
    assert resp.status_code == status, f"HTTP {resp.status_code} (expected {status}): {resp.text[:500]}"
    code, message = tg_otlp.parse_status(resp)
    if request_format is not None:
        # OTLP/HTTP: error bodies are a google.rpc.Status in the request's own encoding.
        assert resp.headers.get("Content-Type", "").split(";")[0] == request_format, resp.headers
        assert code == INVALID_ARGUMENT, f"Status.code {code}, message {message!r}"
    assert message and re.search(pattern, message, re.I), f"message {message!r} should match /{pattern}/i"
    return message


# ---------------------------------------------------------------------------------------------
# Undecodable bodies
# ---------------------------------------------------------------------------------------------

def test_truncated_protobuf_over_http_is_400(env):
    body = valid_body(5)
    resp = post_otlp(env.gw.traces_url, body[: len(body) // 2])
    assert_error(resp, 400, r"protobuf|decod|truncat|invalid|buffer|eof", PROTOBUF)


def test_truncated_protobuf_over_grpc_is_invalid_argument(env):
    body = valid_body(5)
    export_raw = env.channel.unary_unary(
        tg_otlp.GRPC_EXPORT_METHOD, request_serializer=None,
        response_deserializer=tg_otlp.ExportResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as err:
        export_raw(body[: len(body) // 2], timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{err.value.code()}: {err.value.details()}"
    assert re.search(r"protobuf|decod|truncat|invalid|buffer|eof", err.value.details() or "", re.I), err.value.details()


@pytest.mark.parametrize("body", [
    b'{"resourceSpans": [',
    b"this is not json",
    b'{"resourceSpans": "should be a list"}',
], ids=["truncated", "not-json", "wrong-type"])
def test_invalid_json_is_400(env, body):
    resp = post_otlp(env.gw.traces_url, body, content_type=JSON)
    assert_error(resp, 400, r"json|pars|decod|invalid|expected|eof|type", JSON)


# ---------------------------------------------------------------------------------------------
# Invalid ids: partial success, valid spans kept
# ---------------------------------------------------------------------------------------------

def test_17_byte_trace_id_is_partial_success_over_http(env):
    resp = post_otlp(env.gw.traces_url, make_request(with_bad_trace_id(make_trace(3, "partial"))).SerializeToString())
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:500]}"
    result = tg_otlp.parse_export_response(resp)
    assert result.partial_success.rejected_spans == 1, result
    assert "trace_id is 17 bytes, expected 16" in result.partial_success.error_message


def test_17_byte_trace_id_is_partial_success_over_grpc(env):
    result = env.stub.Export(make_request(with_bad_trace_id(make_trace(3, "partial-grpc"))), timeout=10)
    assert result.partial_success.rejected_spans == 1, result
    assert "trace_id is 17 bytes, expected 16" in result.partial_success.error_message


def test_all_zero_trace_id_is_partial_success_over_json(env):
    valid = make_trace(2, "partial-json")
    zero = SpanSpec(trace_id=bytes(16), span_id=new_span_id(), name="zero-trace-id")
    doc = tg_otlp.request_to_otlp_json(make_request(valid + [zero]))
    resp = post_otlp(env.gw.traces_url, tg_otlp.dumps_compact(doc).encode(), content_type=JSON)
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("Content-Type", "").split(";")[0] == JSON, "a JSON request gets a JSON response"
    result = tg_otlp.parse_export_response(resp)
    assert result.partial_success.rejected_spans == 1, result
    assert "trace_id is all zeros" in result.partial_success.error_message


def test_valid_spans_of_a_partial_request_reach_the_archive(env):
    valid = make_trace(3, "kept")
    bad = with_bad_trace_id(valid)[1]
    resp = post_otlp(env.gw.traces_url, make_request(valid + [bad]).SerializeToString())
    assert resp.status_code == 200
    want = {s.key for s in valid}

    def archived() -> set:
        keys = {(r["trace_id"], r["span_id"]) for r in env.moto.read_spans(env.bucket, PREFIX)}
        return want <= keys and keys

    keys = wait_until(archived, 20, interval=0.5, what="the partial request's valid spans in the archive")
    assert bad.span_id.hex() not in {span for _, span in keys}


# ---------------------------------------------------------------------------------------------
# Limits and content types
# ---------------------------------------------------------------------------------------------

def test_body_over_max_request_bytes_is_413(env):
    body = os.urandom(MAX_REQUEST + 64 * 1024)
    resp = post_otlp(env.gw.traces_url, body)
    assert_error(resp, 413, r"too large|limit|exceed|max_request_bytes|size")


def test_gzip_bomb_is_refused(env):
    bomb = gzip_bomb()
    assert len(bomb) < MAX_REQUEST
    resp = post_otlp(env.gw.traces_url, bomb, **{"Content-Encoding": "gzip"})
    assert resp.status_code in (400, 413), f"HTTP {resp.status_code}: {resp.text[:300]}"
    assert_error(resp, resp.status_code, r"decompress|too large|limit|exceed|max_decompressed_bytes|size")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_unknown_content_type_is_415(env, content_type):
    resp = post_otlp(env.gw.traces_url, valid_body(), content_type=content_type)
    assert resp.status_code == 415, f"HTTP {resp.status_code}: {resp.text[:300]}"


# ---------------------------------------------------------------------------------------------
# After all of that
# ---------------------------------------------------------------------------------------------

def test_gateway_is_still_up_and_counts_refusals(env):
    assert env.gw.running(), env.gw.describe_exit()
    before = tg_otlp.parse_prometheus(env.gw.metrics_text())

    resp = post_otlp(env.gw.traces_url, valid_body(3))
    assert resp.status_code == 200, resp.text
    assert tg_otlp.parse_export_response(resp).partial_success.rejected_spans == 0
    env.stub.Export(make_request(make_trace(3, "after-grpc")), timeout=10)
    resp = post_otlp(env.gw.traces_url, make_request(with_bad_trace_id(make_trace(3, "after"))).SerializeToString())
    assert resp.status_code == 200
    assert tg_otlp.parse_export_response(resp).partial_success.rejected_spans == 1
    result = env.stub.Export(make_request(with_bad_trace_id(make_trace(3, "after-grpc-bad"))), timeout=10)
    assert result.partial_success.rejected_spans == 1
    # One request turned away whole for each of three reasons.
    body = valid_body(3)
    assert post_otlp(env.gw.traces_url, body[: len(body) // 2]).status_code == 400
    assert post_otlp(env.gw.traces_url, body, content_type="text/plain").status_code == 415
    assert post_otlp(env.gw.traces_url, gzip_bomb(), **{"Content-Encoding": "gzip"}).status_code in (400, 413)

    after = tg_otlp.parse_prometheus(env.gw.metrics_text())
    accepted = "tracegate_receiver_accepted_spans_total"
    refused = "tracegate_receiver_refused_spans_total"
    assert tg_otlp.metric_sum(after, accepted) - tg_otlp.metric_sum(before, accepted) == 12
    assert tg_otlp.metric_sum(after, refused) - tg_otlp.metric_sum(before, refused) == 2
    # Refusals are counted with a reason, per transport.
    reasons = {s.labels.get("reason") for s in tg_otlp.series(after, refused)}
    assert reasons and all(reasons), f"refused series without a reason label: {tg_otlp.series(after, refused)}"
    transports = {s.labels.get("transport") for s in tg_otlp.series(after, refused) if s.value > 0}
    assert len(transports) >= 2, f"refusals by transport: {tg_otlp.series(after, refused)}"
    assert all(s.labels.get("receiver") == "otlp" for s in tg_otlp.series(after, accepted))

    # Requests turned away whole are counted by outcome: three requests, three reasons.
    requests_total = "tracegate_receiver_requests_total"
    old = {tuple(sorted(s.labels.items())): s.value for s in tg_otlp.series(before, requests_total)}
    grew = {tuple(sorted(s.labels.items())): s.value - old.get(tuple(sorted(s.labels.items())), 0)
            for s in tg_otlp.series(after, requests_total)}
    refusals = {labels: n for labels, n in grew.items() if n > 0 and dict(labels).get("outcome") not in ("ok", "partial")}
    assert sum(refusals.values()) == 3 and len(refusals) == 3, f"{requests_total} grew by {grew}"
