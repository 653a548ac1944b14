from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from proxlb.api.client import ProxmoxClient, UnreachableError, connect
from proxlb.api.settings import ApiSettings, Endpoint
from proxlb.errors import ApiError, ConfigError
from tests.api.fake_pve import serve

A = Endpoint("hostA", 8006)
B = Endpoint("hostB", 8006)


def _settings(*endpoints: Endpoint, **kw: Any) -> ApiSettings:
    base: dict[str, Any] = {"user": "proxlb@pve", "token_id": "t", "token_secret": "S3CRET", "retries": 3}
    base.update(kw)
    return ApiSettings(endpoints=endpoints or (A, B), **base)


class Script:
    """Per endpoint, a list of outcomes consumed in order (exceptions are raised, values returned)."""

    def __init__(self, outcomes: dict[Endpoint, list[Any]]) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[Endpoint, str, str, dict[str, Any]]] = []
        self.created: list[Endpoint] = []

    def factory(self, endpoint: Endpoint, settings: ApiSettings) -> Any:
        self.created.append(endpoint)
        script = self

        class T:
            def request(self, method: str, path: str, params: dict[str, Any]) -> Any:
                script.calls.append((endpoint, method, path, params))
                queue = script.outcomes[endpoint]
                item = queue.pop(0) if len(queue) > 1 else queue[0]
                if isinstance(item, BaseException):
                    raise item
                return item(method, path, params) if callable(item) else item

        return T()


class CountingEvent(threading.Event):
    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        return False


