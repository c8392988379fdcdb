"""Durability across outages (issue "Durability"): when S3 or Tempo goes away under load,
nothing tracegate acknowledged is lost, and when a bound is reached it refuses new data with a
retryable status instead of dropping what it acknowledged.

- S3 outage: a TCP proxy between the gateway and moto refuses connections (and cuts open ones)
  for OUTAGE_S under load, then lets them through again; clients retry refusals. After SIGTERM
  every acknowledged span is in the archive exactly once.
- Tempo outage: the fake Tempo (grpcio) is stopped for longer than the exporter's
  retry.max_elapsed_time, then started on the same port; every acknowledged span arrives at
  least once. With the default sending queue (on disk, since the WAL is on) and with
  `sending_queue.storage: disk` and a smaller bound spelled out.
- WAL full: a tiny WAL and a store that cannot be reached, so nothing becomes durable: requests
  are refused with UNAVAILABLE / HTTP 503 + Retry-After, counted, /healthz still answers; once
  the store is back the WAL drains and the archive has every acknowledged span once.

moto keeps its state in memory, so it is never restarted: the proxy makes the outage. Run with
``-s`` to see the figures each test prints.
"""

from __future__ import annotations

import time

import pytest

import tg_archive
from conftest import KEEP_EVERY_SPAN, default_processors
from tg_durability import (
    FakeTempo, TcpProxy, audit_spans, audit_traces, metric, poll, probe, s3_archive_via, start_senders,
)

