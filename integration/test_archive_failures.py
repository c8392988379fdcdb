"""The archive against a real S3 server (moto) whose bucket does not exist yet (issue 18,
item 3): the missing bucket is a permanent error, so it is logged at error level with what to
do, counted as ``error_type="permanent"``, and marks the exporter degraded; the data is kept,
and creating the bucket lets the same gateway upload it, with no restart."""

from __future__ import annotations

import uuid

import requests

import tg_otlp
from conftest import wait_until

PREFIX = "llm-traces"
FAILURES = "tracegate_archive_upload_failures_total"


def _messages(gw) -> list[tuple[str, dict]]:
    out = []
    for record in gw.log_records():
        fields = record.get("fields", record)
        out.append((str(fields.get("message", "")), fields))
    return out


def test_a_missing_bucket_is_permanent_degrades_and_recovers_when_created(moto, gateway_factory):
    bucket = f"tg-missing-{uuid.uuid4().hex[:12]}"
    gw = gateway_factory({
        "archive": moto.archive_exporter(
            bucket, PREFIX, flush_age="1s", retry={"initial_backoff": "100ms", "max_backoff": "1s"},
        ),
    })
    spans = tg_otlp.make_trace(6, name_prefix="missing-bucket")
    resp = tg_otlp.post_otlp(gw.traces_url, tg_otlp.make_request(spans).SerializeToString())
    assert resp.status_code == 200, resp.text

    def permanent_failures() -> float:
        samples = tg_otlp.parse_prometheus(gw.metrics_text())
        return tg_otlp.metric_sum(samples, FAILURES, exporter="archive", error_type="permanent")

    wait_until(lambda: permanent_failures() >= 1, 30, what="a permanent upload failure on /metrics\n" + gw.log_tail())
    samples = tg_otlp.parse_prometheus(gw.metrics_text())
    assert tg_otlp.metric_sum(samples, FAILURES, exporter="archive", error_type="retryable") == 0

    messages = _messages(gw)
    degraded = [f for m, f in messages if m == "component degraded" and f.get("component") == "exporter/archive"]
    assert degraded, "no 'component degraded' log for exporter/archive:\n" + gw.log_tail()
    assert "bucket does not exist" in degraded[0].get("reason", ""), degraded[0]
    errors = [m for m, f in messages if m.startswith("archive uploads are failing")]
    assert len(errors) == 1, f"the permanent error is logged once, not per attempt: {errors}"
    assert "create the bucket" in errors[0], errors[0]

    # Nothing was dropped meanwhile: create the bucket and the same gateway uploads the file.
    created = requests.put(f"{moto.endpoint}/{bucket}", timeout=10)
    assert created.status_code == 200, created.text
    wait_until(lambda: moto.list_keys(bucket, f"{PREFIX}/spans/"), 30, what="the file after the bucket exists")
    rows = moto.read_spans(bucket, PREFIX)
    assert sorted((r["trace_id"], r["span_id"]) for r in rows) == sorted(s.key for s in spans)
    wait_until(
        lambda: any(m == "component recovered" and f.get("component") == "exporter/archive" for m, f in _messages(gw)),
        10, what="the 'component recovered' log",
    )
    gw.stop()
    assert gw.exit_code == 0, gw.describe_exit()
