"""Helpers of the durability tests (test_durability*.py): load that records every acknowledged
span, a TCP proxy that can cut a store off, a fake Tempo that can be stopped and started on
its port, a reader of the WAL's segment files, and the exactly-once audit of the archive.

- ``Ledger`` / ``start_senders``: threads sending batches of known spans over gRPC (grpcio
  stubs) or OTLP/HTTP protobuf (requests); traces are spread over three consecutive batches
  of a sender, with the root in the middle one. Only a request that was answered OK (and
  rejected nothing) counts as acknowledged. With ``retry=True`` a refused request
  (UNAVAILABLE / RESOURCE_EXHAUSTED, HTTP 429/503, no connection) is sent again with backoff
  until it is acknowledged or the senders are stopped, as an OTLP SDK does.
- ``TcpProxy``: loopback TCP forwarding to a port; ``down()`` closes the listener (connections
  are refused) and cuts every open connection, ``up()`` listens again on the same port.
- ``FakeTempo``: a grpcio OTLP trace service recording the span keys it was sent; ``stop()``
  and ``start()`` keep its port.
- ``wal_segments`` / ``read_segment``: the WAL's ``NNNNNNNNNNNNNNNNNNNN.wal`` files and their
  records (``"TGWR" | len u32 LE | crc32c | payload``; the payload is ``0x54 | version |
  name len | pipeline name | tenant len | tenant | ExportTraceServiceRequest``, the tenant from
  version 2 on), with the span keys and tenant of each.
- ``audit_spans`` / ``audit_traces``: what the archive holds against what was acknowledged.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter, deque
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import grpc
import requests
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

import tg_otlp
from tg_otlp import SpanSpec, make_request, make_trace

Key = tuple[str, str]  # (trace_id hex, span_id hex)


def poll(predicate: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    """Polls ``predicate`` until it is truthy (True) or ``timeout`` s have passed (False).
    Exceptions count as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return True
        except Exception:  # noqa: BLE001 - not yet
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def probe(gw, path: str) -> int | None:
    """The status of GET ``path`` on the gateway's metrics server, None when it does not answer."""
    try:
        return requests.get(f"http://127.0.0.1:{gw.metrics_port}{path}", timeout=2).status_code
    except requests.RequestException:
        return None


def metric(gw, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with ``labels`` on the gateway's /metrics (0 if absent)."""
    return tg_otlp.metric_sum(tg_otlp.parse_prometheus(gw.metrics_text()), name, **labels)


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------

class TraceMixer:
    """Batches of spans in which each trace is spread over ``chunks`` consecutive batches:
    a batch holds the first chunk of ``traces_per_batch`` new traces, the second chunk of the
    previous batch's new traces, and so on. Each trace is a root and its children; the root
    goes in the middle chunk. Steady batches have ``chunks * traces_per_batch * chunk`` spans."""

    def __init__(self, prefix: str, traces_per_batch: int = 10, chunk: int = 10, chunks: int = 3) -> None:
        self.prefix = prefix
        self.traces_per_batch = traces_per_batch
        self.chunk = chunk
        self.chunks = chunks
        self.open: deque[list[list[SpanSpec]]] = deque()  # per trace: its chunks not yet sent
        self.batches = 0

    def next_batch(self) -> list[SpanSpec]:
        self.batches += 1
        for _ in range(self.traces_per_batch):
            spans = make_trace(self.chunk * self.chunks, f"{self.prefix}-{self.batches}")
            root, children = spans[0], spans[1:]
            mid = (self.chunks // 2) * self.chunk
            ordered = children[:mid] + [root] + children[mid:]
            self.open.append([ordered[i:i + self.chunk] for i in range(0, len(ordered), self.chunk)])
        batch: list[SpanSpec] = []
        for _ in range(len(self.open)):
            chunks = self.open.popleft()
            batch.extend(chunks.pop(0))
            if chunks:
                self.open.append(chunks)
        return batch


@dataclass
class Ledger:
    """What the senders sent and what the gateway acknowledged."""

    sent: set = field(default_factory=set)            # every span key put in a request
    acked: Counter = field(default_factory=Counter)   # span key -> times acknowledged
    acked_requests: Counter = field(default_factory=Counter)  # transport -> acknowledged requests
    acked_spans: Counter = field(default_factory=Counter)     # transport -> acknowledged spans
    refused: Counter = field(default_factory=Counter)         # "grpc UNAVAILABLE", "http 503", ...
    retry_after: Counter = field(default_factory=Counter)     # Retry-After values on HTTP 503
    unexpected: list = field(default_factory=list)
    first_refusal: dict = field(default_factory=dict)         # kind -> monotonic time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent_batch(self, keys: list[Key]) -> None:
        with self.lock:
            self.sent.update(keys)

    def ack(self, transport: str, keys: list[Key]) -> None:
        with self.lock:
            self.acked.update(keys)
            self.acked_requests[transport] += 1
            self.acked_spans[transport] += len(keys)

    def refuse(self, kind: str) -> None:
        with self.lock:
            self.refused[kind] += 1
            self.first_refusal.setdefault(kind, time.monotonic())

    def odd(self, what: str) -> None:
        with self.lock:
            self.unexpected.append(what)

    def acked_keys(self) -> set:
        with self.lock:
            return set(self.acked)

    def summary(self) -> str:
        with self.lock:
            return (f"acked requests {dict(self.acked_requests)}, acked spans {dict(self.acked_spans)} "
                    f"({len(self.acked)} distinct), sent {len(self.sent)}, refused {dict(self.refused)}")


GRPC_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}
HTTP_RETRYABLE = {429, 503}


class GrpcClient:
    name = "grpc"

    def __init__(self, gw) -> None:
        self.channel = grpc.insecure_channel(gw.grpc_target, options=[
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 500),
            ("grpc.enable_retries", 0),
        ])
        self.stub = trace_service_pb2_grpc.TraceServiceStub(self.channel)

    def send(self, body: tg_otlp.ExportRequest, ledger: Ledger) -> bool | None:
        """True: acknowledged; False: retryable refusal; None: anything else."""
        try:
            resp = self.stub.Export(body, timeout=15)
        except grpc.RpcError as exc:
            code = exc.code()
            ledger.refuse(f"grpc {code.name}")
            if code in GRPC_RETRYABLE:
                return False
            ledger.odd(f"grpc {code.name}: {exc.details()}")
            return None
        if resp.partial_success.rejected_spans:
            ledger.odd(f"grpc OK with {resp.partial_success.rejected_spans} rejected: "
                       f"{resp.partial_success.error_message}")
            return None
        return True

    def close(self) -> None:
        self.channel.close()


