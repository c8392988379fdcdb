"""The real Python OTel SDK → tracegate (gRPC, HTTP/protobuf, HTTP/protobuf+gzip, HTTP/JSON) →
the Parquet archive on S3 (moto) or local disk → DuckDB (reading S3 in place through httpfs),
compared span by span with what the SDK recorded."""

from __future__ import annotations

import uuid

import pytest

import tg_archive
from conftest import MotoServer, wait_until
from tg_scenario import SERVICES, SPANS_PER_TRACE, OtlpJsonSpanExporter, RagScenario, RecordingSession

N_TRACES = 3
PREFIX = "llm-traces"


class Transport:
    """Builds one SDK exporter per service for a transport, and remembers what it can observe."""

    def __init__(self, kind: str, gateway) -> None:
        self.kind = kind
        self.gateway = gateway
        self.sessions: list[RecordingSession] = []
        self.json_exporters: list[OtlpJsonSpanExporter] = []

    def __call__(self, service: str):
        if self.kind == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

            return GrpcExporter(endpoint=f"http://{self.gateway.grpc_target}", insecure=True, timeout=10)
        if self.kind in ("http-protobuf", "http-protobuf-gzip"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

            session = RecordingSession()
            self.sessions.append(session)
            # gzip comes from OTEL_EXPORTER_OTLP_TRACES_COMPRESSION (set by the test), as in a real app.
            return HttpExporter(endpoint=self.gateway.traces_url, timeout=10, session=session)
        if self.kind == "http-json":
            exporter = OtlpJsonSpanExporter(self.gateway.traces_url)
            self.json_exporters.append(exporter)
            return exporter
        raise ValueError(self.kind)

    def check_wire(self) -> None:
        """What the client side can see of the server: HTTP statuses (never the SDK's return value)."""
        if self.sessions:
            records = [r for s in self.sessions for r in s.records]
            assert records, "the SDK's HTTP exporter sent nothing"
            assert all(status == 200 for _, _, status, _ in records), \
                f"HTTP statuses: {[(st, body[:200]) for _, _, st, body in records if st != 200]}"
            assert all(ctype == "application/x-protobuf" for _, ctype, _, _ in records)
            want_encoding = "gzip" if self.kind == "http-protobuf-gzip" else None
            assert [enc for enc, *_ in records] == [want_encoding] * len(records), \
                f"Content-Encoding sent: {[enc for enc, *_ in records]}"
        if self.json_exporters:
            responses = [r for e in self.json_exporters for r in e.responses]
            assert responses, "the JSON exporter sent nothing"
            bad = [r for r in responses if r[0] != 200]
            assert not bad, f"OTLP/JSON responses: {bad}"


def run_scenario(transport: Transport) -> RagScenario:
    scenario = RagScenario(transport, run_id=uuid.uuid4().hex[:8])
    scenario.run(N_TRACES)
    scenario.finish()
    spans = scenario.spans()
    assert len(spans) == N_TRACES * SPANS_PER_TRACE, "the SDK recorded an unexpected number of spans"
    transport.check_wire()
    return scenario


def assert_archive_matches(rows: list[dict], scenario: RagScenario) -> None:
    expected = scenario.spans()
    problems = tg_archive.compare_rows(rows, expected)
    problems += tg_archive.check_parent_links(rows)
    assert not problems, "archive differs from what the SDK sent:\n  " + "\n  ".join(problems[:40])
    # The headline facts, spelled out.
    assert len(rows) == N_TRACES * SPANS_PER_TRACE
    assert {r["service_name"] for r in rows} == set(SERVICES)
    assert {r["trace_id"] for r in rows} == {tg_archive.hex_trace(t) for t in scenario.trace_ids()}
    roots = [r for r in rows if r["parent_span_id"] is None]
    assert [r["service_name"] for r in roots] == ["rag-gateway"] * N_TRACES
    root_attrs = tg_archive.as_map(roots[0]["attributes"])
    assert root_attrs["http.request.method"] == "POST"          # string
    assert root_attrs["http.response.status_code"] == "200"     # int, as JSON
    assert root_attrs["tg.cache_hit"] == "false"                # bool, as JSON
    assert root_attrs["tg.sample_rate"] == "0.25"               # double, as JSON
    assert root_attrs["tg.tags"] == '["a","b"]'                 # array, as JSON
    assert roots[0]["event_names"] == ["request.received"]
    errors = [r for r in rows if r["status_code"] == "error"]
    assert len(errors) == N_TRACES // 3
    assert all(r["status_message"] == "rate limited by upstream" and "exception" in r["event_names"] for r in errors)
    assert sum(r["status_code"] == "ok" for r in rows) == N_TRACES - N_TRACES // 3
    llm = [r for r in rows if r["service_name"] == "rag-llm"]
    assert all(len(r["links"]) == 1 for r in llm)


def wait_for_s3_spans(moto: MotoServer, bucket: str, want: int, timeout: float = 20.0):
    """Polls the bucket until ``want`` spans are archived (flush_age at work); returns (keys, rows)."""
    result: dict = {}

    def archived() -> bool:
        result["rows"] = moto.read_spans(bucket, PREFIX)
        # Listed after the read, so every object DuckDB read is among the keys.
        result["keys"] = moto.list_keys(bucket, f"{PREFIX}/")
        return len(result["rows"]) >= want

    wait_until(archived, timeout, interval=0.5, what=f"{want} spans in s3://{bucket}/{PREFIX}/")
    return result["keys"], result["rows"]


def check_partition_query(con, pattern: str, scenario: RagScenario) -> None:
    """The query a data-lake user would write: partitions come from the path."""
    by_partition = con.sql(f"""
        SELECT CAST(dt AS VARCHAR) AS dt, CAST(hour AS VARCHAR) AS hour, count(*) AS spans,
               count(DISTINCT trace_id) AS traces, count(DISTINCT service_name) AS services
        FROM read_parquet('{pattern}', hive_partitioning = true)
        GROUP BY ALL ORDER BY ALL
    """).fetchall()
    assert sum(n for _, _, n, _, _ in by_partition) == N_TRACES * SPANS_PER_TRACE
    starts = {tg_archive.utc_partition(s.start_time) for s in scenario.spans()}
    assert {(d, h) for d, h, *_ in by_partition} == starts
    errors = con.sql(f"""
        SELECT name, status_message FROM read_parquet('{pattern}', hive_partitioning = true)
        WHERE status_code = 'error'
    """).fetchall()
    assert errors == [("chat gpt-4o", "rate limited by upstream")] * (N_TRACES // 3)


@pytest.mark.parametrize("kind,flush", [
    ("grpc", "shutdown"),
    ("http-protobuf", "shutdown"),
    ("http-protobuf-gzip", "age"),
    ("http-json", "age"),
])
def test_sdk_traces_reach_s3_archive(kind, flush, moto, s3_bucket, gateway_factory, monkeypatch):
    """The archive on S3, read by DuckDB from the server itself (httpfs, an S3 secret for moto)."""
    if kind == "http-protobuf-gzip":
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip")
    gw = gateway_factory({"archive": moto.archive_exporter(s3_bucket, PREFIX, flush_age="1s")})
    transport = Transport(kind, gw)
    scenario = run_scenario(transport)
    want = N_TRACES * SPANS_PER_TRACE

    if flush == "shutdown":
        # SIGTERM: receivers stop, the pipeline drains, the archive uploads what it holds.
        code = gw.stop()
        assert code == 0, gw.describe_exit()
        keys = moto.list_keys(s3_bucket, f"{PREFIX}/")
        rows = moto.read_spans(s3_bucket, PREFIX)
    else:
        # flush_age: 1s uploads while the gateway keeps running.
        keys, rows = wait_for_s3_spans(moto, s3_bucket, want)
        assert gw.running(), gw.describe_exit()

    assert len(rows) == want, f"archived {len(rows)} spans, the SDK sent {want}; objects: {keys}"
    assert_archive_matches(rows, scenario)
    problems = tg_archive.check_hive_layout(keys, rows, PREFIX)
    assert not problems, "\n".join(problems)
    assert {r["filename"] for r in rows} <= {f"s3://{s3_bucket}/{k}" for k in keys}, "DuckDB read what S3 does not list"
    check_partition_query(moto.duckdb(), tg_archive.spans_glob(f"s3://{s3_bucket}/{PREFIX}"), scenario)

    if flush == "age":
        code = gw.stop()
        assert code == 0, gw.describe_exit()
        # Shutdown must not upload the same spans again.
        keys_after = moto.list_keys(s3_bucket, f"{PREFIX}/")
        rows_after = moto.read_spans(s3_bucket, PREFIX)
        assert len(rows_after) == want, f"after shutdown the archive holds {len(rows_after)} spans: {keys_after}"


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_sdk_traces_reach_local_archive(form, gateway_factory, tmp_path):
    """The archive on the local filesystem, read in place by DuckDB with Hive partitioning."""
    root = tmp_path / "lake" / "archive"
    if form == "file-url":
        root.mkdir(parents=True)
        url = root.as_uri()  # file:///abs/path
    else:
        url = str(root)  # a plain path; the gateway creates the directory
    gw = gateway_factory({"archive/local": {"url": url, "flush_age": "1s"}})
    scenario = run_scenario(Transport("http-protobuf", gw))
    code = gw.stop()
    assert code == 0, gw.describe_exit()

    files = tg_archive.parquet_files(root)
    assert files, f"no Parquet files under {root}"
    keys = [f.relative_to(root.parent).as_posix() for f in files]
    rows = tg_archive.read_spans(root)
    assert_archive_matches(rows, scenario)
    problems = tg_archive.check_hive_layout(keys, rows, root.name)
    assert not problems, "\n".join(problems)

    check_partition_query(tg_archive.connect(), f"{root.as_posix()}/spans/**/*.parquet", scenario)
