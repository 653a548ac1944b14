"""Upstream ProxLB 2.3.0, unmodified, against our simulator (skipped without `.venv-upstream`).

Proof of fidelity: if the simulator were not PVE-shaped (paths, envelope, types, UPIDs, task
life cycle, HA follow-up), upstream would crash or never see its migrations land.
"""

from __future__ import annotations

import pytest
from benchmarks.upstream_harness import run_upstream, upstream_available, upstream_config

from proxlb_sim.testing import SimInfo, running_simulator

pytestmark = [
    pytest.mark.upstream,
    pytest.mark.skipif(not upstream_available(), reason="upstream ProxLB venv absent (make upstream-env)"),
]


def _config(sim: SimInfo, password: bool = False) -> dict[str, object]:
    secret = sim.password if password else None
    return upstream_config(sim.host, sim.port, sim.token_id, sim.token_secret, password=secret)


def test_upstream_dry_run_json_reads_our_cluster() -> None:
    with running_simulator("demo", time_scale=0.0) as sim:
        sim.admin.clear_requests()
        run = run_upstream(_config(sim), sim.ca_file, "-d", "-j")
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert run.document is not None
        assert {"nodes", "guests", "groups", "pools", "ha_rules"} <= run.document.keys()
        assert set(run.document["nodes"]) == set(sim.admin.state()["nodes"])
        running = [v for v, g in sim.admin.state()["guests"].items() if g["status"] == "running"]
        assert len(run.document["guests"]) >= len(running) - 2  # upstream keys by name; demo names are unique
        assert sim.admin.writes() == [], "upstream's dry run must not write"
        assert all(e["status"] < 400 for e in sim.admin.requests()), "upstream met an API error"
        paths = {r["path"] for r in sim.admin.requests()}
        assert "/access/permissions" in paths and "/nodes" in paths


def test_upstream_real_run_migrations_land() -> None:
    """Password (ticket + CSRF) auth this time; the moves must show in the simulator's state."""
    with running_simulator("demo", time_scale=200.0) as sim:
        before = {int(v): str(g["node"]) for v, g in sim.admin.state()["guests"].items()}
        run = run_upstream(_config(sim, password=True), sim.ca_file, "-j", timeout=900)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        assert run.document is not None
        planned = {
            g["id"]: g["node_target"]
            for g in run.document["guests"].values()
            if g["node_target"] != g["node_current"]
        }
        assert planned, "upstream found nothing to do on the unbalanced demo cluster"
        posts = [w for w in sim.admin.writes() if w["path"].endswith("/migrate")]
        assert posts, "upstream sent no migration"
        after = {int(v): str(g["node"]) for v, g in sim.admin.state()["guests"].items()}
        moved = {v: n for v, n in after.items() if before.get(v) != n}
        assert moved, "no migration landed in the simulator"
        for vmid in moved:
            assert planned.get(vmid) == after[vmid]
        assert all(e["status"] < 400 for e in sim.admin.requests()), "upstream met an API error"
        assert sim.admin.state()["running_tasks"] == []
