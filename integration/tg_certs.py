"""Certificates for the TLS tests, made with the ``openssl`` CLI: a throwaway CA per test
module that issues server certificates (``localhost``/``127.0.0.1``) and client
certificates (the subject CN names the client, and with ``auth.client_certificates`` its
tenant)."""

from __future__ import annotations

import subprocess
from pathlib import Path

CA_EXT = """[req]
distinguished_name=dn
[dn]
[v3]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
"""
SERVER_EXT = """[v3]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
"""
CLIENT_EXT = """[v3]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
"""


def _openssl(*args: str, cwd: Path) -> None:
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, timeout=60)
    assert out.returncode == 0, f"openssl {args}: {out.stderr.decode(errors='replace')}"


class Pki:
    """A throwaway CA in ``directory`` that issues server and client certificates."""

    def __init__(self, directory: Path, name: str) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.cnf").write_text(CA_EXT)
        self.ca_key, self.ca_cert = directory / "ca.key", directory / "ca.crt"
        self._key(self.ca_key)
        _openssl("req", "-new", "-x509", "-key", str(self.ca_key), "-out", str(self.ca_cert), "-days", "2",
                 "-subj", f"/CN={name}", "-config", "ca.cnf", "-extensions", "v3", cwd=directory)
        self.serial = 1

    def _key(self, path: Path) -> None:
        _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path), cwd=self.dir)

    def issue(self, stem: str, cn: str, ext: str) -> tuple[Path, Path]:
        key, csr, cert, ext_file = (self.dir / f"{stem}.{s}" for s in ("key", "csr", "crt", "ext"))
        ext_file.write_text(ext)
        self._key(key)
        _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={cn}", "-config", "ca.cnf", cwd=self.dir)
        self.serial += 1
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.ca_cert), "-CAkey", str(self.ca_key),
                 "-set_serial", str(self.serial), "-days", "2", "-out", str(cert),
                 "-extfile", str(ext_file), "-extensions", "v3", cwd=self.dir)
        return cert, key
