"""Parity sweep (#18): every GET path Proxmox VE documents for the objects the simulator models
answers non-501 with the documented return type.

The paths come from `pve_get_paths.json` (the pve-docs API schema subset in
`../shared/reference/pve-api-schema-subset.json` plus paths derived from the proxmox/* sources, each
with its source file). When the schema subset is present beside the checkout (CI has `../shared`;
`PROXLB_SHARED_DIR` points elsewhere) the test also checks that every GET path it documents is in the
list with the same type, so the list cannot drift from PVE's schema. Paths marked `not_modelled` must
still answer 501 (so docs/simulator.md stays true); they are printed with their reason.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from proxlb.errors import ApiError
from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario
from tests.sim.conftest import small_scenario

ROOT = Path(__file__).resolve().parents[2]
PATHS = json.loads((Path(__file__).with_name("pve_get_paths.json")).read_text())["paths"]
TYPES: dict[str, tuple[type, ...]] = {
    "array": (list,),
    "object": (dict,),
    "string": (str,),
    "integer": (int,),
    "null": (type(None),),
}


def _schema_file() -> Path | None:
    base = os.environ.get("PROXLB_SHARED_DIR")
    candidates = [Path(base)] if base else []
    candidates.append(ROOT.parent / "shared")
    for root in candidates:
        path = root / "reference" / "pve-api-schema-subset.json"
        if path.is_file():
            return path
    return None


def sweep_scenario() -> dict[str, Any]:
    """The small test cluster with every optional object a path can name."""
    raw = small_scenario()
    raw["ha"]["groups"] = [{"group": "prefer-pve1", "nodes": "pve1:2,pve2"}]
    raw["ha"]["rules"] = [
        {"rule": "keep-together", "type": "node-affinity", "resources": "vm:102", "nodes": "pve1"}
    ]
    raw["backup"] = {
        "jobs": [{"id": "backup-nightly", "all": 1, "storage": "local-lvm", "schedule": "21:00"}]
    }
    raw["replication"] = [{"guest": 101, "target": "pve2"}]
    raw["snapshots"] = {100: [{"name": "base"}], 200: [{"name": "base"}]}
    raw["guest_config"][100]["agent"] = "1"
    raw["auth"] = {
        "users": [{"userid": "ops@pve", "tokens": [{"id": "ci", "secret": "x"}]}],
        "groups": [{"groupid": "admins", "members": ["ops@pve"]}],
    }
    raw["pools"] = [{"poolid": "prod"}]
    return raw


def _values(api: InProcessApi) -> dict[str, str]:
    upid = api.get("/nodes/pve1/tasks", limit=1)[0]["upid"]
    return {
        "node": "pve1",
        "upid": upid,
        "poolid": "prod",
        "sid": "vm:102",
        "rule": "keep-together",
        "group": "prefer-pve1",
        "storage": "local-lvm",
        "userid": "ops@pve",
        "tokenid": "ci",
        "groupid": "admins",
        "roleid": "PVEAuditor",
        "realm": "pam",
        "snapname": "base",
        "service": "pveproxy",
        "ipam": "pve",
        "iface": "vmbr0",
    }


def _fill(path: str, values: dict[str, str]) -> str:
    vmid = "200" if "/lxc/" in path else "100"
    job = "101-0" if "replication" in path else "backup-nightly"
    extra = {"vmid": vmid, "id": job}

    def sub(m: re.Match[str]) -> str:
        return extra.get(m.group(1)) or values[m.group(1)]

    return re.sub(r"\{(\w+)\}", sub, path)


def run_sweep(api: InProcessApi) -> tuple[list[str], list[str], list[str]]:
    """(answered, still 501, wrong answers) over the path list."""
    values = _values(api)
    answered, missing, wrong = [], [], []
    for entry in PATHS:
        path = _fill(entry["path"], values)
        try:
            data = api.get(path, **entry.get("params", {}))
        except ApiError as exc:
            if exc.status == 501:
                missing.append(entry["path"])
            else:
                wrong.append(f"{entry['path']}: {exc.status} {exc}")
            continue
        kinds = TYPES[entry.get("wire", entry["returns"])]
        if isinstance(data, kinds) and not isinstance(data, bool):
            answered.append(entry["path"])
        else:
            wrong.append(f"{entry['path']}: {type(data).__name__}, documented {entry['returns']}")
    return answered, missing, wrong


def test_every_documented_get_path_answers_with_its_type(capsys: pytest.CaptureFixture[str]) -> None:
    api = InProcessApi(SimCluster.from_scenario(parse_scenario(sweep_scenario()), seed=3, time_scale=0))
    answered, missing, wrong = run_sweep(api)
    reasons = {e["path"]: e["not_modelled"] for e in PATHS if "not_modelled" in e}
    with capsys.disabled():
        print(f"\nparity sweep: {len(answered)} answered, {len(missing)} still 501 of {len(PATHS)} GET paths")
        for path in missing:
            print(f"  501 {path}: {reasons.get(path, '(no reason recorded)')}")
    assert wrong == []
    assert sorted(missing) == sorted(reasons), "a path answers 501 without a reason, or a reason is stale"


def test_the_list_covers_the_pve_schema_subset() -> None:
    schema = _schema_file()
    if schema is None:
        pytest.skip(
            "../shared/reference/pve-api-schema-subset.json not beside the checkout (PROXLB_SHARED_DIR)"
        )
    documented = json.loads(schema.read_text())["paths"]
    listed = {e["path"]: e["returns"] for e in PATHS}
    for path, methods in documented.items():
        if "GET" in methods:
            assert listed.get(path) == methods["GET"]["returns"].get("type", "null"), path