class HttpClient:
    name = "http"

    def __init__(self, gw) -> None:
        self.url = gw.traces_url
        self.session = requests.Session()

    def send(self, body: tg_otlp.ExportRequest, ledger: Ledger) -> bool | None:
        try:
            resp = self.session.post(self.url, data=body.SerializeToString(),
                                     headers={"Content-Type": tg_otlp.PROTOBUF}, timeout=15)
        except requests.RequestException as exc:
            ledger.refuse(f"http {type(exc).__name__}")
            self.session = requests.Session()
            return False
        if resp.status_code == 200:
            partial = tg_otlp.parse_export_response(resp).partial_success
            if partial.rejected_spans:
                ledger.odd(f"HTTP 200 with {partial.rejected_spans} rejected: {partial.error_message}")
                return None
            return True
        ledger.refuse(f"http {resp.status_code}")
        if resp.status_code == 503:
            with ledger.lock:
                ledger.retry_after[resp.headers.get("Retry-After")] += 1
        if resp.status_code in HTTP_RETRYABLE:
            return False
        ledger.odd(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return None

    def close(self) -> None:
        self.session.close()


def _sender(gw, transport: str, prefix: str, stop: threading.Event, ledger: Ledger, retry: bool,
            interval: float, mixer_kw: dict) -> None:
    client = GrpcClient(gw) if transport == "grpc" else HttpClient(gw)
    mixer = TraceMixer(prefix, **mixer_kw)
    try:
        while not stop.is_set():
            if interval and mixer.batches:
                stop.wait(interval)
            spans = mixer.next_batch()
            keys = [s.key for s in spans]
            body = make_request(spans, service=f"durability-{transport}")
            ledger.sent_batch(keys)
            backoff = 0.05
            while not stop.is_set():
                outcome = client.send(body, ledger)
                if outcome:
                    ledger.ack(transport, keys)
                    break
                if outcome is None or not retry:
                    # Not retried: wait a little so a dead gateway is not hammered.
                    stop.wait(0.05)
                    break
                stop.wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, 1.0)
    finally:
        client.close()


@dataclass
class Load:
    """Running senders; ``stop()`` ends them."""

    ledger: Ledger
    stop_event: threading.Event
    threads: list

    def stop(self, timeout: float = 30) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=timeout)
        alive = [t.name for t in self.threads if t.is_alive()]
        assert not alive, f"senders did not stop: {alive}"


def start_senders(gw, transports: list[str], retry: bool = False, interval: float = 0.0,
                  ledger: Ledger | None = None, **mixer_kw) -> Load:
    """One sender thread per entry of ``transports`` ("grpc" or "http"), each sending its next
    batch ``interval`` s after the last was acknowledged or given up on (0: at once).
    ``mixer_kw`` goes to ``TraceMixer`` (batch shape)."""
    ledger = ledger or Ledger()
    stop = threading.Event()
    threads = []
    for i, transport in enumerate(transports):
        t = threading.Thread(target=_sender, name=f"sender-{i}-{transport}", daemon=True,
                             args=(gw, transport, f"s{i}", stop, ledger, retry, interval, mixer_kw))
        t.start()
        threads.append(t)
    return Load(ledger, stop, threads)


