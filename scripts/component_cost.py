#!/usr/bin/env python3
"""What one part of the default pipeline costs: spans/s per core of the embedded default
config ÷ the same config with that part taken out, from alternating pairs of saturation runs
(without then with, with then without, ...), pooled, so the machine's drift during a sitting
does not favour either side.

    python3 scripts/component_cost.py --bin target/release/tracegate --component hot_store [--pairs 4] [--seconds 8]
    python3 scripts/component_cost.py --bin target/release/tracegate --component span_metrics

The components: `hot_store` (the hot tier's write path; the issue's bound is at most 10 %, a
ratio >= 0.90) and `span_metrics` (the span_metrics and alerts processors together; at most
5 %, a ratio >= 0.95).

Each run is a fresh `tracegate run` pinned to core 0, driven by `tracegate loadgen --profile
rag` on core 1; spans/s per core is spans accepted ÷ the gateway's CPU seconds from ready to
exit. Uses scripts/bench_run.py's helpers. The issue's bound: at most 10 % (a ratio ≥ 0.90).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_run as b  # noqa: E402

# What each component's removal changes in the default config's text: (with, without).
EDITS = {
    "hot_store": ("exporters: [hot_store, archive]", "exporters: [archive]"),
    "span_metrics": ("latency_breakdown, span_metrics, alerts, tail_sampling", "latency_breakdown, tail_sampling"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--component", choices=sorted(EDITS), default="hot_store")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=8)
    opts = ap.parse_args()
    default = subprocess.run([opts.bin, "default-config"], capture_output=True, text=True, check=True).stdout
    with_text, without_text = EDITS[opts.component]
    if with_text not in default:
        raise SystemExit(f"the default config has no `{with_text}`; update scripts/component_cost.py")
    load = ["--profile", "rag", "--connections", "4", "--spans-per-request", "512",
            "--duration", f"{opts.seconds}s"]
    per_core: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory(prefix="tracegate-component-cost-") as tmp:
        configs = {"with": Path(tmp) / "with.yaml", "without": Path(tmp) / "without.yaml"}
        configs["with"].write_text(default)
        configs["without"].write_text(default.replace(with_text, without_text))
        for i in range(opts.pairs):
            order = ["without", "with"] if i % 2 == 0 else ["with", "without"]
            for side in order:
                gw = b.Gateway(opts.bin, "0", Path(tmp), f"{side}-{i}", config=configs[side])
                sat = b.loadgen(opts.bin, "1", ["--endpoint", f"http://127.0.0.1:{gw.grpc}", *load])
                end = gw.stop()
                per_core[side].append(sat["accepted_spans"] / end["cpu_after_ready_s"])
    ratios = [w / wo for w, wo in zip(per_core["with"], per_core["without"])]
    pooled = sum(per_core["with"]) / sum(per_core["without"])
    for side, values in per_core.items():
        print(f"{side:<8} {opts.component}, spans/s per core: " + ", ".join(f"{v:,.0f}" for v in values))
    print("with ÷ without per pair: " + ", ".join(f"{r:.3f}" for r in ratios)
          + f"; median {statistics.median(ratios):.3f}; pooled {pooled:.3f} "
          f"({opts.component} costs {100 * (1 - pooled):.1f} % of spans/s per core)")


if __name__ == "__main__":
    main()
