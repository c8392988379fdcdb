"""Authentication, tenants from credentials, and certificate rotation (issue 17).

The gateway runs with TLS on both OTLP listeners and the query API, an ``auth:`` section of
bearer tokens (one per tenant, one from a file, one without a tenant) and multi-tenancy on.
What counts is what the gateway did: the status each request got (raw HTTP and raw gRPC
calls, so the status is exact), what it accepted (its receiver metrics), what the query API
returns to each tenant, and where the archive put each tenant's files. Certificates are made
with the ``openssl`` CLI (``tg_certs``). No test's log or CLI output may hold a token or key.
"""

from __future__ import annotations

import http.client
import json
import ssl
import subprocess
import time
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import tg_otlp
from conftest import wait_until
from tg_certs import CLIENT_EXT, SERVER_EXT, Pki

TOKEN_A = "tg-a-7f3c9e1d2b4a6f8e0c1d3b5a7e9f1c2d"
TOKEN_B = "tg-b-0a2c4e6f8b1d3f5a7c9e0b2d4f6a8c1e"
TOKEN_FILE = "tg-file-5e7a9c1b3d5f7e9a1c3b5d7f9e1a3c5b"
TOKEN_ANY = "tg-any-9d1f3b5a7c9e1d3f5b7a9c1e3d5f7b9a"
WRONG = "tg-a-7f3c9e1d2b4a6f8e0c1d3b5a7e9f1c2X"  # one character off TOKEN_A
TOKENS = (TOKEN_A, TOKEN_B, TOKEN_FILE, TOKEN_ANY, WRONG)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("pki")
    ca = Pki(root / "ca", "tracegate security test CA")
    return {
        "ca_obj": ca,
        "ca": ca.ca_cert,
        "server": ca.issue("server", "gateway", SERVER_EXT),
        "client_c": ca.issue("client-c", "team-c", CLIENT_EXT),
    }


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the SDK's CA file."""
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)


def _secure_gateway(factory, pki: dict, tmp: Path, *, mtls: bool = False, multitenancy: bool = True,
                    reload_interval: str = "1m"):
    token_file = tmp / "team-b-token"
    token_file.write_text(TOKEN_FILE + "\n")
    gw = factory({"hot_store": {}, "archive": {"url": "./data/archive", "flush_age": "1s", "sampled_only_spans": False}},
                 start=False, query={}, service={"multitenancy_enabled": multitenancy})
    cert, key = pki["server"]
    tls = {"cert_file": str(cert), "key_file": str(key), "handshake_timeout": "3s", "reload_interval": reload_interval}
    if mtls:
        tls["client_ca_file"] = str(pki["ca"])
    protocols = gw.config["receivers"]["otlp"]["protocols"]
    protocols["grpc"]["tls"] = tls
    protocols["http"]["tls"] = tls
    gw.config["query"]["tls"] = tls
    gw.config["auth"] = {
        "bearer_tokens": [
            {"token": TOKEN_A, "tenant": "team-a"},
            {"token": TOKEN_B, "tenant": "team-b"},
            {"token_file": str(token_file), "tenant": "team-b"},
            {"token": TOKEN_ANY},
        ],
        "client_certificates": mtls,
    }
    gw.config_path.write_text(json.dumps(gw.config, indent=2) + "\n")
    return gw.start()


# -- raw calls, for exact statuses ------------------------------------------------------------

