#!/usr/bin/env python3
"""The logs path beside the spans path: items per second per core of the embedded default
config, for the same calls sent as spans (`tracegate loadgen --profile rag`) and as the seed's
structured LLM log records (`--signal logs`, one record of about the span's size per span), in
alternating runs (spans then logs, logs then spans, ...) pooled, so the machine's drift during
a sitting favours neither.

    python3 scripts/signal_rate.py --bin target/release/tracegate [--pairs 3] [--seconds 8]

Each run is a fresh `tracegate run` pinned to core 0 (the default config: the traces pipeline
with every processor, and the logs pipeline `llm_logs, redaction, scores` into the archive),
driven by the load generator on core 1 at saturation. Per core = items accepted ÷ the
gateway's CPU seconds from ready to exit (drain and Parquet flush included). The goal
(issue 15): the logs path at least as fast as the spans path, a ratio >= 1.0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_run as b  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--out", help="write the figures as JSON here")
    opts = ap.parse_args()
    load = ["--profile", "rag", "--connections", "4", "--spans-per-request", "512",
            "--duration", f"{opts.seconds}s"]
    per_core: dict[str, list[float]] = {"traces": [], "logs": []}
    bytes_per_item: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="tracegate-signal-rate-") as tmp:
        for i in range(opts.pairs):
            order = ["traces", "logs"] if i % 2 == 0 else ["logs", "traces"]
            for signal in order:
                gw = b.Gateway(opts.bin, "0", Path(tmp), f"{signal}-{i}")
                sat = b.loadgen(opts.bin, "1", ["--endpoint", f"http://127.0.0.1:{gw.grpc}",
                                                "--signal", signal, *load])
                end = gw.stop()
                if end["exit_code"] != 0:
                    raise SystemExit(f"the gateway exited with {end['exit_code']}; see {gw.log_path}")
                per_core[signal].append(sat["accepted_spans"] / end["cpu_after_ready_s"])
                pool = sat["pool"]
                bytes_per_item[signal] = pool["bytes"] / max(pool["spans"], 1)
    pooled = sum(per_core["logs"]) / sum(per_core["traces"])
    ratios = [lg / tr for lg, tr in zip(per_core["logs"], per_core["traces"])]
    for signal, values in per_core.items():
        print(f"{signal:<7} items/s per core: " + ", ".join(f"{v:,.0f}" for v in values)
              + f"  ({bytes_per_item[signal]:.0f} B per encoded item)")
    print("logs ÷ traces per pair: " + ", ".join(f"{r:.3f}" for r in ratios)
          + f"; median {statistics.median(ratios):.3f}; pooled {pooled:.3f}")
    if opts.out:
        Path(opts.out).write_text(json.dumps({"per_core": per_core, "bytes_per_item": bytes_per_item,
                                              "pooled_ratio": pooled, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
