"""Issue #19 item 6: no bound on what the API could make ProxLB read.

A gzip body inflating far past any real answer was read whole into memory (1 MB → 1 GiB pushed
RSS past 3 GiB); a server sending one byte every few seconds was never cut off, because the
timeout is per socket read; a daemon blocked there ignored SIGTERM for minutes. The hostile
answers come from a small HTTPS stand-in for pveproxy; what is checked is the client's error, how
many body bytes the server managed to send, and the CLI's exit after SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.api.client import connect
from proxlb.api.settings import ApiSettings, Endpoint
from proxlb.errors import ApiError
from tests.api.fake_pve import Raw, serve

PERMISSIONS = {"/": {p: 1 for p in ("VM.Migrate", "VM.Audit", "Sys.Audit", "Datastore.Audit")}}
MIB = 1024 * 1024


def gzip_of_zeros(inflated: int) -> bytes:
    """A gzip body of `inflated` zero bytes (about 1/1000 of that on the wire)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(MIB)
    parts = [packer.compress(block) for _ in range(inflated // MIB)]
    return b"".join(parts) + packer.flush()


def bomb(body: bytes) -> Raw:
    def write(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200, "OK")
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        with contextlib.suppress(OSError):
            handler.wfile.write(body)

    return Raw(write)


class Trickle:
    """A 200 answer whose declared body arrives one byte every `gap` seconds; counts what was sent."""

    def __init__(self, length: int, gap: float) -> None:
        self.length, self.gap = length, gap
        self.sent = 0
        self.started = threading.Event()
        self.closed = threading.Event()

    def raw(self) -> Raw:
        def write(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(200, "OK")
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(self.length))
            handler.end_headers()
            handler.wfile.flush()
            self.started.set()
            try:
                for _ in range(self.length):
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    self.sent += 1
                    time.sleep(self.gap)
            except OSError:
                pass
            finally:
                self.closed.set()

        return Raw(write)


def _settings(port: int, cert: Path, **kw: Any) -> ApiSettings:
    base: dict[str, Any] = {"user": "proxlb@pve", "token_id": "t", "token_secret": "S3CRET", "retries": 1}
    base.update(kw)
    return ApiSettings(endpoints=(Endpoint("127.0.0.1", port),), ca_file=str(cert), **base)


def test_a_gzip_bomb_is_cut_off_at_the_cap(tmp_path: Path) -> None:
    routes = {("GET", "/cluster/resources"): (200, "OK", bomb(gzip_of_zeros(100 * MIB)))}
    with serve(tmp_path, routes) as (fake, port, cert):
        client = connect(_settings(port, cert))
        with pytest.raises(ApiError) as info:
            client.get("/cluster/resources")
    assert "larger than 64 MiB once decompressed" in str(info.value)
    assert len(fake.log) == 1  # refused, not asked again: the same host would send the same


def test_a_trickling_answer_is_cut_off_at_the_request_deadline(tmp_path: Path) -> None:
    trickle = Trickle(length=60, gap=0.25)  # 15 s for the whole body
    routes = {("GET", "/cluster/resources"): (200, "OK", trickle.raw())}
    with serve(tmp_path, routes) as (_fake, port, cert):
        client = connect(_settings(port, cert, timeout_seconds=1.0))  # deadline: 3 × timeout
        with pytest.raises(ApiError) as info:
            client.get("/cluster/resources")
        assert trickle.closed.wait(10)
    assert "no complete answer within 3 s" in str(info.value)
    assert trickle.sent < trickle.length, "the whole trickle was read"


@pytest.mark.timeout(120)
def test_sigterm_ends_a_run_blocked_on_a_trickling_answer(tmp_path: Path) -> None:
    trickle = Trickle(length=400, gap=0.5)  # 200 s of body, and the deadline is 30 s
    routes = {
        ("GET", "/access/permissions"): (200, "OK", PERMISSIONS),
        ("GET", "/cluster/resources"): (200, "OK", trickle.raw()),
    }
    with serve(tmp_path, routes) as (_fake, port, cert):
        doc = {
            "proxmox_api": {
                "hosts": [f"127.0.0.1:{port}"],
                "user": "proxlb@pve",
                "token_id": "t",
                "token_secret": "S3CRET",
                "ca_file": str(cert),
                "timeout": 10,
            },
            "service": {"daemon": True, "state_dir": str(tmp_path / "state")},
        }
        path = tmp_path / "proxlb.yaml"
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.Popen(
            [sys.executable, "-m", "proxlb", "-c", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            assert trickle.started.wait(60), "the run never reached /cluster/resources"
            time.sleep(1.0)
            at_sigterm = trickle.sent
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=100)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert trickle.closed.wait(10)
    assert proc.returncode == 0, out.decode()
    assert b"stopped on request" in out
    # it left long before the body (or the 30 s request deadline) was through
    assert trickle.sent - at_sigterm < 20, (at_sigterm, trickle.sent)


class _CutRaw:
    """A body whose connection breaks after the headers (a proxy or host going away)."""

    def read1(self, amount: int, decode_content: bool = True) -> bytes:
        from urllib3.exceptions import IncompleteRead, ProtocolError

        raise ProtocolError("Connection broken", IncompleteRead(0, 78))

    def tell(self) -> int:
        return 0


class _CutResponse:
    headers: dict[str, str] = {}  # noqa: RUF012 - a stand-in for requests.Response
    raw = _CutRaw()
    elapsed = None


def test_a_body_cut_off_is_a_requests_error_the_client_classifies() -> None:
    """An answer cut mid-body raised urllib3's ProtocolError past the client (a crash of the
    cycle: test_api_host_down_mid_cycle_fails_over under load); now it is requests'
    ChunkedEncodingError, which the client turns into 'connection lost' (an uncertain write)."""
    import requests

    from proxlb.api.diagnose import classify_failure
    from proxlb.api.guard import BodyGuard
    from proxlb.api.settings import ApiSettings, Endpoint

    with pytest.raises(requests.exceptions.ChunkedEncodingError) as cut:
        BodyGuard(30.0)(_CutResponse())
    settings = ApiSettings(endpoints=(Endpoint("127.0.0.1", 8006),), user="root@pam", password="x")
    assert classify_failure(cut.value, settings).sent
