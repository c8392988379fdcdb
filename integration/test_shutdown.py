"""SIGTERM under load: every span of every acknowledged request reaches the archive, once.

Several threads post OTLP/protobuf requests of known spans as fast as the gateway accepts them
for about 3 s; SIGTERM arrives in the middle. The gateway must exit 0 after a staged shutdown,
and the archive (moto S3) must hold every span of every request that got a 200, and no span
twice. Requests refused (429/503) or that could not connect are allowed to be missing."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests

import tg_archive
import tg_otlp
from tg_otlp import make_request, make_trace, post_otlp

PREFIX = "llm-traces"
THREADS = 4
LOAD_SECONDS = 3.5
SIGTERM_AFTER = 2.0
SPANS_PER_REQUEST = 10  # one trace per request
RETRYABLE = {429, 503}


@dataclass
class LoadResult:
    acked: list[set] = field(default_factory=list)      # span keys of each 200 response
    acked_before_sigterm: int = 0
    refused: Counter = field(default_factory=Counter)   # status or exception name -> count
    unexpected: list[str] = field(default_factory=list)
    sent: set = field(default_factory=set)              # span keys of every request tried
    lock: threading.Lock = field(default_factory=threading.Lock)


def worker(url: str, stop_at: float, sigterm_sent: threading.Event, result: LoadResult) -> None:
    session = requests.Session()
    failures_in_a_row = 0
    while time.monotonic() < stop_at and failures_in_a_row < 50:
        spans = make_trace(SPANS_PER_REQUEST, "load")
        keys = {s.key for s in spans}
        body = make_request(spans, service="load-gen").SerializeToString()
        with result.lock:
            result.sent |= keys
        before_term = not sigterm_sent.is_set()
        try:
            resp = session.post(url, data=body, headers={"Content-Type": tg_otlp.PROTOBUF}, timeout=10)
        except requests.RequestException as exc:
            with result.lock:
                result.refused[type(exc).__name__] += 1
            failures_in_a_row += 1
            time.sleep(0.01)
            session = requests.Session()
            continue
        with result.lock:
            if resp.status_code == 200:
                partial = tg_otlp.parse_export_response(resp).partial_success
                if partial.rejected_spans:
                    result.unexpected.append(f"200 with {partial.rejected_spans} rejected: {partial.error_message}")
                else:
                    result.acked.append(keys)
                    result.acked_before_sigterm += before_term
                failures_in_a_row = 0
            elif resp.status_code in RETRYABLE:
                result.refused[resp.status_code] += 1
                failures_in_a_row += 1
            else:
                result.unexpected.append(f"HTTP {resp.status_code}: {resp.text[:200]}")
                failures_in_a_row += 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_acknowledged_span_is_lost_on_sigterm(moto, s3_bucket, gateway_factory):
    # A long flush_age: only the shutdown flush uploads, which is what is under test.
    gw = gateway_factory({"archive": moto.archive_exporter(s3_bucket, PREFIX, flush_age="5m")})
    result = LoadResult()
    sigterm_sent = threading.Event()
    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(gw.traces_url, start + LOAD_SECONDS, sigterm_sent, result),
                                daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    time.sleep(SIGTERM_AFTER)
    sigterm_sent.set()
    gw.signal()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "load threads did not stop"
    code = gw.wait()
    shutdown_s = time.monotonic() - start - SIGTERM_AFTER
    assert code == 0, gw.describe_exit()

    acked = [k for keys in result.acked for k in keys]
    assert result.acked_before_sigterm > 0, f"no request was acknowledged before SIGTERM: {result.refused}"
    assert not result.unexpected, f"unexpected responses: {result.unexpected[:5]}"

    keys = moto.list_keys(s3_bucket, f"{PREFIX}/")
    rows = moto.read_spans(s3_bucket, PREFIX)
    archived = Counter((r["trace_id"], r["span_id"]) for r in rows)
    lost = set(acked) - set(archived)
    dups = {k: n for k, n in archived.items() if n > 1}
    unknown = set(archived) - result.sent
    print(f"requests acked: {len(result.acked)} ({result.acked_before_sigterm} before SIGTERM), "
          f"refused: {dict(result.refused)}, spans acked: {len(acked)}, archived: {len(rows)} "
          f"in {len(keys)} objects, exit after SIGTERM: {shutdown_s:.1f}s")
    assert not lost, f"{len(lost)} acknowledged spans are not in the archive, e.g. {sorted(lost)[:3]}"
    assert not dups, f"{len(dups)} spans archived more than once, e.g. {list(dups.items())[:3]}"
    assert not unknown, f"{len(unknown)} archived spans were never sent: {sorted(unknown)[:3]}"
    problems = tg_archive.check_hive_layout(keys, rows, PREFIX)
    assert not problems, "\n".join(problems[:10])
    assert not gw.error_logs(), f"ERROR logs during a clean shutdown: {gw.error_logs()}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_flushes_the_archive_and_exits_cleanly(sig, moto, s3_bucket, gateway_factory):
    """SIGTERM and SIGINT both stop the gateway in stages: what was accepted is uploaded, the
    exit code is 0, and nothing is logged at ERROR level on the way."""
    gw = gateway_factory({"archive": moto.archive_exporter(s3_bucket, PREFIX, flush_age="5m")})
    spans = make_trace(5, "flush")
    resp = post_otlp(gw.traces_url, make_request(spans).SerializeToString())
    assert resp.status_code == 200, resp.text
    assert moto.list_keys(s3_bucket, PREFIX) == [], "flush_age is 5m: nothing should be uploaded yet"

    code = gw.stop(sig)
    assert code == 0, gw.describe_exit()
    rows = moto.read_spans(s3_bucket, PREFIX)
    assert sorted((r["trace_id"], r["span_id"]) for r in rows) == sorted(s.key for s in spans)
    errors = gw.error_logs()
    assert not errors, "a clean shutdown logged errors:\n" + "\n".join(map(str, errors))


# ---------------------------------------------------------------------------------------------
# Issue 18: one shutdown deadline, readiness, and a second signal
# ---------------------------------------------------------------------------------------------

DEADLINE_MARGIN_S = 30  # a debug build on a loaded machine: liveness, not a benchmark


def dead_store_archive() -> dict:
    """An archive on S3 at a loopback port nothing listens on, with a small buffer: uploads
    retry forever, the buffer fills and export waits, and so does everything before it."""
    from conftest import free_port

    return {
        "url": "s3://bucket/x",
        "flush_bytes": "256KiB",
        "max_buffer_bytes": "1MiB",
        "flush_age": "5m",
        "retry": {"initial_backoff": "100ms", "max_backoff": "1s"},
        "s3": {
            "endpoint": f"http://127.0.0.1:{free_port()}",
            "region": "us-east-1",
            "access_key_id": "test",
            "secret_access_key": "test",
            "allow_http": True,
        },
    }


def probe(gw, path: str) -> int | None:
    try:
        return requests.get(f"http://127.0.0.1:{gw.metrics_port}{path}", timeout=2).status_code
    except requests.RequestException:
        return None


def start_ready(gw, timeout: float = 60) -> None:
    """Starts ``gw`` and waits until ``/readyz`` says it takes traffic."""
    import os
    import subprocess

    import conftest

    with open(gw.log_path, "wb") as err, open(gw.stdout_path, "wb") as out:
        gw.proc = subprocess.Popen(
            [str(gw.binary), "run", "-c", str(gw.config_path)],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=dict(os.environ), cwd=gw.workdir,
        )
    conftest._LIVE.append(gw.proc)
    conftest._ALL_GATEWAYS.append(gw)
    conftest.wait_until(lambda: gw.proc.poll() is not None or probe(gw, "/readyz") == 200, timeout,
                        interval=0.05, what=f"{gw.name} to become ready")
    assert gw.proc.poll() is None, gw.describe_exit()


def fill(gw, seconds: float) -> LoadResult:
    """Posts requests from a few threads for ``seconds``, until the gateway refuses."""
    result = LoadResult()
    never = threading.Event()
    stop_at = time.monotonic() + seconds
    threads = [threading.Thread(target=worker, args=(gw.traces_url, stop_at, never, result), daemon=True)
               for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 30)
    return result


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_store_down_sigterm_gives_up_at_the_deadline_and_counts_what_was_lost(gateway_factory):
    gw = gateway_factory({"archive": dead_store_archive()}, start=False, service={"shutdown_timeout": "3s"})
    start_ready(gw)
    result = fill(gw, 4)
    assert result.acked, f"nothing was accepted: {dict(result.refused)}"
    assert probe(gw, "/healthz") == 200, "a store that is down degrades the gateway, it does not fail it"

    signalled = time.monotonic()
    gw.signal(signal.SIGTERM)
    # Draining: the metrics server still answers, and says not ready.
    saw = conftest_wait_for(lambda: probe(gw, "/readyz") in (503, None))
    assert saw, "/readyz kept saying ready after SIGTERM"
    code = gw.wait(timeout=3 + DEADLINE_MARGIN_S)
    took = time.monotonic() - signalled
    assert not gw.killed, f"did not exit within the deadline plus {DEADLINE_MARGIN_S}s\n{gw.describe_exit()}"
    assert code not in (0, None), gw.describe_exit()
    counted = [r for r in gw.log_records() if "unflushed" in r]
    assert counted and int(counted[-1]["unflushed"]) > 0, gw.describe_exit()
    print(f"exit {code} {took:.1f}s after SIGTERM; {counted[-1]['unflushed']} spans not flushed")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_second_sigterm_during_shutdown_exits_at_once(gateway_factory):
    # A deadline far away: only the second signal can end this shutdown soon.
    gw = gateway_factory({"archive": dead_store_archive()}, start=False, service={"shutdown_timeout": "10m"})
    start_ready(gw)
    fill(gw, 4)
    gw.signal(signal.SIGTERM)
    time.sleep(1)
    assert gw.running(), f"exited before the second signal:\n{gw.describe_exit()}"
    gw.signal(signal.SIGTERM)
    code = gw.wait(timeout=DEADLINE_MARGIN_S)
    assert not gw.killed, gw.describe_exit()
    assert code == 143, gw.describe_exit()
    assert any("second signal" in str(r.get("message", "")) for r in gw.log_records()), gw.describe_exit()


def conftest_wait_for(predicate, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False
