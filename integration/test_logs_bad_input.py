"""Bad input on the logs endpoints (`POST /v1/logs`, `LogsService/Export`), as for traces:
each is refused with the right status and a message that says what was wrong, valid records
next to invalid ones are kept (OTLP partial success), and the gateway stays up.

The module shares one gateway with a `logs` pipeline (max_request_bytes 4MiB,
max_decompressed_bytes 16MiB)."""

from __future__ import annotations

import os
import re
from types import SimpleNamespace

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

import tg_otlp
from conftest import default_log_processors, wait_until
from test_bad_input import assert_error, gzip_bomb
from tg_logs import read_table
from tg_otlp import JSON, PROTOBUF, post_otlp

PREFIX = "llm"
EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@pytest.fixture(scope="module")
def env(moto, module_gateway_factory):
    bucket = moto.new_bucket("logs-bad-input")
    gw = module_gateway_factory(
        {"archive": moto.archive_exporter(bucket, PREFIX, flush_age="1s")},
        receiver={"max_request_bytes": "4MiB", "max_decompressed_bytes": "16MiB"},
        logs={"processors": default_log_processors(), "exporters": ["archive"]},
        name="logs-bad-input",
    )
    channel = grpc.insecure_channel(gw.grpc_target)
    yield SimpleNamespace(gw=gw, bucket=bucket, moto=moto, channel=channel,
                          stub=logs_service_pb2_grpc.LogsServiceStub(channel))
    channel.close()


def record(body: str, trace_id: bytes = b"", span_id: bytes = b"") -> logs_pb2.LogRecord:
    return logs_pb2.LogRecord(time_unix_nano=1_700_000_000_000_000_000, severity_number=9, severity_text="INFO",
                              body=common_pb2.AnyValue(string_value=body), trace_id=trace_id, span_id=span_id)


def request(records: list[logs_pb2.LogRecord]) -> logs_service_pb2.ExportLogsServiceRequest:
    resource = resource_pb2.Resource(attributes=[common_pb2.KeyValue(
        key="service.name", value=common_pb2.AnyValue(string_value="bad-input-app"))])
    return logs_service_pb2.ExportLogsServiceRequest(resource_logs=[logs_pb2.ResourceLogs(
        resource=resource, scope_logs=[logs_pb2.ScopeLogs(log_records=records)])])


def valid(n: int, tag: str) -> list[logs_pb2.LogRecord]:
    return [record(f"{tag}-{i}", trace_id=os.urandom(16), span_id=os.urandom(8)) for i in range(n)]


def with_bad_trace_id(records: list[logs_pb2.LogRecord], tag: str) -> list[logs_pb2.LogRecord]:
    return records[:1] + [record(f"{tag}-bad", trace_id=os.urandom(17))] + records[1:]


def parse_logs_response(resp) -> logs_service_pb2.ExportLogsServiceResponse:
    out = logs_service_pb2.ExportLogsServiceResponse()
    if resp.headers.get("Content-Type", "").split(";")[0] == JSON:
        json_format.Parse(resp.text, out)
    else:
        out.ParseFromString(resp.content)
    return out


def test_truncated_protobuf_over_http_is_400(env):
    body = request(valid(5, "cut")).SerializeToString()
    resp = post_otlp(env.gw.logs_url, body[: len(body) // 2])
    assert_error(resp, 400, r"protobuf|decod|truncat|invalid|buffer|eof", PROTOBUF)


def test_truncated_protobuf_over_grpc_is_invalid_argument(env):
    body = request(valid(5, "cut-grpc")).SerializeToString()
    export_raw = env.channel.unary_unary(EXPORT_METHOD, request_serializer=None,
                                         response_deserializer=logs_service_pb2.ExportLogsServiceResponse.FromString)
    with pytest.raises(grpc.RpcError) as err:
        export_raw(body[: len(body) // 2], timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, f"{err.value.code()}: {err.value.details()}"


@pytest.mark.parametrize("body", [
    b'{"resourceLogs": [',
    b"this is not json",
    b'{"resourceLogs": "should be a list"}',
], ids=["truncated", "not-json", "wrong-type"])
def test_invalid_json_is_400(env, body):
    resp = post_otlp(env.gw.logs_url, body, content_type=JSON)
    assert_error(resp, 400, r"json|pars|decod|invalid|expected|eof|type", JSON)


def test_17_byte_trace_id_is_partial_success_over_http(env):
    resp = post_otlp(env.gw.logs_url, request(with_bad_trace_id(valid(3, "partial"), "partial")).SerializeToString())
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:500]}"
    result = parse_logs_response(resp)
    assert result.partial_success.rejected_log_records == 1, result
    assert "log_records[1]: trace_id is 17 bytes, expected 16" in result.partial_success.error_message


def test_bad_span_id_is_partial_success_over_grpc(env):
    records = valid(2, "partial-grpc") + [record("bad-span", trace_id=os.urandom(16), span_id=os.urandom(5))]
    result = env.stub.Export(request(records), timeout=10)
    assert result.partial_success.rejected_log_records == 1, result
    assert "span_id is 5 bytes, expected 8" in result.partial_success.error_message


def test_valid_records_of_a_partial_json_request_reach_the_archive(env):
    kept = valid(2, "kept-json")
    doc = json_format.MessageToDict(request(with_bad_trace_id(kept, "kept-json")))
    # OTLP/JSON ids are hex, not the base64 protobuf's JSON mapping writes.
    for rl in doc["resourceLogs"]:
        for sl in rl["scopeLogs"]:
            for r, rec in zip(sl["logRecords"], with_bad_trace_id(kept, "kept-json")):
                r["traceId"], r["spanId"] = rec.trace_id.hex(), rec.span_id.hex()
    resp = post_otlp(env.gw.logs_url, tg_otlp.dumps_compact(doc).encode(), content_type=JSON)
    assert resp.status_code == 200, f"HTTP {resp.status_code}: {resp.text[:500]}"
    assert parse_logs_response(resp).partial_success.rejected_log_records == 1
    want = {(r.trace_id.hex(), r.body.string_value) for r in kept}

    def archived():
        rows = {(r["trace_id"], r["body"]) for r in read_table(env.moto, env.bucket, PREFIX, "logs")}
        return want <= rows and rows

    rows = wait_until(archived, 30, interval=0.5, what="the valid records in the logs table")
    assert not any(body == "kept-json-bad" for _, body in rows)


def test_body_over_max_request_bytes_is_413(env):
    resp = post_otlp(env.gw.logs_url, os.urandom(4 * 1024 * 1024 + 64 * 1024))
    assert_error(resp, 413, r"too large|limit|exceed|max_request_bytes|size")


def test_gzip_bomb_is_refused(env):
    resp = post_otlp(env.gw.logs_url, gzip_bomb(), **{"Content-Encoding": "gzip"})
    assert resp.status_code in (400, 413), f"HTTP {resp.status_code}: {resp.text[:300]}"
    assert_error(resp, resp.status_code, r"decompress|too large|limit|exceed|max_decompressed_bytes|size")


def test_gateway_is_still_up(env):
    assert env.gw.running(), env.gw.describe_exit()
    resp = post_otlp(env.gw.logs_url, request(valid(1, "after")).SerializeToString())
    assert resp.status_code == 200
    assert not re.search(r"panick", env.gw.log_tail(200))
