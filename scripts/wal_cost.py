#!/usr/bin/env python3
"""What the write-ahead log costs: spans/s per core with `sync: process` (or `host`) ÷ the same
with the WAL off, from alternating pairs of saturation runs (off then on, on then off, ...),
pooled, so the machine's drift during a sitting does not favour either side.

    python3 scripts/wal_cost.py --bin target/release/tracegate [--pairs 4] [--mode process]

Each run is a fresh `tracegate run` (embedded default config) pinned to core 0, driven by
`tracegate loadgen --profile rag` on core 1 for 8 s; spans/s per core is spans accepted ÷ the
gateway's CPU seconds from ready to exit. Uses scripts/bench_run.py's helpers.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_run as b  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--mode", choices=["process", "host"], default="process")
    ap.add_argument("--seconds", type=float, default=8)
    opts = ap.parse_args()
    load = ["--profile", "rag", "--connections", "4", "--spans-per-request", "512",
            "--duration", f"{opts.seconds}s"]
    per_core: dict[str, list[float]] = {"off": [], opts.mode: []}
    with tempfile.TemporaryDirectory(prefix="tracegate-wal-cost-") as tmp:
        for i in range(opts.pairs):
            order = ["off", opts.mode] if i % 2 == 0 else [opts.mode, "off"]
            for mode in order:
                gw = b.Gateway(opts.bin, "0", Path(tmp), f"{mode}-{i}", b.WAL_MODES[mode])
                sat = b.loadgen(opts.bin, "1", ["--endpoint", f"http://127.0.0.1:{gw.grpc}", *load])
                end = gw.stop()
                per_core[mode].append(sat["accepted_spans"] / end["cpu_after_ready_s"])
    ratios = [on / off for on, off in zip(per_core[opts.mode], per_core["off"])]
    pooled = sum(per_core[opts.mode]) / sum(per_core["off"])
    for mode, values in per_core.items():
        print(f"{mode:<8} spans/s per core: " + ", ".join(f"{v:,.0f}" for v in values))
    print(f"{opts.mode} ÷ off per pair: " + ", ".join(f"{r:.3f}" for r in ratios)
          + f"; median {statistics.median(ratios):.3f}; pooled {pooled:.3f} "
          f"(the WAL costs {100 * (1 - pooled):.1f} % of spans/s per core)")


if __name__ == "__main__":
    main()
