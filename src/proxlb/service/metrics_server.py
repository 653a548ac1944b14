"""The /metrics HTTP endpoint: prometheus_client's WSGI app on a bounded server.

prometheus_client's own server keeps one thread per connection for as long as the client keeps it
open (300 idle connections held 302 threads). Here a connection that sends nothing is closed after
`IDLE_SECONDS`, and at most `MAX_CONNECTIONS` are served at once (more are closed at accept).
Invariants: the server thread and the handler threads are daemon threads; nothing is logged per
request.
"""

from __future__ import annotations

import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

IDLE_SECONDS = 5.0
MAX_CONNECTIONS = 16


class _Handler(WSGIRequestHandler):
    timeout = IDLE_SECONDS  # socket timeout: an idle client cannot hold its thread

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing per request."""


class _BoundedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # too many at once: closed, not queued behind a thread
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that timed out or hung up is not worth a traceback."""


def start_server(host: str, port: int, registry: CollectorRegistry) -> tuple[WSGIServer, threading.Thread]:
    """Serve `registry` on host:port in a daemon thread; raises OSError when the port is taken."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class Server(_BoundedServer):
        address_family = family

    server = make_server(host, port, make_wsgi_app(registry), Server, handler_class=_Handler)
    thread = threading.Thread(target=server.serve_forever, name="proxlb-metrics", daemon=True)
    thread.start()
    return server, thread