PREFIX = "llm-traces"
ASSEMBLY = {"idle_after_root": "500ms", "max_wait": "5s"}
PACE_S = 0.1           # each sender: a batch of up to 300 spans every 100 ms
FIRST_DATA_S = 15      # wait for the first upload / delivery before the outage


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_s3_outage_under_load_archives_every_acknowledged_span_once(moto, s3_bucket, gateway_factory):
    outage_s = 10
    proxy = TcpProxy(moto.port)
    try:
        gw = gateway_factory({"archive": s3_archive_via(proxy, moto, s3_bucket, PREFIX, flush_age="1s", **KEEP_EVERY_SPAN)},
                             processors=default_processors(**ASSEMBLY))
        load = start_senders(gw, ["grpc", "http"], retry=True, interval=PACE_S)
        assert poll(lambda: moto.list_keys(s3_bucket, f"{PREFIX}/spans/"), FIRST_DATA_S, interval=0.2), \
            f"nothing was uploaded before the outage: {load.ledger.summary()}"
        acked_before = len(load.ledger.acked_keys())
        proxy.down()
        objects_at_outage = len(moto.list_keys(s3_bucket, f"{PREFIX}/"))
        time.sleep(outage_s)
        objects_after_outage = len(moto.list_keys(s3_bucket, f"{PREFIX}/"))
        acked_during = len(load.ledger.acked_keys()) - acked_before
        failures = metric(gw, "tracegate_archive_upload_failures_total")
        outstanding = metric(gw, "tracegate_wal_outstanding_spans")
        proxy.up()
        time.sleep(3)
        load.stop()
        code = gw.stop()
    finally:
        proxy.close()
    assert code == 0, gw.describe_exit()
    ledger = load.ledger
    assert not ledger.unexpected, f"unexpected answers: {ledger.unexpected[:5]}"

    rows = moto.read_spans(s3_bucket, PREFIX)
    traces = tg_archive.read_traces(f"s3://{s3_bucket}/{PREFIX}", s3=moto.s3_endpoint)
    audit = audit_spans(rows, ledger)
    trace_problems, trace_figures = audit_traces(traces, rows)
    print(f"\n[S3 outage {outage_s}s] {ledger.summary()}")
    print(f"[S3 outage {outage_s}s] acked during the outage {acked_during} spans; objects at its start "
          f"{objects_at_outage}, at its end {objects_after_outage}; upload failures counted {failures:.0f}; "
          f"WAL outstanding spans then {outstanding:.0f}")
    print(f"[S3 outage {outage_s}s] {audit.figures()}")
    print(f"[S3 outage {outage_s}s] {trace_figures}")
    assert acked_during > 0, "nothing was acknowledged during the outage: the WAL should have taken it"
    assert failures > 0, "no upload failed: the outage did not reach the archive"
    lost, duplicated, unknown = len(audit.lost), len(audit.duplicated), len(audit.unknown)
    assert lost == 0, f"{lost} acknowledged spans are not in the archive, e.g. {sorted(audit.lost)[:3]}"
    assert duplicated == 0, f"{duplicated} spans are archived more than once, e.g. {list(audit.duplicated.items())[:3]}"
    assert unknown == 0, f"{unknown} archived spans were never sent"
    assert not trace_problems, "\n".join(trace_problems)


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("queue", ["default", "disk"])
def test_tempo_outage_longer_than_the_retry_budget_delivers_every_acknowledged_span(queue, gateway_factory):
    outage_s, budget = 8, "2s"
    tempo = FakeTempo().start()
    exporter = {
        "endpoint": f"http://127.0.0.1:{tempo.port}",
        "compression": "none",
        "timeout": "2s",
        "retry": {"initial_interval": "100ms", "max_interval": "500ms", "max_elapsed_time": budget},
    }
    if queue == "disk":
        exporter["sending_queue"] = {"storage": "disk", "max_bytes": "256MiB"}
    try:
        gw = gateway_factory({"otlp/tempo": exporter}, processors=default_processors(**ASSEMBLY))
        load = start_senders(gw, ["grpc", "http"], retry=True, interval=PACE_S)
        assert poll(lambda: tempo.received, FIRST_DATA_S, interval=0.1), \
            f"Tempo received nothing before the outage: {load.ledger.summary()}"
        tempo.stop()
        acked_before = len(load.ledger.acked_keys())
        time.sleep(outage_s)
        acked_during = len(load.ledger.acked_keys()) - acked_before
        tempo.start()
        time.sleep(2)
        load.stop()
        acked = load.ledger.acked_keys()
        delivered = poll(lambda: acked <= tempo.keys(), 15, interval=0.2)
        dropped = metric(gw, "tracegate_exporter_failed_spans_total", exporter="otlp/tempo")
        code = gw.stop()
    finally:
        tempo.stop()
    ledger = load.ledger
    received = tempo.keys()
    missing = len(acked - received)
    repeats = sum(n - 1 for n in tempo.received.values() if n > 1)
    print(f"\n[Tempo outage {outage_s}s, retry budget {budget}, {queue} queue] {ledger.summary()}")
    print(f"[Tempo outage {outage_s}s, {queue} queue] acked during the outage {acked_during}; Tempo got "
          f"{sum(tempo.received.values())} spans ({len(received)} distinct, {repeats} repeats) in {tempo.calls} calls; "
          f"acknowledged but never delivered {missing}; all delivered before SIGTERM: {delivered}; "
          f"tracegate_exporter_failed_spans_total {dropped:.0f}")
    assert code == 0, gw.describe_exit()
    assert not ledger.unexpected, f"unexpected answers: {ledger.unexpected[:5]}"
    assert acked_during > 0, "nothing was acknowledged during the outage"
    assert missing == 0, f"{missing} acknowledged spans never reached Tempo, e.g. {sorted(acked - received)[:3]}"
    unknown = len(received - ledger.sent)
    assert unknown == 0, f"Tempo got {unknown} spans that were never sent"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_full_wal_refuses_with_retryable_statuses_and_drains_once_the_store_is_back(moto, s3_bucket,
                                                                                     gateway_factory):
    proxy = TcpProxy(moto.port, up=False)  # the store cannot be reached: nothing becomes durable
    try:
        gw = gateway_factory({"archive": s3_archive_via(proxy, moto, s3_bucket, PREFIX, flush_age="1s", **KEEP_EVERY_SPAN)},
                             processors=default_processors(**ASSEMBLY),
                             service={"wal": {"max_bytes": "256KiB", "segment_bytes": "64KiB"}})
        # Small requests (up to 60 spans, ~6 KB in the WAL), so the WAL fills request by request.
        load = start_senders(gw, ["grpc", "http"], retry=True, interval=0.02,
                             traces_per_batch=2, chunk=10, chunks=3)
        ledger = load.ledger
        refused = poll(lambda: "grpc UNAVAILABLE" in ledger.refused and "http 503" in ledger.refused, 15)
        full_refusals = metric(gw, "tracegate_wal_full_refusals_total")
        wal_bytes = metric(gw, "tracegate_wal_bytes")
        healthz = probe(gw, "/healthz")
        acked_while_down = len(ledger.acked_keys())
        time.sleep(1)
        proxy.up()
        time.sleep(3)
        load.stop()
        drained = poll(lambda: metric(gw, "tracegate_wal_outstanding_spans") == 0
                       and metric(gw, "tracegate_wal_segments") <= 1, 30, interval=0.25)
        outstanding = metric(gw, "tracegate_wal_outstanding_spans")
        full_refusals_end = metric(gw, "tracegate_wal_full_refusals_total")
        code = gw.stop()
    finally:
        proxy.close()
    rows = moto.read_spans(s3_bucket, PREFIX)
    audit = audit_spans(rows, ledger)
    with ledger.lock:
        retry_after = dict(ledger.retry_after)
    print(f"\n[WAL full] {ledger.summary()}; Retry-After on 503s: {retry_after}")
    print(f"[WAL full] while the store was down: acked {acked_while_down} spans, tracegate_wal_bytes {wal_bytes:.0f}, "
          f"tracegate_wal_full_refusals_total {full_refusals:.0f}, /healthz {healthz}; drained after the store came "
          f"back: {drained} (outstanding {outstanding:.0f})")
    print(f"[WAL full] tracegate_wal_full_refusals_total at the end {full_refusals_end:.0f}; {audit.figures()}")
    assert refused, f"no UNAVAILABLE and HTTP 503 within 15 s of a full WAL: {ledger.summary()}"
    assert full_refusals > 0, "tracegate_wal_full_refusals_total did not count the refusals"
    assert retry_after and None not in retry_after, f"HTTP 503 without Retry-After: {retry_after}"
    assert healthz == 200, f"/healthz answered {healthz} while the WAL was full"
    assert not ledger.unexpected, f"unexpected answers: {ledger.unexpected[:5]}"
    assert drained, f"the WAL did not drain within 30 s of the store coming back (outstanding {outstanding:.0f})"
    assert code == 0, gw.describe_exit()
    lost, duplicated, unknown = len(audit.lost), len(audit.duplicated), len(audit.unknown)
    assert lost == 0, f"{lost} acknowledged spans are not in the archive, e.g. {sorted(audit.lost)[:3]}"
    assert duplicated == 0, f"{duplicated} spans are archived more than once, e.g. {list(audit.duplicated.items())[:3]}"
    assert unknown == 0, f"{unknown} archived spans were never sent"
