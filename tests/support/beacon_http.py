"""HTTP(S) requests to the local stack by name, without touching /etc/hosts.

Like ``curl --resolve <domain>:443:127.0.0.1``: the TCP connection goes to loopback while SNI,
certificate verification and the Host header use the platform's domain.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    peer_cert: dict = field(default_factory=dict)

    def json(self) -> object:
        return json.loads(self.body)

    @property
    def issuer(self) -> str:
        return ", ".join(f"{k}={v}" for rdn in self.peer_cert.get("issuer", ()) for k, v in rdn)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca_file)


def request(
    method: str,
    url_path: str,
    *,
    domain: str,
    scheme: str = "https",
    ca_file: str | None = None,
    address: str = "127.0.0.1",
    port: int | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    basic_auth: tuple[str, str] | None = None,
    timeout: float = 10,
) -> Response:
    port = port or (443 if scheme == "https" else 80)
    headers = dict(headers or {})
    if basic_auth:
        token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    sock = socket.create_connection((address, port), timeout=timeout)
    peer_cert: dict = {}
    if scheme == "https":
        sock = tls_context(ca_file).wrap_socket(sock, server_hostname=domain)
        peer_cert = sock.getpeercert() or {}
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(domain, port, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(domain, port, timeout=timeout)
    conn.sock = sock
    try:
        conn.request(method, url_path, body=body, headers=headers)
        response = conn.getresponse()
        return Response(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            response.read(),
            peer_cert,
        )
    finally:
        conn.close()


def get(url_path: str, **kwargs) -> Response:
    return request("GET", url_path, **kwargs)
