"""Compaction (issue 16): an hour's many small archive files merged into few large ones,
each span once, with no reader that follows the commit records ever counting a span twice or
missing one, on a local disk and on moto's S3 server.

- The gateway writes many small files (spans of hours that ended a while ago, cut every few
  KiB); `tracegate compact` merges them into one file per hour while a DuckDB reader in a
  loop counts rows and distinct (trace_id, span_id) through `config/sql/duckdb/archive.sql`:
  the counts are the same before, during and after; afterwards a plain glob agrees, the
  files are sorted and carry the trace_id bloom filter, and `tracegate query` agrees.
- A replayed request's duplicates are dropped for good.
- `kill -9` at any point of a compaction leaves the archive readable and correct, and the
  next run finishes the job.
- The gateway compacts on its own schedule and counts it.
- The `logs` table is compacted too: every record kept, those outside a trace last."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

import tg_archive
import tg_otlp
from conftest import wait_until

HOUR_NS = 3_600 * 1_000_000_000
ARCHIVE_SQL = Path(__file__).resolve().parent.parent / "config" / "sql" / "duckdb" / "archive.sql"


def old_hour_start() -> int:
    """The start (ns) of the hour that began three hours ago: it ended two hours ago, so it is
    due for compaction (min_age 1h), and within the archive's past_window (7d)."""
    now = time.time_ns()
    return (now // HOUR_NS - 3) * HOUR_NS


def send_requests(gw, requests_n: int, traces_per_request: int = 20, spans_per_trace: int = 5,
                  hours: int = 2) -> list[bytes]:
    """`requests_n` OTLP/HTTP requests of whole traces, spread over `hours` old hours; the
    encoded requests (to replay one)."""
    base = old_hour_start()
    bodies = []
    for i in range(requests_n):
        spans = []
        for t in range(traces_per_request):
            start = base + (i % hours) * HOUR_NS + random.randrange(HOUR_NS // 2)
            spans += tg_otlp.make_trace(spans_per_trace, name_prefix=f"op{t}", start_ns=start,
                                        attributes={"i": i})
        body = tg_otlp.make_request(spans, service="compaction-test").SerializeToString()
        post(gw, body)
        bodies.append(body)
    return bodies


def post(gw, body: bytes) -> None:
    resp = requests.post(gw.traces_url, data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=10)
    assert resp.status_code == 200, resp.text


class Lake:
    """The archive under test: a local directory or a moto bucket, read with DuckDB."""

    def __init__(self, url: str, moto=None) -> None:
        self.url = url.rstrip("/")
        self.moto = moto

    def connect(self):
        con = self.moto.duckdb() if self.moto else tg_archive.connect()
        con.execute(ARCHIVE_SQL.read_text())
        return con

    def commits(self, con) -> list | None:
        """The commit records (file, generation); None when no compaction ever began here
        (there are none, and DuckDB refuses a glob that matches nothing)."""
        try:
            return con.execute("SELECT * FROM tracegate_commits(?, 'spans')", [self.url]).fetchall()
        except Exception as e:  # noqa: BLE001 - DuckDB's IOException
            if "No files found" in str(e):
                return None
            raise

    def exact_counts(self, con, attempts: int = 50) -> tuple[int, int]:
        """Rows and distinct (trace_id, span_id), exactly, by the README's recipe: the commit
        records read before and after the query, which is run again if they differ or if a
        file it listed was gone; with no records at all (no compaction began), a plain glob."""
        for _ in range(attempts):
            try:
                before = self.commits(con)
                if before is None:
                    row = self.plain_counts(con)
                else:
                    row = con.execute(
                        "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM tracegate_spans(?)",
                        [self.url]).fetchone()
                if self.commits(con) == before:
                    return row
            except Exception as e:  # noqa: BLE001 - DuckDB raises IOException and HTTPException
                if "No such file" not in str(e) and "404" not in str(e) and "not found" not in str(e).lower():
                    raise
        raise AssertionError(f"no consistent read of {self.url} in {attempts} attempts")

    def plain_counts(self, con) -> tuple[int, int]:
        return con.execute(
            "SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM read_parquet(?, hive_partitioning = true)",
            [f"{self.url}/spans/**/*.parquet"]).fetchone()

    def files(self, con) -> list[tuple[str, int]]:
        return con.execute("SELECT file FROM glob(?) ORDER BY 1", [f"{self.url}/spans/**/*.parquet"]).fetchall()

    def bytes_per_span(self, con) -> float:
        size = con.execute(
            "SELECT sum(total_compressed_size) FROM parquet_metadata(?)", [f"{self.url}/spans/**/*.parquet"]).fetchone()[0]
        rows = self.plain_counts(con)[0]
        return size / rows


@pytest.fixture(params=["local", "s3"])
def lake_and_archive(request, tmp_path, moto):
    """(Lake, archive exporter section) on a local disk or a fresh moto bucket; compaction
    left to `tracegate compact`, files cut every 16 KiB so an hour gets many."""
    small = {"flush_bytes": "16KiB", "flush_age": "1s", "sampled_only_spans": False,
             "compaction": {"interval": "0s"}}
    if request.param == "local":
        root = tmp_path / "archive"
        return Lake(str(root)), {"url": str(root), **small}
    bucket = moto.new_bucket("compact")
    return Lake(f"s3://{bucket}/lake", moto), moto.archive_exporter(bucket, "lake", **small)


def compact(binary: Path, config: Path, *extra: str, timeout: float = 300) -> list[dict]:
    cmd = [str(binary), "compact", "-c", str(config), "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def wait_uploaded(gw, lake: Lake, spans: int) -> None:
    con = lake.connect()
    wait_until(lambda: lake.files(con) and lake.plain_counts(con)[0] >= spans, 60,
               what=f"{spans} spans in {lake.url}")


def test_many_small_files_become_one_per_hour_and_readers_count_each_span_once(
        gateway_factory, lake_and_archive, tracegate_bin):
    lake, archive = lake_and_archive
    gw = gateway_factory({"archive": archive}, processors={"trace_assembly": {"idle_after_root": "100ms"}})
    send_requests(gw, 30)
    spans = 30 * 20 * 5
    wait_uploaded(gw, lake, spans)
    gw.stop()
    con = lake.connect()
    files_before = lake.files(con)
    assert len(files_before) >= 20, files_before
    assert lake.plain_counts(con) == (spans, spans)
    bytes_before = lake.bytes_per_span(con)

    # No compaction began yet: no records, and the recipe reads with a plain glob.
    assert lake.commits(con) is None
    assert lake.exact_counts(con) == (spans, spans)

    # A reader in a loop while `tracegate compact` runs.
    counts: list[tuple[int, int]] = []
    stop = threading.Event()

    def reader() -> None:
        own = lake.connect()
        while not stop.is_set() or len(counts) < 3:
            counts.append(lake.exact_counts(own))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        lines = compact(tracegate_bin, gw.config_path)
    finally:
        stop.set()
        thread.join(timeout=120)
    print(f"\n{len(counts)} exact reads while compacting")
    summary = lines[-1]
    hours = [l for l in lines if l.get("outcome") == "compacted"]
    assert summary["summary"] and summary["failed"] == 0, lines
    # Two hours of spans (and their traces rows, whose hours have a file or a few).
    spans_hours = [h for h in hours if h["hour"].startswith("spans/")]
    assert len(spans_hours) == 2, lines
    assert sum(h["rows"] for h in spans_hours) == spans
    assert all(h["duplicates"] == 0 for h in spans_hours)
    assert set(counts) == {(spans, spans)}, f"a reader during compaction saw {sorted(set(counts))}"

    # After: one file per hour, which a plain glob reads exactly too.
    files_after = lake.files(con)
    assert len(files_after) == 2, files_after
    assert all("/compacted-g000001-" in f[0] for f in files_after)
    assert lake.plain_counts(con) == (spans, spans)
    assert lake.exact_counts(con) == (spans, spans)
    # Sorted by (trace_id, start_time), with the trace_id bloom filter.
    for (path,) in files_after:
        rows = con.execute("SELECT trace_id, start_time FROM read_parquet(?)", [path]).fetchall()
        assert rows == sorted(rows)
        blooms = con.execute(
            "SELECT count(*) FROM parquet_metadata(?) WHERE path_in_schema = 'trace_id' AND bloom_filter_offset IS NOT NULL",
            [path]).fetchone()[0]
        assert blooms >= 1
    bytes_after = lake.bytes_per_span(con)
    print(f"\n{lake.url}: {len(files_before)} files, {bytes_before:.1f} B/span → "
          f"{len(files_after)} files, {bytes_after:.1f} B/span")
    assert bytes_after < bytes_before

    # tracegate query reads the archive through the same records.
    out = subprocess.run([str(tracegate_bin), "query", "-c", str(gw.config_path), "--format", "json",
                          "SELECT count(*) AS n, count(DISTINCT trace_id || span_id) AS d FROM archive_spans"],
                         capture_output=True, text=True, timeout=120, cwd=gw.workdir)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [{"n": spans, "d": spans}]

    # A second run has nothing to do.
    again = compact(tracegate_bin, gw.config_path)
    assert again[-1]["compacted"] == 0, again


def test_a_replayed_requests_duplicates_are_dropped_for_good(gateway_factory, tmp_path, tracegate_bin):
    root = tmp_path / "archive"
    archive = {"url": str(root), "flush_bytes": "16KiB", "flush_age": "1s", "sampled_only_spans": False,
               "compaction": {"interval": "0s"}}
    gw = gateway_factory({"archive": archive}, processors={"trace_assembly": {"idle_after_root": "100ms"}})
    lake = Lake(str(root))
    bodies = send_requests(gw, 6, hours=1)
    # The same request again, as a client retrying after a lost response does.
    post(gw, bodies[2])
    post(gw, bodies[4])
    spans = 6 * 20 * 5
    wait_uploaded(gw, lake, spans + 200)
    gw.stop()
    con = lake.connect()
    assert lake.plain_counts(con) == (spans + 200, spans)
    lines = compact(tracegate_bin, gw.config_path)
    spans_hour = [l for l in lines if l.get("hour", "").startswith("spans/")]
    assert spans_hour[0]["duplicates"] == 200, lines
    assert lake.plain_counts(con) == (spans, spans)
    assert lake.exact_counts(con) == (spans, spans)


def test_kill_9_at_any_point_leaves_the_archive_correct(gateway_factory, lake_and_archive, tracegate_bin):
    lake, archive = lake_and_archive
    gw = gateway_factory({"archive": archive}, processors={"trace_assembly": {"idle_after_root": "100ms"}})
    send_requests(gw, 40, traces_per_request=40)
    spans = 40 * 40 * 5
    wait_uploaded(gw, lake, spans)
    gw.stop()
    con = lake.connect()
    assert lake.exact_counts(con) == (spans, spans)
    kills = 0
    for delay in (0.1, 0.5, 1.0, 1.5, 2.2, 3.0):
        proc = subprocess.Popen([str(tracegate_bin), "compact", "-c", str(gw.config_path), "--json",
                                 "--target-file-size", "1MiB"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        # Whatever it left: readable, and each span once for a reader of the records.
        assert lake.exact_counts(con) == (spans, spans), f"after a kill at {delay}s"
        # Every file left is a whole Parquet file (no half-written object is ever visible).
        assert lake.plain_counts(con)[1] == spans
        print(f"\nkill -9 at {delay}s: {len(lake.files(con))} files, plain glob {lake.plain_counts(con)}")
    assert kills >= 1, "every compaction ended before it could be killed"
    # A run to the end finishes what the killed ones started, and cleans up after them.
    compact(tracegate_bin, gw.config_path, "--target-file-size", "1MiB")
    assert lake.plain_counts(con) == (spans, spans)
    assert lake.exact_counts(con) == (spans, spans)
    names = [f[0].rsplit("/", 1)[1] for f in lake.files(con)]
    assert all(n.startswith("compacted-g") for n in names), names


def test_the_gateway_compacts_on_its_schedule_and_counts_it(gateway_factory, tmp_path):
    root = tmp_path / "archive"
    archive = {"url": str(root), "flush_bytes": "16KiB", "flush_age": "1s", "sampled_only_spans": False,
               "compaction": {"interval": "2s"}}
    gw = gateway_factory({"archive": archive}, processors={"trace_assembly": {"idle_after_root": "100ms"}})
    lake = Lake(str(root))
    send_requests(gw, 10, hours=1)
    spans = 10 * 20 * 5
    con = lake.connect()

    def compacted() -> bool:
        files = lake.files(con)
        return len(files) == 1 and "/compacted-g" in files[0][0] and lake.plain_counts(con) == (spans, spans)

    wait_until(compacted, 60, what="the gateway to compact the hour into one file")
    metrics = requests.get(gw.metrics_url, timeout=5).text
    lines = [l for l in metrics.splitlines() if l.startswith("tracegate_compaction_hours_total{")]
    assert any('outcome="compacted"' in l and 'table="spans"' in l and not l.endswith(" 0") for l in lines), lines
    gw.stop()
    assert lake.exact_counts(con) == (spans, spans)


def logs_request(base_ns: int, n: int, tag: str) -> bytes:
    """`n` log records at `base_ns` + i ms: half in a trace, half outside any, and the last one
    twice, alike in every field (two records all the same: both must stay)."""
    records = []
    for i in range(n):
        in_trace = i % 2 == 0
        records.append(logs_pb2.LogRecord(
            time_unix_nano=base_ns + i * 1_000_000, severity_number=9, severity_text="INFO",
            body=common_pb2.AnyValue(string_value=f"{tag}-{i}"),
            trace_id=os.urandom(16) if in_trace else b"", span_id=os.urandom(8) if in_trace else b""))
    records.append(records[-1])
    resource = resource_pb2.Resource(attributes=[common_pb2.KeyValue(
        key="service.name", value=common_pb2.AnyValue(string_value="compaction-logs"))])
    return logs_service_pb2.ExportLogsServiceRequest(resource_logs=[logs_pb2.ResourceLogs(
        resource=resource, scope_logs=[logs_pb2.ScopeLogs(log_records=records)])]).SerializeToString()


def test_the_logs_table_is_compacted_with_every_record_kept(gateway_factory, tmp_path, tracegate_bin):
    root = tmp_path / "archive"
    archive = {"url": str(root), "flush_bytes": "4KiB", "flush_age": "1s", "compaction": {"interval": "0s"}}
    gw = gateway_factory({"archive": archive}, logs={"processors": [], "exporters": ["archive"]})
    base = old_hour_start()
    requests_n, per_request = 12, 40
    for r in range(requests_n):
        resp = requests.post(gw.logs_url, data=logs_request(base + r * 1_000_000_000, per_request, f"r{r}"),
                             headers={"Content-Type": "application/x-protobuf"}, timeout=10)
        assert resp.status_code == 200, resp.text
        time.sleep(0.3)
    records = requests_n * (per_request + 1)
    con = Lake(str(root)).connect()
    glob = f"{root}/logs/**/*.parquet"

    def count() -> int:
        return con.execute("SELECT count(*) FROM read_parquet(?)", [glob]).fetchone()[0]

    wait_until(lambda: list(root.glob("logs/**/*.parquet")) and count() == records, 60,
               what=f"{records} log records in the archive")
    gw.stop()
    files_before = list(root.glob("logs/**/*.parquet"))
    assert len(files_before) >= 4, files_before
    query = ("SELECT count(*), count(DISTINCT body), count(*) FILTER (WHERE trace_id IS NULL) FROM {}")
    before = con.execute(query.format("read_parquet(?)"), [glob]).fetchone()

    compact(tracegate_bin, gw.config_path)
    files_after = list(root.glob("logs/**/*.parquet"))
    assert len(files_after) == 1 and files_after[0].name.startswith("compacted-g"), files_after
    assert con.execute(query.format("tracegate_logs(?)"), [str(root)]).fetchone() == before
    assert con.execute(query.format("read_parquet(?)"), [glob]).fetchone() == before
    assert before[0] == records and before[1] == requests_n * per_request
    # Sorted by trace id, the records outside any trace last, then by time.
    rows = con.execute("SELECT trace_id IS NULL, trace_id, time FROM read_parquet(?)", [glob]).fetchall()
    assert rows == sorted(rows)
