"""Reading the Parquet archive back with DuckDB, and what the SDK says should be in it."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import duckdb

# {prefix}/spans/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet
SPAN_KEY = re.compile(r"(?:^|/)spans/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/([^/]+)\.parquet$")


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.sql("SET TimeZone = 'UTC'")
    return con


def parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if p.is_file())


SPAN_QUERY = """
SELECT
    trace_id, span_id, parent_span_id, trace_state, service_name, name, kind,
    scope_name, scope_version,
    epoch_ns(start_time) AS start_ns, epoch_ns(end_time) AS end_ns, duration_ns,
    status_code, status_message, resource_attributes, attributes,
    list_transform(events, lambda e: e.name) AS event_names,
    list_transform(events, lambda e: epoch_ns(e.time)) AS event_times_ns,
    list_transform(events, lambda e: e.attributes) AS event_attributes,
    links,
    CAST(dt AS VARCHAR) AS dt, CAST(hour AS VARCHAR) AS hour, filename
FROM read_parquet(?, hive_partitioning = true, filename = true, union_by_name = true)
"""


def read_spans(root: Path, con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Every row of the ``spans/`` Parquet files under ``root`` as a dict, with dt/hour from the Hive path.
    Times come back as integer ns (epoch_ns), so nothing depends on Python's datetime."""
    # Only the spans table: a traces/ table may sit beside it with another schema.
    files = [p.as_posix() for p in parquet_files(root) if "/spans/" in p.as_posix()]
    if not files:
        return []
    con = con or connect()
    cur = con.execute(SPAN_QUERY, [files])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


def as_map(value: Any) -> dict:
    """DuckDB MAP values are dicts; older versions gave {'key': [...], 'value': [...]}."""
    if value is None:
        return {}
    if isinstance(value, dict) and set(value) == {"key", "value"} and isinstance(value["key"], list):
        return dict(zip(value["key"], value["value"]))
    return dict(value)


# ---------------------------------------------------------------------------------------------
# The rendering contract: map<string,string>, non-strings as JSON
# ---------------------------------------------------------------------------------------------

def render(value: Any) -> str:
    """An attribute value as the archive stores it: strings as they are, the rest as compact
    JSON (42 -> '42', True -> 'true', ('a','b') -> '["a","b"]')."""
    if isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        value = list(value)
    return json.dumps(value, separators=(",", ":"))


def rendered(attrs: Any) -> dict:
    return {k: render(v) for k, v in dict(attrs or {}).items()}


def hex_trace(i: int) -> str:
    return format(i, "032x")


def hex_span(i: int) -> str:
    return format(i, "016x")


def expected_row(span) -> dict:
    """What the archive must hold for an SDK ReadableSpan."""
    ctx = span.get_span_context()
    return {
        "trace_id": hex_trace(ctx.trace_id),
        "span_id": hex_span(ctx.span_id),
        "parent_span_id": hex_span(span.parent.span_id) if span.parent is not None else None,
        "service_name": span.resource.attributes["service.name"],
        "name": span.name,
        "kind": span.kind.name.lower(),
        "scope_name": span.instrumentation_scope.name,
        "scope_version": span.instrumentation_scope.version,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "duration_ns": span.end_time - span.start_time,
        "status_code": span.status.status_code.name.lower(),
        "status_message": span.status.description or None,
        "resource_attributes": rendered(span.resource.attributes),
        "attributes": rendered(span.attributes),
        "event_names": [e.name for e in span.events],
        "event_times_ns": [e.timestamp for e in span.events],
        "event_attributes": [rendered(e.attributes) for e in span.events],
        "links": [
            {
                "trace_id": hex_trace(link.context.trace_id),
                "span_id": hex_span(link.context.span_id),
                "attributes": rendered(link.attributes),
            }
            for link in span.links
        ],
    }


def _norm_empty(v: Any) -> Any:
    return None if v in ("", None) else v