# ---------------------------------------------------------------------------------------------
# A TCP proxy that can cut a store off
# ---------------------------------------------------------------------------------------------

class TcpProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port`` while up. ``down()``: the port
    refuses connections and every open one is cut. ``up()``: it listens again, same port."""

    def __init__(self, upstream_port: int, up: bool = True) -> None:
        from conftest import free_port

        self.upstream_port = upstream_port
        self.port = free_port()
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.conns: set[socket.socket] = set()
        self.accepted = 0
        self.bytes_up = 0
        self.closed = False
        self.thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)
        self.thread.start()
        if up:
            self.up()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        with self.lock:
            if self.listener is not None:
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", self.port))
            s.listen(128)
            s.settimeout(0.1)
            self.listener = s

    def down(self) -> None:
        with self.lock:
            if self.listener is not None:
                self.listener.close()
                self.listener = None
            conns, self.conns = self.conns, set()
        for c in conns:
            _hard_close(c)

    def close(self) -> None:
        self.closed = True
        self.down()
        self.thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self.closed:
            with self.lock:
                listener = self.listener
            if listener is None:
                time.sleep(0.02)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            client.settimeout(None)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                _hard_close(client)
                continue
            with self.lock:
                if self.listener is None:  # went down meanwhile
                    _hard_close(client)
                    _hard_close(upstream)
                    continue
                self.conns.update((client, upstream))
                self.accepted += 1
            for a, b, up in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(a, b, up), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                if upstream:
                    self.bytes_up += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                self.conns.discard(src)
                self.conns.discard(dst)


def _hard_close(s: socket.socket) -> None:
    """Closes with an RST (SO_LINGER 0), as a store that vanished does."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def s3_archive_via(proxy: TcpProxy, moto, bucket: str, prefix: str, **extra) -> dict:
    """An archive exporter writing to ``bucket`` on moto through ``proxy``, retrying fast."""
    section = moto.archive_exporter(bucket, prefix, **extra)
    section["s3"]["endpoint"] = proxy.endpoint
    section.setdefault("retry", {"initial_backoff": "100ms", "max_backoff": "1s"})
    return section


# ---------------------------------------------------------------------------------------------
# A Tempo that can go away
# ---------------------------------------------------------------------------------------------

