#!/usr/bin/env python3
"""CPU cost of the issue-18 amplification request on a running gateway.

Starts the given tracegate binary on its embedded default config (loopback ports, archive in a
temp dir), sends one OTLP/JSON request over HTTP, gzip-compressed: one span with 100 attributes
of 70,000 `[` each (about 21 KB on the wire, 7 MB decoded), waits until the gateway's CPU time
stops growing, and prints the CPU seconds the request cost (user + system, from /proc), minus
what the idle gateway used over the same wait.

    python3 scripts/amplification.py --bin target/release/tracegate [--values 100] [--bytes 70000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def settle(pid: int, quiet_s: float = 1.5, limit_s: float = 120.0) -> float:
    """Waits until the CPU time has not grown for `quiet_s`; returns it."""
    deadline = time.monotonic() + limit_s
    last, since = cpu_seconds(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pid)
        if now > last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise SystemExit("the gateway never went quiet")


def request(values: int, size: int) -> bytes:
    attrs = [
        {"key": f"app.payload.{i}", "value": {"stringValue": "[" * size}} for i in range(values)
    ]
    now = time.time_ns()
    body = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "amp"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": os.urandom(16).hex(), "spanId": os.urandom(8).hex(), "name": "amp",
                "kind": 1, "startTimeUnixNano": str(now - 1_000_000), "endTimeUnixNano": str(now),
                "attributes": attrs,
            }]}],
        }]
    }
    return gzip.compress(json.dumps(body).encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--values", type=int, default=100)
    ap.add_argument("--bytes", type=int, default=70_000)
    opts = ap.parse_args()
    body = request(opts.values, opts.bytes)
    http, metrics = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ,
                   TRACEGATE_OTLP_GRPC_ENDPOINT=f"127.0.0.1:{free_port()}",
                   TRACEGATE_OTLP_HTTP_ENDPOINT=f"127.0.0.1:{http}",
                   TRACEGATE_METRICS_ADDRESS=f"127.0.0.1:{metrics}",
                   TRACEGATE_ARCHIVE_URL=f"{tmp}/archive", TRACEGATE_WAL_DIR=f"{tmp}/wal",
                   TRACEGATE_HOT_STORE_DIR=f"{tmp}/hot", TRACEGATE_QUERY_ADDRESS=f"127.0.0.1:{free_port()}",
                   TRACEGATE_PROMETHEUS_ADDRESS=f"127.0.0.1:{free_port()}", RUST_LOG="warn")
        gw = subprocess.Popen([opts.bin, "run"], env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            idle0 = settle(gw.pid)
            t0 = time.monotonic()
            idle1 = settle(gw.pid)
            idle_rate = (idle1 - idle0) / max(time.monotonic() - t0, 1e-9)
            before, t0 = cpu_seconds(gw.pid), time.monotonic()
            req = urllib.request.Request(
                f"http://127.0.0.1:{http}/v1/traces", data=body, method="POST",
                headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
            with urllib.request.urlopen(req, timeout=120) as resp:
                status = resp.status
            after = settle(gw.pid)
            cost = after - before - idle_rate * (time.monotonic() - t0)
            print(f"request: {len(body):,} bytes gzip, {opts.values * opts.bytes:,} bytes of "
                  f"values; HTTP {status}; gateway CPU for it: {max(cost, 0.0):.3f} s")
        finally:
            gw.terminate()
            gw.wait(timeout=60)


if __name__ == "__main__":
    main()
