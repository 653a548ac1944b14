"""HTTPS server of the simulator: PVE's wire protocol over `http.server` + `ssl`.

Wire format per pve-api.md §1: `/api2/json` with `{"data": ...}` (+`total`), errors with a custom
reason phrase (first line of the message) and `{"data":null,"message":...,"errors":...}`, 401 with an
empty body, `Connection: close` on errors, HTTP/1.1 keep-alive otherwise, TCP_NODELAY. Auth: ticket
cookie `PVEAuthCookie` (parsed by hand) + CSRF header on writes, or `Authorization: PVEAPIToken=...`.
The TLS handshake runs in the connection's worker thread. `/_sim/...` is the unauthenticated admin API.
Injected request faults (latency, error bursts, refused connections) apply to `/api2` only.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import re
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from proxlb_sim.admin import SimAdmin
from proxlb_sim.auth import Identity
from proxlb_sim.cluster import SimCluster
from proxlb_sim.handlers import Encoded, Paged
from proxlb_sim.pveerror import PveError
from proxlb_sim.reqlog import RequestLog
from proxlb_sim.routes import dispatch
from proxlb_sim.tls import TlsFiles, generate_tls

log = logging.getLogger(__name__)
_COOKIE = re.compile(r"(?:^|\s|;)PVEAuthCookie(?:=| )([^;]*)")
PREFIX = "/api2/json"


def _params(handler: BaseHTTPRequestHandler, query: str, body: bytes) -> dict[str, Any]:
    """Body (JSON or form) with query-string parameters merged on top, like pve-http-server."""
    params: dict[str, Any] = {}
    if body:
        ctype = handler.headers.get("Content-Type", "")
        if "application/json" in ctype:
            decoded = json.loads(body.decode("utf-8"))
            if isinstance(decoded, dict):
                params.update(decoded)
        else:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    params.update(parse_qsl(query, keep_blank_values=True))
    return params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 60

    def version_string(self) -> str:
        return "pve-api-daemon/3.0"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing ---------------------------------------------------------------------------------
    def _send(self, status: int, reason: str | None, payload: Any, empty: bool = False) -> None:
        if isinstance(payload, Encoded):
            body = payload.body
        else:
            body = b"" if empty else json.dumps(payload, separators=(",", ":")).encode()
        gzipped = len(body) > 1024 and "gzip" in self.headers.get("Accept-Encoding", "")
        if gzipped:  # like pve-http-server: gzip bodies over 1 KiB when the client accepts it
            if isinstance(payload, Encoded):
                if payload.gzipped is None:
                    payload.gzipped = gzip.compress(body, compresslevel=1)
                body = payload.gzipped
            else:
                body = gzip.compress(body, compresslevel=1)
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Pragma", "no-cache")
        self.send_header("Expires", self.date_time_string())
        if status >= 400:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(self, exc: PveError) -> None:
        self._send(
            exc.status,
            exc.reason,
            exc.body(),
            empty=exc.status == 401 and exc.message != "authentication failure",
        )

    def _identity(self, method: str) -> Identity:
        auth = self.server.sim.cluster.auth
        header = self.headers.get("Authorization", "")
        if header.startswith("PVEAPIToken="):
            ident = auth.check_token(header[len("PVEAPIToken=") :].strip())
            if ident is None:
                raise PveError(401, "Authentication failed!")
            return ident
        ticket = None
        found = _COOKIE.search(self.headers.get("Cookie", "")) or _COOKIE.search(header)
        if found:
            ticket = unquote(found.group(1))
        if not ticket:
            raise PveError(401, "No ticket")
        ident = auth.check_ticket(ticket)
        if ident is None:
            raise PveError(401, "Authentication failed!")
        if method != "GET" and not auth.check_csrf(ident, self.headers.get("CSRFPreventionToken")):
            raise PveError(401, "Permission denied - invalid csrf token")
        return ident

    def _handle(self, method: str) -> None:
        started = time.perf_counter()
        sim = self.server.sim
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = unquote(split.path)
        try:
            params = _params(self, split.query, body)
        except (ValueError, UnicodeDecodeError):
            self._error(PveError(400, "malformed request body"))
            return
        if path.startswith("/_sim/"):
            try:
                self._send(200, None, {"data": sim.admin.handle(method, path, params)})
            except PveError as exc:
                self._error(exc)
            return
        api_path = path[len(PREFIX) :] if path.startswith(PREFIX + "/") or path == PREFIX else None
        user: str | None = None
        error: PveError | None = None
        payload: Any = None
        try:
            if api_path is None:
                raise PveError(501, f"Method '{method} {path}' not implemented")
            delay = sim.cluster.faults.delay_for(api_path)
            if delay > 0:
                time.sleep(delay)
            with sim.cluster.lock:
                injected = sim.cluster.faults.take_error(api_path)
            if injected is not None:
                raise injected
            if (method, api_path.rstrip("/")) == ("POST", "/access/ticket"):
                ident = Identity("-")
            else:
                ident = self._identity(method)
                user = ident.task_user
            result = dispatch(sim.cluster, method, api_path, params, ident)
            if isinstance(result, Encoded):
                payload = result
            elif isinstance(result, Paged):
                payload = {"data": result.data, "total": result.total}
            else:
                payload = {"data": result}
        except PveError as exc:
            error = exc
        except Exception:  # a simulator bug must not kill the connection thread silently
            log.exception("simulator handler failed for %s %s", method, path)
            error = PveError(500, "internal simulator error")
        # log before answering, so a client that got its answer always finds its request in the log
        status = error.status if error else 200
        sim.log.add(
            method,
            api_path or path,
            params,
            status,
            sim.cluster.clock.now(),
            user,
            time.perf_counter() - started,
        )
        if error is None:
            self._send(200, None, payload)
            return
        if status == 401 and sim.cluster.settings.auth_failure_delay_s > 0:
            time.sleep(sim.cluster.settings.auth_failure_delay_s)
        self._error(error)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    sim: SimServer

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.sim.cluster.faults.refusing():
            request.close()
            return
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.sim.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.debug("TLS handshake failed: %s", exc)
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection error from %s", client_address, exc_info=True)


class _Server6(_Server):
    """The same server on an IPv6 socket; `::` also accepts IPv4 (dual stack, like pveproxy)."""

    address_family = socket.AF_INET6

    def server_bind(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _bind_host(host: str) -> str:
    """The address to bind: IPv6 literals may come in brackets (`[::1]`)."""
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


class SimServer:
    """A simulator bound to host:port (port 0 = any free port), serving HTTPS."""

    def __init__(
        self,
        cluster: SimCluster,
        host: str = "127.0.0.1",
        port: int = 8006,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        state_dir: Path | None = None,
    ) -> None:
        host = _bind_host(host)
        self.cluster = cluster
        self.log = RequestLog()
        self.admin = SimAdmin(cluster, self.log)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if cert_file and key_file:
            self.tls = TlsFiles(cert_file, key_file, cert_file)
        else:
            reuse = state_dir is not None  # a kept state dir keeps its CA across restarts
            if state_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="proxlb-sim-")
                state_dir = Path(self._tmp.name)
            self.tls = generate_tls(state_dir, host, reuse=reuse)
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.load_cert_chain(str(self.tls.cert_file), str(self.tls.key_file))
        server_class = _Server6 if ":" in host else _Server
        self.httpd = server_class((host, port), _Handler, bind_and_activate=True)
        self.httpd.sim = self
        self.host = host
        self.port = int(self.httpd.server_address[1])
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def serve_forever(self) -> None:
        """Serve in the calling thread until `stop()` is called from another thread."""
        self._serving = True
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> None:
        """Serve in a daemon thread."""
        self._serving = True
        self._thread = threading.Thread(target=self.serve_forever, name="proxlb-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the socket and remove generated TLS files."""
        if self._serving:  # shutdown() would wait forever for a loop that never ran
            self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
