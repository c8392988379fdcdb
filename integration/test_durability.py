"""Durability (issue "Durability"): once tracegate has acknowledged a span, the span reaches
the archive exactly once, across ``kill -9`` and restarts, as long as the disk holds.

The write-ahead log (``service.wal``, on by default in ``./data/wal`` under the gateway's cwd)
gets each span before the OK; a restart replays what no exporter had made durable, through
trace assembly, before the receivers open.

- kill -9 under load (gRPC, HTTP), the default processors, the archive on moto S3: restart on
  the same work dir, SIGTERM; DuckDB counts each acknowledged span once in the spans table,
  and no trace twice in the traces table.
- a torn WAL tail: the last record of the newest segment cut at a random byte after a kill;
  the gateway starts, counts it as torn, and archives every span of the whole records once.

Run with ``-s`` to see the figures each test prints.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

import tg_archive
from conftest import KEEP_EVERY_SPAN, default_processors
from tg_durability import (
    HttpClient, Ledger, TraceMixer, audit_spans, audit_traces, metric, poll, read_segment, replay_from,
    start_senders, wal_segments, wal_span_lsns,
)
from tg_otlp import make_request

PREFIX = "llm-traces"
# Traces are released soon after their root, so some are uploaded (durable) before the kill
# and the restart has to skip them; the rest wait in assembly or the archive's buffer.
ASSEMBLY = {"idle_after_root": "500ms", "max_wait": "5s"}
SENDERS = 3
# Each sender: its next batch (up to 300 spans) 30 ms after the last was answered, so at most
# ~30k spans/s in all: the gateway is loaded, and the archive DuckDB reads stays small enough
# for the CI budget.
PACE_S = 0.03
MIN_LOAD_S = 4.0       # at least this much load before the kill
UPLOAD_WAIT_S = 15     # ... and until the archive has uploaded something
AFTER_UPLOAD_S = 1.0   # ... and then this much more
REPLAY_READY_S = 60    # replay happens before /readyz says 200


def wal_summary(gw) -> str:
    segs = wal_segments(gw.wal_dir)
    return f"{len(segs)} segments, {sum(p.stat().st_size for p in segs)} bytes"


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_kill_9_under_load_then_restart_archives_every_acknowledged_span_once(transport, moto, s3_bucket,
                                                                                 gateway_factory):
    gw = gateway_factory({"archive": moto.archive_exporter(s3_bucket, PREFIX, flush_age="1s", **KEEP_EVERY_SPAN)},
                         processors=default_processors(**ASSEMBLY))
    load = start_senders(gw, [transport] * SENDERS, interval=PACE_S)
    started = time.monotonic()
    time.sleep(MIN_LOAD_S)
    uploaded = poll(lambda: moto.list_keys(s3_bucket, f"{PREFIX}/spans/"), UPLOAD_WAIT_S, interval=0.2)
    time.sleep(AFTER_UPLOAD_S)
    objects_before_kill = len(moto.list_keys(s3_bucket, f"{PREFIX}/"))
    code = gw.stop(signal.SIGKILL)
    load_s = time.monotonic() - started
    load.stop()
    ledger = load.ledger
    assert code == -signal.SIGKILL, gw.describe_exit()
    assert ledger.acked, f"nothing was acknowledged before the kill: {ledger.summary()}"
    assert not ledger.unexpected, f"unexpected answers: {ledger.unexpected[:5]}"
    wal_at_kill = wal_summary(gw)
    lsn_of = wal_span_lsns(gw.wal_dir)  # where each span sits in the WAL the restart finds

    t0 = time.monotonic()
    gw.restart(timeout=REPLAY_READY_S)
    ready_s = time.monotonic() - t0
    replayed_records = metric(gw, "tracegate_wal_replayed_records_total")
    replayed_spans = metric(gw, "tracegate_wal_replayed_spans_total")
    corrupt = metric(gw, "tracegate_wal_corrupt_records_total")
    start_lsn = replay_from(gw)
    # Replayed spans the archive had uploaded before the kill are skipped (exactly-once), once
    # assembly has released them; a few seconds at most, not asserted (the audit is what counts).
    poll(lambda: metric(gw, "tracegate_archive_replay_skipped_spans_total") > 0, 3, interval=0.2)
    skipped = metric(gw, "tracegate_archive_replay_skipped_spans_total")
    t0 = time.monotonic()
    code = gw.stop()
    stop_s = time.monotonic() - t0
    assert code == 0, gw.describe_exit()

    rows = moto.read_spans(s3_bucket, PREFIX)
    traces = tg_archive.read_traces(f"s3://{s3_bucket}/{PREFIX}", s3=moto.s3_endpoint)
    audit = audit_spans(rows, ledger)
    trace_problems, trace_figures = audit_traces(traces, rows)
    print(f"\n[kill -9, {transport}] load {load_s:.1f}s with {SENDERS} senders: {ledger.summary()}")
    print(f"[kill -9, {transport}] archive objects before the kill: {objects_before_kill} "
          f"(uploaded before kill: {bool(uploaded)}); WAL at the kill: {wal_at_kill}")
    print(f"[kill -9, {transport}] restart ready after {ready_s:.1f}s: replayed {replayed_records:.0f} records, "
          f"{replayed_spans:.0f} spans, corrupt {corrupt:.0f}; archive skipped {skipped:.0f} replayed spans it had "
          f"uploaded; SIGTERM exit after {stop_s:.1f}s")
    print(f"[kill -9, {transport}] {audit.figures()}")
    print(f"[kill -9, {transport}] {trace_figures}")
    if audit.lost:
        # Where the lost spans were in the WAL the restart found: below the LSN it replayed
        # from (some exporter had reported them durable), at or above it (replayed, then not
        # archived), or in no whole record.
        not_in_wal = sum(1 for k in audit.lost if k not in lsn_of)
        below = sum(1 for k in audit.lost if k in lsn_of and start_lsn is not None and lsn_of[k] < start_lsn)
        print(f"[kill -9, {transport}] lost spans in the WAL: {below} below replay_from={start_lsn}, "
              f"{len(audit.lost) - below - not_in_wal} at or above it, {not_in_wal} in no WAL record")

    assert uploaded, "the archive uploaded nothing before the kill: the restart had nothing to skip"
    lost, duplicated, unknown = len(audit.lost), len(audit.duplicated), len(audit.unknown)
    assert lost == 0, f"{lost} acknowledged spans are not in the archive, e.g. {sorted(audit.lost)[:3]}"
    assert duplicated == 0, f"{duplicated} spans are archived more than once, e.g. {list(audit.duplicated.items())[:3]}"
    assert unknown == 0, f"{unknown} archived spans were never sent: {sorted(audit.unknown)[:3]}"
    assert not trace_problems, "\n".join(trace_problems)


TORN_REQUESTS = 10
TORN_MIXER = {"traces_per_batch": 4, "chunk": 10, "chunks": 3}  # up to 120 spans a request


@pytest.mark.timeout(90)
def test_a_torn_wal_tail_is_cut_off_and_every_whole_record_is_archived_once(gateway_factory, tmp_path):
    archive = tmp_path / "archive"
    # Nothing is durable before the kill (flush_age 5m): the WAL holds every acknowledged span.
    gw = gateway_factory({"archive": {"url": str(archive), "flush_age": "5m", **KEEP_EVERY_SPAN}},
                         processors=default_processors(idle_after_root="500ms", max_wait="5m"))
    ledger = Ledger()
    mixer = TraceMixer("torn", **TORN_MIXER)
    client = HttpClient(gw)
    for _ in range(TORN_REQUESTS):  # one at a time: one request, one WAL record
        spans = mixer.next_batch()
        keys = [s.key for s in spans]
        ledger.sent_batch(keys)
        assert client.send(make_request(spans, service="torn"), ledger) is True, ledger.summary()
        ledger.ack("http", keys)
    client.close()
    assert gw.stop(signal.SIGKILL) == -signal.SIGKILL, gw.describe_exit()

    segments = wal_segments(gw.wal_dir)
    assert segments, f"no WAL segment in {gw.wal_dir}: {sorted(p.name for p in gw.wal_dir.iterdir())}"
    in_wal: list = []
    for seg in segments:
        records, end = read_segment(seg)
        assert end == seg.stat().st_size, f"{seg.name}: {seg.stat().st_size - end} bytes after the last whole record"
        in_wal.extend(k for r in records for k in r.keys)
    acked = ledger.acked_keys()
    missing = acked - set(in_wal)
    n_missing = len(missing)
    assert n_missing == 0, f"{n_missing} acknowledged spans are in no WAL record (appended before the OK?)"

    last = segments[-1]
    records, _ = read_segment(last)
    assert records, f"the newest segment {last.name} holds no record ({last.stat().st_size} bytes)"
    torn = records[-1]
    seed = random.randrange(1 << 30)
    cut = random.Random(seed).randrange(torn.start + 1, torn.end)
    with open(last, "r+b") as f:
        f.truncate(cut)
    torn_keys = set(torn.keys)
    print(f"\n[torn tail] {len(segments)} segments, {sum(len(read_segment(s)[0]) for s in segments[:-1]) + len(records)} "
          f"records; cut {last.name} at byte {cut} inside its last record [{torn.start}, {torn.end}) "
          f"of {len(torn.keys)} spans (seed {seed})")

    gw.restart(timeout=REPLAY_READY_S)
    torn_count = metric(gw, "tracegate_wal_corrupt_records_total", kind="torn")
    replayed_records = metric(gw, "tracegate_wal_replayed_records_total")
    replayed_spans = metric(gw, "tracegate_wal_replayed_spans_total")
    code = gw.stop()
    assert code == 0, gw.describe_exit()

    rows = tg_archive.read_spans(archive)
    audit = audit_spans(rows, ledger)
    print(f"[torn tail] restart: corrupt{{kind=torn}} {torn_count:.0f}, replayed {replayed_records:.0f} records / "
          f"{replayed_spans:.0f} spans; {audit.figures()}; lost of the torn record: {len(audit.lost & torn_keys)}")
    assert torn_count >= 1, "tracegate_wal_corrupt_records_total{kind=\"torn\"} did not count the torn tail"
    duplicated, unknown = len(audit.duplicated), len(audit.unknown)
    assert duplicated == 0, f"{duplicated} spans archived twice, e.g. {list(audit.duplicated.items())[:3]}"
    assert unknown == 0, f"{unknown} archived spans were never sent"
    lost_whole = audit.lost - torn_keys
    n_lost_whole = len(lost_whole)
    assert n_lost_whole == 0, (f"{n_lost_whole} spans of whole WAL records are not in the archive, "
                            f"e.g. {sorted(lost_whole)[:3]}")
    n_lost, n_torn = len(audit.lost), len(torn_keys)
    assert n_lost <= n_torn, f"lost {n_lost} spans, the torn record had {n_torn}"
