"""A throwaway CA and certificate for TLS tests (made with ``openssl`` in a temporary
folder), and whether this redis-server can serve TLS at all."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from typing import Any
from urllib.parse import quote


@dataclasses.dataclass(frozen=True)
class Tls:
    """A throwaway CA and one certificate (``localhost``, ``127.0.0.1``; server and
    client use) signed by it, as files."""

    ca: str
    cert: str
    key: str

    def server_lines(self, *, client_certs: bool = False) -> list[str]:
        """The TLS settings of a server (or sentinel) as config lines."""
        return [
            f"tls-cert-file {self.cert}",
            f"tls-key-file {self.key}",
            f"tls-ca-cert-file {self.ca}",
            f"tls-auth-clients {'yes' if client_certs else 'no'}",
            "tls-replication yes",
        ]

    def query(self, *, client_cert: bool = False) -> str:
        """The URL query giving a client the CA (and its certificate)."""
        parts = f"ssl_ca_certs={quote(self.ca)}&ssl_cert_reqs=required"
        if client_cert:
            parts += f"&ssl_certfile={quote(self.cert)}&ssl_keyfile={quote(self.key)}"
        return parts

    def client_kwargs(self) -> dict[str, Any]:
        return {"ssl": True, "ssl_ca_certs": self.ca, "ssl_certfile": self.cert, "ssl_keyfile": self.key}


def make_tls(directory: str) -> Tls:
    """A CA and a certificate signed by it in ``directory`` (``openssl``).

    Raises:
        FileNotFoundError: ``openssl`` is not installed.
        subprocess.CalledProcessError: it failed.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl is not installed")

    def path(name: str) -> str:
        return os.path.join(directory, name)

    ext = path("ext.cnf")
    with open(ext, "w", encoding="ascii") as out:
        out.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    steps = [
        ["req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", path("ca.key"),
         "-out", path("ca.crt"), "-days", "2", "-subj", "/CN=pyresque-test-ca"],
        ["req", "-new", "-nodes", "-newkey", "rsa:2048", "-keyout", path("node.key"),
         "-out", path("node.csr"), "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", path("node.csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
         "-CAcreateserial", "-out", path("node.crt"), "-days", "2", "-extfile", ext],
    ]  # fmt: skip
    for step in steps:
        subprocess.run([openssl, *step], check=True, capture_output=True, timeout=60)
    return Tls(path("ca.crt"), path("node.crt"), path("node.key"))


def tls_support_error() -> str | None:
    """Why this redis-server cannot serve TLS, or None if it can."""
    binary = shutil.which("redis-server")
    if binary is None:
        return "redis-server is not installed"
    out = subprocess.run(
        [binary, "--port", "0", "--tls-port", "1", "--tls-cert-file", "/nonexistent/pyresque.crt"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    text = out.stdout + out.stderr
    if "tls-port" in text and ("Unknown" in text or "Bad directive" in text):
        return f"this redis-server was built without TLS ({text.strip().splitlines()[-1]})"
    return None
