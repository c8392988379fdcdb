#!/usr/bin/env python3
"""tracegate's end-to-end benchmark (run by scripts/bench.sh, i.e. `make bench`).

Standard library only. For each profile (rag, tiny):

1. decode-only reference: `tracegate loadgen --decode-only` pinned to the gateway's core
   decodes the same requests with prost, in-process, on one thread;
2. saturation: a fresh `tracegate run` (embedded default config: genai_normalize, redaction,
   trace_assembly, latency_breakdown -> Parquet archive on a temp local dir) pinned to core
   BENCH_GATEWAY_CPU, driven by `tracegate loadgen` pinned to core BENCH_LOADGEN_CPU as fast as
   it accepts. Then SIGTERM, which drains the pipeline and flushes the archive.
   - spans/s per core = spans accepted / gateway CPU seconds, from /proc/PID/stat
     (utime + stime, / CLK_TCK), from "ready" to exit, so draining, assembly and the final
     Parquet flush of everything accepted are counted; the CPU during the loadgen run alone
     is reported too;
   - peak RSS = VmHWM from /proc/PID/status (polled; the kernel's maxrss from wait4 as well);
   - archive bytes per accepted span = Parquet bytes of the spans table / spans accepted (the
     default config's tail sampler keeps about 10 % of the spans, so this is far below the
     bytes per archived span = the same bytes / rows in the spans table, counted with
     pyarrow when it can be imported, which shows the encoding's own cost);
   - archive size as a fraction of the OTLP protobuf bytes accepted.
3. half load: a fresh gateway driven at 50% of the saturating rate: p99 export latency.

Then a testbed-equivalent run: tiny profile, 10,000 spans/s for 60 s on a fresh gateway:
average CPU % of one core and average RSS (VmRSS sampled every second).

Writes one JSON file (target/bench/results.json by default) and prints a table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat.rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def status_kib(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def parquet_rows(path: Path) -> int | None:
    """Rows in every Parquet file under `path`, if pyarrow can be imported (else None)."""
    try:
        import pyarrow.parquet as pq  # optional: the bench needs only the standard library
    except ImportError:
        return None
    return sum(pq.ParquetFile(p).metadata.num_rows for p in path.rglob("*.parquet"))


def dir_bytes(path: Path, suffix: str = ".parquet") -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob(f"*{suffix}") if p.is_file())


class Gateway:
    """`tracegate run` on free ports, pinned to one core, archiving under a temp dir."""

    def __init__(self, bin_path: str, cpu: str, workdir: Path, name: str,
                 env_extra: dict | None = None, reuse: bool = False, config: Path | None = None):
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=reuse)
        self.archive = self.dir / "archive"
        self.grpc, self.http, self.metrics = free_port(), free_port(), free_port()
        env = dict(os.environ)
        env.update(
            TRACEGATE_OTLP_GRPC_ENDPOINT=f"127.0.0.1:{self.grpc}",
            TRACEGATE_OTLP_HTTP_ENDPOINT=f"127.0.0.1:{self.http}",
            TRACEGATE_ARCHIVE_URL=str(self.archive),
            TRACEGATE_METRICS_ADDRESS=f"127.0.0.1:{self.metrics}",
            TRACEGATE_WAL_DIR=str(self.dir / "wal"),
            TRACEGATE_HOT_STORE_DIR=str(self.dir / "hot"),
            TRACEGATE_QUERY_ADDRESS=f"127.0.0.1:{free_port()}",
            TRACEGATE_PROMETHEUS_ADDRESS=f"127.0.0.1:{free_port()}",
        )
        env.update(env_extra or {})
        env.pop("TRACEGATE_CONFIG", None)
        self.log_path = self.dir / ("gateway.log" if not reuse else "gateway-restart.log")
        self.log_file = open(self.log_path, "wb")
        args = ["run", "--instance", "bench"] + (["-c", str(config)] if config else [])
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpu, bin_path, *args],
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid  # taskset execs the binary: same pid
        self.hwm_kib = 0
        deadline = time.monotonic() + 60
        while not self._healthy():
            if self.proc.poll() is not None:
                raise SystemExit(f"the gateway exited at start; see {self.dir / 'gateway.log'}")
            if time.monotonic() > deadline:
                raise SystemExit("the gateway did not become healthy in 60 s")
            time.sleep(0.05)
        time.sleep(0.2)
        self.cpu_ready = cpu_seconds(self.pid)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/readyz", timeout=1):
                pass
            with socket.create_connection(("127.0.0.1", self.grpc), timeout=1):
                return True
        except OSError:
            return False

    def sample(self) -> tuple[float, int | None]:
        """(CPU seconds, VmRSS KiB), and keeps the VmHWM high-water mark."""
        hwm = status_kib(self.pid, "VmHWM")
        if hwm:
            self.hwm_kib = max(self.hwm_kib, hwm)
        return cpu_seconds(self.pid), status_kib(self.pid, "VmRSS")

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=5) as r:
            body = r.read().decode()
        total = 0.0
        for line in body.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def metric_by(self, name: str, label: str) -> dict[str, float]:
        """`name`'s samples summed by the value of `label`."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=5) as r:
            body = r.read().decode()
        out: dict[str, float] = {}
        for line in body.splitlines():
            if not line.startswith(name + "{"):
                continue
            labels, value = line[len(name) + 1:].rsplit("} ", 1)
            for part in labels.split(","):
                key, _, val = part.partition("=")
                if key == label:
                    out[val.strip('"')] = out.get(val.strip('"'), 0.0) + float(value)
        return out

    def stop(self) -> dict:
        """SIGTERM, wait for the drain and flush, and return the process's totals."""
        self.sample()
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 120
        while True:
            # Wait for the exit without reaping, so /proc/PID/stat still has the totals.
            res = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if res is not None:
                break
            hwm = status_kib(self.pid, "VmHWM")
            if hwm:
                self.hwm_kib = max(self.hwm_kib, hwm)
            if time.monotonic() > deadline:
                self.proc.kill()
                raise SystemExit("the gateway did not stop within 120 s of SIGTERM")
            time.sleep(0.02)
        cpu_total = cpu_seconds(self.pid)
        _, status, rusage = os.wait4(self.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.log_file.close()
        return {
            "exit_code": self.proc.returncode,
            "cpu_total_s": cpu_total,
            "cpu_after_ready_s": cpu_total - self.cpu_ready,
            "rusage_cpu_s": rusage.ru_utime + rusage.ru_stime,
            "vmhwm_kib": self.hwm_kib,
            "rusage_maxrss_kib": rusage.ru_maxrss,
        }


    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed."""
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()
        self.log_file.close()


def loadgen(bin_path: str, cpu: str, args: list[str]) -> dict:
    cmd = ["taskset", "-c", cpu, bin_path, "loadgen", "--json", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"loadgen failed ({' '.join(cmd)}):\n{out.stderr}")
    return json.loads(out.stdout)


def run_profile(opts, workdir: Path, profile: str) -> dict:
    common = [
        "--profile", profile,
        "--connections", str(opts.connections),
        "--spans-per-request", str(opts.spans_per_request),
    ]
    log(f"{profile}: decode-only reference ({opts.decode_s:g} s on core {opts.gateway_cpu})")
    decode = loadgen(
        opts.bin, opts.gateway_cpu,
        ["--decode-only", "--profile", profile,
         "--spans-per-request", str(opts.spans_per_request),
         "--duration", f"{opts.decode_s}s"],
    )

    log(f"{profile}: saturation ({opts.saturation_s:g} s)")
    gw = Gateway(opts.bin, opts.gateway_cpu, workdir, f"{profile}-saturation")
    cpu0, _ = gw.sample()
    sat = loadgen(opts.bin, opts.loadgen_cpu,
                  ["--endpoint", f"http://127.0.0.1:{gw.grpc}",
                   "--duration", f"{opts.saturation_s}s", *common])
    cpu1, _ = gw.sample()
    receiver_accepted = gw.metric("tracegate_receiver_accepted_spans_total")
    # Wall time inside each processor (on a saturated core, so it includes preemption):
    # a rough per-stage split, read before the shutdown drain.
    stage_s = gw.metric_by("tracegate_processor_duration_seconds_sum", "processor")
    sat_exit = gw.stop()
    spans_table = dir_bytes(gw.archive / "spans")
    traces_table = dir_bytes(gw.archive / "traces")
    accepted = sat["accepted_spans"]
    cpu_run = cpu1 - cpu0
    cpu_all = sat_exit["cpu_after_ready_s"]
    per_core = accepted / cpu_all if cpu_all > 0 else 0.0

    # Half of the rate the gateway sustains: the archive encoder runs at low priority and
    # may still be catching up when the saturation run ends, so the rate seen by loadgen
    # can overstate it. Spans per CPU second until exit, drain included, does not.
    sustained = min(sat["spans_per_s"], per_core) if per_core > 0 else sat["spans_per_s"]
    half_rate = max(1.0, 0.5 * sustained)
    log(f"{profile}: half load, {half_rate:.0f} spans/s ({opts.half_s:g} s)")
    gw2 = Gateway(opts.bin, opts.gateway_cpu, workdir, f"{profile}-half")
    h0, _ = gw2.sample()
    half = loadgen(opts.bin, opts.loadgen_cpu,
                   ["--endpoint", f"http://127.0.0.1:{gw2.grpc}",
                    "--duration", f"{opts.half_s}s", "--rate", f"{half_rate:.0f}", *common])
    h1, _ = gw2.sample()
    half_exit = gw2.stop()

    return {
        "decode_only": decode,
        "saturation": {
            "loadgen": sat,
            "gateway": sat_exit,
            "receiver_accepted_spans": receiver_accepted,
            "cpu_during_run_s": cpu_run,
            "cpu_ready_to_exit_s": cpu_all,
            "cpu_us_per_span": 1e6 * cpu_all / accepted if accepted else 0.0,
            "processor_wall_us_per_span": {
                k: 1e6 * v / accepted for k, v in sorted(stage_s.items())
            } if accepted else {},
            "spans_per_core_s": per_core,
            "spans_per_core_s_during_run": accepted / cpu_run if cpu_run > 0 else 0.0,
            "ratio_to_decode_only": per_core / decode["spans_per_s"] if decode["spans_per_s"] else 0.0,
            "archive": {
                "spans_parquet_bytes": spans_table,
                "traces_parquet_bytes": traces_table,
                "bytes_per_accepted_span": spans_table / accepted if accepted else 0.0,
                "spans_rows": (rows := parquet_rows(gw.archive / "spans")),
                "bytes_per_archived_span": spans_table / rows if rows else None,
                "otlp_bytes_per_span": sat["accepted_bytes"] / accepted if accepted else 0.0,
                "spans_table_fraction_of_otlp": spans_table / sat["accepted_bytes"] if sat["accepted_bytes"] else 0.0,
                "archive_fraction_of_otlp": (spans_table + traces_table) / sat["accepted_bytes"] if sat["accepted_bytes"] else 0.0,
            },
        },
        "half_load": {
            "rate": half_rate,
            "loadgen": half,
            "gateway": half_exit,
            "cpu_during_run_s": h1 - h0,
            "p99_ms": half["latency_ms"]["p99"],
        },
    }


class Rotel:
    """`rotel-agent` (PyPI `rotel`) pinned to one core, as the reference collector."""

    def __init__(self, rotel_bin: str, cpu: str, workdir: Path, name: str, exporter: list[str]):
        self.dir = workdir / name
        self.dir.mkdir(parents=True)
        self.grpc, self.http = free_port(), free_port()
        self.log_file = open(self.dir / "rotel.log", "wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", cpu, rotel_bin, "start",
             "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc}",
             "--otlp-http-endpoint", f"127.0.0.1:{self.http}", *exporter],
            stdout=self.log_file, stderr=subprocess.STDOUT,
        )
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"rotel exited at start; see {self.dir / 'rotel.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.grpc), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("rotel did not listen within 30 s")
                time.sleep(0.05)
        time.sleep(0.2)
        self.cpu_ready = cpu_seconds(self.pid)
        self.hwm_kib = 0

    def sample(self) -> None:
        hwm = status_kib(self.pid, "VmHWM")
        if hwm:
            self.hwm_kib = max(self.hwm_kib, hwm)

    def stop(self) -> dict:
        self.sample()
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            self.sample()
            if time.monotonic() > deadline:
                self.proc.kill()
                break
            time.sleep(0.02)
        cpu_total = cpu_seconds(self.pid)
        self.proc.wait()
        self.log_file.close()
        return {"cpu_after_ready_s": cpu_total - self.cpu_ready, "vmhwm_kib": self.hwm_kib}


def run_reference(opts, workdir: Path, profile: str) -> dict:
    """Rotel (OTLP → blackhole, and OTLP → OTLP into a second Rotel on the loadgen's core) and
    tracegate with no processors (OTLP → archive), each on the gateway's core with the same
    loadgen input, in this run. Spans/s per core = spans accepted / CPU seconds of the process
    on the measured core, from ready to exit."""
    common = [
        "--profile", profile,
        "--connections", str(opts.connections),
        "--spans-per-request", str(opts.spans_per_request),
        "--duration", f"{opts.saturation_s}s",
    ]
    out = {}

    def measure(name, proc, grpc_port):
        log(f"{name}: saturation, {profile} ({opts.saturation_s:g} s)")
        t0 = time.monotonic()
        sat = loadgen(opts.bin, opts.loadgen_cpu, ["--endpoint", f"http://127.0.0.1:{grpc_port}", *common])
        wall = time.monotonic() - t0
        end = proc.stop()
        cpu = end["cpu_after_ready_s"]
        out[name] = {
            "loadgen": sat,
            "process": end,
            "spans_per_core_s": sat["accepted_spans"] / cpu if cpu > 0 else 0.0,
            # Below ~90 % the load generator, not the measured process, was the limit.
            "cpu_utilisation": cpu / wall if wall > 0 else 0.0,
            "peak_rss_mib": end["vmhwm_kib"] / 1024,
        }

    if opts.rotel:
        measure("rotel_blackhole", r := Rotel(opts.rotel, opts.gateway_cpu, workdir, f"{profile}-rotel-bh",
                                               ["--exporter", "blackhole"]), r.grpc)
        sink = Rotel(opts.rotel, opts.loadgen_cpu, workdir, f"{profile}-rotel-sink", ["--exporter", "blackhole"])
        front = Rotel(opts.rotel, opts.gateway_cpu, workdir, f"{profile}-rotel-otlp",
                      ["--exporter", "otlp", "--otlp-exporter-endpoint", f"http://127.0.0.1:{sink.grpc}"])
        measure("rotel_otlp", front, front.grpc)
        sink.stop()
    # tracegate, OTLP → archive with no processors (the WAL on, as by default).
    text = (REPO / "config" / "default.yaml").read_text()
    import re
    bare, n = re.subn(r"(?m)^(\s+processors: )\[[^\]]*\]", r"\1[]", text)
    if n != 1:
        raise SystemExit("config/default.yaml's pipeline line changed; update run_reference")
    cfg = workdir / f"{profile}-bare.yaml"
    cfg.write_text(bare)
    gw = Gateway(opts.bin, opts.gateway_cpu, workdir, f"{profile}-bare", config=cfg)
    measure("tracegate_no_processors", gw, gw.grpc)
    return out


WAL_MODES = {
    "off": {"TRACEGATE_WAL_ENABLED": "false"},
    "process": {"TRACEGATE_WAL_SYNC": "process"},
    "host": {"TRACEGATE_WAL_SYNC": "host"},
}


def run_wal(opts, workdir: Path, profile: str) -> dict:
    """The write-ahead log's cost: saturation with the WAL off, `sync: process` (the default)
    and `sync: host`, one after the other in this run; then the replay speed after a kill -9."""
    common = [
        "--profile", profile,
        "--connections", str(opts.connections),
        "--spans-per-request", str(opts.spans_per_request),
    ]
    # Alternating rounds (off, process, host; then host, process, off; ...), pooled, so the
    # machine's drift during the sitting does not favour one mode.
    rounds = max(1, int(os.environ.get("BENCH_WAL_ROUNDS", "2")))
    runs: dict[str, list[dict]] = {mode: [] for mode in WAL_MODES}
    for r in range(rounds):
        order = list(WAL_MODES) if r % 2 == 0 else list(reversed(WAL_MODES))
        for mode in order:
            log(f"wal {mode} (round {r + 1}/{rounds}): saturation, {profile} ({opts.saturation_s:g} s)")
            gw = Gateway(opts.bin, opts.gateway_cpu, workdir, f"wal-{mode}-{r}", WAL_MODES[mode])
            sat = loadgen(opts.bin, opts.loadgen_cpu,
                          ["--endpoint", f"http://127.0.0.1:{gw.grpc}",
                           "--duration", f"{opts.saturation_s}s", *common])
            metrics = {k: gw.metric(k) for k in (
                "tracegate_wal_append_seconds_count", "tracegate_wal_append_seconds_sum",
                "tracegate_wal_writes_total", "tracegate_wal_appended_records_total")}
            runs[mode].append({"loadgen": sat, "gateway": gw.stop(), "metrics": metrics})
    modes = {}
    for mode, rs in runs.items():
        accepted = sum(r["loadgen"]["accepted_spans"] for r in rs)
        cpu = sum(r["gateway"]["cpu_after_ready_s"] for r in rs)
        m = {k: sum(r["metrics"][k] for r in rs) for k in rs[0]["metrics"]}
        modes[mode] = {
            "runs": rs,
            "spans_per_core_s": accepted / cpu if cpu > 0 else 0.0,
            "spans_per_s_wall": sum(r["loadgen"]["spans_per_s"] for r in rs) / len(rs),
            "p99_ms": max(r["loadgen"]["latency_ms"]["p99"] for r in rs),
            "mean_append_ms": 1e3 * m["tracegate_wal_append_seconds_sum"] / m["tracegate_wal_append_seconds_count"]
            if m["tracegate_wal_append_seconds_count"] else None,
            "records_per_write": m["tracegate_wal_appended_records_total"] / m["tracegate_wal_writes_total"]
            if m["tracegate_wal_writes_total"] else None,
        }
    off = modes["off"]["spans_per_core_s"]
    off_wall = modes["off"]["spans_per_s_wall"]
    for m in modes.values():
        m["per_core_vs_off"] = m["spans_per_core_s"] / off if off else 0.0
        m["wall_vs_off"] = m["spans_per_s_wall"] / off_wall if off_wall else 0.0

    log(f"wal replay: {opts.saturation_s:g} s of {profile} load, kill -9, restart")
    gw = Gateway(opts.bin, opts.gateway_cpu, workdir, "wal-replay")
    sent = loadgen(opts.bin, opts.loadgen_cpu,
                   ["--endpoint", f"http://127.0.0.1:{gw.grpc}",
                    "--duration", f"{opts.saturation_s}s", *common])
    gw.kill()
    restarted = Gateway(opts.bin, opts.gateway_cpu, workdir, "wal-replay", reuse=True)
    replayed = restarted.metric("tracegate_wal_replayed_spans_total")
    restarted.stop()
    replay = {"acknowledged_spans": sent["accepted_spans"], "replayed_spans": replayed}
    for line in restarted.log_path.read_text(errors="replace").splitlines():
        if "replayed the WAL" in line:
            try:
                rec = json.loads(line)
                replay.update(seconds=rec.get("seconds"), spans_per_s=rec.get("spans_per_second"))
            except json.JSONDecodeError:
                pass
    return {"profile": profile, "modes": modes, "replay": replay}


def run_testbed(opts, workdir: Path) -> dict:
    log(f"testbed: tiny, {opts.testbed_rate:g} spans/s for {opts.testbed_s:g} s")
    gw = Gateway(opts.bin, opts.gateway_cpu, workdir, "testbed")
    time.sleep(1.0)
    samples: list[int] = []
    cpu_start, _ = gw.sample()
    t_start = time.monotonic()
    proc = subprocess.Popen(
        ["taskset", "-c", opts.loadgen_cpu, opts.bin, "loadgen", "--json",
         "--endpoint", f"http://127.0.0.1:{gw.grpc}", "--profile", "tiny",
         "--connections", "1", "--spans-per-request", str(opts.spans_per_request),
         "--rate", f"{opts.testbed_rate}", "--duration", f"{opts.testbed_s}s"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    while proc.poll() is None:
        time.sleep(1.0)
        if proc.poll() is None:
            _, rss = gw.sample()
            if rss:
                samples.append(rss)
    cpu_end, _ = gw.sample()
    wall = time.monotonic() - t_start
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"testbed loadgen failed:\n{stderr}")
    result = json.loads(stdout)
    exit_info = gw.stop()
    return {
        "rate": opts.testbed_rate,
        "duration_s": opts.testbed_s,
        "loadgen": result,
        "gateway": exit_info,
        "avg_cpu_pct_of_one_core": 100.0 * (cpu_end - cpu_start) / wall if wall > 0 else 0.0,
        "avg_rss_mib": (sum(samples) / len(samples) / 1024.0) if samples else 0.0,
        "max_rss_mib": (max(samples) / 1024.0) if samples else 0.0,
        "rss_samples": len(samples),
    }


def machine() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True,
                               text=True).stdout.strip() != ""
    except OSError:
        rev, dirty = "", False
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "git_rev": rev + ("-dirty" if dirty else ""),
        "date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def table(results: dict) -> str:
    profiles = results["profiles"]
    names = list(profiles)
    rows: list[tuple[str, list[str], str]] = []

    def row(label, fn, target=""):
        cells = []
        for p in names:
            try:
                cells.append(fn(profiles[p], p))
            except (KeyError, ZeroDivisionError, TypeError):
                cells.append("-")
        rows.append((label, cells, target))

    row("decode-only, spans/s (1 core)", lambda r, p: f"{r['decode_only']['spans_per_s']:,.0f}")
    row("saturation, spans/s (wall)", lambda r, p: f"{r['saturation']['loadgen']['spans_per_s']:,.0f}")
    row("refused at saturation, spans", lambda r, p: f"{r['saturation']['loadgen']['refused_spans']:,}")
    row("spans/s per core (ready→exit)", lambda r, p: f"{r['saturation']['spans_per_core_s']:,.0f}",
        "rag ≥250K, tiny ≥500K")
    row("spans/s per core (during run)",
        lambda r, p: f"{r['saturation']['spans_per_core_s_during_run']:,.0f}")
    row("gateway CPU µs per span", lambda r, p: f"{r['saturation']['cpu_us_per_span']:.2f}")
    stages = sorted({k for r in profiles.values()
                     for k in r["saturation"].get("processor_wall_us_per_span", {})})
    for stage in stages:
        row(f"  in {stage}, µs/span (wall)",
            lambda r, p, s=stage: f"{r['saturation']['processor_wall_us_per_span'][s]:.2f}")
    row("Rotel OTLP→blackhole, spans/s per core",
        lambda r, p: f"{r['reference']['rotel_blackhole']['spans_per_core_s']:,.0f}")
    row("full pipeline / Rotel blackhole",
        lambda r, p: f"{r['saturation']['spans_per_core_s'] / r['reference']['rotel_blackhole']['spans_per_core_s']:.2f}x",
        "≥1.0x")
    row("Rotel OTLP→OTLP, spans/s per core",
        lambda r, p: f"{r['reference']['rotel_otlp']['spans_per_core_s']:,.0f}")
    row("no processors (→archive), spans/s per core",
        lambda r, p: f"{r['reference']['tracegate_no_processors']['spans_per_core_s']:,.0f}")
    row("no processors / Rotel OTLP→OTLP",
        lambda r, p: f"{r['reference']['tracegate_no_processors']['spans_per_core_s'] / r['reference']['rotel_otlp']['spans_per_core_s']:.2f}x",
        "≥2.0x")
    row("Rotel blackhole peak RSS, MiB",
        lambda r, p: f"{r['reference']['rotel_blackhole']['peak_rss_mib']:.0f}")
    row("measured core busy: full / Rotel bh",
        lambda r, p: f"{100 * r['saturation']['cpu_during_run_s'] / r['saturation']['loadgen']['elapsed_s']:.0f} % / "
                     f"{100 * r['reference']['rotel_blackhole']['cpu_utilisation']:.0f} %")
    row("end-to-end / decode-only", lambda r, p: f"{100 * r['saturation']['ratio_to_decode_only']:.1f} %",
        "≥50 %")
    row("p99 export latency @50%, ms", lambda r, p: f"{r['half_load']['p99_ms']:.2f}", "<10 ms")
    row("p50 export latency @50%, ms", lambda r, p: f"{r['half_load']['loadgen']['latency_ms']['p50']:.2f}")
    row("peak RSS (VmHWM), MiB", lambda r, p: f"{r['saturation']['gateway']['vmhwm_kib'] / 1024:.0f}")
    row("OTLP protobuf B/span", lambda r, p: f"{r['saturation']['archive']['otlp_bytes_per_span']:.0f}")
    row("archive B per accepted span", lambda r, p: f"{r['saturation']['archive']['bytes_per_accepted_span']:.1f}")
    row("B per archived span (spans rows)", lambda r, p: f"{r['saturation']['archive']['bytes_per_archived_span']:.1f}",
        "rag ≤65")
    row("spans table / OTLP bytes", lambda r, p: f"{r['saturation']['archive']['spans_table_fraction_of_otlp']:.3f}",
        "rag ≤0.125")
    row("archive (spans+traces) / OTLP", lambda r, p: f"{r['saturation']['archive']['archive_fraction_of_otlp']:.3f}")

    width = max(len(r[0]) for r in rows)
    colw = [max(12, len(n)) for n in names]
    lines = []
    header = f"{'':<{width}}  " + "  ".join(f"{n:>{w}}" for n, w in zip(names, colw)) + "  target"
    lines.append(header)
    lines.append("-" * len(header))
    for label, cells, target in rows:
        lines.append(f"{label:<{width}}  " + "  ".join(f"{c:>{w}}" for c, w in zip(cells, colw))
                     + f"  {target}")
    tb = results.get("testbed")
    if tb:
        lines.append("")
        lines.append(
            f"testbed (tiny, {tb['rate']:,.0f} spans/s, {tb['duration_s']:g} s): "
            f"CPU {tb['avg_cpu_pct_of_one_core']:.2f} % of one core (target ≤2 %), "
            f"RSS avg {tb['avg_rss_mib']:.1f} MiB, max {tb['max_rss_mib']:.1f} MiB (target ≤20 MiB), "
            f"accepted {tb['loadgen']['accepted_spans']:,} / sent {tb['loadgen']['sent_spans']:,}"
        )
    wal = results.get("wal")
    if wal:
        lines.append("")
        lines.append(f"write-ahead log ({wal['profile']}, saturation, alternating rounds pooled):")
        for mode, r in wal["modes"].items():
            append = f"{r['mean_append_ms']:.2f} ms" if r["mean_append_ms"] is not None else "-"
            group = f"{r['records_per_write']:.1f}" if r["records_per_write"] else "-"
            lines.append(
                f"  {mode:<8} {r['spans_per_core_s']:>10,.0f} spans/s per core ({100 * r['per_core_vs_off']:.0f} % of off), "
                f"{r['spans_per_s_wall']:>10,.0f} spans/s wall ({100 * r['wall_vs_off']:.0f} %), "
                f"p99 {r['p99_ms']:.1f} ms, mean append {append}, records/write {group}")
        rp = wal["replay"]
        lines.append(
            f"  replay after kill -9: {rp.get('replayed_spans', 0):,.0f} of {rp['acknowledged_spans']:,} acknowledged spans "
            f"replayed in {rp.get('seconds') or 0:.2f} s ({rp.get('spans_per_s') or 0:,} spans/s, through assembly)")
    m = results["machine"]
    lines.append("")
    lines.append(f"machine: {m['cpus']} CPUs, {m['cpu_model']}, Linux {m['kernel']}, "
                 f"git {m['git_rev']}, {m['date_utc']}; gateway on core {results['settings']['gateway_cpu']}, "
                 f"loadgen on core {results['settings']['loadgen_cpu']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the release tracegate binary")
    ap.add_argument("--out", default=os.environ.get("BENCH_OUT", "target/bench/results.json"))
    ap.add_argument("--rotel", default=os.environ.get("BENCH_ROTEL"),
                    help="rotel-agent binary (PyPI `rotel`), the reference; scripts/bench.sh installs it")
    opts = ap.parse_args()
    opts.saturation_s = env_float("BENCH_SATURATION_S", 15)
    opts.half_s = env_float("BENCH_HALF_S", 15)
    opts.decode_s = env_float("BENCH_DECODE_S", 5)
    opts.testbed_s = env_float("BENCH_TESTBED_S", 60)
    opts.testbed_rate = env_float("BENCH_TESTBED_RATE", 10_000)
    opts.connections = env_int("BENCH_CONNECTIONS", 4)
    opts.spans_per_request = env_int("BENCH_SPANS_PER_REQUEST", 512)
    opts.gateway_cpu = os.environ.get("BENCH_GATEWAY_CPU", "0")
    opts.loadgen_cpu = os.environ.get("BENCH_LOADGEN_CPU", "1")
    profiles = os.environ.get("BENCH_PROFILES", "rag tiny").split()

    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is required")
    if not Path(opts.bin).is_file():
        raise SystemExit(f"no binary at {opts.bin}; run scripts/bench.sh")

    results = {
        "machine": machine(),
        "settings": {
            "saturation_s": opts.saturation_s,
            "half_s": opts.half_s,
            "decode_s": opts.decode_s,
            "testbed_s": opts.testbed_s,
            "testbed_rate": opts.testbed_rate,
            "connections": opts.connections,
            "spans_per_request": opts.spans_per_request,
            "gateway_cpu": opts.gateway_cpu,
            "loadgen_cpu": opts.loadgen_cpu,
            "transport": "grpc",
            "config": "embedded default (genai_normalize, redaction, trace_assembly, "
                      "latency_breakdown -> archive, zstd Parquet on local disk)",
        },
        "profiles": {},
    }
    with tempfile.TemporaryDirectory(prefix="tracegate-bench-") as tmp:
        workdir = Path(tmp)
        for profile in profiles:
            results["profiles"][profile] = run_profile(opts, workdir, profile)
            results["profiles"][profile]["reference"] = run_reference(opts, workdir, profile)
        if opts.testbed_s > 0:
            results["testbed"] = run_testbed(opts, workdir)
        if os.environ.get("BENCH_WAL", "1") != "0" and profiles:
            results["wal"] = run_wal(opts, workdir, profiles[0])

    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