def test_get_fails_over_mid_cycle_and_sticks_to_new_host() -> None:
    script = Script({A: ["first", UnreachableError("A down", sent=True)], B: ["from B"]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    assert client.get("/nodes") == "first"
    assert client.get("/nodes") == "from B"
    assert client.endpoint == B
    assert client.get("/nodes") == "from B"
    assert [c[0] for c in script.calls] == [A, A, B, B]


def test_get_retries_with_exponential_backoff_then_gives_up() -> None:
    down = UnreachableError("down", sent=False)
    script = Script({A: [down], B: [down]})
    stop = CountingEvent()
    client = ProxmoxClient(_settings(backoff_seconds=1.0), script.factory, stop)
    with pytest.raises(ApiError) as info:
        client.get("/cluster/resources")
    assert info.value.status == 0 and info.value.path == "/cluster/resources"
    assert "hostA" in str(info.value) and "hostB" in str(info.value)
    assert stop.waits == [1.0, 2.0]
    assert len(script.calls) == 6


def test_retry_stops_when_stop_event_set() -> None:
    down = UnreachableError("down", sent=False)
    script = Script({A: [down], B: [down]})
    stop = threading.Event()
    stop.set()
    client = ProxmoxClient(_settings(backoff_seconds=100.0), script.factory, stop)
    with pytest.raises(ApiError):
        client.get("/nodes")
    assert len(script.calls) == 2


def test_pve_errors_are_not_retried_and_keep_status() -> None:
    script = Script({A: [ApiError("VM is locked (backup)", 500, "/x")], B: ["never"]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    with pytest.raises(ApiError) as info:
        client.get("/x")
    assert info.value.status == 500 and "locked" in str(info.value)
    assert len(script.calls) == 1


def test_gateway_errors_on_reads_try_next_host() -> None:
    script = Script({A: [ApiError("bad gateway", 502, "/x")], B: ["ok"]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    assert client.get("/x") == "ok"


def test_post_refused_is_resent_to_next_host() -> None:
    script = Script({A: [UnreachableError("refused", sent=False)], B: ["UPID:b"]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    assert client.post("/nodes/pve1/lxc/200/migrate", target="pve2", restart=1) == "UPID:b"


def _upid(node: str, kind: str, vmid: int) -> str:
    return f"UPID:{node}:00000001:00000002:7FFFFFFF:{kind}:{vmid}:root@pam:"


def test_uncertain_migrate_post_finds_existing_task_instead_of_resending() -> None:
    upid = _upid("pve1", "qmigrate", 100)

    def on_b(method: str, path: str, params: dict[str, Any]) -> Any:
        assert method == "GET", "the migrate POST must not be re-sent blindly"
        assert path == "/nodes/pve1/tasks"
        return [{"upid": upid, "type": "qmigrate", "id": "100", "starttime": 2**31 - 1}]

    script = Script({A: [UnreachableError("lost", sent=True)], B: [on_b]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    got = client.migrate_qemu("pve1", 100, "pve2", online=True, with_local_disks=True)
    assert got == upid
    assert [c[1] for c in script.calls].count("POST") == 1


def test_uncertain_migrate_post_resent_once_when_no_task_and_guest_unmoved() -> None:
    def on_b(method: str, path: str, params: dict[str, Any]) -> Any:
        if method == "POST":
            return "UPID:resent"
        if path.endswith("/tasks"):
            return []
        return [{"vmid": 100, "node": "pve1", "type": "qemu"}]

    script = Script({A: [UnreachableError("lost", sent=True)], B: [on_b]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    assert client.migrate_qemu("pve1", 100, "pve2", online=True, with_local_disks=False) == "UPID:resent"
    assert [c[1] for c in script.calls].count("POST") == 2


def test_uncertain_migrate_post_not_resent_when_guest_locked() -> None:
    def on_b(method: str, path: str, params: dict[str, Any]) -> Any:
        if path.endswith("/tasks"):
            return []
        return [{"vmid": 100, "node": "pve1", "type": "qemu", "lock": "migrate"}]

    script = Script({A: [UnreachableError("lost", sent=True)], B: [on_b]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    with pytest.raises(ApiError):
        client.migrate_qemu("pve1", 100, "pve2", online=True, with_local_disks=False)
    assert [c[1] for c in script.calls].count("POST") == 1


def test_migrate_parameters() -> None:
    script = Script({A: ["UPID:x"], B: ["UPID:x"]})
    client = ProxmoxClient(_settings(), script.factory, CountingEvent())
    client.migrate_qemu("pve1", 100, "pve2", online=True, with_local_disks=True, with_conntrack_state=True)
    client.migrate_qemu("pve1", 101, "pve2", online=False, with_local_disks=False, with_conntrack_state=True)
    client.migrate_lxc("pve1", 200, "pve3")
    params = [c[3] for c in script.calls]
    assert params[0] == {"target": "pve2", "online": 1, "with-local-disks": 1, "with-conntrack-state": 1}
    assert params[1] == {"target": "pve2", "online": 0, "with-local-disks": 0}
    assert params[2] == {"target": "pve3", "restart": 1}
    assert client.write_count == 3


def test_password_auth_relogs_in_once_when_ticket_rejected() -> None:
    script = Script({A: [ApiError("Authentication failed!", 401, "/x"), "ok"], B: ["never"]})
    client = ProxmoxClient(
        _settings(token_id=None, token_secret=None, password="pw"), script.factory, CountingEvent()
    )
    assert client.get("/x") == "ok"
    assert script.created == [A, A]


def test_permissions_missing_named() -> None:
    script = Script({A: [{"/": {"Sys.Audit": 1, "VM.Audit": 1}}]})
    client = ProxmoxClient(_settings(A), script.factory, CountingEvent())
    with pytest.raises(ConfigError) as info:
        client.check_permissions()
    assert "Datastore.Audit" in str(info.value) and "VM.Migrate" in str(info.value)


def test_node_versions_and_ha_master() -> None:
    def answer(method: str, path: str, params: dict[str, Any]) -> Any:
        return {
            "/nodes": [{"node": "pve1", "status": "online"}, {"node": "pve2", "status": "offline"}],
            "/nodes/pve1/version": {"version": "8.4.1"},
            "/cluster/ha/status/manager_status": {"manager_status": {"master_node": "pve1"}},
        }[path]

    client = ProxmoxClient(_settings(A), Script({A: [answer]}).factory, CountingEvent())
    assert client.node_versions() == {"pve1": (8, 4, 1)}
    assert client.ha_master() == "pve1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_real_https_failover_token_auth_and_error_mapping(tmp_path: Path, caplog: Any) -> None:
    routes = {
        ("GET", "/nodes"): (200, "OK", [{"node": "pve1", "status": "online"}]),
        ("POST", "/nodes/pve1/qemu/100/migrate"): (500, "VM is locked (backup)", None),
        ("POST", "/nodes/pve1/lxc/200/migrate"): (400, "Parameter verification failed.", None),
    }
    with serve(tmp_path, routes) as (fake, port, cert):
        dead = Endpoint("127.0.0.1", _free_port())
        live = Endpoint("127.0.0.1", port)
        settings = _settings(dead, live, ca_file=str(cert), timeout_seconds=2, retries=1)
        caplog.set_level(logging.DEBUG)
        client = connect(settings)
        assert client.get("/nodes") == [{"node": "pve1", "status": "online"}]
        assert client.endpoint == live
        with pytest.raises(ApiError) as info:
            client.migrate_qemu("pve1", 100, "pve2", online=True, with_local_disks=True)
        assert info.value.status == 500 and str(info.value) == "VM is locked (backup)"
        with pytest.raises(ApiError) as info:
            client.migrate_lxc("pve1", 200, "pve1")
        assert info.value.status == 400 and "target is local node" in str(info.value)
        auth = fake.log[0][3]["Authorization"]
        assert auth == "PVEAPIToken=proxlb@pve!t=S3CRET"
        assert fake.log[1][2] == {"target": "pve2", "online": "1", "with-local-disks": "1"}
    assert "S3CRET" not in caplog.text


def test_real_https_rejects_unknown_certificate(tmp_path: Path) -> None:
    with serve(tmp_path, {("GET", "/nodes"): (200, "OK", [])}) as (_fake, port, _cert):
        client = connect(_settings(Endpoint("127.0.0.1", port), retries=1, timeout_seconds=2))
        with pytest.raises(ApiError) as info:
            client.get("/nodes")
        text = str(info.value)
        assert info.value.status == 0
        assert text.startswith(f"certificate verify failed for 127.0.0.1:{port}")
        assert "set proxmox_api.ca_file" in text and "ssl_verification: false for a lab" in text


def test_real_https_password_login_and_no_secret_in_errors(tmp_path: Path, caplog: Any) -> None:
    routes = {
        ("POST", "/access/ticket"): (200, "OK", {"ticket": "PVE:tkt", "CSRFPreventionToken": "csrf"}),
        ("GET", "/nodes"): (200, "OK", []),
    }
    with serve(tmp_path, routes) as (fake, port, _cert):
        settings = _settings(
            Endpoint("127.0.0.1", port),
            token_id=None,
            token_secret=None,
            password="pw-secret",
            verify_tls=False,
        )
        caplog.set_level(logging.WARNING)
        client = connect(settings)
        assert "DISABLED" in caplog.text
        assert client.get("/nodes") == []
        assert fake.log[0][1] == "/access/ticket" and "PVEAuthCookie=PVE:tkt" in fake.log[1][3]["Cookie"]
        fake.routes[("POST", "/access/ticket")] = (401, "authentication failure", None)
        fake.routes[("GET", "/nodes")] = (401, "Authentication failed!", None)
        with pytest.raises(ApiError) as info:
            client.get("/nodes")
        assert info.value.status == 401
        assert "pw-secret" not in str(info.value)
    assert "pw-secret" not in caplog.text
