#!/usr/bin/env python3
"""The read side end to end: a gateway on the embedded default config (hot store and query
API on), filled by `tracegate loadgen` with N rag spans, then timed through the Tempo API the
way Grafana calls it.

    python3 scripts/query_bench.py --bin target/release/tracegate [--spans 10000000] [--lookups 300]

It reports:
- trace by id (`GET /api/v2/traces/{id}`, protobuf): p50 / p99 / max over `--lookups` ids
  taken from a search, in random order, each asked once;
- search `{resource.service.name="llm-service" && duration>1s}` (the issue's query shape),
  `{resource.service.name="reranker" && duration>2s}` (matches nothing: a scan of every
  candidate the index lets through) and `{}` (newest traces), each run 5 times: median and
  max, with the traces returned and inspected;
- the hot store's size: spans and blocks held, bytes on disk.

The gateway is pinned to core 0 and loadgen to core 1 while filling; the queries run from this
process afterwards, with the gateway idle otherwise. Uses scripts/bench_run.py's helpers.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_run as b  # noqa: E402


LOADGEN_START_S = 1_795_327_200  # testkit's GeneratorConfig::DEFAULT_START_UNIX_NANO / 1e9


def get(url: str, accept: str = "application/json") -> tuple[float, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    t0 = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as resp:
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"{url}: {resp.status}")
    return time.perf_counter() - t0, body


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--lookups", type=int, default=300)
    ap.add_argument("--out", default="target/bench/query.json")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracegate-query-bench-") as tmp:
        query_port = b.free_port()
        gw = b.Gateway(opts.bin, "0", Path(tmp), "query",
                       {"TRACEGATE_QUERY_ADDRESS": f"127.0.0.1:{query_port}"})
        api = f"http://127.0.0.1:{query_port}"
        try:
            result = measure(opts, gw, api)
        finally:
            gateway = gw.stop()
        result["gateway_peak_rss_mib"] = (gateway.get("vmhwm_kib") or 0) / 1024
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    held = result["held"]
    t = result["trace_by_id_ms"]
    print(f"hot store: {held['spans_accepted']:,} spans in {held['blocks']:.0f} blocks, "
          f"{held['bytes'] / 2**20:,.0f} MiB on disk (filled in {held['fill_seconds']:.0f} s)")
    print(f"trace by id (v2, protobuf), {t['lookups']} lookups: p50 {t['p50']:.1f} ms, "
          f"p99 {t['p99']:.1f} ms, max {t['max']:.1f} ms")
    for q, r in result["search"].items():
        print(f"search {q}: median {r['median_ms']:.0f} ms, max {r['max_ms']:.0f} ms, "
              f"{r['traces']} traces, {r['inspected_traces']} inspected")
    print(f"gateway peak RSS {result['gateway_peak_rss_mib']:.0f} MiB")
    print(f"results: {out}")


def measure(opts, gw, api: str) -> dict:
    """Fills the hot store, then times lookups and searches."""
    b.log(f"filling the hot store with {opts.spans:,} rag spans")
    t0 = time.monotonic()
    sent = b.loadgen(opts.bin, "1", ["--endpoint", f"http://127.0.0.1:{gw.grpc}", "--profile", "rag",
                                     "--connections", "4", "--spans-per-request", "512",
                                     "--spans", str(opts.spans)])
    accepted = sent["accepted_spans"]
    deadline = time.monotonic() + 600
    while gw.metric("tracegate_hot_store_spans_written_total") < 0.999 * accepted:
        if time.monotonic() > deadline:
            raise SystemExit("the hot store did not write every accepted span within 10 minutes")
        time.sleep(1)
    fill_s = time.monotonic() - t0
    held = {"spans_accepted": accepted, "fill_seconds": fill_s,
            "blocks": gw.metric("tracegate_hot_store_blocks"),
            "bytes": gw.metric("tracegate_hot_store_bytes")}
    b.log(f"held: {held}")

    # loadgen's traces start at the generator's fixed time base, 2026-11-22T06:00:00Z, a
    # few ms apart; search the two days from an hour before it.
    base = LOADGEN_START_S - 3600
    window = f"&start={base}&end={base + 48 * 3600}"

    def search(q: str, limit: int) -> tuple[float, dict]:
        url = f"{api}/api/search?q={urllib.parse.quote(q)}&limit={limit}{window}"
        seconds, body = get(url)
        return seconds, json.loads(body)

    _, newest = search("{}", opts.lookups)
    ids = [t["traceID"] for t in newest.get("traces", [])]
    # Older traces too, from other services' searches, so lookups hit old and new blocks.
    _, slow = search('{resource.service.name="retriever"}', opts.lookups)
    ids += [t["traceID"] for t in slow.get("traces", [])]
    random.Random(7).shuffle(ids)
    ids = ids[: opts.lookups]
    if not ids:
        raise SystemExit("search returned no traces")
    lookups = []
    for tid in ids:
        seconds, body = get(f"{api}/api/v2/traces/{tid}", "application/protobuf")
        if len(body) < 16:
            raise SystemExit(f"trace {tid} came back empty")
        lookups.append(seconds * 1e3)
    queries = {}
    # The query shape; one that matches nothing, so every candidate the index lets
    # through is decoded and evaluated (the whole store's worth); and the newest traces.
    for q in ['{resource.service.name="llm-service" && duration>1s}',
              '{resource.service.name="reranker" && duration>2s}', "{}"]:
        runs = [search(q, 20) for _ in range(5)]
        queries[q] = {"median_ms": statistics.median(r[0] for r in runs) * 1e3,
                      "max_ms": max(r[0] for r in runs) * 1e3,
                      "traces": len(runs[0][1].get("traces", [])),
                      "inspected_traces": runs[0][1].get("metrics", {}).get("inspectedTraces", 0)}
    return {
        "held": held,
        "trace_by_id_ms": {"lookups": len(lookups), "p50": percentile(lookups, 50),
                           "p99": percentile(lookups, 99), "max": max(lookups)},
        "search": queries,
    }


if __name__ == "__main__":
    main()
