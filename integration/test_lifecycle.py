"""The archive's lifecycle (issue 16): warm → cold storage class → deleted, by the age of each
file's hour partition, on moto's S3 server (which keeps storage classes and bucket rules).

- `tracegate lifecycle plan|apply --now T` with a clock the test sets: the files a gateway
  wrote (real SDK spans) move to GLACIER_IR at 90 days and are deleted at `delete_after`;
  `plan` lists exactly what `apply` then does; DuckDB reads the moved files as before.
- The gateway's own schedule (`lifecycle.interval`) moves and deletes old objects, and
  counts it in tracegate_lifecycle_actions_total.
- A local archive only deletes; `tracegate lifecycle rule` prints a bucket rule that S3
  accepts."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import gateway_config, wait_until

DAY = 86_400


def send_trace(gateway, spans: int = 3) -> str:
    """One trace of `spans` spans over OTLP/HTTP with the Python SDK; its trace id."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "lifecycle-test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=gateway.traces_url, timeout=10)))
    tracer = provider.get_tracer("lifecycle-test")
    with tracer.start_as_current_span("root") as root:
        for i in range(spans - 1):
            with tracer.start_as_current_span(f"child-{i}"):
                pass
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def rfc3339(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def lifecycle(binary: Path, config: Path, step: str, now: float | None = None, *extra: str) -> list[dict]:
    """`tracegate lifecycle STEP --json`, its lines parsed; fails on a nonzero exit."""
    cmd = [str(binary), "lifecycle", step, "-c", str(config), "--json", *extra]
    if now is not None:
        cmd += ["--now", rfc3339(now)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"{cmd}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def table_keys(moto, bucket: str, prefix: str) -> list[str]:
    return [k for k in moto.list_keys(bucket, prefix + "/") if k.endswith(".parquet")]


def write_config(path: Path, archive: dict) -> Path:
    path.write_text(json.dumps(gateway_config(1, 2, 3, {"archive": archive})))
    return path


def test_files_move_cold_then_go_and_plan_matches_apply(gateway_factory, moto, s3_bucket, tracegate_bin, tmp_path):
    prefix = "lake"
    archive = moto.archive_exporter(s3_bucket, prefix, sampled_only_spans=False,
                                    lifecycle={"delete_after": "400d"})
    gw = gateway_factory({"archive": archive}, processors={"trace_assembly": {"idle_after_root": "200ms"}})
    sent_at = time.time()
    trace_id = send_trace(gw)
    wait_until(lambda: any("/traces/" in k for k in table_keys(moto, s3_bucket, prefix))
               and any("/spans/" in k for k in table_keys(moto, s3_bucket, prefix)),
               30, what="spans and traces files in the bucket")
    gw.stop()
    keys = table_keys(moto, s3_bucket, prefix)
    rows_before = moto.read_spans(s3_bucket, prefix)
    assert {r["trace_id"] for r in rows_before} == {trace_id} and len(rows_before) == 3
    config = write_config(tmp_path / "lifecycle.yaml", archive)

    # Today: nothing to do; everything is warm.
    [summary] = lifecycle(tracegate_bin, config, "plan")
    assert summary["summary"]["transitions"] == 0 and summary["summary"]["kept"] == len(keys), summary

    # 91 days on: every file moves to GLACIER_IR, none is deleted.
    later = sent_at + 91 * DAY
    plan = lifecycle(tracegate_bin, config, "plan", later)
    actions, summary = plan[:-1], plan[-1]["summary"]
    assert sorted(a["object"] for a in actions) == keys, actions
    assert {(a["action"], a["storage_class"]) for a in actions} == {("transition", "GLACIER_IR")}
    assert all(90 * 24 <= a["age_hours"] <= 91 * 24 for a in actions), actions
    assert summary["deletions"] == 0 and summary["transitions"] == len(keys)
    for key in keys:  # plan changed nothing
        assert moto.client.head_object(Bucket=s3_bucket, Key=key).get("StorageClass", "STANDARD") == "STANDARD"

    applied = lifecycle(tracegate_bin, config, "apply", later)
    done = applied[:-1]
    assert sorted((a["action"], a["object"]) for a in done) == sorted((a["action"], a["object"]) for a in actions)
    assert {a["outcome"] for a in done} == {"done"}, done
    assert applied[-1]["summary"]["done"]["transitioned"] == len(keys)
    for key in keys:
        assert moto.client.head_object(Bucket=s3_bucket, Key=key)["StorageClass"] == "GLACIER_IR", key
    # GLACIER_IR is read at once: DuckDB reads the same rows.
    rows_after = moto.read_spans(s3_bucket, prefix)
    assert sorted(r["span_id"] for r in rows_after) == sorted(r["span_id"] for r in rows_before)

    # The next run has nothing left to move.
    again = lifecycle(tracegate_bin, config, "plan", later + 3_600)
    assert again[-1]["summary"]["transitions"] == 0 and again[-1]["summary"]["cold"] == len(keys), again

    # 401 days on: every file is deleted, and only the lifecycle's state is left.
    gone = sent_at + 401 * DAY
    plan = lifecycle(tracegate_bin, config, "plan", gone)
    assert sorted(a["object"] for a in plan[:-1]) == keys and {a["action"] for a in plan[:-1]} == {"delete"}
    applied = lifecycle(tracegate_bin, config, "apply", gone)
    assert sorted(a["object"] for a in applied[:-1] if a["outcome"] == "done") == keys
    assert moto.list_keys(s3_bucket, prefix + "/") == [f"{prefix}/_lifecycle/state.json"]


def old_partition_key(prefix: str, days_ago: float, name: str) -> str:
    t = dt.datetime.fromtimestamp(time.time() - days_ago * DAY, dt.timezone.utc)
    return f"{prefix}/spans/dt={t:%Y-%m-%d}/hour={t:%H}/{name}.parquet"


def test_the_gateway_moves_and_deletes_on_its_schedule(gateway_factory, moto, s3_bucket):
    prefix = "sched"
    warm = old_partition_key(prefix, 10, "warm")
    cold = old_partition_key(prefix, 100, "cold")
    ancient = old_partition_key(prefix, 500, "ancient")
    for key in (warm, cold, ancient):
        moto.client.put_object(Bucket=s3_bucket, Key=key, Body=b"PAR1 not really")
    archive = moto.archive_exporter(s3_bucket, prefix,
                                    lifecycle={"interval": "1s", "delete_after": "400d"})
    gw = gateway_factory({"archive": archive})

    def settled() -> bool:
        keys = moto.list_keys(s3_bucket, prefix + "/spans/")
        if ancient in keys or cold not in keys:
            return False
        return moto.client.head_object(Bucket=s3_bucket, Key=cold).get("StorageClass") == "GLACIER_IR"

    wait_until(settled, 30, what="the old object moved to GLACIER_IR and the ancient one deleted")
    assert moto.client.head_object(Bucket=s3_bucket, Key=warm).get("StorageClass", "STANDARD") == "STANDARD"
    text = gw.metrics_text()

    def counter(action: str) -> float:
        total = 0.0
        for line in text.splitlines():
            if (line.startswith("tracegate_lifecycle_actions_total{") and f'action="{action}"' in line
                    and 'outcome="done"' in line):
                total += float(line.rsplit(" ", 1)[1])
        return total

    assert counter("transition") == 1 and counter("delete") == 1, text
    logs = [r for r in gw.log_records() if "lifecycle:" in str(r.get("fields", {}).get("message", r.get("message", "")))]
    assert any(cold in json.dumps(r) for r in logs), logs


def test_a_local_archive_only_deletes(tracegate_bin, tmp_path):
    root = tmp_path / "archive"
    old = root / "traces" / "dt=2026-01-01" / "hour=03" / "gw-1.parquet"
    young = root / "traces" / "dt=2026-06-01" / "hour=03" / "gw-2.parquet"
    for f in (old, young):
        f.parent.mkdir(parents=True)
        f.write_bytes(b"x" * 10)
    config = write_config(tmp_path / "local.yaml", {"url": str(root), "lifecycle": {"delete_after": "100d"}})
    now = dt.datetime(2026, 5, 1, tzinfo=dt.timezone.utc).timestamp()
    plan = lifecycle(tracegate_bin, config, "plan", now)
    assert [(a["action"], a["object"]) for a in plan[:-1]] == [("delete", "traces/dt=2026-01-01/hour=03/gw-1.parquet")]
    assert plan[-1]["summary"]["transitions"] == 0
    lifecycle(tracegate_bin, config, "apply", now)
    assert not old.exists() and young.exists()
    assert not old.parent.exists(), "the emptied partition directory is removed too"
    out = subprocess.run([str(tracegate_bin), "lifecycle", "rule", "-c", str(config)], capture_output=True, text=True)
    assert out.returncode == 2 and "s3://" in out.stderr, out


def test_the_bucket_rule_is_one_s3_accepts(moto, s3_bucket, tracegate_bin, tmp_path):
    archive = moto.archive_exporter(s3_bucket, "ruled", lifecycle={"cold_storage_class": "STANDARD_IA", "delete_after": "365d"})
    config = write_config(tmp_path / "rule.yaml", archive)
    out = subprocess.run([str(tracegate_bin), "lifecycle", "rule", "-c", str(config)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    rule = json.loads(out.stdout)
    moto.client.put_bucket_lifecycle_configuration(Bucket=s3_bucket, LifecycleConfiguration=rule)
    stored = moto.client.get_bucket_lifecycle_configuration(Bucket=s3_bucket)["Rules"]
    by_prefix = {r["Filter"]["Prefix"]: r for r in stored}
    assert sorted(by_prefix) == ["ruled/logs/", "ruled/scores/", "ruled/spans/", "ruled/traces/"]
    spans = by_prefix["ruled/spans/"]
    assert spans["Transitions"] == [{"Days": 90, "StorageClass": "STANDARD_IA"}]
    assert spans["Expiration"] == {"Days": 365}


@pytest.mark.parametrize("bad, key", [({"cold_storage_class": "GLACIERR"}, "cold_storage_class"),
                                      ({"max_actions_per_run": 0}, "max_actions_per_run"),
                                      ({"cold_after": "90d", "delete_after": "30d"}, "delete_after")])
def test_bad_lifecycle_config_is_refused_with_its_key(tracegate_bin, tmp_path, bad, key):
    config = write_config(tmp_path / "bad.yaml", {"url": str(tmp_path / "a"), "lifecycle": bad})
    out = subprocess.run([str(tracegate_bin), "validate", "-c", str(config)], capture_output=True, text=True)
    assert out.returncode == 2 and f"exporters.archive.lifecycle.{key}" in out.stderr, out.stderr
