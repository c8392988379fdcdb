"""Reading the Parquet archive back with DuckDB, and what the SDK says should be in it.

DuckDB reads the archive where it lies: a local directory, or S3 (moto) in place through the
``httpfs`` extension. That extension comes from PyPI (``duckdb-extension-httpfs``), built for one
DuckDB version only, and is loaded from the wheel's file: DuckDB never tries to download one.

DuckDB 1.5 (the newest release with an httpfs wheel) reads Parquet ``TIMESTAMP(NANOS, UTC)`` as
TIMESTAMPTZ, to the microsecond. The archive keeps nanoseconds and the tests compare them
exactly, so ``read_spans`` takes the nanoseconds from pyarrow reading the same objects, after
checking that DuckDB's value is exactly that time cut to the microsecond.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import duckdb

# {prefix}/spans/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet
SPAN_KEY = re.compile(r"(?:^|/)spans/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/([^/]+)\.parquet$")


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 server (moto on loopback) as DuckDB's S3 secret and pyarrow's S3 filesystem see it."""

    host_port: str  # "127.0.0.1:PORT", no scheme
    key_id: str
    secret: str
    region: str
    use_ssl: bool = False


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def httpfs_extension_path() -> Path:
    """The httpfs build in the ``duckdb-extension-httpfs`` wheel for the installed DuckDB."""
    import duckdb_extension_httpfs

    root = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
    path = root / f"v{duckdb.__version__}" / "httpfs.duckdb_extension"
    if not path.is_file():
        found = sorted(p.parent.name for p in root.glob("*/httpfs.duckdb_extension"))
        raise RuntimeError(
            f"duckdb {duckdb.__version__} needs duckdb-extension-httpfs=={duckdb.__version__}; "
            f"the installed wheel has httpfs for {found or 'no version'}"
        )
    return path


def connect(s3: S3Endpoint | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC. With ``s3``: httpfs loaded and an S3 secret for that server,
    so ``read_parquet('s3://bucket/...')`` reads from it."""
    # Nothing is fetched from the network: a missing extension is an error, not a download.
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.sql("SET TimeZone = 'UTC'")
    if s3 is not None:
        con.execute(f"LOAD {_sql_str(httpfs_extension_path().as_posix())}")
        con.execute(f"""
            CREATE SECRET archive_s3 (
                TYPE s3, KEY_ID {_sql_str(s3.key_id)}, SECRET {_sql_str(s3.secret)},
                REGION {_sql_str(s3.region)}, ENDPOINT {_sql_str(s3.host_port)},
                URL_STYLE 'path', USE_SSL {'true' if s3.use_ssl else 'false'}
            )
        """)
    return con


def parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if p.is_file())


def spans_glob(archive_url: str) -> str:
    """``s3://bucket/prefix`` -> the pattern of its spans table, as a data-lake user writes it."""
    return f"{archive_url.rstrip('/')}/spans/**/*.parquet"


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
    CAST(dt AS VARCHAR) AS dt, CAST(hour AS VARCHAR) AS hour, filename, file_row_number
FROM read_parquet(?, hive_partitioning = true, filename = true, file_row_number = true, union_by_name = true)
"""


def read_spans(source: Path | str, s3: S3Endpoint | None = None, con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Every row of the spans table as a dict, with dt/hour from the Hive path. ``source`` is a
    local directory (the files under it whose path has ``/spans/``), or an archive URL
    ``s3://bucket/prefix`` that DuckDB reads in place (``s3`` says where the server is).
    Times are integer ns (see the module doc), so nothing depends on Python's datetime."""
    if isinstance(source, str) and source.startswith("s3://"):
        if s3 is None:
            raise ValueError(f"reading {source} needs the S3 endpoint")
        con = con or connect(s3)
        files: str | list[str] = spans_glob(source)
        # read_parquet fails on a pattern that matches nothing; an empty archive has no rows.
        if not con.execute("SELECT count(*) FROM glob(?)", [files]).fetchall()[0][0]:
            return []
    else:
        # Only the spans table: a traces/ table may sit beside it with another schema.
        files = [p.as_posix() for p in parquet_files(Path(source)) if "/spans/" in p.as_posix()]
        if not files:
            return []
        con = con or connect()
    cur = con.execute(SPAN_QUERY, [files])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, row)) for row in cur.fetchall()]
    _restore_nanoseconds(rows, s3)
    return rows


# {prefix}/traces/dt=YYYY-MM-DD/hour=HH/{instance}-{ulid}.parquet
TRACE_KEY = re.compile(r"(?:^|/)traces/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/([^/]+)\.parquet$")


