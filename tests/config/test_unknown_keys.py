"""A typo is never silently ignored: each unknown key is a warning with its path and a suggestion."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from proxlb.config import LoadedConfig
from proxlb.config.unknown import unknown_key_warnings
from proxlb.errors import ConfigError

from .conftest import MINIMAL

Load = Callable[..., LoadedConfig]


def test_brief_example(load: Load) -> None:
    loaded = load(MINIMAL + "balancing:\n  balanciness_: 3\nservice: {lenient_config: true}\n")
    assert loaded.warnings == (
        "unknown key 'balancing.balanciness_' ignored — did you mean 'balancing.balanciness'?",
    )
    assert loaded.config.balancing.balanciness == 10


@pytest.mark.parametrize(
    ("raw", "path", "suggestion"),
    [
        ({"balancing": {"methd": "cpu"}}, "balancing.methd", "balancing.method"),
        (
            {"balancing": {"pools": {"dev": {"types": "affinity"}}}},
            "balancing.pools.dev.types",
            "balancing.pools.dev.type",
        ),
        ({"balancing": {"psi": {"gests": {}}}}, "balancing.psi.gests", "balancing.psi.guests"),
        ({"balancing": {"Enable": True}}, "balancing.Enable", "balancing.enable"),
        ({"balancing": {"max-migrations": 3}}, "balancing.max-migrations", "balancing.max_migrations"),
        ({"proxmox_api": {"username": "x"}}, "proxmox_api.username", "proxmox_api.user"),
        ({"proxmox_api": {"ssl_verify": False}}, "proxmox_api.ssl_verify", "proxmox_api.ssl_verification"),
        # upstream's docs put ignore_nodes under proxmox_api: point to the right section
        ({"proxmox_api": {"ignore_nodes": []}}, "proxmox_api.ignore_nodes", "proxmox_cluster.ignore_nodes"),
        ({"maintenance_nodes": []}, "maintenance_nodes", "proxmox_cluster.maintenance_nodes"),
        (
            {"proxmox_cluster": {"maintenance_nodes_schedule": {"pre_migrations": 5}}},
            "proxmox_cluster.maintenance_nodes_schedule.pre_migrations",
            "proxmox_cluster.maintenance_nodes_schedule.pre-migration",
        ),
        ({"servce": {}}, "servce", "service"),
        (
            {"service": {"schedule": {"intervall": 3}}},
            "service.schedule.intervall",
            "service.schedule.interval",
        ),
        ({"solver": {"timeout": 3}}, "solver.timeout", "solver.timeout_seconds"),
        # #20 item 5: the same key under another section wins over a look-alike here (was ignore_guests)
        ({"balancing": {"ignore_nodes": []}}, "balancing.ignore_nodes", "proxmox_cluster.ignore_nodes"),
    ],
)
def test_suggestions(raw: dict[str, object], path: str, suggestion: str) -> None:
    assert unknown_key_warnings(raw) == [f"unknown key '{path}' ignored — did you mean '{suggestion}'?"]


def test_no_close_match_lists_valid_keys() -> None:
    [warning] = unknown_key_warnings({"zzz": 1})
    assert warning.startswith("unknown key 'zzz' ignored (valid keys here: proxmox_api, proxmox_cluster")


def test_free_form_names_are_not_checked() -> None:
    raw = {
        "balancing": {"pools": {"anything": {"type": "affinity"}}, "node_resource_reserve": {"pve9": {}}},
        "proxmox_cluster": {"maintenance_nodes_schedule": {"schedules": {"pveX": ["Monday, 8:00"]}}},
    }
    assert unknown_key_warnings(raw) == []


def test_known_spellings_are_not_warned() -> None:
    raw = {
        "proxmox_api": {"user": "u", "pass": "p", "password": "p", "token_secret_file": "/x"},
        "proxmox_cluster": {"maintenance_nodes_schedule": {"pre-migration": 1, "pre_migration": 1}},
    }
    assert unknown_key_warnings(raw) == []


def test_odd_values_do_not_crash_the_walker() -> None:
    raw = {"balancing": "not a mapping", "service": {"schedule": None}, 3: 4}
    assert unknown_key_warnings(raw) == [
        "unknown key '3' ignored (valid keys here: proxmox_api, proxmox_cluster, balancing, service, solver)"
    ]


def test_unknown_key_warnings_accompany_errors(load: Load) -> None:
    # `username:` instead of `user:` — the error says user is missing, the warning says why
    text = "proxmox_api:\n  hosts: [pve1]\n  username: proxlb@pve\n  token_id: t\n  token_secret: s\n"
    with pytest.raises(ConfigError) as info:
        load(text + "service: {lenient_config: true}\n")
    assert info.value.problems == ("proxmox_api.user: required key is missing",)
    assert "did you mean 'proxmox_api.user'" in str(info.value)