def compare_rows(actual_rows: list[dict], expected_spans: Iterable) -> list[str]:
    """Every difference between the archive and the SDK's spans, as readable lines."""
    problems: list[str] = []
    expected = {(e["trace_id"], e["span_id"]): e for e in map(expected_row, expected_spans)}
    counts = Counter((r["trace_id"], r["span_id"]) for r in actual_rows)
    dups = {k: n for k, n in counts.items() if n > 1}
    if dups:
        problems.append(f"{len(dups)} span(s) archived more than once, e.g. {next(iter(dups.items()))}")
    missing = expected.keys() - counts.keys()
    extra = counts.keys() - expected.keys()
    if missing:
        problems.append(f"{len(missing)} span(s) missing from the archive, e.g. {sorted(missing)[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected span(s) in the archive, e.g. {sorted(extra)[:3]}")

    for row in actual_rows:
        key = (row["trace_id"], row["span_id"])
        exp = expected.get(key)
        if exp is None:
            continue
        where = f"span {exp['name']!r} {key[1]}"

        def check(field: str, got: Any, want: Any) -> None:
            if got != want:
                problems.append(f"{where}: {field} = {got!r}, expected {want!r}")

        for field in ("parent_span_id", "service_name", "name", "kind", "scope_name", "scope_version",
                      "start_ns", "end_ns", "duration_ns", "status_code", "event_names", "event_times_ns"):
            check(field, row[field], exp[field])
        check("status_message", _norm_empty(row["status_message"]), exp["status_message"])
        check("trace_state", _norm_empty(row["trace_state"]), None)
        check("attributes", as_map(row["attributes"]), exp["attributes"])
        check("resource_attributes", as_map(row["resource_attributes"]), exp["resource_attributes"])
        check("event attributes", [as_map(a) for a in (row["event_attributes"] or [])], exp["event_attributes"])
        got_links = [
            {"trace_id": link["trace_id"], "span_id": link["span_id"], "attributes": as_map(link["attributes"])}
            for link in (row["links"] or [])
        ]
        check("links", got_links, exp["links"])
    return problems


def check_parent_links(rows: list[dict]) -> list[str]:
    """Every parent_span_id names a span of the same trace; each trace has exactly one root."""
    problems = []
    by_trace: dict[str, set[str]] = {}
    roots: Counter = Counter()
    for r in rows:
        by_trace.setdefault(r["trace_id"], set()).add(r["span_id"])
        if r["parent_span_id"] is None:
            roots[r["trace_id"]] += 1
    for r in rows:
        parent = r["parent_span_id"]
        if parent is not None and parent not in by_trace[r["trace_id"]]:
            problems.append(f"span {r['span_id']} of trace {r['trace_id']}: parent {parent} is not in the trace")
    for trace_id in by_trace:
        if roots[trace_id] != 1:
            problems.append(f"trace {trace_id} has {roots[trace_id]} roots (parent_span_id null), expected 1")
    return problems


def utc_partition(ns: int) -> tuple[str, str]:
    t = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.timezone.utc)
    return t.strftime("%Y-%m-%d"), t.strftime("%H")


def check_hive_layout(keys: list[str], rows: list[dict], prefix: str) -> list[str]:
    """Object keys are ``{prefix}/spans/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet``; the
    dt/hour DuckDB derives from the path agree with each span's start time, in UTC."""
    problems = []
    span_keys = [k for k in keys if "/spans/" in f"/{k}"]
    if not span_keys:
        problems.append(f"no spans/ objects among {keys}")
    for key in span_keys:
        m = SPAN_KEY.search(key)
        if not m or not key.startswith(f"{prefix}/spans/"):
            problems.append(f"object key {key!r} does not match {prefix}/spans/dt=YYYY-MM-DD/hour=HH/NAME.parquet")
            continue
        stem = m.group(3)
        if not re.search(r".+-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{26}$", stem):
            problems.append(f"object key {key!r}: file name is not {{instance}}-{{ulid}}.parquet")
    for r in rows:
        want = utc_partition(r["start_ns"])
        got = (r["dt"], r["hour"])
        if got != want:
            problems.append(f"span {r['span_id']} starts in dt={want[0]}/hour={want[1]} (UTC) but sits in dt={got[0]}/hour={got[1]}")
        fm = SPAN_KEY.search(Path(r["filename"]).as_posix())
        if fm and (fm.group(1), fm.group(2)) != got:
            problems.append(f"span {r['span_id']}: hive columns {got} disagree with its file {r['filename']}")
    return problems