def _context(pki: dict, client: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    if client is not None:
        ctx.load_cert_chain(str(client[0]), str(client[1]))
    return ctx


def _http_call(gw, pki: dict, path: str, method: str = "GET", port: int | None = None, token: str | None = None,
               org: str | None = None, body: bytes | None = None, client=None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPSConnection("localhost", port or gw.query_port, context=_context(pki, client), timeout=10)
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if org is not None:
        headers["X-Scope-OrgID"] = org
    if body is not None:
        headers["Content-Type"] = "application/x-protobuf"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def _otlp_http(gw, pki, **kw) -> tuple[int, dict, bytes]:
    body = trace_service_pb2.ExportTraceServiceRequest().SerializeToString()
    return _http_call(gw, pki, "/v1/traces", method="POST", port=gw.http_port, body=body, **kw)


def _otlp_grpc(gw, pki, token: str | None = None, org: str | None = None, client=None) -> grpc.StatusCode:
    kwargs = {"root_certificates": Path(pki["ca"]).read_bytes()}
    if client is not None:
        kwargs["certificate_chain"], kwargs["private_key"] = client[0].read_bytes(), client[1].read_bytes()
    channel = grpc.secure_channel(f"localhost:{gw.grpc_port}", grpc.ssl_channel_credentials(**kwargs))
    metadata = []
    if token is not None:
        metadata.append(("authorization", f"Bearer {token}"))
    if org is not None:
        metadata.append(("x-scope-orgid", org))
    try:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(
            trace_service_pb2.ExportTraceServiceRequest(), metadata=metadata, timeout=10)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()
    finally:
        channel.close()


def _failures(gw, reason: str) -> float:
    return tg_otlp.metric_sum(tg_otlp.parse_prometheus(gw.metrics_text()), "tracegate_auth_failures_total", reason=reason)


def _accepted(gw) -> float:
    return tg_otlp.metric_sum(tg_otlp.parse_prometheus(gw.metrics_text()), "tracegate_receiver_accepted_spans_total")


# -- the SDK ----------------------------------------------------------------------------------

def _send_trace(exporter, service: str, name: str, spans: int = 2) -> str:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("security-test")
    with tracer.start_as_current_span(name) as root:
        for i in range(spans - 1):
            with tracer.start_as_current_span(f"{name}-child-{i}"):
                pass
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def _grpc_exporter(gw, pki, token: str | None) -> GrpcExporter:
    headers = {"authorization": f"Bearer {token}"} if token else None
    return GrpcExporter(endpoint=f"localhost:{gw.grpc_port}", insecure=False, headers=headers, timeout=3,
                        credentials=grpc.ssl_channel_credentials(root_certificates=Path(pki["ca"]).read_bytes()))


def _http_exporter(gw, pki, token: str | None) -> HttpExporter:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return HttpExporter(endpoint=f"https://localhost:{gw.http_port}/v1/traces", certificate_file=str(pki["ca"]),
                        headers=headers, timeout=3)


def _search(gw, pki, token: str, org: str | None = None) -> tuple[int, set[str]]:
    end = int(time.time()) + 1
    status, _, body = _http_call(gw, pki, f"/api/search?q=%7B%7D&start={end - 3600}&end={end}&limit=100",
                                 token=token, org=org)
    if status != 200:
        return status, set()
    return status, {t["traceID"] for t in json.loads(body).get("traces", [])}


def _assert_no_secrets(text: str, pki: dict) -> None:
    for token in TOKENS:
        assert token not in text, "a bearer token in the output"
        assert token[:12] not in text, "a token's prefix in the output"
    for _, key in (pki["server"], pki["client_c"]):
        for line in key.read_text().splitlines():
            if line and not line.startswith("-----"):
                assert line not in text, "key material in the output"


# -- the tests --------------------------------------------------------------------------------

def test_exactly_the_requests_with_a_valid_token_are_accepted(gateway_factory, pki, tmp_path):
    gw = _secure_gateway(gateway_factory, pki, tmp_path)
    # Raw calls: the exact status for each credential, on both transports.
    assert _otlp_http(gw, pki, token=TOKEN_A)[0] == 200
    assert _otlp_http(gw, pki, token=TOKEN_FILE)[0] == 200, "a token read from token_file"
    status, headers, body = _otlp_http(gw, pki)
    assert status == 401 and headers.get("www-authenticate", "").lower().startswith("bearer"), (status, headers)
    assert _otlp_http(gw, pki, token=WRONG)[0] == 401
    assert _otlp_grpc(gw, pki, token=TOKEN_B) == grpc.StatusCode.OK
    assert _otlp_grpc(gw, pki) == grpc.StatusCode.UNAUTHENTICATED
    assert _otlp_grpc(gw, pki, token=WRONG) == grpc.StatusCode.UNAUTHENTICATED
    # A malformed Authorization header is refused, never a 500.
    conn = http.client.HTTPSConnection("localhost", gw.http_port, context=_context(pki), timeout=10)
    conn.request("POST", "/v1/traces", body=b"", headers={"Authorization": "Basic dXNlcjpwYXNz",
                                                            "Content-Type": "application/x-protobuf"})
    assert conn.getresponse().status == 401
    conn.close()
    wait_until(lambda: _failures(gw, "missing") >= 2 and _failures(gw, "invalid_token") >= 2
               and _failures(gw, "malformed") >= 1, 10, what="the refusals counted by reason")

    # The SDK: spans with a good token arrive, those without or with a wrong one do not.
    before = _accepted(gw)
    _send_trace(_grpc_exporter(gw, pki, TOKEN_A), "svc-a", "grpc-good", spans=3)
    _send_trace(_http_exporter(gw, pki, TOKEN_A), "svc-a", "http-good", spans=2)
    wait_until(lambda: _accepted(gw) - before == 5, 10, what="the 5 spans sent with a valid token")
    for token in (None, WRONG):
        _send_trace(_grpc_exporter(gw, pki, token), "svc-x", "grpc-bad", spans=1)
        _send_trace(_http_exporter(gw, pki, token), "svc-x", "http-bad", spans=1)
    time.sleep(0.5)
    assert _accepted(gw) - before == 5, "no span without a valid token"

    # The query API asks for a credential too.
    assert _http_call(gw, pki, "/api/echo", token=TOKEN_A)[0] == 200
    assert _http_call(gw, pki, "/api/search?q=%7B%7D")[0] == 401
    assert _http_call(gw, pki, "/api/search?q=%7B%7D", token=WRONG)[0] == 401
    gw.stop()
    _assert_no_secrets(gw.log_path.read_text(errors="replace") + gw.stdout_path.read_text(errors="replace"), pki)


def test_tenants_come_from_the_credential_and_never_see_each_other(gateway_factory, pki, tmp_path):
    gw = _secure_gateway(gateway_factory, pki, tmp_path)
    a = {_send_trace(_grpc_exporter(gw, pki, TOKEN_A), "svc-a", "a-1"),
         _send_trace(_http_exporter(gw, pki, TOKEN_A), "svc-a", "a-2")}
    b = {_send_trace(_grpc_exporter(gw, pki, TOKEN_B), "svc-b", "b-1")}
    # A token without a tenant names its tenant in X-Scope-OrgID (an ingest proxy's token).
    assert _otlp_grpc(gw, pki, token=TOKEN_ANY) == grpc.StatusCode.UNAUTHENTICATED, "no tenant at all: refused"
    assert _otlp_grpc(gw, pki, token=TOKEN_ANY, org="team-b") == grpc.StatusCode.OK

    trimmed = lambda ids: {i.lstrip("0") for i in ids}  # noqa: E731 - Tempo's search trims ids
    wait_until(lambda: _search(gw, pki, TOKEN_A) == (200, trimmed(a)), 15, what="team-a's two traces, only them")
    wait_until(lambda: _search(gw, pki, TOKEN_B) == (200, trimmed(b)), 15, what="team-b's trace, only it")
    assert _search(gw, pki, TOKEN_A, org="team-a") == (200, trimmed(a)), "its own tenant named: allowed"

    # Another tenant's X-Scope-OrgID with one's own token: refused, when sending and when reading.
    assert _otlp_http(gw, pki, token=TOKEN_A, org="team-b")[0] == 403
    assert _otlp_grpc(gw, pki, token=TOKEN_A, org="team-b") == grpc.StatusCode.PERMISSION_DENIED
    assert _search(gw, pki, TOKEN_A, org="team-b")[0] == 403
    assert _search(gw, pki, TOKEN_A, org="team-a|team-b")[0] == 403, "federation beyond one's own tenant"
    wait_until(lambda: _failures(gw, "tenant_mismatch") >= 4, 10, what="the mismatches counted")
    # Trace by id: team-b's trace is not found for team-a.
    (b_id,) = b
    status, _, body = _http_call(gw, pki, f"/api/traces/{b_id}", token=TOKEN_A)
    assert status == 404, (status, body[:200])
    assert _http_call(gw, pki, f"/api/traces/{b_id}", token=TOKEN_B)[0] == 200

    # The archive keeps the tenants under their own prefixes.
    spans_dir = gw.workdir / "data" / "archive" / "spans"
    wait_until(lambda: {p.name for p in spans_dir.glob("tenant=*")} >= {"tenant=team-a", "tenant=team-b"}, 20,
               what="tenant=team-a/ and tenant=team-b/ in the archive")
    import duckdb  # noqa: PLC0415 - only this test reads the archive

    def ids_under(tenant: str) -> set[str]:
        files = sorted((spans_dir / f"tenant={tenant}").rglob("*.parquet"))
        if not files:
            return set()
        rows = duckdb.sql(f"SELECT DISTINCT trace_id FROM read_parquet({[str(f) for f in files]!r})").fetchall()
        return {r[0] for r in rows}

    wait_until(lambda: ids_under("team-a") == a, 20, what="team-a's traces under tenant=team-a/")
    assert not (ids_under("team-b") & a), "no team-a trace under tenant=team-b/"
    assert b <= ids_under("team-b")


def test_a_client_certificate_names_its_tenant(gateway_factory, pki, tmp_path):
    gw = _secure_gateway(gateway_factory, pki, tmp_path, mtls=True)
    client = pki["client_c"]  # subject CN=team-c
    assert _otlp_grpc(gw, pki, client=client) == grpc.StatusCode.OK
    assert _otlp_http(gw, pki, client=client)[0] == 200
    assert _otlp_http(gw, pki, client=client, org="team-a")[0] == 403, "a cert for team-c cannot claim team-a"
    exporter = GrpcExporter(endpoint=f"localhost:{gw.grpc_port}", insecure=False, timeout=3,
                            credentials=grpc.ssl_channel_credentials(
                                root_certificates=Path(pki["ca"]).read_bytes(),
                                certificate_chain=client[0].read_bytes(), private_key=client[1].read_bytes()))
    c = _send_trace(exporter, "svc-c", "c-1")
    wait_until(lambda: _http_call(gw, pki, f"/api/traces/{c}", client=client)[0] == 200, 15,
               what="team-c reads its trace with its certificate")
    assert _http_call(gw, pki, f"/api/traces/{c}", client=client, token=TOKEN_A)[0] in (403, 404), \
        "team-a's token does not read team-c's trace"


def test_without_multitenancy_a_token_only_authenticates(gateway_factory, pki, tmp_path):
    gw = _secure_gateway(gateway_factory, pki, tmp_path, multitenancy=False)
    a = _send_trace(_grpc_exporter(gw, pki, TOKEN_A), "svc-a", "single")
    wait_until(lambda: _http_call(gw, pki, f"/api/traces/{a}", token=TOKEN_B)[0] == 200, 15,
               what="one tenant: any valid token reads every trace")
    assert _otlp_http(gw, pki, token=TOKEN_A, org="whatever")[0] == 200, "X-Scope-OrgID is ignored"
    assert _otlp_http(gw, pki)[0] == 401
    assert not list((gw.workdir / "data" / "archive").rglob("tenant=*")), "no tenant= level without multi-tenancy"


def _served_certificate(conn: http.client.HTTPSConnection) -> bytes:
    assert conn.sock is not None
    return conn.sock.getpeercert(binary_form=True)


def _pem_to_der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


def test_certificates_rotate_without_a_restart_and_open_connections_finish(gateway_factory, pki, tmp_path):
    ca: Pki = pki["ca_obj"]
    live_cert, live_key = tmp_path / "live.crt", tmp_path / "live.key"
    first = ca.issue("rot-1", "gateway", SERVER_EXT)
    live_cert.write_bytes(first[0].read_bytes())
    live_key.write_bytes(first[1].read_bytes())
    rotating = dict(pki, server=(live_cert, live_key))
    gw = _secure_gateway(gateway_factory, rotating, tmp_path, reload_interval="1s")
    body = trace_service_pb2.ExportTraceServiceRequest().SerializeToString()
    headers = {"Authorization": f"Bearer {TOKEN_A}", "Content-Type": "application/x-protobuf"}

    old = http.client.HTTPSConnection("localhost", gw.http_port, context=_context(pki), timeout=10)
    old.request("POST", "/v1/traces", body=body, headers=headers)
    assert old.getresponse().read() is not None
    assert _served_certificate(old) == _pem_to_der(first[0])

    # Rotate: the new pair replaces the files (each by a rename, as cert-manager and most
    # tools do, so the gateway never reads half a file).
    second = ca.issue("rot-2", "gateway", SERVER_EXT)
    for src, dst in ((second[1], live_key), (second[0], live_cert)):
        tmp = dst.with_suffix(".tmp")
        tmp.write_bytes(src.read_bytes())
        tmp.rename(dst)

    def new_connection_gets_the_new_certificate() -> bool:
        conn = http.client.HTTPSConnection("localhost", gw.http_port, context=_context(pki), timeout=10)
        try:
            conn.request("POST", "/v1/traces", body=body, headers=headers)
            ok = conn.getresponse().status == 200
            return ok and _served_certificate(conn) == _pem_to_der(second[0])
        finally:
            conn.close()

    wait_until(new_connection_gets_the_new_certificate, 15, what="a new connection served the rotated certificate")
    # The connection opened before the rotation still works, on its old session.
    old.request("POST", "/v1/traces", body=body, headers=headers)
    resp = old.getresponse()
    assert resp.status == 200
    resp.read()
    assert _served_certificate(old) == _pem_to_der(first[0])
    old.close()
    samples = tg_otlp.parse_prometheus(gw.metrics_text())
    assert tg_otlp.metric_sum(samples, "tracegate_tls_reloads_total", listener="otlp/http") >= 1
    # gRPC sees the new certificate too (the same files feed every listener).
    assert _otlp_grpc(gw, pki, token=TOKEN_A) == grpc.StatusCode.OK


def test_validate_and_errors_never_print_a_token(tracegate_bin, gateway_factory, pki, tmp_path):
    gw = _secure_gateway(gateway_factory, pki, tmp_path)
    gw.stop()
    out = subprocess.run([str(tracegate_bin), "validate", "-c", str(gw.config_path)], capture_output=True, timeout=60)
    text = out.stdout.decode() + out.stderr.decode()
    assert out.returncode == 0, text
    _assert_no_secrets(text, pki)
    # A config error inside the auth section names the key, not the token.
    config = json.loads(gw.config_path.read_text())
    config["auth"]["bearer_tokens"].append({"token": TOKEN_A, "tenant": "bad/tenant"})
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps(config))
    out = subprocess.run([str(tracegate_bin), "validate", "-c", str(bad)], capture_output=True, timeout=60)
    text = out.stdout.decode() + out.stderr.decode()
    assert out.returncode != 0 and "auth.bearer_tokens" in text, text
    _assert_no_secrets(text, pki)
