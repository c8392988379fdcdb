"""The end-to-end harness: the tracegate binary, moto's S3 server, free ports, and cleanup.

What it provides (see the fixtures at the bottom):
- ``tracegate_bin``: the binary at ``$TRACEGATE_BIN`` (default ``target/debug/tracegate``),
  built with ``cargo build -p tracegate --features sql`` at session start when it is missing;
- ``moto``: one moto S3 server for the session (``.venv/bin/moto_server``), with
  ``new_bucket()``, ``archive_exporter()``, ``list_keys()`` and ``read_spans()`` (DuckDB reading
  the archive from the server through httpfs);
- ``gateway_factory`` / ``module_gateway_factory``: start tracegate on free loopback ports with
  a config written to a temp dir, wait for ``/readyz`` (200 once the receivers serve), and stop it (SIGTERM, wait, kill) at
  the end. A failing test's report gets the tail of every gateway's log.

Every wait has a deadline and every process is stopped, so nothing hangs.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

import tg_archive

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BIN = REPO_ROOT / "target" / "debug" / "tracegate"
CARGO_BUILD_TIMEOUT_S = 1500
GATEWAY_READY_TIMEOUT_S = 30.0
GATEWAY_STOP_TIMEOUT_S = 45.0
MOTO_READY_TIMEOUT_S = 30.0

# Loopback traffic must never go through a proxy, for requests and for grpc alike.
for _var in ("NO_PROXY", "no_proxy"):
    _parts = [p for p in os.environ.get(_var, "").split(",") if p]
    os.environ[_var] = ",".join(_parts + ["127.0.0.1", "localhost"])
# The SDK reads OTEL_* variables; the tests configure exporters explicitly.
for _var in list(os.environ):
    if _var.startswith("OTEL_"):
        del os.environ[_var]


# ---------------------------------------------------------------------------------------------
# Small utilities
# ---------------------------------------------------------------------------------------------

_PORTS_GIVEN: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on right now, never one handed out before in this
    session: the kernel may give the same ephemeral port to two ``bind(0)`` calls in a row once
    the first socket is closed, and a gateway given one port for two listeners cannot start."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PORTS_GIVEN:
            _PORTS_GIVEN.add(port)
            return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Polls ``predicate`` until it returns something truthy; fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_exc = exc
        if time.monotonic() >= deadline:
            suffix = f" (last error: {last_exc!r})" if last_exc else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{suffix}", pytrace=False)
        time.sleep(interval)


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


_LIVE: list[subprocess.Popen] = []


def _kill_leftovers() -> None:
    for proc in _LIVE:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


atexit.register(_kill_leftovers)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = GATEWAY_STOP_TIMEOUT_S) -> tuple[int | None, bool]:
    """Sends ``sig``, waits up to ``timeout`` s, then kills. Returns (exit code, was_killed)."""
    if proc.poll() is not None:
        return proc.returncode, False
    try:
        proc.send_signal(sig)
        return proc.wait(timeout=timeout), False
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return proc.returncode, True


# ---------------------------------------------------------------------------------------------
# The binary
# ---------------------------------------------------------------------------------------------

_BUILD_ERROR: str | None = None


def _binary_path() -> Path:
    # Absolute: gateways run with their own work dir as cwd.
    return Path(os.environ.get("TRACEGATE_BIN") or DEFAULT_BIN).absolute()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Builds the binary when it is missing (not under --collect-only): the build can take
    minutes, so it runs here, outside any test's timeout."""
    global _BUILD_ERROR
    if session.config.option.collectonly:
        return
    binary = _binary_path()
    if binary.exists():
        return
    if binary.resolve() != DEFAULT_BIN.resolve():
        _BUILD_ERROR = f"TRACEGATE_BIN={binary} does not exist"
        return
    log = REPO_ROOT / "target" / "integration-cargo-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"\n[harness] {binary} is missing: running `cargo build -p tracegate --features sql` (log: {log})", flush=True)
    try:
        with open(log, "wb") as out:
            rc = subprocess.run(
                ["cargo", "build", "-p", "tracegate", "--features", "sql"], cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT,
                timeout=CARGO_BUILD_TIMEOUT_S,
            ).returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        _BUILD_ERROR = f"cargo build -p tracegate --features sql failed to run: {exc!r}"
        return
    if rc != 0 or not binary.exists():
        _BUILD_ERROR = f"cargo build -p tracegate --features sql exited {rc}; last lines:\n{tail(log, 40)}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _kill_leftovers()


# ---------------------------------------------------------------------------------------------
# moto's S3 server
# ---------------------------------------------------------------------------------------------

