#!/usr/bin/env bash
# Compaction's throughput (MB/s per core) and peak memory, and the archive's bytes per span
# before and after, on an archive of small files built the way the archive exporter writes
# them (realistic RAG traces from the test generator, zstd, sorted, bloom filters).
#
#   make bench-compaction                       # 1000 MB in 4 MB files
#   SIZE_MB=10000 FILE_MB=4 scripts/compaction_bench.sh
#   REUSE=1 scripts/compaction_bench.sh         # an archive built (and not compacted) before
#   NO_BUILD=1 scripts/compaction_bench.sh      # the release binaries as they are (say, with SQL)
#
# Prints one JSON line (also in target/bench/compaction.json). `tracegate compact` merges on
# one thread, so MB/s per core is input MB over its user + system CPU seconds.
set -euo pipefail
CARGO=${CARGO:-cargo}
SIZE_MB=${SIZE_MB:-1000}
FILE_MB=${FILE_MB:-4}
DIR=${DIR:-target/bench/compaction}
cd "$(dirname "$0")/.."

[ -n "${NO_BUILD:-}" ] || $CARGO build --release -q -p tracegate
[ -n "${NO_BUILD:-}" ] || $CARGO build --release -q -p tracegate-store --example cold_lookup
mkdir -p "$DIR"
archive="$(realpath "$DIR")/archive"
if [ -z "${REUSE:-}" ]; then
  rm -rf "$archive"
  echo "building ${SIZE_MB} MB of ${FILE_MB} MB files in $archive" >&2
  target/release/examples/cold_lookup --url "$archive" --size-mb "$SIZE_MB" --file-mb "$FILE_MB" --lookups 1 >/dev/null
fi
cat > "$DIR/config.yaml" <<YAML
exporters:
  archive:
    url: $archive
service:
  pipelines: {}
YAML
files_before=$(find "$archive/spans" -name '*.parquet' | wc -l)
/usr/bin/time -v -o "$DIR/time.txt" target/release/tracegate compact -c "$DIR/config.yaml" --max-age 100000d --json > "$DIR/compact.jsonl"
files_after=$(find "$archive/spans" -name '*.parquet' | wc -l)
python3 - "$DIR" "$files_before" "$files_after" <<'PY'
import json, re, sys
d, before, after = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
summary = json.loads(open(f"{d}/compact.jsonl").read().splitlines()[-1])
t = open(f"{d}/time.txt").read()
num = lambda k: float(re.search(rf"{k}: ([0-9.:]+)", t).group(1))
cpu = num("User time \\(seconds\\)") + num("System time \\(seconds\\)")
rss_mib = num("Maximum resident set size \\(kbytes\\)") / 1024
mb = summary["input_bytes"] / 1e6
out = {
    "input_mb": round(mb, 1), "output_mb": round(summary["output_bytes"] / 1e6, 1),
    "files_before": before, "files_after": after, "rows": summary["rows"],
    "wall_s": round(summary["seconds"], 1), "cpu_s": round(cpu, 1),
    "mb_per_s_per_core": round(mb / cpu, 1), "peak_rss_mib": round(rss_mib),
    "bytes_per_span_before": round(summary["input_bytes"] / summary["rows"], 1),
    "bytes_per_span_after": round(summary["output_bytes"] / summary["rows"], 1),
}
json.dump(out, open(f"{d}/../compaction.json", "w"))
print(json.dumps(out))
PY
