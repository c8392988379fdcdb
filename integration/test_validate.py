"""The CLI without a running gateway: `validate`, `--version`, `--help`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT

GOOD = """\
receivers:
  otlp:
    protocols:
      grpc: { endpoint: 127.0.0.1:14317 }
      http: { endpoint: 127.0.0.1:14318 }
    max_request_bytes: 4MiB
    max_decompressed_bytes: 16MiB
exporters:
  archive:
    url: s3://tg-validate/llm-traces
    flush_age: 1s
    flush_bytes: 64MiB
    s3: { endpoint: "http://127.0.0.1:9", region: us-east-1, access_key_id: test, secret_access_key: test, allow_http: true }
  archive/local: { url: /tmp/tracegate-validate/archive }
  otlp/tempo:
    endpoint: http://127.0.0.1:14319
    compression: gzip
    headers: { x-scope-orgid: test }
service:
  pipelines:
    traces: { receivers: [otlp], exporters: [archive, archive/local, otlp/tempo] }
  telemetry: { metrics_address: 127.0.0.1:18888, log_level: info, log_format: json }
  shutdown_timeout: 20s
"""

# (what is broken, the YAML edit, the key path the error must start with, text it must contain)
BREAKAGES = {
    "bad-duration": (
        ("    flush_age: 1s\n", "    flush_age: 5x\n"),
        "exporters.archive.flush_age", 'invalid duration "5x"',
    ),
    "unknown-key": (
        ("    max_decompressed_bytes: 16MiB\n", "    max_decompressed_bytes: 16MiB\n    max_request_byte: 1MiB\n"),
        "receivers.otlp.max_request_byte", "unknown field",
    ),
    "undefined-exporter": (
        ("exporters: [archive, archive/local, otlp/tempo]", "exporters: [archive, otlp/missing]"),
        "service.pipelines.traces.exporters", "otlp/missing",
    ),
}


def run_cli(binary: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def broken(edits) -> str:
    text = GOOD
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """Output lines, with an optional leading "error: " or "- " taken off."""
    lines = []
    for line in (proc.stderr + "\n" + proc.stdout).splitlines():
        line = re.sub(r"^\s*(?:error:\s*|-\s+)?", "", line).rstrip()
        if line:
            lines.append(line)
    return lines


def find_error(lines: list[str], path: str, text: str) -> str | None:
    """The line `PATH...: MESSAGE` that reports ``path`` and says ``text``."""
    for line in lines:
        if line.startswith(path) and ": " in line and text in line:
            return line
    return None


def test_good_config_validates(tracegate_bin, tmp_path):
    cfg = tmp_path / "good.yaml"
    cfg.write_text(GOOD)
    proc = run_cli(tracegate_bin, "validate", "-c", str(cfg))
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_one_error_is_reported_with_its_key_path(tracegate_bin, tmp_path, name):
    edit, path, text = BREAKAGES[name]
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(broken([edit]))
    proc = run_cli(tracegate_bin, "validate", "-c", str(cfg))
    assert proc.returncode != 0, f"{name}: validate accepted a broken config\n{proc.stdout}{proc.stderr}"
    lines = error_lines(proc)
    assert find_error(lines, path, text), f"no line `{path}...: ...{text}...` in:\n" + "\n".join(lines)


def test_every_error_is_reported_each_on_its_own_line(tracegate_bin, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(broken([edit for edit, _, _ in BREAKAGES.values()]))
    proc = run_cli(tracegate_bin, "validate", "-c", str(cfg))
    assert proc.returncode != 0
    lines = error_lines(proc)
    found = {name: find_error(lines, path, text) for name, (_, path, text) in BREAKAGES.items()}
    missing = [name for name, line in found.items() if line is None]
    assert not missing, f"errors not reported: {missing}; output:\n" + "\n".join(lines)
    assert len(set(found.values())) == len(found), f"errors share a line: {found}"
    exact = found["bad-duration"]
    assert exact.startswith('exporters.archive.flush_age: invalid duration "5x"'), exact


def test_missing_config_file_is_an_error(tracegate_bin, tmp_path):
    missing = tmp_path / "nope.yaml"
    proc = run_cli(tracegate_bin, "validate", "-c", str(missing))
    assert proc.returncode != 0
    assert "nope.yaml" in proc.stderr + proc.stdout


def test_version(tracegate_bin):
    proc = run_cli(tracegate_bin, "--version")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r'\[workspace\.package\][^\[]*?\nversion\s*=\s*"([^"]+)"', (REPO_ROOT / "Cargo.toml").read_text())
    assert m, "no version in the workspace Cargo.toml"
    assert "tracegate" in proc.stdout and m.group(1) in proc.stdout, proc.stdout


def test_help(tracegate_bin):
    proc = run_cli(tracegate_bin, "--help")
    assert proc.returncode == 0, proc.stderr
    for word in ("run", "validate"):
        assert re.search(rf"\b{word}\b", proc.stdout), f"--help does not mention `{word}`:\n{proc.stdout}"
    proc = run_cli(tracegate_bin, "validate", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "-c" in proc.stdout or "--config" in proc.stdout, proc.stdout
