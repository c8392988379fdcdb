"""SQL over the archive and the hot tier (issue 16): `tracegate query` and `POST /api/sql`
on what a multi-tenant gateway wrote from real SDK spans.

- The same question gets the same answer through DuckDB (over the Parquet files) and
  through `tracegate query`, a shipped view included.
- `spans` holds each span once although the hot tier and the archive both have it.
- `POST /api/sql` answers JSON rows or Arrow IPC, each tenant sees only its own data, a
  federated or missing tenant and a bad statement are refused with the reason."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import duckdb
import pyarrow.ipc
import requests

from conftest import KEEP_EVERY_SPAN, default_processors, wait_until

TENANTS = {"team-a": ("gpt-4o", 3), "team-b": ("claude-sonnet-4-5", 2)}


def send(gateway, tenant: str, model: str, calls: int) -> None:
    """One trace: a root and `calls` LLM spans of `model` with 100·i input tokens."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"svc-{tenant}"}))
    provider.add_span_processor(SimpleSpanProcessor(
        OTLPSpanExporter(endpoint=gateway.traces_url, headers={"X-Scope-OrgID": tenant}, timeout=10)))
    tracer = provider.get_tracer("sql-test")
    with tracer.start_as_current_span("chat", attributes={"user.id": f"user-{tenant}"}):
        for i in range(1, calls + 1):
            with tracer.start_as_current_span(f"chat {model}", attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": 100 * i, "gen_ai.usage.output_tokens": 10 * i}):
                pass
    provider.shutdown()


def query(binary: Path, gw, tenant: str, sql: str | None = None, *extra: str) -> list[dict]:
    cmd = [str(binary), "query", "-c", str(gw.config_path), "--tenant", tenant, "--format", "jsonl", *extra]
    if sql is not None:
        cmd.append(sql)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=gw.workdir)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stderr}"
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_sql_matches_duckdb_and_keeps_tenants_apart(gateway_factory, tracegate_bin):
    gw = gateway_factory(
        {"hot_store": {"block_max_age": "200ms"}, "archive": {"url": "./data/archive", "flush_age": "500ms", **KEEP_EVERY_SPAN}},
        processors=default_processors(idle_after_root="300ms", max_wait="5s"),
        query={}, service={"multitenancy_enabled": True})
    for tenant, (model, calls) in TENANTS.items():
        send(gw, tenant, model, calls)
    archive = gw.workdir / "data" / "archive"

    def archived(tenant: str) -> int:
        files = list((archive / "spans" / f"tenant={tenant}").glob("**/*.parquet"))
        if not files:
            return 0
        return duckdb.sql(f"SELECT count(*) FROM read_parquet('{archive}/spans/tenant={tenant}/**/*.parquet')").fetchone()[0]

    wait_until(lambda: all(archived(t) == calls + 1 for t, (_, calls) in TENANTS.items()), 30,
               what="both tenants' spans in the archive")
    # SQL reads the hot tier's blocks (written every block_max_age), not its in-memory head.
    wait_until(lambda: all(query(tracegate_bin, gw, t, "SELECT count(*) AS n FROM hot_spans") == [{"n": c + 1}]
                           for t, (_, c) in TENANTS.items()), 30, what="both tenants' hot blocks")

    for tenant, (model, calls) in TENANTS.items():
        glob = f"{archive}/spans/tenant={tenant}/**/*.parquet"
        # The same aggregate through DuckDB and tracegate query.
        want = duckdb.sql(
            f"SELECT name, count(*) AS n, sum(input_tokens) AS tokens, sum(duration_ns) AS ns "
            f"FROM read_parquet('{glob}', hive_partitioning = true) GROUP BY name ORDER BY name").fetchall()
        got = query(tracegate_bin, gw, tenant,
                    "SELECT name, count(*) AS n, sum(input_tokens) AS tokens, sum(duration_ns) AS ns "
                    "FROM archive_spans GROUP BY name ORDER BY name")
        assert [(r["name"], r["n"], r.get("tokens"), r["ns"]) for r in got] == want
        # `spans` (hot and cold) counts each span once: the hot tier holds them all again.
        [both] = query(tracegate_bin, gw, tenant,
                       "SELECT count(*) AS n, (SELECT count(*) FROM hot_spans) AS hot FROM spans")
        assert both == {"n": calls + 1, "hot": calls + 1}, both
        # A shipped view, against DuckDB's answer to the same question.
        view = query(tracegate_bin, gw, tenant, None, "--view", "cost_per_model_day")
        want = duckdb.sql(
            f"SELECT dt, coalesce(response_model, request_model) AS model, count(*), sum(input_tokens) "
            f"FROM read_parquet('{glob}', hive_partitioning = true) "
            f"WHERE coalesce(response_model, request_model) IS NOT NULL GROUP BY ALL").fetchall()
        assert [(r["day"], r["model"], r["calls"], r["input_tokens"]) for r in view] == \
            [(str(d), m, c, t) for d, m, c, t in want]
        assert view[0]["model"] == model and view[0]["input_tokens"] == 100 * calls * (calls + 1) // 2

    # POST /api/sql: JSON rows, the caller's tenant only.
    url = f"{gw.query_url}/api/sql"
    for tenant, (model, calls) in TENANTS.items():
        resp = requests.post(url, data="SELECT service_name, count(*) AS n FROM spans GROUP BY 1",
                             headers={"X-Scope-OrgID": tenant, "Content-Type": "text/plain"}, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/json"
        assert resp.json() == [{"service_name": f"svc-{tenant}", "n": calls + 1}]
    # Arrow IPC on request, from a JSON body.
    resp = requests.post(url, json={"query": "SELECT request_model, input_tokens FROM spans WHERE request_model IS NOT NULL ORDER BY 2"},
                         headers={"X-Scope-OrgID": "team-a", "Accept": "application/vnd.apache.arrow.stream"}, timeout=30)
    assert resp.status_code == 200, resp.text
    table = pyarrow.ipc.open_stream(io.BytesIO(resp.content)).read_all()
    assert table.column("input_tokens").to_pylist() == [100, 200, 300]
    assert set(table.column("request_model").to_pylist()) == {"gpt-4o"}
    # Refusals, with the reason.
    resp = requests.post(url, data="SELECT 1", timeout=10)
    assert resp.status_code == 401, resp.text
    resp = requests.post(url, data="SELECT 1", headers={"X-Scope-OrgID": "team-a|team-b"}, timeout=10)
    assert resp.status_code == 400 and "one tenant" in resp.text, resp.text
    resp = requests.post(url, data="SELECT nope FROM spans", headers={"X-Scope-OrgID": "team-a"}, timeout=10)
    assert resp.status_code == 400 and "nope" in resp.text, resp.text
    resp = requests.post(url, data="COPY (SELECT 1) TO '/tmp/x.csv'", headers={"X-Scope-OrgID": "team-a"}, timeout=10)
    assert resp.status_code == 400, resp.text


def test_query_output_formats(gateway_factory, tracegate_bin, tmp_path):
    gw = gateway_factory(
        {"hot_store": {"block_max_age": "200ms"}, "archive": {"url": "./data/archive", "flush_age": "500ms", **KEEP_EVERY_SPAN}},
        processors=default_processors(idle_after_root="300ms", max_wait="5s"), query={})
    send(gw, "single", "gpt-4o", 2)
    wait_until(lambda: list((gw.workdir / "data" / "archive" / "spans").glob("**/*.parquet")), 30,
               what="spans in the archive")
    base = [str(tracegate_bin), "query", "-c", str(gw.config_path)]
    sql = "SELECT name, input_tokens FROM archive_spans ORDER BY name, input_tokens"
    csv = subprocess.run([*base, "--format", "csv", sql], capture_output=True, text=True, cwd=gw.workdir, timeout=60)
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.splitlines() == ["name,input_tokens", "chat,", "chat gpt-4o,100", "chat gpt-4o,200"]
    table = subprocess.run([*base, sql], capture_output=True, text=True, cwd=gw.workdir, timeout=60)
    assert "| chat gpt-4o | 200" in table.stdout and "(3 rows)" in table.stdout, table.stdout
    out = tmp_path / "r.parquet"
    pq = subprocess.run([*base, "--format", "parquet", "-o", str(out), sql], capture_output=True, text=True,
                        cwd=gw.workdir, timeout=60)
    assert pq.returncode == 0, pq.stderr
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}')").fetchone()[0] == 3
    bad = subprocess.run([*base, "SELEC 1"], capture_output=True, text=True, cwd=gw.workdir, timeout=60)
    assert bad.returncode == 2 and "error:" in bad.stderr, bad.stderr