class MotoServer:
    """moto in server mode on a free loopback port; state lives in its memory."""

    region = "us-east-1"
    access_key = "test"
    secret_key = "test"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "moto.log"
        self.proc: subprocess.Popen | None = None
        self._client = None

    def start(self) -> None:
        exe = Path(sys.executable).parent / "moto_server"
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
        cmd += ["-H", "127.0.0.1", "-p", str(self.port)]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _LIVE.append(self.proc)

        def ready() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"moto_server exited with {self.proc.returncode}:\n{tail(self.log_path)}", pytrace=False)
            return requests.get(self.endpoint + "/", timeout=2).status_code == 200

        wait_until(ready, MOTO_READY_TIMEOUT_S, interval=0.1, what=f"moto_server on {self.endpoint}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)

    def new_bucket(self, stem: str = "tg") -> str:
        """Creates a bucket with an unsigned PUT, as the S3 API allows on moto."""
        name = f"{stem}-{uuid.uuid4().hex[:12]}"
        resp = requests.put(f"{self.endpoint}/{name}", timeout=10)
        assert resp.status_code == 200, f"creating bucket {name}: {resp.status_code} {resp.text}"
        return name

    def archive_exporter(self, bucket: str, prefix: str = "llm-traces", **extra: Any) -> dict:
        """An `archive` exporter section that writes to this server."""
        section = {
            "url": f"s3://{bucket}/{prefix}",
            "flush_age": "1s",
            "s3": {
                "endpoint": self.endpoint,
                "region": self.region,
                "access_key_id": self.access_key,
                "secret_access_key": self.secret_key,
                "allow_http": True,
            },
        }
        section.update(extra)
        return section

    @property
    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                              connect_timeout=5, read_timeout=30),
            )
        return self._client

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return sorted(keys)

    @property
    def s3_endpoint(self) -> tg_archive.S3Endpoint:
        """This server as DuckDB's S3 secret (and pyarrow) are given it."""
        return tg_archive.S3Endpoint(f"127.0.0.1:{self.port}", self.access_key, self.secret_key, self.region)

    def duckdb(self):
        """A DuckDB connection with httpfs loaded and an S3 secret for this server."""
        return tg_archive.connect(self.s3_endpoint)

    def read_spans(self, bucket: str, prefix: str) -> list[dict]:
        """The spans table of the archive at ``s3://bucket/prefix``, read by DuckDB from this
        server in place (``read_parquet('s3://bucket/prefix/spans/**/*.parquet', hive_partitioning = true)``)."""
        return tg_archive.read_spans(f"s3://{bucket}/{prefix.strip('/')}", s3=self.s3_endpoint)


# ---------------------------------------------------------------------------------------------
# The gateway
# ---------------------------------------------------------------------------------------------

def default_log_processors() -> dict:
    """The processors of config/default.yaml's `logs` pipeline, in its order: recognise the
    structured LLM logs, redact, recognise and join the scores."""
    return {"llm_logs": {}, "redaction": {"mode": "mask", "content": "redacted"}, "scores": {}}


