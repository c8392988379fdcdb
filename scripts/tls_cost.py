#!/usr/bin/env python3
"""What TLS costs: spans/s per core of the embedded default config with the OTLP gRPC
listener in plaintext and with TLS (rustls, a P-256 certificate made here with the
``openssl`` CLI), in alternating runs (plain then TLS, TLS then plain, ...) pooled, so the
machine's drift during a sitting favours neither.

    python3 scripts/tls_cost.py --bin target/release/tracegate [--pairs 3] [--seconds 8]

Each run is a fresh `tracegate run` pinned to core 0, driven by `tracegate loadgen` on core 1
at a fixed rate well below saturation (``--rate``, default 25,000 rag spans/s, 4 connections;
with TLS it connects to ``https://localhost`` trusting the test CA). Per core = spans
accepted ÷ the gateway's CPU seconds from ready to exit (drain and Parquet flush included), so
the handshake and the encryption are both in it. The ratio TLS ÷ plain is the figure; 1.0
would be free.

Why a fixed rate and not saturation: at saturation the gateway refuses part of the load
(UNAVAILABLE when its buffers are full), and refused requests cost it CPU too. A TLS client on
one core offers less load, so it gets fewer refusals, and TLS came out *faster* than plaintext
(1.11×). At a rate both serve in full, the only difference left is TLS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "integration"))
import bench_run as b  # noqa: E402
from tg_certs import SERVER_EXT, Pki  # noqa: E402

GRPC_LINE = "endpoint: ${env:TRACEGATE_OTLP_GRPC_ENDPOINT:-0.0.0.0:4317}"


def tls_config(bin_path: str, directory: Path) -> tuple[Path, Path]:
    """The embedded default config with TLS on the OTLP gRPC listener, and the CA to trust."""
    ca = Pki(directory / "pki", "tracegate bench CA")
    cert, key = ca.issue("server", "localhost", SERVER_EXT)
    text = subprocess.run([bin_path, "default-config"], capture_output=True, text=True, check=True).stdout
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip() == GRPC_LINE), None)
    if at is None:
        raise SystemExit(f"the default config has no line {GRPC_LINE!r} to add TLS under")
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, f"{indent}tls: {{ cert_file: {cert}, key_file: {key} }}")
    path = directory / "tls.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path, ca.ca_cert


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rate", type=int, default=25000, help="offered spans/s (below saturation)")
    ap.add_argument("--out", help="write the figures as JSON here")
    opts = ap.parse_args()
    load = ["--profile", "rag", "--connections", "4", "--spans-per-request", "512",
            "--duration", f"{opts.seconds}s", "--rate", str(opts.rate)]
    per_core: dict[str, list[float]] = {"plain": [], "tls": []}
    utilisation: dict[str, list[float]] = {"plain": [], "tls": []}
    refused: dict[str, int] = {"plain": 0, "tls": 0}
    with tempfile.TemporaryDirectory(prefix="tracegate-tls-cost-") as tmp:
        config, ca = tls_config(opts.bin, Path(tmp))
        for i in range(opts.pairs):
            order = ["plain", "tls"] if i % 2 == 0 else ["tls", "plain"]
            for mode in order:
                gw = b.Gateway(opts.bin, "0", Path(tmp), f"{mode}-{i}", config=config if mode == "tls" else None)
                target = (["--endpoint", f"https://localhost:{gw.grpc}", "--tls-ca", str(ca)] if mode == "tls"
                          else ["--endpoint", f"http://127.0.0.1:{gw.grpc}"])
                cpu0, _ = gw.sample()
                sat = b.loadgen(opts.bin, "1", [*target, *load])
                cpu1, _ = gw.sample()
                end = gw.stop()
                if end["exit_code"] != 0:
                    raise SystemExit(f"the gateway exited with {end['exit_code']}; see {gw.log_path}")
                if sat["accepted_spans"] == 0:
                    raise SystemExit(f"{mode}: no span accepted; see {gw.log_path}")
                per_core[mode].append(sat["accepted_spans"] / end["cpu_after_ready_s"])
                refused[mode] += sat.get("refused_spans", 0)
                utilisation[mode].append((cpu1 - cpu0) / max(sat.get("elapsed_s", opts.seconds), 1e-9))
    pooled = sum(per_core["tls"]) / sum(per_core["plain"])
    ratios = [t / p for t, p in zip(per_core["tls"], per_core["plain"])]
    for mode, values in per_core.items():
        print(f"{mode:<5} spans/s per core: " + ", ".join(f"{v:,.0f}" for v in values)
              + "  (gateway core busy " + ", ".join(f"{u:.0%}" for u in utilisation[mode])
              + f"; {refused[mode]:,} spans refused)")
    print("TLS ÷ plain per pair: " + ", ".join(f"{r:.3f}" for r in ratios)
          + f"; median {statistics.median(ratios):.3f}; pooled {pooled:.3f}")
    if opts.out:
        Path(opts.out).write_text(json.dumps({"per_core": per_core, "utilisation": utilisation,
                                              "pooled_ratio": pooled, "ratios": ratios,
                                              "refused": refused, "rate": opts.rate}, indent=2))


if __name__ == "__main__":
    main()
