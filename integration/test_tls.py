"""TLS and mTLS on the OTLP receivers, the query API and the data metrics endpoint (issue 17).

Certificates are made by the test with the ``openssl`` CLI: a CA, a server certificate for
``localhost``/``127.0.0.1``, a client certificate from the CA, and one from a foreign CA. The
OpenTelemetry SDK exports over gRPC (``grpc.ssl_channel_credentials``) and HTTP
(``certificate_file=``, ``client_certificate_file=``); what counts is what the gateway
accepted, read from its ``tracegate_receiver_accepted_spans_total`` (the SDK does not report
failures through its return values reliably). Refused handshakes are counted by reason and
logged, and the gateway's log never holds key material.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import tg_otlp
from conftest import wait_until
from tg_certs import CLIENT_EXT, SERVER_EXT, Pki

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("pki")
    ca = Pki(root / "ca", "tracegate test CA")
    other = Pki(root / "other", "someone else's CA")
    server = ca.issue("server", "gateway", SERVER_EXT)
    client = ca.issue("client", "tenant-a", CLIENT_EXT)
    foreign = other.issue("foreign", "tenant-a", CLIENT_EXT)
    return {"ca": ca.ca_cert, "server": server, "client": client, "foreign": foreign}


def _tls_section(pki: dict, mtls: bool) -> dict:
    cert, key = pki["server"]
    section = {"cert_file": str(cert), "key_file": str(key), "handshake_timeout": "3s"}
    if mtls:
        section["client_ca_file"] = str(pki["ca"])
    return section


def _start(gateway_factory, pki: dict, mtls: bool, **config_kw):
    gw = gateway_factory({"hot_store": {}}, start=False, **config_kw)
    tls = _tls_section(pki, mtls)
    protocols = gw.config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["tls"] = tls
    protocols["http"]["tls"] = tls
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    return gw.start()


def _provider(exporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "tls-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _send(exporter, spans: int) -> None:
    provider = _provider(exporter)
    tracer = provider.get_tracer("tls-test")
    for i in range(spans):
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    provider.shutdown()


def _grpc(gw, pki: dict, client: tuple[Path, Path] | None) -> GrpcExporter:
    kwargs = {"root_certificates": Path(pki["ca"]).read_bytes()}
    if client is not None:
        kwargs["certificate_chain"] = client[0].read_bytes()
        kwargs["private_key"] = client[1].read_bytes()
    return GrpcExporter(endpoint=f"localhost:{gw.grpc_port}", insecure=False,
                        credentials=grpc.ssl_channel_credentials(**kwargs), timeout=3)


def _http(gw, pki: dict, client: tuple[Path, Path] | None) -> HttpExporter:
    kwargs = {}
    if client is not None:
        kwargs = {"client_certificate_file": str(client[0]), "client_key_file": str(client[1])}
    return HttpExporter(endpoint=f"https://localhost:{gw.http_port}/v1/traces",
                        certificate_file=str(pki["ca"]), timeout=3, **kwargs)


def _accepted(gw, transport: str) -> float:
    samples = tg_otlp.parse_prometheus(gw.metrics_text())
    return tg_otlp.metric_sum(samples, "tracegate_receiver_accepted_spans_total", transport=transport)


def _handshake_failures(gw, listener: str, reason: str) -> float:
    samples = tg_otlp.parse_prometheus(gw.metrics_text())
    return tg_otlp.metric_sum(samples, "tracegate_tls_handshake_failures_total", listener=listener, reason=reason)


def _assert_no_key_material(gw, pki: dict) -> None:
    log = gw.log_path.read_text(errors="replace")
    for _, key in (pki["server"], pki["client"]):
        for line in key.read_text().splitlines():
            if line and not line.startswith("-----"):
                assert line not in log, "key material in the gateway's log"


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's CA file (the
    SDK's HTTP exporter sets ``session.verify``), so the test CA would be ignored."""
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)


