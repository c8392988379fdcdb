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
#   BENCH_WAL (1: also measure the WAL off / sync process / sync host and the replay; 0: skip)
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
PYTHON="${PYTHON:-python3}"

if [[ -z "${BENCH_NO_BUILD:-}" ]]; then
  echo "== building tracegate (release)" >&2
  "$CARGO" build --release -p tracegate
fi

target_dir="${CARGO_TARGET_DIR:-target}"
exec "$PYTHON" scripts/bench_run.py --bin "$target_dir/release/tracegate" "$@"
