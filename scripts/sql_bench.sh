#!/usr/bin/env bash
# `tracegate query` beside DuckDB on the same archive, in one run: a cost-per-model-per-day
# style aggregate (calls and input tokens per model and day, from the spans' gen_ai
# attributes: the generator's spans carry no cost) and a trace-id lookup.
#
#   SIZE_MB=10000 scripts/sql_bench.sh          # builds a 10 GB archive of 128 MB files first
#   REUSE=1 scripts/sql_bench.sh                # times an archive built before
#   SOURCE=target/bench/compaction/archive COPIES=10 scripts/sql_bench.sh
#       # the archive `make bench-compaction` compacted, hard-linked into COPIES days (the
#       # same bytes COPIES times: quick to build, and both engines read the same files)
#
# Each query runs RUNS times (default 3) per engine, both on all cores; the median wall time
# is reported. Prints one JSON line (also in target/bench/sql.json).
set -euo pipefail
CARGO=${CARGO:-cargo}
PYTHON=${PYTHON:-.venv/bin/python}
SIZE_MB=${SIZE_MB:-10000}
FILE_MB=${FILE_MB:-128}
RUNS=${RUNS:-3}
DIR=${DIR:-target/bench/sql}
cd "$(dirname "$0")/.."

$CARGO build --release -q -p tracegate --features sql
$CARGO build --release -q -p tracegate-store --example cold_lookup
archive="$(mkdir -p "$DIR" && realpath "$DIR")/archive"
if [ -n "${SOURCE:-}" ]; then
  rm -rf "$archive" && mkdir -p "$archive/spans"
  cp "$SOURCE/cold_lookup_ids.txt" "$archive/"
  for i in $(seq 1 "${COPIES:-10}"); do
    for day in "$SOURCE"/spans/dt=*; do
      cp -al "$day" "$archive/spans/dt=2026-10-$(printf %02d "$i")"
    done
  done
elif [ -z "${REUSE:-}" ]; then
  rm -rf "$archive"
  echo "building ${SIZE_MB} MB of ${FILE_MB} MB files in $archive" >&2
  target/release/examples/cold_lookup --url "$archive" --size-mb "$SIZE_MB" --file-mb "$FILE_MB" --lookups 3 >&2
fi
cat > "$DIR/config.yaml" <<YAML
exporters:
  archive:
    url: $archive
service:
  pipelines: {}
YAML
"$PYTHON" - "$archive" "$DIR" "$RUNS" <<'PY'
import json, statistics, subprocess, sys, time
import duckdb
archive, d, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = open(f"{archive}/cold_lookup_ids.txt").read().split()
trace_id = ids[len(ids) // 2]
aggregate = """SELECT CAST(start_time AS DATE) AS day, attributes['gen_ai.request.model'] AS model,
  count(*) AS calls, sum(CAST(attributes['gen_ai.usage.input_tokens'] AS BIGINT)) AS input_tokens
FROM {t} WHERE attributes['gen_ai.request.model'] IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2"""
lookup = "SELECT span_id, name, duration_ns FROM {t} WHERE trace_id = '" + trace_id + "' ORDER BY span_id"
glob = f"read_parquet('{archive}/spans/**/*.parquet', hive_partitioning = true)"
def tracegate(sql):
    out = subprocess.run(["target/release/tracegate", "query", "-c", f"{d}/config.yaml", "--format", "json",
                          sql.format(t="archive_spans")], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)
con = duckdb.connect()
def duck(sql):
    cur = con.execute(sql.format(t=glob))
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]
def timed(f, sql):
    times, rows = [], None
    for _ in range(runs):
        t = time.perf_counter(); rows = f(sql); times.append(time.perf_counter() - t)
    return statistics.median(times), rows
size = sum(r[0] for r in con.execute(f"SELECT sum(total_compressed_size) FROM parquet_metadata('{archive}/spans/**/*.parquet')").fetchall())
files = con.execute(f"SELECT count(*) FROM glob('{archive}/spans/**/*.parquet')").fetchone()[0]
out = {"archive_mb": round(size / 1e6), "files": files}
for name, sql in [("aggregate", aggregate), ("trace_lookup", lookup)]:
    tg_s, tg_rows = timed(tracegate, sql)
    dk_s, dk_rows = timed(duck, sql)
    assert len(tg_rows) == len(dk_rows) and len(tg_rows) > 0, (name, len(tg_rows), len(dk_rows))
    out[name] = {"tracegate_s": round(tg_s, 3), "duckdb_s": round(dk_s, 3), "ratio": round(tg_s / dk_s, 2), "rows": len(tg_rows)}
# Row groups the trace-id lookup reads: the pruning metrics of EXPLAIN ANALYZE.
import re
plan = subprocess.run(["target/release/tracegate", "query", "-c", f"{d}/config.yaml", "--format", "csv",
                       "EXPLAIN ANALYZE " + lookup.format(t="archive_spans")], capture_output=True, text=True, check=True).stdout
def metric(name):
    m = re.search(name + r"=([^,\]]+)", plan)
    return m.group(1).strip() if m else None
out["trace_lookup"]["row_groups_statistics"] = metric("row_groups_pruned_statistics")
out["trace_lookup"]["row_groups_bloom_filter"] = metric("row_groups_pruned_bloom_filter")
json.dump(out, open(f"{d}/../sql.json", "w"))
print(json.dumps(out))
PY
