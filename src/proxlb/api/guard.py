"""Bounds on what one API answer can make ProxLB read: size, time, and a stop request.

Role: a `requests` response hook that reads the body itself, before `requests` would read all of it
into memory: at most `MAX_WIRE_BYTES` from the network and `MAX_BODY_BYTES` once decompressed (a
1 MB gzip body inflating to 1 GiB is cut off at the cap), within `deadline_seconds` for the whole
request (headers and body; the socket timeout alone is per read, so a server sending one byte
every 2 s never hit it), and — after SIGTERM — no longer than `STOP_PATIENCE_SECONDS` beyond the
stop request (quick answers, such as the task polls that follow in-flight moves, still complete).
Invariants: the body is read as bytes arrive (`read1`), decompressed in bounded steps (urllib3 ≥
2.6), so each check runs at least once per socket timeout; a violation hangs up and raises
`AnswerRefused` (the client turns it into an unreachable-host error, never a crash); the body,
which may be hostile, never appears in a message.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import requests
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

MAX_WIRE_BYTES = 64 * 1024 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
STOP_PATIENCE_SECONDS = 2.0


class AnswerRefused(Exception):  # noqa: N818 - a refusal, not a program error
    """An answer over a size cap, past the request deadline, or cut off by a stop request."""


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB"


class BodyGuard:
    """The response hook; one per transport. `deadline_seconds` covers headers and body."""

    def __init__(
        self,
        deadline_seconds: float,
        stop: threading.Event | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        max_wire_bytes: int = MAX_WIRE_BYTES,
    ) -> None:
        self.deadline_seconds = deadline_seconds
        self.stop = stop or threading.Event()
        self.max_body_bytes = max_body_bytes
        self.max_wire_bytes = max_wire_bytes

    def __call__(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(response, "_content_consumed", False) or getattr(response, "raw", None) is None:
            return response
        started = time.monotonic() - _seconds(getattr(response, "elapsed", None))
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_wire_bytes:
            _hang_up(response)
            raise AnswerRefused(f"answer of {declared} bytes is over the cap of {_mib(self.max_wire_bytes)}")
        stop_seen: float | None = None
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.raw.read1(CHUNK_BYTES, decode_content=True):  # as bytes arrive
                chunks.append(chunk)
                size += len(chunk)
                now = time.monotonic()
                if size > self.max_body_bytes:
                    raise AnswerRefused(f"answer larger than {_mib(self.max_body_bytes)} once decompressed")
                if response.raw.tell() > self.max_wire_bytes:
                    raise AnswerRefused(f"answer larger than {_mib(self.max_wire_bytes)}")
                if now - started > self.deadline_seconds:
                    raise AnswerRefused(f"no complete answer within {self.deadline_seconds:.0f} s")
                if self.stop.is_set():
                    stop_seen = now if stop_seen is None else stop_seen
                    if now - max(stop_seen, started) > STOP_PATIENCE_SECONDS:
                        raise AnswerRefused("stop requested while the answer was still arriving")
        except AnswerRefused:
            _hang_up(response)
            raise
        # A connection cut while the body arrives: the same `requests` errors its own body read
        # would raise, so the client classifies them (a POST cut off here is an uncertain write).
        except ProtocolError as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from None
        except DecodeError as exc:
            raise requests.exceptions.ContentDecodingError(exc) from None
        except ReadTimeoutError as exc:
            raise requests.exceptions.ConnectionError(exc) from None
        except SSLError as exc:
            raise requests.exceptions.SSLError(exc) from None
        response._content = b"".join(chunks)
        response._content_consumed = True
        return response


def _hang_up(response: Any) -> None:
    """Close the connection for good (the server sees it at its next write), not back to the pool."""
    sock = getattr(getattr(response.raw, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    response.close()


def _seconds(elapsed: Any) -> float:
    return float(elapsed.total_seconds()) if elapsed is not None else 0.0
