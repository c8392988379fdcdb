"""tracegate's OTLP exporter → a real OTLP/gRPC server (grpcio + opentelemetry-proto), standing in
for Tempo: the spans arrive unchanged, with the configured headers, and survive a retry."""

from __future__ import annotations

import threading
import uuid
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

import tg_otlp
from conftest import wait_until
from tg_archive import hex_span, hex_trace
from tg_scenario import SPANS_PER_TRACE, RagScenario

N_TRACES = 3


class RecordingTraceService(trace_service_pb2_grpc.TraceServiceServicer):
    """Records every Export call; answers UNAVAILABLE to the first ``fail_first`` calls."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.lock = threading.Lock()
        self.calls = 0
        self.failed_calls = 0
        self.accepted: list[tuple[dict, trace_service_pb2.ExportTraceServiceRequest]] = []

    def Export(self, request, context):  # noqa: N802 - gRPC's name
        metadata = {k: v for k, v in context.invocation_metadata()}
        with self.lock:
            self.calls += 1
            fail = self.calls <= self.fail_first
            if fail:
                self.failed_calls += 1
            else:
                self.accepted.append((metadata, request))
        if fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "test backend: not yet, try again")
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[dict, object]]:
        """(resource attributes, span) for every span of every accepted call."""
        with self.lock:
            reqs = [r for _, r in self.accepted]
        out = []
        for req in reqs:
            for rs in req.resource_spans:
                resource = tg_otlp.attrs_dict(rs.resource.attributes)
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append((resource, ss.scope, span))
        return out


@pytest.fixture
def backend():
    servers = []

    def start(fail_first: int = 0) -> tuple[RecordingTraceService, int]:
        service = RecordingTraceService(fail_first)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(service, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return service, port

    yield start
    for server in servers:
        server.stop(grace=None).wait(5)


def send_with_sdk(gw) -> RagScenario:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    scenario = RagScenario(lambda service: OTLPSpanExporter(endpoint=gw.traces_url, timeout=10),
                           run_id=uuid.uuid4().hex[:8])
    scenario.run(N_TRACES)
    scenario.finish()
    assert len(scenario.spans()) == N_TRACES * SPANS_PER_TRACE
    return scenario


def assert_same_spans(received, scenario: RagScenario) -> None:
    expected = {(hex_trace(s.get_span_context().trace_id), hex_span(s.get_span_context().span_id)): s
                for s in scenario.spans()}
    got_keys = [(span.trace_id.hex(), span.span_id.hex()) for _, _, span in received]
    assert len(got_keys) == len(set(got_keys)), "the backend received some spans twice"
    assert set(got_keys) == set(expected), (
        f"backend got {len(got_keys)} spans, expected {len(expected)}; "
        f"missing {sorted(set(expected) - set(got_keys))[:3]}, extra {sorted(set(got_keys) - set(expected))[:3]}"
    )
    for resource, scope, span in received:
        want = expected[(span.trace_id.hex(), span.span_id.hex())]
        where = f"span {want.name!r}"
        assert span.name == want.name, where
        want_parent = hex_span(want.parent.span_id) if want.parent else ""
        assert span.parent_span_id.hex() == want_parent, where
        assert span.start_time_unix_nano == want.start_time, where
        assert span.end_time_unix_nano == want.end_time, where
        assert span.kind == want.kind.value + 1, f"{where}: kind {span.kind}"  # SDK enum is 0-based
        assert span.status.code == want.status.status_code.value, where
        if want.status.description:
            assert span.status.message == want.status.description, where
        # Attributes keep their OTLP types: ints stay ints, arrays stay arrays.
        want_attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in want.attributes.items()}
        assert tg_otlp.attrs_dict(span.attributes) == want_attrs, where
        assert [e.name for e in span.events] == [e.name for e in want.events], where
        assert [e.time_unix_nano for e in span.events] == [e.timestamp for e in want.events], where
        assert [(l.trace_id.hex(), l.span_id.hex()) for l in span.links] == \
            [(hex_trace(l.context.trace_id), hex_span(l.context.span_id)) for l in want.links], where
        assert resource["service.name"] == want.resource.attributes["service.name"], where
        assert resource.get("service.instance.id") == want.resource.attributes["service.instance.id"], where
        assert scope.name == want.instrumentation_scope.name, where


def tempo_exporter(port: int) -> dict:
    return {
        "otlp/tempo": {
            "endpoint": f"http://127.0.0.1:{port}",
            "compression": "gzip",
            "headers": {"x-scope-orgid": "test"},
        }
    }


def test_spans_arrive_at_otlp_backend_with_headers(backend, gateway_factory):
    service, port = backend()
    gw = gateway_factory(tempo_exporter(port))
    scenario = send_with_sdk(gw)
    want = N_TRACES * SPANS_PER_TRACE
    wait_until(lambda: len(service.spans()) >= want, 20, interval=0.1,
               what=f"{want} spans at the OTLP backend")
    assert_same_spans(service.spans(), scenario)
    assert service.accepted
    for metadata, _ in service.accepted:
        assert metadata.get("x-scope-orgid") == "test", f"metadata: {metadata}"

    def sent_metric() -> float:
        samples = tg_otlp.parse_prometheus(gw.metrics_text())
        return tg_otlp.metric_sum(samples, "tracegate_exporter_sent_spans_total", exporter="otlp/tempo")

    wait_until(lambda: sent_metric() == want, 5, what=f"tracegate_exporter_sent_spans_total == {want}")
    code = gw.stop()
    assert code == 0, gw.describe_exit()
    assert len(service.spans()) == want, "shutdown sent spans again"


def test_export_is_retried_after_unavailable(backend, gateway_factory):
    service, port = backend(fail_first=1)
    gw = gateway_factory(tempo_exporter(port))
    scenario = send_with_sdk(gw)
    want = N_TRACES * SPANS_PER_TRACE
    wait_until(lambda: len(service.spans()) >= want, 30, interval=0.1,
               what=f"{want} spans at the OTLP backend after one UNAVAILABLE")
    assert service.failed_calls == 1
    assert service.calls >= 2, "the failed call was not retried"
    assert_same_spans(service.spans(), scenario)
    code = gw.stop()
    assert code == 0, gw.describe_exit()
    assert_same_spans(service.spans(), scenario)
