"""The OTLP metrics exporter (metrics.otlp) pushing span_metrics to a grpcio OTLP metrics server.

The server is the OTel proto's own generated gRPC service, run by grpcio in this process; it
records every ExportMetricsServiceRequest. The checks decode them: the RED calls counter
adds up to the spans sent (delta temporality: the sum of the pushes; cumulative: the last
push), with the resource and scope tracegate names, and the GenAI histograms carry the
semantic conventions' bucket boundaries.
"""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.metrics.v1 import metrics_pb2

from tg_otlp import attrs_dict
from tg_prometheus import wait_for
from test_metrics_alerts import LlmApp, hot_store, processors

OPERATION_DURATION_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]


class MetricsSink(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self) -> None:
        self.requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(self, self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def Export(self, request, context):  # noqa: N802 (the generated service's name)
        with self.lock:
            self.requests.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def metrics(self, name: str) -> list[tuple[dict, metrics_pb2.Metric]]:
        """(resource attributes, metric) of every pushed metric called ``name``."""
        with self.lock:
            reqs = list(self.requests)
        return [(attrs_dict(rm.resource.attributes), m, sm.scope.name)
                for r in reqs for rm in r.resource_metrics for sm in rm.scope_metrics
                for m in sm.metrics if m.name == name]

    def stop(self) -> None:
        self.server.stop(0)


def calls_points(sink: MetricsSink, span_name: str) -> list[metrics_pb2.NumberDataPoint]:
    points = []
    for _, metric, _ in sink.metrics("traces.spanmetrics.calls"):
        for p in metric.sum.data_points:
            if attrs_dict(p.attributes).get("span_name") == span_name:
                points.append(p)
    return points


@pytest.mark.parametrize("temporality", ["delta", "cumulative"])
def test_span_metrics_pushed_over_otlp(gateway_factory, tmp_path, temporality):
    sink = MetricsSink()
    try:
        gw = gateway_factory(hot_store(tmp_path), processors=processors(), metrics={
            "otlp": {"endpoint": f"http://127.0.0.1:{sink.port}", "temporality": temporality, "interval": "1s"}})
        app = LlmApp(gw.grpc_target)
        n = 60
        for i in range(n):
            app.request(i)
        app.flush()
        app.shutdown()

        def total() -> float:
            points = calls_points(sink, "POST /chat")
            if temporality == "delta":
                return sum(p.as_int or p.as_double for p in points)
            return max((p.as_int or p.as_double for p in points), default=0)

        wait_for(lambda: total() >= n, 30, "the pushes to add up to every request")
        # Two more intervals: nothing is counted twice.
        import time
        time.sleep(2.5)
        assert total() == n
        resource, metric, scope = sink.metrics("traces.spanmetrics.calls")[-1]
        assert resource.get("service.name") == "tracegate"
        assert scope == "tracegate"
        assert metric.sum.is_monotonic
        want = (metrics_pb2.AGGREGATION_TEMPORALITY_DELTA if temporality == "delta"
                else metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE)
        assert metric.sum.aggregation_temporality == want
        durations = [m for _, m, _ in sink.metrics("gen_ai.client.operation.duration")]
        assert durations, "the GenAI operation duration histogram is pushed"
        point = durations[-1].histogram.data_points[0]
        assert list(point.explicit_bounds) == OPERATION_DURATION_BOUNDS
        assert durations[-1].unit == "s"
        assert attrs_dict(point.attributes)["gen_ai.request.model"] == "gpt-4o-mini"
    finally:
        sink.stop()
