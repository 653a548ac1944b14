"""A minimal HTTPS stand-in for pveproxy (self-signed, threaded) so the real proxmoxer path is tested.

Routes are a dict: (method, path) -> (status, reason, json body). Every request is logged.
A body that is a `Raw` callable writes the whole answer itself (hostile answers: bytes that are
not JSON, gzip bombs, one byte every few seconds).
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Route = tuple[int, str, Any]


class Raw:
    """A route body that answers by itself: `write(handler)` sends status, headers and body."""

    def __init__(self, write: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.write = write


def raw_body(body: bytes, content_type: str = "application/json") -> Raw:
    """A 200 answer with exactly these bytes as the body."""

    def write(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200, "OK")
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return Raw(write)


def make_cert(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class FakePve:
    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.log: list[tuple[str, str, dict[str, str], dict[str, str]]] = []


@contextmanager
def serve(tmp: Path, routes: dict[tuple[str, str], Route]) -> Iterator[tuple[FakePve, int, Path]]:
    fake = FakePve(routes)
    cert, key = make_cert(tmp)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query))
            if method == "POST":
                length = int(self.headers.get("Content-Length", 0))
                params.update(parse_qsl(self.rfile.read(length).decode()))
            path = url.path.removeprefix("/api2/json")
            fake.log.append((method, path, params, dict(self.headers)))
            status, reason, body = fake.routes.get((method, path), (501, "Method not implemented", None))
            if isinstance(body, Raw):
                body.write(self)
                return
            error: dict[str, Any] = {"data": None, "message": reason}
            if status == 400:
                error["errors"] = {"target": "target is local node."}
            payload = json.dumps({"data": body} if status < 400 else error).encode()
            self.send_response(status, reason)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()