class FakeTempo(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace service on a fixed loopback port, recording every span key it was
    sent (a Counter: at-least-once delivery may repeat some)."""

    def __init__(self) -> None:
        self.port = 0
        self.server: grpc.Server | None = None
        self.lock = threading.Lock()
        self.received: Counter = Counter()
        self.calls = 0

    def Export(self, request, context):  # noqa: N802 - gRPC's name
        keys = [(s.trace_id.hex(), s.span_id.hex())
                for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        with self.lock:
            self.calls += 1
            self.received.update(keys)
        return trace_service_pb2.ExportTraceServiceResponse()

    def start(self) -> "FakeTempo":
        assert self.server is None
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                             options=[("grpc.max_receive_message_length", 64 << 20)])
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, server)
        bound = server.add_insecure_port(f"127.0.0.1:{self.port}")
        assert bound and (self.port in (0, bound)), f"could not listen on 127.0.0.1:{self.port} again"
        self.port = bound
        server.start()
        self.server = server
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None).wait(5)
            self.server = None

    def keys(self) -> set:
        with self.lock:
            return set(self.received)


# ---------------------------------------------------------------------------------------------
# The WAL's files
# ---------------------------------------------------------------------------------------------

WAL_MAGIC = b"TGWR"
WAL_HEADER = 12
SPAN_RECORD_MAGIC = 0x54


@dataclass
class WalRecord:
    start: int          # offset of its header in the segment file
    end: int            # offset just past its payload
    pipeline: str
    keys: list          # span keys, in order
    tenant: str = ""    # "" for the single tenant


def wal_segments(wal_dir: Path) -> list[Path]:
    """The segment files, oldest first (names are zero-padded LSNs, so they sort)."""
    return sorted(p for p in wal_dir.glob("*.wal") if len(p.stem) == 20 and p.stem.isdigit())


def read_segment(path: Path) -> tuple[list[WalRecord], int]:
    """The whole records of a segment, in order, and the offset where they end (anything after
    is a torn tail). The checksum is not verified: this reads what a gateway just wrote."""
    data = path.read_bytes()
    out: list[WalRecord] = []
    pos = 0
    while pos + WAL_HEADER <= len(data) and data[pos:pos + 4] == WAL_MAGIC:
        (length,) = struct.unpack_from("<I", data, pos + 4)
        end = pos + WAL_HEADER + length
        if end > len(data):
            break
        payload = data[pos + WAL_HEADER:end]
        assert payload[0] == SPAN_RECORD_MAGIC, f"{path}@{pos}: record payload header {payload[:3]!r}"
        version, name_len = payload[1], payload[2]
        pipeline = payload[3:3 + name_len].decode()
        body = 3 + name_len
        tenant = ""
        if version >= 2:
            tenant_len = payload[body]
            tenant = payload[body + 1:body + 1 + tenant_len].decode()
            body += 1 + tenant_len
        req = tg_otlp.ExportRequest.FromString(payload[body:])
        keys = [(s.trace_id.hex(), s.span_id.hex())
                for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
        out.append(WalRecord(pos, end, pipeline, keys, tenant))
        pos = end
    return out, pos


def wal_span_lsns(wal_dir: Path) -> dict:
    """Span key -> LSN (segment base + offset) of the first whole record holding it, over
    every segment in ``wal_dir``."""
    out: dict = {}
    for seg in wal_segments(wal_dir):
        base = int(seg.stem)
        records, _ = read_segment(seg)
        for r in records:
            for k in r.keys:
                out.setdefault(k, base + r.start)
    return out


def replay_from(gw) -> int | None:
    """The ``replay_from`` LSN the gateway logged when it opened its WAL ("write-ahead log open")."""
    for r in gw.log_records():
        fields = r.get("fields", r)
        if fields.get("message") == "write-ahead log open" and "replay_from" in fields:
            return int(fields["replay_from"])
    return None


# ---------------------------------------------------------------------------------------------
# The audit
# ---------------------------------------------------------------------------------------------

@dataclass
class SpanAudit:
    acked: set
    rows: int
    archived: Counter
    lost: set
    duplicated: dict
    unknown: set

    def figures(self) -> str:
        return (f"acknowledged {len(self.acked)}, archived {self.rows} rows "
                f"({len(self.archived)} distinct), lost {len(self.lost)}, "
                f"duplicated {len(self.duplicated)} (extra rows {sum(n - 1 for n in self.duplicated.values())}), "
                f"never sent {len(self.unknown)}")


def audit_spans(rows: list[dict], ledger: Ledger) -> SpanAudit:
    archived = Counter((r["trace_id"], r["span_id"]) for r in rows)
    acked = ledger.acked_keys()
    return SpanAudit(
        acked=acked, rows=len(rows), archived=archived,
        lost=acked - set(archived),
        duplicated={k: n for k, n in archived.items() if n > 1},
        unknown=set(archived) - ledger.sent,
    )


def audit_traces(trace_rows: list[dict], span_rows: list[dict]) -> tuple[list[str], str]:
    """Problems of the traces table against the spans table, and its figures: no trace has two
    rows that are not fragments, the span counts of a trace's rows add up to its distinct
    archived spans, and every trace with archived spans has a row."""
    spans_per_trace: dict[str, set] = {}
    for r in span_rows:
        spans_per_trace.setdefault(r["trace_id"], set()).add(r["span_id"])
    whole = Counter(r["trace_id"] for r in trace_rows if r["fragment"] is None)
    counted = Counter()
    for r in trace_rows:
        counted[r["trace_id"]] += int(r["span_count"] or 0)
    fragments = Counter(str(r["fragment"]) for r in trace_rows if r["fragment"] is not None)
    problems = []
    twice = {t: n for t, n in whole.items() if n > 1}
    if twice:
        problems.append(f"{len(twice)} traces have more than one non-fragment row, e.g. {list(twice.items())[:3]}")
    rowless = set(spans_per_trace) - set(counted)
    if rowless:
        problems.append(f"{len(rowless)} traces with archived spans have no traces row, e.g. {sorted(rowless)[:3]}")
    spanless = set(counted) - set(spans_per_trace)
    if spanless:
        problems.append(f"{len(spanless)} traces have a traces row but no span in the spans table, "
                        f"e.g. {sorted(spanless)[:3]}")
    miscounted = {t: (counted[t], len(s)) for t, s in spans_per_trace.items() if t in counted and counted[t] != len(s)}
    if miscounted:
        problems.append(f"{len(miscounted)} traces' span_count (summed over rows) differs from their archived spans, "
                        f"e.g. (span_count, spans) {list(miscounted.items())[:3]}")
    figures = (f"traces table: {len(trace_rows)} rows for {len(counted)} traces "
               f"({len(spans_per_trace)} traces in spans), fragments {dict(fragments)}, "
               f"traces with >1 non-fragment row {len(twice)}")
    return problems, figures
