#!/usr/bin/env bash
# Runs tracegate's fuzz targets (fuzz/) under libFuzzer, all at once and niced, each for
# FUZZ_RUNS executions, then merges what they found into fuzz/corpus/TARGET (minimised, small
# inputs only).
#
#   scripts/fuzz.sh                      # every target, 10M executions each
#   FUZZ_RUNS=100000 scripts/fuzz.sh traceql wal_record
#
# Needs the nightly toolchain and cargo-fuzz (`cargo +nightly install cargo-fuzz --locked`).
# Per target, under FUZZ_OUT (default target/fuzz-runs):
#   TARGET.log         libFuzzer's output; the last line `Done N runs in S second(s)` is the
#                      count, and `grep -c '^==.*ERROR\|panicked' TARGET.log` the crashes;
#   corpus/TARGET/     the inputs it found (the small ones merged into fuzz/corpus/TARGET at
#                      the end, see merge below; MERGE_ONLY=1 does only that step);
#   artifacts/TARGET/  crash-*, timeout-*, oom-* inputs: replay one with
#                      `cargo +nightly fuzz run -s none -a TARGET FILE`, fix, and copy it into
#                      fuzz/corpus/TARGET/ as a regression.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${FUZZ_RUNS:-10000000}
OUT=${FUZZ_OUT:-$PWD/target/fuzz-runs}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(otlp_traces_proto otlp_logs_proto otlp_traces_json otlp_logs_json http_body traceql
           wal_record wal_segment)
fi
# Safe Rust (unsafe_code is forbidden in the workspace): no sanitizer, debug assertions and
# overflow checks on, so an arithmetic overflow is a crash.
FLAGS=(-s none -a --target-dir "$PWD/fuzz/target")
max_len() {
  case "$1" in
    traceql) echo 4096 ;;
    *) echo 65536 ;;
  esac
}

# Rebuilds fuzz/corpus/TARGET as: its seed-* and regression-* files, plus a coverage-minimal
# set of the found inputs of at most SMALL bytes (so the repo's corpora stay small).
SMALL=${FUZZ_SMALL:-1024}
merge() {
  local t=$1 dir="fuzz/corpus/$1" small fresh keep f
  small=$(mktemp -d) fresh=$(mktemp -d)
  find "$OUT/corpus/$t" -type f -size -$((SMALL + 1))c -exec cp {} "$small/" \; 2>/dev/null || true
  find "$dir" -type f ! -name 'seed-*' ! -name 'regression-*' -delete
  "fuzz/target/x86_64-unknown-linux-gnu/release/$t" -merge=1 -max_len="$(max_len "$t")" \
      "$fresh" "$dir" "$small" >"$OUT/$t.merge.log" 2>&1 || return 1
  # libFuzzer names inputs by their SHA-1: skip those that are already a seed or regression.
  keep=$(sha1sum "$dir"/* | cut -d' ' -f1)
  for f in "$fresh"/*; do
    grep -qx "$(basename "$f")" <<<"$keep" || cp "$f" "$dir/"
  done
  rm -rf "$small" "$fresh"
}

(cd fuzz && cargo +nightly fuzz build "${FLAGS[@]}")
if [ "${MERGE_ONLY:-0}" = 1 ]; then
  for t in "${TARGETS[@]}"; do merge "$t" || exit 1; done
  exit 0
fi
pids=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
  (cd fuzz && nice -n 19 cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$OUT/corpus/$t" "corpus/$t" -- \
      -runs="$RUNS" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" >"$OUT/$t.log" 2>&1) &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
for t in "${TARGETS[@]}"; do
  merge "$t" || status=1
  echo "$t: $(grep -E '^Done [0-9]+ runs' "$OUT/$t.log" || echo 'not done')"
done
exit $status