def default_processors(**trace_assembly: Any) -> dict:
    """The processors of config/default.yaml, in its order (genai_normalize, redaction,
    trace_assembly, latency_breakdown, tail_sampling with the default policies), for
    ``gateway_config(processors=...)``; ``trace_assembly`` settings can be overridden, e.g.
    ``idle_after_root="500ms"`` so traces are released sooner. A test that counts every span
    in the archive gives its archive ``sampled_only_spans: False`` (see ``KEEP_EVERY_SPAN``)."""
    return {"genai_normalize": {}, "redaction": {"mode": "mask", "content": "redacted"},
            "trace_assembly": dict(trace_assembly), "latency_breakdown": {},
            "tail_sampling": {"policies": [
                {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
                {"name": "llm-finish-reason", "type": "llm_finish_reason",
                 "llm_finish_reason": {"values": ["length", "content_filter"]}},
                {"name": "slow", "type": "latency", "latency": {"threshold_ms": 10000}},
                {"name": "baseline", "type": "probabilistic", "probabilistic": {"sampling_percentage": 10}},
            ]}}


# The archive setting that keeps every span, sampled or not (the default keeps only sampled
# traces' spans once a sampler ran).
KEEP_EVERY_SPAN = {"sampled_only_spans": False}


def gateway_config(
    grpc_port: int, http_port: int, metrics_port: int, exporters: dict,
    pipeline_exporters: list[str] | None = None, receiver: dict | None = None, service: dict | None = None,
    processors: dict | None = None, query: dict | None = None, metrics: dict | None = None,
    logs: dict | None = None,
) -> dict:
    """A config in the OTel Collector's shape: one otlp receiver, the given exporters, and
    ``processors`` (a processors section, used in its order by the pipeline) if given; a
    ``query`` section (the Tempo-compatible query API) when given. ``logs`` adds a `logs`
    pipeline from the same receiver: ``{"processors": {...}, "exporters": [...]}`` (its
    processors join the processors section; one id may serve both pipelines)."""
    otlp: dict = {
        "protocols": {
            "grpc": {"endpoint": f"127.0.0.1:{grpc_port}"},
            "http": {"endpoint": f"127.0.0.1:{http_port}"},
        }
    }
    otlp.update(receiver or {})
    svc: dict = {
        "pipelines": {
            "traces": {"receivers": ["otlp"], "exporters": pipeline_exporters or list(exporters)},
        },
        "telemetry": {"metrics_address": f"127.0.0.1:{metrics_port}", "log_level": "info", "log_format": "json"},
        "shutdown_timeout": "20s",
    }
    svc.update(service or {})
    config = {"receivers": {"otlp": otlp}, "exporters": exporters, "service": svc}
    if processors:
        config["processors"] = processors
        svc["pipelines"]["traces"]["processors"] = list(processors)
    if logs is not None:
        log_procs = dict(logs.get("processors", {}))
        config.setdefault("processors", {}).update(log_procs)
        svc["pipelines"]["logs"] = {"receivers": ["otlp"], "processors": list(log_procs),
                                    "exporters": logs.get("exporters") or pipeline_exporters or list(exporters)}
    if query is not None:
        config["query"] = query
    if metrics is not None:
        config["metrics"] = metrics
    return config


class Gateway:
    """One tracegate process: `tracegate run -c FILE` on free loopback ports."""

    def __init__(self, binary: Path, workdir: Path, exporters: dict, name: str = "tracegate", **config_kw: Any) -> None:
        self.binary = binary.absolute()
        self.name = name
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.grpc_port, self.http_port, self.metrics_port = free_port(), free_port(), free_port()
        self.query_port = free_port()
        if config_kw.get("query") is not None:
            config_kw["query"] = {"endpoint": f"127.0.0.1:{self.query_port}", **config_kw["query"]}
        # The data metrics endpoint (span_metrics, alerts): `metrics={}` serves it on a free port.
        self.prometheus_port = free_port()
        if config_kw.get("metrics") is not None:
            config_kw["metrics"] = {"prometheus": {"endpoint": f"127.0.0.1:{self.prometheus_port}"},
                                    **config_kw["metrics"]}
        self.config = gateway_config(self.grpc_port, self.http_port, self.metrics_port, exporters, **config_kw)
        self.config_path = workdir / "tracegate.yaml"
        # JSON is YAML; it keeps the harness free of a YAML writer and is easy to read in logs.
        self.config_path.write_text(json.dumps(self.config, indent=2) + "\n")
        self.log_path = workdir / "tracegate.stderr.log"
        self.stdout_path = workdir / "tracegate.stdout.log"
        self.proc: subprocess.Popen | None = None
        self.exit_code: int | None = None
        self.killed = False
        self.health_endpoint = True  # False when /readyz answered 404 and ports were polled

    # -- addresses
    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def traces_url(self) -> str:
        return f"{self.http_url}/v1/traces"

    @property
    def logs_url(self) -> str:
        return f"{self.http_url}/v1/logs"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def query_url(self) -> str:
        """The query API (Tempo's HTTP API), when the config has a ``query`` section."""
        return f"http://127.0.0.1:{self.query_port}"

    @property
    def data_metrics_url(self) -> str:
        """The data metrics endpoint (``metrics.prometheus``), when the config has one."""
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def wal_dir(self) -> Path:
        """Where the default ``service.wal.dir`` (``./data/wal``) is: under the work dir (cwd)."""
        return self.workdir / "data" / "wal"

    # -- lifecycle
    def start(self, timeout: float = GATEWAY_READY_TIMEOUT_S) -> "Gateway":
        env = dict(os.environ, RUST_BACKTRACE="1")
        with open(self.log_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(
                [str(self.binary), "run", "-c", str(self.config_path)],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=self.workdir,
            )
        _LIVE.append(self.proc)
        if self not in _ALL_GATEWAYS:
            _ALL_GATEWAYS.append(self)
        wait_until(self._ready, timeout, interval=0.05, what=f"{self.name} to become ready")
        return self

    def restart(self, timeout: float = GATEWAY_READY_TIMEOUT_S) -> "Gateway":
        """Starts the gateway again after it exited (or was killed): same config, ports and
        work dir, so it finds its WAL and archive. The previous run's logs are kept as
        ``tracegate.stderr.N.log`` / ``tracegate.stdout.N.log``."""
        assert not self.running(), f"{self.name} is still running"
        n = 1
        while (self.workdir / f"tracegate.stderr.{n}.log").exists():
            n += 1
        for path in (self.log_path, self.stdout_path):
            if path.exists():
                path.rename(path.with_name(path.name.replace(".log", f".{n}.log")))
        self.exit_code = None
        self.killed = False
        return self.start(timeout)

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            self.exit_code = self.proc.returncode
            pytest.fail(
                f"{self.name} exited with {self.proc.returncode} before it was ready.\n"
                f"config: {self.config_path}\n--- stderr tail ---\n{self.log_tail()}",
                pytrace=False,
            )
        if self.health_endpoint:
            try:
                resp = requests.get(f"http://127.0.0.1:{self.metrics_port}/readyz", timeout=1)
            except requests.RequestException:
                return False
            if resp.status_code == 404:
                self.health_endpoint = False  # fall back to the TCP ports
            elif resp.status_code != 200:
                return False
        # /readyz said ready (or is absent): the receivers must accept connections too.
        return port_open(self.grpc_port) and port_open(self.http_port)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = GATEWAY_STOP_TIMEOUT_S) -> int | None:
        """Sends ``sig`` (SIGTERM: staged shutdown), waits, kills after ``timeout`` s.
        Returns the exit code (negative for a signal, as subprocess reports it)."""
        if self.proc is None:
            return None
        if self.exit_code is None or self.proc.poll() is None:
            self.exit_code, killed = stop_process(self.proc, sig, timeout)
            self.killed = self.killed or killed
        return self.exit_code

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = GATEWAY_STOP_TIMEOUT_S) -> int | None:
        """Waits for an exit already asked for; kills after ``timeout`` s."""
        assert self.proc is not None
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.exit_code, _ = stop_process(self.proc, signal.SIGKILL, 10)
            self.killed = True
        return self.exit_code

    # -- observation
    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def log_records(self) -> list[dict]:
        """The JSON log lines on stderr (log_format: json); other lines are skipped."""
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass
        return records

    def error_logs(self) -> list[dict]:
        return [r for r in self.log_records() if str(r.get("level", "")).upper() == "ERROR"]

    def metrics_text(self) -> str:
        resp = requests.get(self.metrics_url, timeout=5)
        assert resp.status_code == 200, f"GET /metrics: {resp.status_code} {resp.text[:500]}"
        return resp.text

    def describe_exit(self) -> str:
        return (f"{self.name} exit code {self.exit_code}{' (killed after timeout)' if self.killed else ''}\n"
                f"--- stderr tail ---\n{self.log_tail()}")


