from __future__ import annotations

from types import SimpleNamespace

import pytest

from proxlb.api.settings import Endpoint, parse_endpoint, settings_from_config
from proxlb.api.tasks import (
    missing_privileges,
    parse_precondition,
    parse_task_status,
    parse_version,
    pick_followup_task,
    upid_type,
)
from proxlb.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pve1", Endpoint("pve1", 8006)),
        ("pve1.example.com:8443", Endpoint("pve1.example.com", 8443)),
        ("10.0.0.1", Endpoint("10.0.0.1", 8006)),
        ("10.0.0.1:9000", Endpoint("10.0.0.1", 9000)),
        ("[fe80::1]", Endpoint("fe80::1", 8006)),
        ("[2001:db8::5]:8443", Endpoint("2001:db8::5", 8443)),
        ("2001:db8::5", Endpoint("2001:db8::5", 8006)),
        ("2001:db8:0:0:0:0:0:5:8443", Endpoint("2001:db8:0:0:0:0:0:5", 8443)),
        (" pve2 ", Endpoint("pve2", 8006)),
        ("fe80::1:8006", Endpoint("fe80::1", 8006)),  # upstream: the last colon of a bare v6 is the port
    ],
)
def test_parse_endpoint_forms(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


def test_ipv6_netloc_has_brackets() -> None:
    assert Endpoint("fe80::1", 8006).netloc == "[fe80::1]:8006"
    assert Endpoint("pve1", 1).netloc == "pve1:1"


@pytest.mark.parametrize("text", ["", "pve1:abc", "pve1:70000", "[fe80::1", "[fe80::1]x", ":8006"])
def test_parse_endpoint_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)


def _cfg(**kw: object) -> SimpleNamespace:
    base: dict[str, object] = {
        "hosts": ["pve1"],
        "user": "proxlb@pve",
        "token_id": "t",
        "token_secret": "S3CRET",
    }
    base.update(kw)
    return SimpleNamespace(**base)


def test_settings_hide_secrets_in_repr() -> None:
    settings = settings_from_config(_cfg(), env={})
    assert "S3CRET" not in repr(settings)
    assert settings.uses_token and settings.secrets() == ("S3CRET",)


def test_settings_collect_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_config(_cfg(hosts=["bad:port"], user="", password="p", token_id="a@b!c"), env={})
    text = "\n".join(info.value.problems)
    assert "hosts" in text and "user" in text and "mutually exclusive" in text and "token_id" in text
    assert "S3CRET" not in text and "'p'" not in text


def test_settings_secret_from_env_and_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = settings_from_config(_cfg(token_secret=None), env={"PROXLB_TOKEN_SECRET": "envsecret"})
    assert s.token_secret == "envsecret"
    f = tmp_path / "pw"
    f.write_text("filepw\n")
    s = settings_from_config(_cfg(token_secret=None, token_id=None, pass_file=str(f)), env={})
    assert s.password == "filepw" and not s.uses_token


def test_settings_use_config_endpoints_when_available() -> None:
    cfg = _cfg()
    cfg.endpoints = lambda: [("h1", 1), ("h2", 2)]
    assert settings_from_config(cfg, env={}).endpoints == (Endpoint("h1", 1), Endpoint("h2", 2))


UPID = "UPID:pve1:000A1B2C:0367F0D1:6790ABCD:qmigrate:100:root@pam!proxlb:"


def test_task_status_parsing() -> None:
    running = parse_task_status(UPID, "pve1", {"status": "running", "type": "qmigrate"})
    assert running.running and not running.ok
    done = parse_task_status(UPID, "pve1", {"status": "stopped", "exitstatus": "OK", "starttime": 5})
    assert done.ok and done.starttime == 5
    warn = parse_task_status(UPID, "pve1", {"status": "stopped", "exitstatus": "WARNINGS: 1"})
    assert not warn.ok and not warn.running
    odd = parse_task_status(UPID, "pve1", None)
    assert odd.running and odd.task_type == "qmigrate" == upid_type(UPID)


def test_followup_task_matches_type_vmid_and_time() -> None:
    tasks = [
        {"upid": "old", "type": "qmigrate", "id": "100", "starttime": 50},
        {"upid": "other", "type": "qmigrate", "id": "101", "starttime": 200},
        {"upid": "ct", "type": "vzmigrate", "id": "100", "starttime": 200},
        {"upid": "new", "type": "qmigrate", "id": "100", "starttime": 150},
        "garbage",
    ]
    assert pick_followup_task(tasks, 100, "qmigrate", 100) == "new"
    assert pick_followup_task(tasks, 100, "vzmigrate", 100) == "ct"
    assert pick_followup_task(tasks, 100, "qmigrate", 300) is None
    assert pick_followup_task(None, 100, "qmigrate", 0) is None


def test_precondition_qemu() -> None:
    data = {
        "running": 1,
        "allowed_nodes": ["pve2"],
        "not_allowed_nodes": {"pve2": {}, "pve3": {"unavailable_storages": ["local-zfs"]}},
        "local_disks": [],
        "local_resources": [],
    }
    assert parse_precondition("qemu", "pve2", data, True).allowed
    refused = parse_precondition("qemu", "pve3", data, True)
    assert not refused.allowed and "local-zfs" in refused.reason
    pinned = parse_precondition("qemu", "pve2", {**data, "local_resources": ["hostpci0"]}, True)
    assert not pinned.allowed and "hostpci0" in pinned.reason
    disks = {**data, "local_disks": [{"volid": "x", "cdrom": 0, "is_unused": 0}]}
    assert parse_precondition("qemu", "pve2", disks, True).allowed
    assert not parse_precondition("qemu", "pve2", disks, False).allowed


def test_precondition_lxc_uses_hyphens() -> None:
    data = {"running": 1, "allowed-nodes": ["pve1"], "not-allowed-nodes": {}}
    assert parse_precondition("lxc", "pve1", data, True).allowed
    assert not parse_precondition("lxc", "pve9", data, True).allowed
    assert parse_precondition("lxc", "pve9", "odd", True).allowed


def test_versions_and_permissions() -> None:
    assert parse_version({"version": "9.2.11"}) == (9, 2, 11)
    assert parse_version({"version": "8.4"}) == (8, 4, 0)
    assert parse_version({"version": "fake"}) is None
    assert parse_version(None) is None
    perms = {"/": {"Sys.Audit": 1, "VM.Audit": 1}, "/vms": {"VM.Migrate": 0}}
    assert missing_privileges(perms) == ("Datastore.Audit",)
    assert missing_privileges("odd") == ("Datastore.Audit", "Sys.Audit", "VM.Audit", "VM.Migrate")
