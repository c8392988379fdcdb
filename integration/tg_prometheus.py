"""Real Prometheus (the Debian package) and an Alertmanager-shaped webhook, for the metrics tests.

- ``PrometheusServer``: ``prometheus`` on a free loopback port, scraping the given targets every
  second and evaluating the given rule files every second, with exemplar storage (and native
  histograms when asked). Its HTTP API answers the assertions.
- ``WebhookReceiver``: an HTTP server that records every POST (path and JSON body), answering
  503 to the first ``fail_first`` of them so the sender's retry is exercised.
- ``metric_names(expr)``: the metric names a PromQL expression reads.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import free_port, stop_process, wait_until


def prometheus_binary() -> str:
    """The ``prometheus`` binary, or skip (fail on CI) with how to install it."""
    found = shutil.which("prometheus")
    if found:
        return found
    message = "prometheus is not installed: apt-get install -y --no-install-recommends prometheus"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class PrometheusServer:
    def __init__(self, workdir: Path, targets: list[str], rule_files: list[Path] = (),
                 native_histograms: bool = False) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": "tracegate", "static_configs": [{"targets": targets}]}],
        }
        self.config_path = workdir / "prometheus.yml"
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")
        features = ["exemplar-storage"] + (["native-histograms"] if native_histograms else [])
        self.log_path = workdir / "prometheus.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [prometheus_binary(), f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 f"--enable-feature={','.join(features)}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        wait_until(self._ready, 30, interval=0.2, what="prometheus to become ready")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"prometheus exited with {self.proc.returncode}:\n{self.log_path.read_text()[-3000:]}")
        try:
            return requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def api(self, path: str, **params: Any) -> Any:
        resp = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        assert resp.status_code == 200, f"{path} {params}: {resp.status_code} {resp.text[:500]}"
        body = resp.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]

    def targets_up(self) -> bool:
        active = self.api("targets")["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    def has_series(self, name: str) -> bool:
        return bool(self.api("series", **{"match[]": f'{{__name__="{name}"}}'}))

    def stop(self) -> None:
        stop_process(self.proc)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


class WebhookReceiver:
    """Records POSTs; the first ``fail_first`` get 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[tuple[str, Any]] = []
        self.attempts = 0
        self.fail_first = fail_first
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with lock:
                    outer.attempts += 1
                    failing = outer.attempts <= outer.fail_first
                    if not failing:
                        outer.posts.append((self.path, json.loads(body)))
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alerts(self, name: str) -> list[dict]:
        """Every alert named ``name`` received, in arrival order."""
        return [a for _, body in self.posts for a in body if a.get("labels", {}).get("alertname") == name]

    def stop(self) -> None:
        self.server.shutdown()


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
                 "and", "or", "unless"}


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers followed by a selector (``{`` or ``[``).
    Every expression the project ships writes its metrics that way."""
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\[{]", expr))
    return {n for n in names if n not in _PROMQL_WORDS}


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    return wait_until(predicate, timeout, interval=interval, what=what)


def now_s() -> float:
    return time.time()