_ALL_GATEWAYS: list[Gateway] = []


class GatewayFactory:
    """Starts gateways on demand and stops every one it started."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.started: list[Gateway] = []

    def __call__(self, exporters: dict, *, start: bool = True, name: str | None = None, **config_kw: Any) -> Gateway:
        name = name or f"tracegate-{len(self.started) + 1}"
        gw = Gateway(self.binary, self.workdir / name, exporters, name=name, **config_kw)
        self.started.append(gw)
        if start:
            gw.start()
        return gw

    def stop_all(self) -> None:
        for gw in self.started:
            gw.stop()


# ---------------------------------------------------------------------------------------------
# Reports: attach the gateways' logs to failing tests
# ---------------------------------------------------------------------------------------------

_FIRST_GATEWAY = pytest.StashKey[int]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_FIRST_GATEWAY] = len(_ALL_GATEWAYS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    first = item.stash.get(_FIRST_GATEWAY, len(_ALL_GATEWAYS))
    for i, gw in enumerate(_ALL_GATEWAYS):
        if i >= first or gw.running():
            state = "running" if gw.running() else f"exit code {gw.exit_code}"
            report.sections.append(
                (f"{gw.name} ({state}; config {gw.config_path}) stderr, last 60 lines", gw.log_tail())
            )


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tracegate_bin() -> Path:
    if _BUILD_ERROR:
        pytest.fail(_BUILD_ERROR, pytrace=False)
    binary = _binary_path()
    if not binary.exists():
        pytest.fail(f"{binary} does not exist; run `cargo build -p tracegate`", pytrace=False)
    return binary


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory):
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto: MotoServer) -> str:
    return moto.new_bucket()


@pytest.fixture
def gateway_factory(tracegate_bin: Path, tmp_path: Path):
    factory = GatewayFactory(tracegate_bin, tmp_path / "gateways")
    yield factory
    factory.stop_all()


@pytest.fixture(scope="module")
def module_gateway_factory(tracegate_bin: Path, tmp_path_factory: pytest.TempPathFactory):
    factory = GatewayFactory(tracegate_bin, tmp_path_factory.mktemp("gateways"))
    yield factory
    factory.stop_all()