def test_sdk_over_tls_grpc_and_http_without_client_certificates(gateway_factory, pki):
    gw = _start(gateway_factory, pki, mtls=False)
    _send(_grpc(gw, pki, None), 3)
    wait_until(lambda: _accepted(gw, "grpc") == 3, 10, what="3 spans over gRPC+TLS")
    _send(_http(gw, pki, None), 2)
    wait_until(lambda: _accepted(gw, "http") == 2, 10, what="2 spans over HTTP+TLS")

    # Plaintext to the TLS ports: refused at the handshake, nothing accepted.
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"http://127.0.0.1:{gw.http_port}/v1/traces", data=b"",
                      headers={"content-type": "application/x-protobuf"}, timeout=5)
    plain = GrpcExporter(endpoint=f"127.0.0.1:{gw.grpc_port}", insecure=True, timeout=2)
    _send(plain, 1)
    wait_until(lambda: _handshake_failures(gw, "otlp/http", "not_tls") >= 1, 10, what="the plaintext HTTP refusal counted")
    wait_until(lambda: _handshake_failures(gw, "otlp/grpc", "not_tls") >= 1, 10, what="the plaintext gRPC refusal counted")
    assert _accepted(gw, "grpc") == 3 and _accepted(gw, "http") == 2
    assert any("TLS handshake failed" in (r.get("message") or r.get("fields", {}).get("message", ""))
               for r in gw.log_records()), "a refused handshake is logged"
    _assert_no_key_material(gw, pki)


def test_mtls_accepts_exactly_the_clients_with_a_certificate_from_the_ca(gateway_factory, pki):
    gw = _start(gateway_factory, pki, mtls=True)
    _send(_grpc(gw, pki, pki["client"]), 2)
    wait_until(lambda: _accepted(gw, "grpc") == 2, 10, what="2 spans over gRPC+mTLS")
    _send(_http(gw, pki, pki["client"]), 4)
    wait_until(lambda: _accepted(gw, "http") == 4, 10, what="4 spans over HTTP+mTLS")

    for client in (None, pki["foreign"]):
        _send(_grpc(gw, pki, client), 1)
        try:
            _send(_http(gw, pki, client), 1)
        except Exception:  # noqa: BLE001 - the SDK may raise or just log; the server side counts
            pass
    wait_until(lambda: _handshake_failures(gw, "otlp/http", "client_certificate") >= 2, 10,
               what="both HTTP clients without a valid certificate refused")
    wait_until(lambda: _handshake_failures(gw, "otlp/grpc", "client_certificate") >= 2, 10,
               what="both gRPC clients without a valid certificate refused")
    assert _accepted(gw, "grpc") == 2, "no span from a client without a valid certificate"
    assert _accepted(gw, "http") == 4, "no span from a client without a valid certificate"
    _assert_no_key_material(gw, pki)


def test_query_api_and_data_metrics_over_tls(gateway_factory, pki):
    gw = gateway_factory({"hot_store": {}}, start=False, query={}, metrics={})
    tls = _tls_section(pki, mtls=False)
    gw.config["query"]["tls"] = tls
    gw.config["metrics"]["prometheus"]["tls"] = tls
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    gw.start()
    ca = str(pki["ca"])
    wait_until(lambda: requests.get(f"https://localhost:{gw.query_port}/api/echo", verify=ca, timeout=5).status_code == 200,
               10, what="the query API over TLS")
    resp = requests.get(f"https://localhost:{gw.prometheus_port}/metrics", verify=ca, timeout=5)
    assert resp.status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{gw.query_port}/api/echo", timeout=5)
    # A client that does not trust the gateway's CA refuses it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://localhost:{gw.query_port}/api/echo", timeout=5)


def test_a_missing_certificate_file_stops_the_start_naming_the_key(tracegate_bin, tmp_path, pki):
    config = {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:0", "tls": {
            "cert_file": str(tmp_path / "missing.crt"), "key_file": str(pki["server"][1])}}}}},
        "exporters": {"hot_store": {}},
        "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["hot_store"]}}},
    }
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(config))
    out = subprocess.run([str(tracegate_bin), "validate", "-c", str(path)], capture_output=True, timeout=60)
    assert out.returncode != 0
    text = out.stdout.decode() + out.stderr.decode()
    assert "receivers.otlp.protocols.grpc.tls.cert_file" in text, text
    assert "missing.crt" in text, text
    key_body = [l for l in pki["server"][1].read_text().splitlines() if l and not l.startswith("-----")]
    assert not any(l in text for l in key_body)
