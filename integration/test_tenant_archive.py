"""Multi-tenancy in the archive and the metrics (issue 17): two tenants send traces with the
real Python OTel SDK (header X-Scope-OrgID) to a gateway with `service.multitenancy_enabled`
and a local archive. DuckDB's `read_parquet(..., hive_partitioning=true)` shows a `tenant`
column, each tenant's spans are under its own `tenant=T/` prefix only, and the Prometheus
text of the data metrics endpoint and /metrics carry the `tenant` label."""

from __future__ import annotations

from pathlib import Path

import duckdb
import requests

from conftest import wait_until

TENANTS = ("team-a", "team-b")
SPANS_PER_TENANT = 3


def send(gateway, tenant: str) -> str:
    """Sends one trace of SPANS_PER_TENANT spans as `tenant` over OTLP/HTTP; its trace id (hex)."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"svc-{tenant}"}))
    exporter = OTLPSpanExporter(endpoint=gateway.traces_url, headers={"X-Scope-OrgID": tenant}, timeout=10)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tenant-test")
    with tracer.start_as_current_span(f"root-{tenant}") as root:
        for i in range(SPANS_PER_TENANT - 1):
            with tracer.start_as_current_span(f"child-{tenant}-{i}"):
                pass
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def archive_rows(archive: Path) -> list[tuple]:
    files = list(archive.glob("spans/**/*.parquet"))
    if not files:
        return []
    return duckdb.sql(
        f"SELECT tenant, name, trace_id, filename FROM read_parquet('{archive}/spans/**/*.parquet', "
        "hive_partitioning=true, filename=true) ORDER BY tenant, name"
    ).fetchall()


def test_two_tenants_get_their_own_archive_prefix_and_metric_labels(gateway_factory, tmp_path):
    archive = tmp_path / "archive"
    gw = gateway_factory(
        {"archive": {"url": str(archive), "flush_age": "500ms"}},
        processors={"trace_assembly": {"idle_after_root": "300ms"}, "span_metrics": {}},
        metrics={},
        service={"multitenancy_enabled": True},
    )
    trace_ids = {t: send(gw, t) for t in TENANTS}

    # A request without a tenant is refused (multi-tenancy on).
    resp = requests.post(gw.traces_url, data=b"", headers={"Content-Type": "application/x-protobuf"}, timeout=5)
    assert resp.status_code == 401, resp.text

    rows = wait_until(lambda: (r := archive_rows(archive)) and len(r) == 2 * SPANS_PER_TENANT and r,
                      20, what="both tenants' spans in the archive")
    for tenant in TENANTS:
        mine = [r for r in rows if r[0] == tenant]
        assert len(mine) == SPANS_PER_TENANT, rows
        assert all(name.endswith(tenant) or f"-{tenant}-" in name for _, name, _, _ in mine), mine
        assert {r[2] for r in mine} == {trace_ids[tenant]}
        # Every file of the tenant's spans is under its prefix, and holds only its spans.
        prefix = str(archive / "spans" / f"tenant={tenant}") + "/"
        assert all(str(f).startswith(prefix) for *_, f in mine), mine
    # No file holds rows of two tenants.
    by_file: dict[str, set] = {}
    for tenant, _, _, f in rows:
        by_file.setdefault(f, set()).add(tenant)
    assert all(len(ts) == 1 for ts in by_file.values()), by_file
    # The traces table is partitioned the same way.
    trace_dirs = sorted(p.name for p in (archive / "traces").iterdir())
    assert trace_dirs == [f"tenant={t}" for t in TENANTS], trace_dirs

    def data_metrics() -> str | None:
        text = requests.get(f"{gw.data_metrics_url}/metrics", timeout=5).text
        return text if all(f'tenant="{t}"' in text for t in TENANTS) else None

    text = wait_until(data_metrics, 20, what="span_metrics series with a tenant label")
    for tenant in TENANTS:
        assert any(line.startswith("traces_spanmetrics_calls") and f'tenant="{tenant}"' in line
                   and f'service="svc-{tenant}"' in line for line in text.splitlines()), text[:2000]

    own = requests.get(gw.metrics_url, timeout=5).text
    for tenant in TENANTS:
        line = next((l for l in own.splitlines()
                     if l.startswith("tracegate_receiver_accepted_spans_total") and f'tenant="{tenant}"' in l), None)
        assert line is not None, own[:3000]
        assert float(line.rsplit(" ", 1)[1]) == SPANS_PER_TENANT, line
