from __future__ import annotations

import io
import json
import logging
import os
from typing import Any

import pytest

from proxlb.errors import ApiError
from proxlb.service.leader import quorum_leader, standby_reason
from proxlb.service.logging_setup import choose_format, configure_logging


@pytest.fixture(autouse=True)
def _restore_root() -> Any:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_with_extras_and_redaction() -> None:
    out = io.StringIO()
    configure_logging("INFO", "json", secrets=("tok-secret-123",), env={}, stream=out)
    logging.getLogger("proxlb.test").info("login with %s", "tok-secret-123", extra={"vmid": 100})
    logging.getLogger("proxlb.test").debug("hidden")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["message"] == "login with ********" and lines[0]["vmid"] == 100
    assert lines[0]["level"] == "INFO" and "tok-secret-123" not in out.getvalue()


def test_journal_stream_lines_have_priority_and_no_timestamp() -> None:
    out = io.StringIO()
    configure_logging("DEBUG", "auto", env={"JOURNAL_STREAM": "8:123"}, stream=out)
    logging.getLogger("proxlb.x").warning("careful")
    assert out.getvalue() == "<4>WARNING proxlb.x: careful\n"


def test_reconfigure_replaces_handler_and_plain_has_timestamp() -> None:
    out = io.StringIO()
    configure_logging("INFO", "plain", env={}, stream=out)
    configure_logging("INFO", "plain", env={}, stream=out)
    logging.getLogger("proxlb.y").info("once")
    assert out.getvalue().count("once") == 1
    assert out.getvalue()[:4].isdigit()


def test_choose_format() -> None:
    assert choose_format("auto", {}) == "plain"
    assert choose_format("auto", {"JOURNAL_STREAM": "8:1"}) == "journal"
    with open(__file__) as f:  # a stream that is not the journal's
        assert choose_format("auto", {"JOURNAL_STREAM": "8:1"}, f) == "plain"
        st = os.fstat(f.fileno())
        assert choose_format("auto", {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, f) == "journal"
    assert choose_format("json", {"JOURNAL_STREAM": "1"}) == "json"


class Api:
    def __init__(self, master: str | None, status: Any = None, fail: bool = False) -> None:
        self.master, self.status, self.fail = master, status, fail

    def ha_master(self) -> str | None:
        if self.fail:
            raise ApiError("boom", 500, "/cluster/ha/status/manager_status")
        return self.master

    def get(self, path: str, **params: Any) -> Any:
        assert path == "/cluster/status"
        return self.status


class Cfg:
    def __init__(self, ident: str | None) -> None:
        self.service = type("S", (), {"ha_identity": ident})()


STATUS = [
    {"type": "cluster", "name": "c"},
    {"type": "node", "name": "pve3", "online": 1},
    {"type": "node", "name": "pve1", "online": 0},
    {"type": "node", "name": "pve2", "online": 1},
]


def test_leader_is_ha_master_else_lowest_online_node() -> None:
    assert standby_reason(Api("pve1"), Cfg("pve1")) is None
    assert standby_reason(Api("pve1"), Cfg("pve1.example.com")) is None
    assert "pve1" in (standby_reason(Api("pve1"), Cfg("pve2")) or "")
    assert quorum_leader(STATUS) == "pve2"  # pve1 is offline
    assert standby_reason(Api(None, STATUS), Cfg("pve2")) is None
    assert standby_reason(Api(None, STATUS), Cfg("pve3")) is not None
    assert standby_reason(Api(None, STATUS, fail=True), Cfg("pve2")) is None
    assert standby_reason(Api(None, []), Cfg("pve2")) is not None