def traces_glob(archive_url: str) -> str:
    """``s3://bucket/prefix`` -> the pattern of its traces table."""
    return f"{archive_url.rstrip('/')}/traces/**/*.parquet"


# Times are microseconds: DuckDB 1.5 reads the file's nanoseconds cut to the microsecond.
TRACE_QUERY = """
SELECT
    trace_id, root_service, root_name,
    epoch_us(start_time) AS start_us, epoch_us(end_time) AS end_us, duration_ns,
    span_count, error_count, services, complete, tree_whole, release_reason, fragment,
    cp_llm_ns, cp_other_ns, input_tokens, output_tokens, cost_usd, first_llm_ttft_ms,
    sampled, sampling_policy, sampling_probability,
    CAST(dt AS VARCHAR) AS dt, CAST(hour AS VARCHAR) AS hour, filename
FROM read_parquet(?, hive_partitioning = true, filename = true, union_by_name = true)
"""


def read_traces(source: Path | str, s3: S3Endpoint | None = None, con: duckdb.DuckDBPyConnection | None = None) -> list[dict]:
    """Every row of the traces table as a dict, with dt/hour from the Hive path. ``source`` is
    as for ``read_spans``. ``start_us``/``end_us`` are integer microseconds (see TRACE_QUERY)."""
    if isinstance(source, str) and source.startswith("s3://"):
        if s3 is None:
            raise ValueError(f"reading {source} needs the S3 endpoint")
        con = con or connect(s3)
        files: str | list[str] = traces_glob(source)
        if not con.execute("SELECT count(*) FROM glob(?)", [files]).fetchall()[0][0]:
            return []
    else:
        files = [p.as_posix() for p in parquet_files(Path(source)) if "/traces/" in p.as_posix()]
        if not files:
            return []
        con = con or connect()
    cur = con.execute(TRACE_QUERY, [files])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row)) for row in cur.fetchall()]


# ---------------------------------------------------------------------------------------------
# Nanoseconds: pyarrow reads what DuckDB 1.5 cuts to the microsecond
# ---------------------------------------------------------------------------------------------

def _file_times(filename: str, s3: S3Endpoint | None) -> tuple[list[int], list[int], list[list[int]]]:
    """start_time, end_time and each row's event times, in ns, of one Parquet file."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    columns = ["start_time", "end_time", "events"]
    if filename.startswith("s3://"):
        from pyarrow import fs

        assert s3 is not None
        s3fs = fs.S3FileSystem(
            access_key=s3.key_id, secret_key=s3.secret, region=s3.region,
            endpoint_override=s3.host_port, scheme="https" if s3.use_ssl else "http",
        )
        with s3fs.open_input_file(filename[len("s3://"):]) as f:
            table = pq.ParquetFile(f).read(columns=columns)
    else:
        table = pq.ParquetFile(filename).read(columns=columns)

    def ns(col) -> list[int]:
        return col.cast(pa.int64()).to_pylist()

    events = table.column("events").combine_chunks()
    per_row: list[list[int]] = [[] for _ in range(table.num_rows)]
    flat = pc.list_flatten(events)
    for parent, t in zip(pc.list_parent_indices(events).to_pylist(), ns(flat.field("time"))):
        per_row[parent].append(t)
    return ns(table.column("start_time")), ns(table.column("end_time")), per_row


def _restore_nanoseconds(rows: list[dict], s3: S3Endpoint | None) -> None:
    """Replaces DuckDB's microsecond times in ``rows`` by the file's nanoseconds, after checking
    that DuckDB read each one as that time cut to the microsecond."""
    by_file: dict[str, tuple[list[int], list[int], list[list[int]]]] = {}
    for row in rows:
        name = row["filename"]
        if name not in by_file:
            by_file[name] = _file_times(name, s3)
        starts, ends, event_times = by_file[name]
        i = row.pop("file_row_number")
        exact = {"start_ns": starts[i], "end_ns": ends[i]}
        if row["event_times_ns"] is not None:
            exact["event_times_ns"] = event_times[i]
        for field, want in exact.items():
            got = row[field]
            cut = [t - t % 1000 for t in want] if isinstance(want, list) else want - want % 1000
            if got != cut:
                raise AssertionError(f"{name} row {i}: DuckDB read {field} = {got!r}, the file holds {want!r} ns")
            row[field] = want


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
        fm = SPAN_KEY.search(str(r["filename"]).replace("\\", "/"))
        if fm and (fm.group(1), fm.group(2)) != got:
            problems.append(f"span {r['span_id']}: hive columns {got} disagree with its file {r['filename']}")
    return problems
