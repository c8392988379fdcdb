"""Grafana against tracegate: the compatibility suite of the Tempo query API.

A gateway runs the default processors into the `hot_store` (and a local archive), with the
query API on a free port. The real Python OTel SDK sends four traces with explicit times:

    A  rag-api (service.namespace ns)  POST /chat 1.2 s: retrieve docs (qdrant, 600 ms),
                                       chat gpt-4o (1500 input tokens); foo="a.b", 200
    B  rag-api (ns)                    POST /chat 300 ms, status ERROR, http.status_code 500,
                                       foo="c.d"; chat gpt-4o-mini
    C  checkout                        GET /cart 6 s: db query (postgresql, 5.8 s)
    D  checkout                        GET /health 5 ms, trace id 0000000000000000 1234567890abcdef

Then the suite replays what Grafana's Tempo datasource sends (shared/TEMPO_API.md): the
health check, the tag and tag-value calls of the search builder, the 12 queries of §4.2 (and
the LLM queries users write), trace by id over v2 and v1 in protobuf, and the error cases.
Every search answer is decoded **strictly** against the schema Grafana vendors (unknown fields
denied); every trace answer is decoded as `tempopb.TraceByIDResponse` / `tempopb.Trace` and
checked for the invariants Grafana's trace view relies on. It also runs `tracegate trace` and
`tracegate search` against the gateway, restarts it and finds the traces again, and checks
that tenants never see each other's data.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

import tg_tempo
from conftest import KEEP_EVERY_SPAN, default_processors, wait_until
from tg_tempo import Grafana, trimmed

MS = 1_000_000
LEADING_ZEROS_ID = 0x1234567890ABCDEF  # a trace id whose first 8 bytes are zero


class FixedFirstId(IdGenerator):
    """Random ids, but the next trace id is the one given (then random again)."""

    def __init__(self) -> None:
        self.random = RandomIdGenerator()
        self.next_trace_id: int | None = None

    def generate_span_id(self) -> int:
        return self.random.generate_span_id()

    def generate_trace_id(self) -> int:
        if self.next_trace_id is not None:
            tid, self.next_trace_id = self.next_trace_id, None
            return tid
        return self.random.generate_trace_id()


class Sender:
    """One SDK TracerProvider per service, exporting over gRPC to the gateway."""

    def __init__(self, endpoint: str, headers: dict | None = None) -> None:
        self.endpoint, self.headers = endpoint, headers
        self.providers: list[TracerProvider] = []
        self.ids = FixedFirstId()

    def tracer(self, service: str, namespace: str | None = None):
        attrs = {"service.name": service}
        if namespace:
            attrs["service.namespace"] = namespace
        provider = TracerProvider(resource=Resource.create(attrs), id_generator=self.ids)
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=self.endpoint, insecure=True, timeout=10, headers=self.headers),
            schedule_delay_millis=50))
        self.providers.append(provider)
        return provider.get_tracer("tracegate.integration.tempo", "0.1.0")

    def flush(self) -> None:
        for p in self.providers:
            assert p.force_flush(10_000)

    def close(self) -> None:
        for p in self.providers:
            p.shutdown()


def span(tracer, name, start, end, parent=None, kind=SpanKind.INTERNAL, attrs=None, error=False):
    ctx = set_span_in_context(parent) if parent is not None else None
    s = tracer.start_span(name, context=ctx, kind=kind, start_time=start, attributes=attrs or {})
    if error:
        s.set_status(Status(StatusCode.ERROR, "upstream failed"))
    s.end(end_time=end)
    return s


def send_four(sender: Sender) -> dict[str, str]:
    """Sends traces A–D (see the module doc); returns each one's trace id in 32-digit hex."""
    rag, checkout = sender.tracer("rag-api", "ns"), sender.tracer("checkout")
    base = time.time_ns() - 60_000 * MS
    ids = {}

    t = base
    root = rag.start_span("POST /chat", kind=SpanKind.SERVER, start_time=t,
                          attributes={"http.status_code": 200, "foo": "a.b"})
    ctx = set_span_in_context(root)
    span(rag, "retrieve docs", t + 10 * MS, t + 610 * MS, root, SpanKind.CLIENT,
         {"db.system.name": "qdrant", "db.operation.name": "search"})
    span(rag, "chat gpt-4o", t + 620 * MS, t + 1190 * MS, root, SpanKind.CLIENT,
         {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
          "gen_ai.response.model": "gpt-4o", "gen_ai.usage.input_tokens": 1500, "gen_ai.usage.output_tokens": 200})
    root.end(end_time=t + 1200 * MS)
    ids["A"] = format(root.get_span_context().trace_id, "032x")
    del ctx

    t = base + 1000 * MS
    root = rag.start_span("POST /chat", kind=SpanKind.SERVER, start_time=t,
                          attributes={"http.status_code": 500, "foo": "c.d"})
    span(rag, "chat gpt-4o-mini", t + 10 * MS, t + 290 * MS, root, SpanKind.CLIENT,
         {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
          "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 20})
    root.set_status(Status(StatusCode.ERROR, "upstream failed"))
    root.end(end_time=t + 300 * MS)
    ids["B"] = format(root.get_span_context().trace_id, "032x")

    t = base + 2000 * MS
    root = checkout.start_span("GET /cart", kind=SpanKind.SERVER, start_time=t)
    span(checkout, "db query", t + 100 * MS, t + 5900 * MS, root, SpanKind.CLIENT, {"db.system": "postgresql"})
    root.end(end_time=t + 6000 * MS)
    ids["C"] = format(root.get_span_context().trace_id, "032x")

    t = base + 3000 * MS
    sender.ids.next_trace_id = LEADING_ZEROS_ID
    root = checkout.start_span("GET /health", kind=SpanKind.SERVER, start_time=t)
    root.end(end_time=t + 5 * MS)
    ids["D"] = format(root.get_span_context().trace_id, "032x")
    assert ids["D"] == "0000000000000000" + format(LEADING_ZEROS_ID, "016x")

    sender.flush()
    return ids


def hot_gateway(factory, name="tempo-api", **kw):
    return factory(
        {"hot_store": {}, "archive": {"url": "./data/archive", "flush_age": "1s", **KEEP_EVERY_SPAN}},
        name=name, processors=default_processors(idle_after_root="300ms", max_wait="5s"),
        query={}, **kw)


@pytest.fixture(scope="module")
def world(module_gateway_factory):
    gw = hot_gateway(module_gateway_factory)
    sender = Sender(gw.grpc_target)
    flushed = time.monotonic()
    ids = send_four(sender)
    grafana = Grafana(gw.query_url)
    wait_until(lambda: len(grafana.trace_ids("{}")) == 4, 15, what="the four traces to be searchable")
    found_after = time.monotonic() - flushed
    yield gw, grafana, ids, found_after
    sender.close()


def t(ids, *names):
    return {trimmed(ids[n]) for n in names}


# ---------------------------------------------------------------------------------------------
# Health, build info, freshness
# ---------------------------------------------------------------------------------------------

def test_health_check_and_build_info(world):
    gw, grafana, ids, _ = world
    echo = grafana.get("/api/echo")
    assert echo.status_code == 200 and echo.text.strip() == "echo"
    info = grafana.get("/api/status/buildinfo")
    assert info.status_code == 200
    version = info.json()["version"]
    assert version.count(".") == 2, version  # semver, so old Grafana versions parse it


def test_traces_are_searchable_within_two_seconds_of_release(world):
    _, _, _, found_after = world
    # Released 300 ms after the root (idle_after_root); searchable at most 2 s later. The SDK
    # sends every 50 ms; the poll above runs every 100 ms.
    assert found_after < 0.3 + 2.0 + 0.5, f"first searchable {found_after:.2f} s after the flush"


# ---------------------------------------------------------------------------------------------
# Search: the queries Grafana generates (TEMPO_API.md §4.2), strictly decoded
# ---------------------------------------------------------------------------------------------

GRAFANA_QUERIES = [
    ("{}", "ABCD"),
    ('{resource.service.name="checkout"}', "CD"),
    ('{resource.service.name="checkout" && name="GET /cart"}', "C"),
    ('{resource.service.name="rag-api" && name="POST /chat" && status=error}', "B"),
    ("{duration>100ms}", "ABC"),
    ("{duration>100ms && duration<=2s}", "AB"),
    ("{traceDuration>5s}", "C"),
    ('{(resource.service.name="rag-api" || resource.service.name="checkout")}', "ABCD"),
    ('{resource.service.name=~"rag-.*|nothing"}', "AB"),
    ('{span.foo=~"a\\\\.b|c\\\\.d"}', "AB"),
    ('{span.foo=~".+"}', "AB"),
    ('{span.foo!~"a\\\\.b|zzz"}', "B"),
    ('{(span.foo!="a.b" && span.foo!="zzz")}', "B"),
    ("{span.http.status_code>=500}", "B"),
    ('{.http.status_code>=200 && .foo="a.b"}', "A"),
    ('{resource.service.namespace="ns" && resource.service.name="rag-api"}', "AB"),
    ("{kind=server}", "ABCD"),
    ('{name="GET /health"}', "D"),
    ('{resource.service.namespace="ns" && resource.service.name="rag-api" && name="POST /chat"}', "AB"),
    ('{span.db.name="postgresql" || span.db.system="postgresql" || span.peer.service="postgresql" '
     '|| span.messaging.system="postgresql" || span.net.peer.name="postgresql"}', "C"),
    # The LLM queries of the issue, as users write them.
    ('{span.gen_ai.request.model="gpt-4o" && span.gen_ai.usage.input_tokens>1000}', "A"),
    ('{span.tracegate.category="retrieval" && duration>500ms}', "A"),
    ("{trace:duration>5s && status=error}", ""),
    ("{trace:duration>200ms && status=error}", "B"),
    ('{resource.service.name="rag-api"} && {span.gen_ai.request.model="gpt-4o-mini"}', "B"),
    ('{resource.service.name="rag-api"} | count() > 2', "A"),
    ('{span.gen_ai.usage.input_tokens > 0} | avg(span.gen_ai.usage.input_tokens) > 1000', "A"),
]


@pytest.mark.parametrize("query,expected", GRAFANA_QUERIES, ids=[q for q, _ in GRAFANA_QUERIES])
def test_grafana_query(world, query, expected):
    _, grafana, ids, _ = world
    assert grafana.trace_ids(query) == t(ids, *expected)


def test_search_results_carry_what_grafana_shows(world):
    _, grafana, ids, _ = world
    body = grafana.search("{}")
    traces = body["traces"]
    # Newest first: D, C, B, A were started a second apart.
    assert [x["traceID"] for x in traces] == [trimmed(ids[n]) for n in "DCBA"]
    a = traces[3]
    assert a["rootServiceName"] == "rag-api" and a["rootTraceName"] == "POST /chat"
    assert a["durationMs"] == 1200
    assert a["serviceStats"]["rag-api"]["spanCount"] == 3
    assert "errorCount" not in a["serviceStats"]["rag-api"]  # zero values are omitted
    assert traces[2]["serviceStats"]["rag-api"]["errorCount"] == 1
    # spanSet (what Grafana's backend reads) and spanSets[0] agree; at most spss=3 spans.
    assert a["spanSet"] == a["spanSets"][0]
    assert a["spanSet"]["matched"] == 3 and len(a["spanSet"]["spans"]) == 3
    assert traces[0]["traceID"] == "1234567890abcdef"  # leading zeros trimmed
    for s in a["spanSet"]["spans"]:
        assert int(s["durationNanos"]) > 0 and int(s["startTimeUnixNano"]) > 0


def test_limit_spss_and_attributes_of_matched_spans(world):
    _, grafana, ids, _ = world
    body = grafana.search("{}", limit=2, spss=1)
    assert [x["traceID"] for x in body["traces"]] == [trimmed(ids["D"]), trimmed(ids["C"])]
    assert all(len(x["spanSet"]["spans"]) == 1 for x in body["traces"])
    hit = grafana.search("{span.http.status_code>=500}")["traces"][0]
    attrs = {kv["key"]: kv["value"] for kv in hit["spanSet"]["spans"][0].get("attributes", [])}
    assert attrs["http.status_code"] == {"intValue": "500"}


def test_legacy_tag_search(world):
    _, grafana, ids, _ = world
    end = int(time.time()) + 1
    resp = grafana.get("/api/search", tags='service.name="checkout"', minDuration="1s", start=end - 3600, end=end)
    assert resp.status_code == 200, resp.text
    assert {x["traceID"] for x in tg_tempo.strict_search(resp.json())["traces"]} == t(ids, "C")


# ---------------------------------------------------------------------------------------------
# Tags and tag values: the search builder's dropdowns
# ---------------------------------------------------------------------------------------------

def test_tags_v2(world):
    _, grafana, _, _ = world
    resp = grafana.get("/api/v2/search/tags", limit=5000)
    assert resp.status_code == 200, resp.text
    scopes = {s["name"]: set(s["tags"]) for s in resp.json()["scopes"]}
    assert {"duration", "name", "status", "kind", "traceDuration", "rootServiceName"} <= scopes["intrinsic"]
    assert {"service.name", "service.namespace"} <= scopes["resource"]
    assert {"http.status_code", "foo", "gen_ai.request.model"} <= scopes["span"]
    only_resource = grafana.get("/api/v2/search/tags", scope="resource").json()["scopes"]
    assert [s["name"] for s in only_resource] == ["resource"]
    assert grafana.get("/api/v2/search/tags", scope="bogus").status_code == 400


def test_tag_values_v2(world):
    _, grafana, _, _ = world

    def values(tag, **params):
        resp = grafana.get(f"/api/v2/search/tag/{tag}/values", limit=5000, **params)
        assert resp.status_code == 200, f"{tag}: {resp.status_code} {resp.text}"
        return {(v["type"], v["value"]) for v in resp.json().get("tagValues", [])}  # empty lists are omitted, as jsonpb does

    assert values("resource.service.name", q="{}") >= {("string", "rag-api"), ("string", "checkout")}
    assert values("status") == {("keyword", "ok"), ("keyword", "error"), ("keyword", "unset")}
    assert ("keyword", "server") in values("kind")
    assert values("span.http.status_code") == {("int", "200"), ("int", "500")}
    names = values("name", q='{resource.service.name="checkout"}')
    assert {("string", "GET /cart"), ("string", "GET /health")} <= names
    assert ("string", "POST /chat") not in names
    assert values("duration") == set()


def test_tags_and_values_v1(world):
    _, grafana, _, _ = world
    tags = grafana.get("/api/search/tags")
    assert tags.status_code == 200
    assert "service.name" in tags.json()["tagNames"]
    values = grafana.get("/api/search/tag/service.name/values")
    assert values.status_code == 200
    assert {"rag-api", "checkout"} <= set(values.json()["tagValues"])


# ---------------------------------------------------------------------------------------------
# Trace by id
# ---------------------------------------------------------------------------------------------

def test_trace_by_id_v2_protobuf_as_grafana_decodes_it(world):
    _, grafana, ids, _ = world
    msg = grafana.trace_v2(ids["A"])
    assert msg.status != tg_tempo.PARTIAL, msg.message
    assert tg_tempo.check_trace_invariants(msg.trace.resourceSpans) == 3
    names = {s.name for rs in msg.trace.resourceSpans for ss in rs.scope_spans for s in ss.spans}
    assert names == {"POST /chat", "retrieve docs", "chat gpt-4o"}
    trace_ids = {s.trace_id.hex() for rs in msg.trace.resourceSpans for ss in rs.scope_spans for s in ss.spans}
    assert trace_ids == {ids["A"]}


def test_trace_by_id_v1_protobuf_and_json(world):
    _, grafana, ids, _ = world
    resp = grafana.trace_v1(ids["C"])
    assert resp.status_code == 200
    trace = tg_tempo.Trace()
    trace.ParseFromString(resp.content)
    assert tg_tempo.check_trace_invariants(trace.resourceSpans) == 2
    js = grafana.get(f"/api/traces/{ids['C']}")
    assert js.status_code == 200 and "batches" in js.json()
    v2 = grafana.get(f"/api/v2/traces/{ids['C']}")
    assert v2.status_code == 200 and "resourceSpans" in v2.json()["trace"]


def test_sixty_four_bit_and_trimmed_ids_find_their_trace(world):
    _, grafana, ids, _ = world
    for text in ("1234567890abcdef", "1234567890ABCDEF", ids["D"], trimmed(ids["D"])):
        msg = grafana.trace_v2(text)
        assert tg_tempo.check_trace_invariants(msg.trace.resourceSpans) == 1, text
    assert grafana.trace_v1("1234567890abcdef").status_code == 200


def test_missing_and_invalid_trace_ids(world):
    _, grafana, _, _ = world
    missing = "0badc0de" * 4
    msg = grafana.trace_v2(missing)  # 200 with an empty trace, as Tempo
    assert len(msg.trace.resourceSpans) == 0
    assert grafana.trace_v1(missing).status_code == 404
    assert grafana.get("/api/v2/traces/not-hex", accept="application/protobuf").status_code == 400
    assert grafana.get("/api/traces/" + "1" * 33, accept="application/protobuf").status_code == 400


# ---------------------------------------------------------------------------------------------
# Errors as Tempo gives them
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("params,needle", [
    ({"q": "{span.foo=}"}, ""),
    ({"q": "{.a} >> {.b}"}, ">>"),
    ({"q": "{} | rate()"}, "rate"),
    ({"q": "{}", "start": "200", "end": "100"}, ""),
    ({"q": "{}", "start": "100", "end": str(100 + 169 * 3600)}, "168h"),
    ({"q": "{}", "limit": "0"}, ""),
    ({"q": "{}", "spss": "101"}, "100"),
    ({"q": "{}", "tags": "a=b"}, ""),
])
def test_bad_searches_are_400_with_a_reason(world, params, needle):
    _, grafana, _, _ = world
    resp = grafana.get("/api/search", **params)
    assert resp.status_code == 400, f"{params}: {resp.status_code} {resp.text}"
    assert resp.text.strip(), "a 400 says why"
    assert needle in resp.text, resp.text


# ---------------------------------------------------------------------------------------------
# The terminal: tracegate trace / tracegate search
# ---------------------------------------------------------------------------------------------

def test_tracegate_trace_prints_the_waterfall(world, tracegate_bin):
    gw, _, ids, _ = world
    out = subprocess.run([str(tracegate_bin), "trace", trimmed(ids["A"]), "--endpoint", gw.query_url],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for needle in ("POST /chat", "retrieve docs", "chat gpt-4o", "critical path by category", "retrieval"):
        assert needle in out.stdout, f"{needle!r} not in:\n{out.stdout}"
    missing = subprocess.run([str(tracegate_bin), "trace", "0badc0de" * 4, "--endpoint", gw.query_url],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_tracegate_search_prints_a_table(world, tracegate_bin):
    gw, _, ids, _ = world
    out = subprocess.run([str(tracegate_bin), "search", '{resource.service.name="rag-api"}', "--since", "2h",
                          "--endpoint", gw.query_url], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["TRACE", "ID", "ROOT"]
    assert len(lines) == 3, out.stdout
    assert trimmed(ids["B"]) in lines[1] and trimmed(ids["A"]) in lines[2]  # newest first
    assert "rag-api: POST /chat" in lines[2] and "1200 ms" in lines[2]
    bad = subprocess.run([str(tracegate_bin), "search", "{.a >> }", "--endpoint", gw.query_url],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0 and "400" in bad.stderr


# ---------------------------------------------------------------------------------------------
# Restart, tenants
# ---------------------------------------------------------------------------------------------

def test_traces_survive_a_restart(gateway_factory):
    gw = hot_gateway(gateway_factory, name="tempo-restart")
    sender = Sender(gw.grpc_target)
    ids = send_four(sender)
    sender.close()
    grafana = Grafana(gw.query_url)
    wait_until(lambda: len(grafana.trace_ids("{}")) == 4, 15, what="the traces to be searchable")
    assert gw.stop() == 0, gw.describe_exit()
    gw.restart()
    assert grafana.trace_ids("{}") == t(ids, *"ABCD")
    assert tg_tempo.check_trace_invariants(grafana.trace_v2(ids["A"]).trace.resourceSpans) == 3


def test_tenants_never_see_each_others_traces(gateway_factory):
    gw = hot_gateway(gateway_factory, name="tempo-tenants", service={"multitenancy_enabled": True})
    a, b = Sender(gw.grpc_target, {"x-scope-orgid": "team-a"}), Sender(gw.grpc_target, {"x-scope-orgid": "team-b"})
    ids_a, ids_b = send_four(a), send_four(b)
    a.close()
    b.close()
    ga, gb = Grafana(gw.query_url, "team-a"), Grafana(gw.query_url, "team-b")
    wait_until(lambda: len(ga.trace_ids("{}")) == 4 and len(gb.trace_ids("{}")) == 4, 15,
               what="both tenants' traces to be searchable")
    assert ga.trace_ids("{}") == t(ids_a, *"ABCD")
    assert gb.trace_ids("{}") == t(ids_b, *"ABCD")
    assert len(ga.trace_v2(ids_b["A"]).trace.resourceSpans) == 0
    assert tg_tempo.check_trace_invariants(gb.trace_v2(ids_b["A"]).trace.resourceSpans) == 3
    nobody = Grafana(gw.query_url)
    assert nobody.get("/api/search", q="{}").status_code == 401
    assert nobody.get(f"/api/v2/traces/{ids_a['A']}").status_code == 401
    # Writes without a tenant are refused too (UNAUTHENTICATED), and counted.
    resp = requests.post(f"{gw.http_url}/v1/traces", data=b"", headers={"content-type": "application/x-protobuf"},
                         timeout=5)
    assert resp.status_code == 401


# ---------------------------------------------------------------------------------------------
# Cold fallback: a trace the hot store no longer holds comes from the archive on S3 (moto)
# ---------------------------------------------------------------------------------------------

def test_a_trace_gone_from_the_hot_store_comes_from_the_archive_on_s3(gateway_factory, moto, tracegate_bin):
    bucket = moto.new_bucket("cold")
    # A hot store so small that each block evicts the one before it (max_bytes below one block).
    hot = {"block_max_age": "100ms", "block_max_bytes": "1KiB", "max_head_bytes": "64KiB", "max_bytes": "1KiB"}
    gw = gateway_factory(
        {"hot_store": hot, "archive": moto.archive_exporter(bucket, **KEEP_EVERY_SPAN)},
        name="tempo-cold", processors=default_processors(idle_after_root="300ms", max_wait="5s"), query={})
    sender = Sender(gw.grpc_target)
    first = send_four(sender)
    wait_until(lambda: any("/spans/" in k for k in moto.list_keys(bucket)), 20, what="the archive to hold spans")
    # More traces, more blocks: the first ones' blocks go.
    for _ in range(3):
        send_four(sender)
        time.sleep(0.5)
    sender.close()

    def evicted() -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in gw.metrics_text().splitlines()
                   if line.startswith("tracegate_hot_store_evicted_blocks_total"))

    wait_until(lambda: evicted() > 0, 20, what="the hot store to evict blocks")
    hot_dir = gw.workdir / "data" / "hot"
    local = subprocess.run([str(tracegate_bin), "trace", first["A"], "--data", str(hot_dir)],
                           capture_output=True, text=True, timeout=30)
    assert local.returncode != 0 and "not found" in local.stderr, "trace A should be gone from the hot store"

    grafana = Grafana(gw.query_url)
    msg = grafana.trace_v2(first["A"])
    assert tg_tempo.check_trace_invariants(msg.trace.resourceSpans) == 3
    names = {s.name for rs in msg.trace.resourceSpans for ss in rs.scope_spans for s in ss.spans}
    assert names == {"POST /chat", "retrieve docs", "chat gpt-4o"}

    env = {"AWS_ENDPOINT": moto.endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": moto.region,
           "AWS_ACCESS_KEY_ID": moto.access_key, "AWS_SECRET_ACCESS_KEY": moto.secret_key, "NO_COLOR": "1",
           "PATH": "/usr/bin:/bin"}
    cold = subprocess.run([str(tracegate_bin), "trace", first["A"], "--archive", f"s3://{bucket}/llm-traces"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert cold.returncode == 0, cold.stderr
    assert "retrieve docs" in cold.stdout and "critical path by category" in cold.stdout
