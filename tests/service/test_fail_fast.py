"""Issue #15 item 6: an error that asking again cannot fix ends a one-shot run at its first attempt.

A self-signed certificate without `ca_file`, a host name that does not resolve and a port nobody
listens on used to be retried for a minute (six identical lines, 61–80 s) before the one error. The
test counts what an outsider sees: TLS handshakes at the test's own listener, and the client's
per-attempt log lines; the daemon's sleeps go to a fake clock, so nothing here waits for real.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon
from proxlb.service.state import StateStore
from tests.api.fake_pve import make_cert
from tests.execute.fakes import FakeClock

pytestmark = pytest.mark.timeout(120)


@contextmanager
def tls_listener(tmp: Path) -> Iterator[tuple[int, list[int]]]:
    """A TLS port with a self-signed certificate; yields (port, list of accepted connections)."""
    cert, key = make_cert(tmp)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    accepted: list[int] = []
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(1)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], accepted
    finally:
        done.set()
        thread.join(timeout=5)
        server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _one_shot(tmp: Path, host: str, clock: FakeClock) -> Daemon:
    doc: dict[str, Any] = {
        "proxmox_api": {"hosts": [host], "user": "proxlb@pve", "token_id": "t", "token_secret": "S3CRET"},
        "service": {"daemon": False},
    }
    path = tmp / "proxlb.yaml"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return Daemon(
        path,
        clock=clock,
        apply=False,
        configure_log=False,
        open_state=lambda config, one_shot: StateStore.in_memory(),
    )


def _attempt_lines(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("Proxmox API host ")]


def test_self_signed_certificate_without_ca_file_is_one_handshake(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    with tls_listener(tmp_path) as (port, accepted):
        code = _one_shot(tmp_path, f"127.0.0.1:{port}", clock).run()
    assert code == ExitCode.FAILED
    assert len(accepted) == 1, f"{len(accepted)} TLS handshakes for one untrusted certificate"
    assert clock.sleeps == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].startswith(f"certificate verify failed for 127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("host", "reason"),
    [("proxlb-nowhere.invalid", "host name does not resolve"), ("127.0.0.1:{port}", "connection refused")],
)
def test_unresolvable_name_or_closed_port_is_one_attempt(
    tmp_path: Path, caplog: Any, host: str, reason: str
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    code = _one_shot(tmp_path, host.format(port=_free_port()), clock).run()
    assert code == ExitCode.FAILED
    attempts = _attempt_lines(caplog)
    assert len(attempts) == 1 and reason in attempts[0], attempts
    assert clock.sleeps == []
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and reason in errors[0], errors
