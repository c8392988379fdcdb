#!/usr/bin/env bash
# `make bench`: tracegate's end-to-end benchmark, measured the same way every time.
#
# Builds the release binary, then for each profile (rag, tiny):
#   - the decode-only reference: the same requests decoded with prost on core 0, in-process;
#   - tracegate pinned to core 0 (taskset) with the full default pipeline, archiving to a
#     temp dir on local disk, driven by `tracegate loadgen` pinned to core 1 at saturation,
#     then at 50% of the saturating rate;
# and a testbed-equivalent run (tiny, 10,000 spans/s, 60 s). Writes target/bench/results.json
# and prints a table. See scripts/bench_run.py for what is measured and how.
#
# Durations are overridable:
#   BENCH_SATURATION_S (15)  BENCH_HALF_S (15)  BENCH_DECODE_S (5)  BENCH_TESTBED_S (60)
#   BENCH_TESTBED_RATE (10000)  BENCH_CONNECTIONS (4)  BENCH_SPANS_PER_REQUEST (512)
#   BENCH_PROFILES ("rag tiny")  BENCH_GATEWAY_CPU (0)  BENCH_LOADGEN_CPU (1)
#   BENCH_OUT (target/bench/results.json)  BENCH_NO_BUILD (unset: build first)
#   BENCH_ROTEL (the rotel-agent binary; default: installed from PyPI into target/bench)
#   BENCH_WAL_ROUNDS (2: rounds of off / process / host in alternating order, pooled)
#   BENCH_WAL (1: also measure the WAL off / sync process / sync host and the replay; 0: skip)
#   BENCH_QUERY (1: also the read side, scripts/query_bench.py and scripts/component_cost.py --component hot_store; 0: skip)
#   BENCH_QUERY_SPANS (10000000: spans the hot store holds while trace by id and search are timed)
# Then scripts/component_cost.py (span_metrics), scripts/signal_rate.py (logs vs spans) and
# scripts/tls_cost.py (TLS on vs off).
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
PYTHON="${PYTHON:-python3}"
# pyarrow (from the test venv) lets the bench count the archive's rows; it runs without it.
if ! "$PYTHON" -c 'import pyarrow' 2>/dev/null && [[ -x .venv/bin/python ]]; then
  PYTHON=.venv/bin/python
fi

if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
  echo "== building tracegate (release)" >&2
  "$CARGO" build --release -p tracegate
fi

target_dir="${CARGO_TARGET_DIR:-target}"

# The reference collector: Rotel from PyPI (it ships the rotel-agent binary), in a venv of
# the bench's own. Without it the reference rows are left out.
if [[ -z "${BENCH_ROTEL:-}" ]]; then
  rotel_venv="$target_dir/bench/rotel-venv"
  mkdir -p "$target_dir/bench"
  if [[ -x "$rotel_venv/bin/pip" ]] || "$PYTHON" -m venv "$rotel_venv"; then
    if "$rotel_venv/bin/pip" install -q "rotel==0.0.1a15"; then
      BENCH_ROTEL="$(find "$rotel_venv" -name rotel-agent -type f | head -n 1)"
      export BENCH_ROTEL
    fi
  fi
  [[ -n "${BENCH_ROTEL:-}" ]] || echo "== rotel could not be installed: the reference rows are left out" >&2
fi
"$PYTHON" scripts/bench_run.py --bin "$target_dir/release/tracegate" "$@"
if [[ "${BENCH_QUERY:-1}" != 0 ]]; then
  echo "== the read side: trace by id and search through the Tempo API" >&2
  "$PYTHON" scripts/query_bench.py --bin "$target_dir/release/tracegate" \
    --spans "${BENCH_QUERY_SPANS:-10000000}" --out "$target_dir/bench/query.json"
  echo "== what the hot store's write path costs" >&2
  "$PYTHON" scripts/component_cost.py --bin "$target_dir/release/tracegate" --component hot_store
fi
echo "== what span_metrics and alerts cost" >&2
"$PYTHON" scripts/component_cost.py --bin "$target_dir/release/tracegate" --component span_metrics
echo "== the logs path beside the spans path" >&2
"$PYTHON" scripts/signal_rate.py --bin "$target_dir/release/tracegate" --out "$target_dir/bench/signal_rate.json"
echo "== what TLS costs on the OTLP gRPC listener" >&2
"$PYTHON" scripts/tls_cost.py --bin "$target_dir/release/tracegate" --out "$target_dir/bench/tls_cost.json"
