"""The archive's `traces` table, written from traces put back together by `trace_assembly`.

One distributed trace is recorded by three separate Python processes, each running the real
OTel SDK with its own `service.name`, as three services of a RAG app would:

    rag-gateway    POST /v1/chat (server, the root)      process 1, starts at once,
    rag-gateway      auth (internal)                       ends its root last
    rag-retriever  search (server)                        process 2, 300 ms in
    rag-retriever    embed query (internal)
    rag-retriever    vector.search (client)
    rag-llm        chat gpt-4o (server)                   process 3, 600 ms in
    rag-llm          decode (internal)

The trace crosses the process boundaries the way it crosses services on the wire: as a W3C
`traceparent`, here passed on each process's command line. The root's process generates that
trace id and root span id itself (through its IdGenerator), so the children in the other
processes really are children of a span they never saw. Each process exports over OTLP/gRPC
(SimpleSpanProcessor: a span is sent when it ends) and prints what it recorded, which is the
truth the archive is compared with.

The schedule is made deterministic without making it lock-step: every process imports the SDK
first and says `ready`, then all start together on `go`; the gateway ends its root span only
after the other two processes have exited, as a server answers after its downstream calls
return. So the root arrives last, the gateway holds the earlier spans until it does, and the
trace goes idle `idle_after_root` (1 s) later and is released `complete`.

DuckDB then reads the archive from moto in place: the traces table has exactly one row for the
trace, complete, with the span count and the three services; the spans table has every span.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tg_archive
from conftest import MotoServer, stop_process, wait_until, _LIVE

PREFIX = "llm-traces"
SERVICES = ("rag-gateway", "rag-retriever", "rag-llm")
# (service, role, delay before its first span in ms)
SCHEDULE = (("rag-gateway", "gateway", 0), ("rag-retriever", "retriever", 300), ("rag-llm", "llm", 600))
SPANS_PER_ROLE = {"gateway": 2, "retriever": 3, "llm": 2}
PROCESS_TIMEOUT_S = 30.0

# One service of the app: a small script run with this venv's Python.
SERVICE_SCRIPT = textwrap.dedent('''
    """One service of a RAG app, in its own process. Protocol on stdio: prints `ready` once the
    SDK is imported and set up; reads `go`, waits its delay, records its spans (the gateway then
    reads `finish` before ending its root); exports, shuts the provider down (flushing it) and
    prints one JSON line describing every span it recorded."""
    import argparse
    import json
    import random
    import sys
    import time

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--role", choices=["gateway", "retriever", "llm"], required=True)
    parser.add_argument("--traceparent", required=True)
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()

    _, trace_hex, root_hex, _ = args.traceparent.split("-")


    class RootIds(IdGenerator):
        """The root service owns the trace: its root span gets the ids in the traceparent."""

        def __init__(self):
            self.root_given = False

        def generate_trace_id(self):
            return int(trace_hex, 16)

        def generate_span_id(self):
            if not self.root_given:
                self.root_given = True
                return int(root_hex, 16)
            return random.getrandbits(64) or 1


    recorded = []


    class Recorder(SimpleSpanProcessor):
        def on_end(self, span):
            ctx = span.get_span_context()
            recorded.append({
                "trace_id": format(ctx.trace_id, "032x"),
                "span_id": format(ctx.span_id, "016x"),
                "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
                "name": span.name,
                "service": args.service,
                "start_ns": span.start_time,
                "end_ns": span.end_time,
            })
            super().on_end(span)


    provider = TracerProvider(
        resource=Resource.create({"service.name": args.service}),
        id_generator=RootIds() if args.role == "gateway" else None,
    )
    provider.add_span_processor(Recorder(OTLPSpanExporter(endpoint=args.endpoint, insecure=True, timeout=10)))
    tracer = provider.get_tracer("tracegate.integration.traces_table", "0.1.0")


    def line():
        text = sys.stdin.readline()
        if not text:
            sys.exit("stdin closed")
        return text.strip()


    print("ready", flush=True)
    assert line() == "go"
    time.sleep(args.delay_ms / 1000)

    if args.role == "gateway":
        with tracer.start_as_current_span("POST /v1/chat", kind=SpanKind.SERVER) as root:
            assert format(root.get_span_context().span_id, "016x") == root_hex
            with tracer.start_as_current_span("auth"):
                time.sleep(0.005)
            # The downstream services answer; then the gateway answers its caller.
            assert line() == "finish"
    else:
        parent = TraceContextTextMapPropagator().extract({"traceparent": args.traceparent})
        if args.role == "retriever":
            with tracer.start_as_current_span("search", context=parent, kind=SpanKind.SERVER):
                with tracer.start_as_current_span("embed query"):
                    time.sleep(0.01)
                with tracer.start_as_current_span("vector.search", kind=SpanKind.CLIENT):
                    time.sleep(0.02)
        else:
            with tracer.start_as_current_span("chat gpt-4o", context=parent, kind=SpanKind.SERVER) as chat:
                chat.set_attribute("gen_ai.operation.name", "chat")
                chat.set_attribute("gen_ai.request.model", "gpt-4o")
                with tracer.start_as_current_span("decode"):
                    time.sleep(0.02)

    provider.shutdown()
    print(json.dumps(recorded), flush=True)
''')


class Service:
    """One service process, driven over its stdin and stdout."""

    def __init__(self, script: Path, workdir: Path, endpoint: str, service: str, role: str,
                 traceparent: str, delay_ms: int) -> None:
        self.service = service
        self.role = role
        self.stderr_path = workdir / f"{service}.stderr.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), "--endpoint", endpoint, "--service", service, "--role", role,
                 "--traceparent", traceparent, "--delay-ms", str(delay_ms)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=workdir,
            )
        _LIVE.append(self.proc)

    def read_line(self) -> str:
        assert self.proc.stdout is not None
        text = self.proc.stdout.readline()
        if not text:
            self.proc.wait(timeout=5)
            pytest.fail(f"{self.service} exited with {self.proc.returncode}:\n{self.stderr()}", pytrace=False)
        return text.strip()

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self) -> list[dict]:
        """The spans it recorded, once it has exported them and exited 0."""
        spans = json.loads(self.read_line())
        code = self.proc.wait(timeout=PROCESS_TIMEOUT_S)
        assert code == 0, f"{self.service} exited with {code}:\n{self.stderr()}"
        return spans

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        stop_process(self.proc, timeout=5)


def assembling_gateway(gateway_factory, moto: MotoServer, bucket: str):
    """A gateway whose pipeline is `processors: [trace_assembly]`, archiving to moto."""
    gw = gateway_factory({"archive": moto.archive_exporter(bucket, PREFIX, flush_age="1s")}, start=False)
    gw.config["processors"] = {"trace_assembly": {"idle_after_root": "1s", "max_wait": "10s"}}
    gw.config["service"]["pipelines"]["traces"]["processors"] = ["trace_assembly"]
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    return gw.start()


def run_services(tmp_path: Path, endpoint: str, traceparent: str) -> list[dict]:
    """Runs the three services on their schedules; returns every span they recorded."""
    script = tmp_path / "rag_service.py"
    script.write_text(SERVICE_SCRIPT)
    services = [Service(script, tmp_path, endpoint, name, role, traceparent, delay)
                for name, role, delay in SCHEDULE]
    try:
        for s in services:
            assert s.read_line() == "ready", s.stderr()
        for s in services:
            s.send("go")
        gateway, downstream = services[0], services[1:]
        spans = [span for s in downstream for span in s.finish()]
        gateway.send("finish")
        spans += gateway.finish()
        return spans
    finally:
        for s in services:
            s.stop()


@pytest.mark.timeout(120)
def test_one_trace_from_three_processes_is_one_complete_traces_row(moto, s3_bucket, gateway_factory, tmp_path):
    gw = assembling_gateway(gateway_factory, moto, s3_bucket)
    trace_id, root_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{root_id}-01"

    spans = run_services(tmp_path, f"http://{gw.grpc_target}", traceparent)
    want = sum(SPANS_PER_ROLE.values())
    assert len(spans) == want, spans
    assert {s["trace_id"] for s in spans} == {trace_id}, "every process recorded the one trace"
    roots = [s for s in spans if s["parent_span_id"] is None]
    assert [(r["span_id"], r["service"]) for r in roots] == [(root_id, "rag-gateway")]

    # Released `idle_after_root` after the root arrived, then uploaded within flush_age: the
    # traces row appears while the gateway runs (SIGTERM before that would release the trace
    # as `shutdown`, which is not complete).
    wait_until(lambda: moto.list_keys(s3_bucket, f"{PREFIX}/traces/"), 20, interval=0.25,
               what=f"a traces/ object in s3://{s3_bucket}/{PREFIX}/")
    assert gw.running(), gw.describe_exit()
    code = gw.stop()
    assert code == 0, gw.describe_exit()

    archive = f"s3://{s3_bucket}/{PREFIX}"
    con = moto.duckdb()
    traces = tg_archive.read_traces(archive, s3=moto.s3_endpoint, con=con)
    keys = moto.list_keys(s3_bucket, f"{PREFIX}/")
    assert len(traces) == 1, f"traces rows: {traces}; objects: {keys}"
    row = traces[0]
    assert row["trace_id"] == trace_id
    assert row["complete"] is True, row
    assert row["release_reason"] == "complete", row
    assert row["tree_whole"] is True, row
    assert row["fragment"] is None, row
    assert row["span_count"] == want, row
    assert row["error_count"] == 0, row
    assert row["services"] == sorted(SERVICES), row
    assert (row["root_service"], row["root_name"]) == ("rag-gateway", "POST /v1/chat"), row
    start_ns = min(s["start_ns"] for s in spans)
    end_ns = max(s["end_ns"] for s in spans)
    # DuckDB 1.5 reads the ns timestamps cut to the microsecond (tg_archive); duration is exact.
    assert (row["start_us"], row["end_us"]) == (start_ns // 1000, end_ns // 1000), row
    assert row["duration_ns"] == end_ns - start_ns, row
    assert (row["dt"], row["hour"]) == tg_archive.utc_partition(start_ns), row
    assert tg_archive.TRACE_KEY.search(row["filename"]), row["filename"]
    # Not derivable: no breakdown, tokens, cost or sampler on this pipeline.
    for column in ("cp_llm_ns", "cp_other_ns", "input_tokens", "output_tokens", "cost_usd",
                   "first_llm_ttft_ms", "sampled", "sampling_policy", "sampling_probability"):
        assert row[column] is None, (column, row)

    # The spans table holds every span, once, each with the parent it was recorded with.
    rows = tg_archive.read_spans(archive, s3=moto.s3_endpoint, con=con)
    assert sorted((r["trace_id"], r["span_id"], r["parent_span_id"], r["service_name"], r["name"]) for r in rows) \
        == sorted((s["trace_id"], s["span_id"], s["parent_span_id"], s["service"], s["name"]) for s in spans)
    problems = tg_archive.check_parent_links(rows)
    assert not problems, "\n".join(problems)
    # The two tables agree, as a data-lake user would check with a join.
    joined = con.execute(f"""
        SELECT t.span_count, count(s.span_id), count(DISTINCT s.service_name)
        FROM read_parquet('{tg_archive.traces_glob(archive)}', hive_partitioning = true) t
        JOIN read_parquet('{tg_archive.spans_glob(archive)}', hive_partitioning = true) s USING (trace_id)
        GROUP BY t.trace_id, t.span_count
    """).fetchall()
    assert joined == [(want, want, len(SERVICES))]
