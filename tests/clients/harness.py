"""Shared pieces of the third-party client checks: where each client's virtualenv lives, a scenario
that exercises every endpoint they read (demo plus subscription, replication, backup, content and
access sections), and helpers to run a client process against a simulator on 127.0.0.1.

The client virtualenvs are built by `make client-envs` (part of `make test`, best effort) under
`.venv-clients/<package>/` (stamp `.installed-<version>`); `PROXLB_CLIENTS_DIR` points elsewhere.
A missing one skips its tests.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb_sim.scenario import Scenario, bundled_scenarios, parse_scenario

ROOT = Path(__file__).resolve().parents[2]
CLIENTS_DIR = Path(os.environ.get("PROXLB_CLIENTS_DIR", ROOT / ".venv-clients"))
PINS = {"prometheus-pve-exporter": "3.10.2", "pvecontrol": "0.8.0"}

BACKUP_EXCLUDED = (124, 9000)
REPLICATED_GUEST = 105  # app02 on pve1, the node that answers the API (the exporter reads only that one)


def client_executable(package: str, executable: str) -> Path:
    """The client's console script in its own virtualenv, or skip the test with the reason."""
    venv = CLIENTS_DIR / package
    exe = venv / "bin" / executable
    if not (venv / f".installed-{PINS[package]}").exists() or not exe.exists():
        pytest.skip(
            f"{package}=={PINS[package]} virtualenv absent ({venv}); `make client-envs` builds it "
            "(best effort: it needs PyPI)"
        )
    return exe


def client_raw_scenario(resource_affinity: bool = False) -> dict[str, Any]:
    """The bundled demo with every optional section the clients read filled in."""
    raw: dict[str, Any] = yaml.safe_load(bundled_scenarios()["demo"].read_text(encoding="utf-8"))
    raw["subscription"] = {"status": "active", "level": "c", "nextduedate": "2027-06-30"}
    raw["replication"] = [{"guest": REPLICATED_GUEST, "target": "pve3", "schedule": "*/15"}]
    raw["backup"] = {
        "jobs": [
            {
                "id": "backup-nightly",
                "all": 1,
                "exclude": ",".join(str(v) for v in BACKUP_EXCLUDED),
                "storage": "local",
                "schedule": "21:00",
            }
        ]
    }
    raw["content"] = {
        "iso": ["debian-13.1.0-amd64-netinst.iso"],
        "vztmpl": ["debian-13-standard_13.1-2_amd64.tar.zst"],
    }
    raw["auth"] = {
        "users": [
            {"userid": "ops@pve", "password": "ops-secret", "firstname": "Ops", "email": "ops@example.com"}
        ],
        "groups": [{"groupid": "admins", "comment": "cluster admins", "members": ["ops@pve"]}],
        "acl": [{"path": "/", "ugid": "admins", "roleid": "PVEAdmin"}],
    }
    rules: list[dict[str, Any]] = [
        {
            "rule": "app-prefer",
            "type": "node-affinity",
            "resources": "vm:104",
            "nodes": "pve1,pve2",
            "strict": 0,
        }
    ]
    if resource_affinity:
        raw["ha"]["resources"].append({"sid": "vm:105", "state": "started"})
        rules.append(
            {
                "rule": "apps-apart",
                "type": "resource-affinity",
                "resources": "vm:104,vm:105",
                "affinity": "negative",
            }
        )
    raw["ha"]["rules"] = rules
    return raw


def client_scenario(resource_affinity: bool = False) -> Scenario:
    return parse_scenario(client_raw_scenario(resource_affinity), source="client-checks")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client_env(home: Path, ca_file: str | None = None) -> dict[str, str]:
    """A clean environment: own HOME (no user config is read), no proxy, the CA if asked for."""
    env = {
        k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy") and k != "REQUESTS_CA_BUNDLE"
    }
    env.update(HOME=str(home), TERM="dumb", NO_PROXY="127.0.0.1,::1,localhost", PYTHONIOENCODING="utf-8")
    if ca_file:
        env["REQUESTS_CA_BUNDLE"] = ca_file
    return env
