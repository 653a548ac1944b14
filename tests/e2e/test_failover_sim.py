"""Failover headroom against the simulator's own HA recovery (proxlb_sim.ha_recovery).

The simulator kills each node in turn, fences it and recovers its HA guests as PVE's CRM does;
these tests compare that outcome with ProxLB's prediction (report mode) and check that after a
`require` plan every single failure restarts every HA guest without overfilling a survivor.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.collect.snapshot import collect_snapshot
from proxlb.config.model import ProxlbConfig
from proxlb.domain import Plan
from proxlb.planning.cycle import plan_cycle
from proxlb.planning.failover import ClusterView, predict
from proxlb.planning.policy import policy_from_config
from proxlb.planning.problem import PlanningProblem
from proxlb.rules.derive import derive_constraints
from proxlb_sim.cluster import SimCluster
from proxlb_sim.ha_recovery import fail_node
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario
from proxlb_sim.testing import running_simulator
from tests.e2e.conftest import run_cli, write_config

G = 2**30


def scenario(crs: str = "basic") -> dict[str, Any]:
    nodes = [
        {"type": "node", "node": f"pve{i}", "maxcpu": 16, "cpu": 0.0, "maxmem": "64G", "mem": "1G"}
        for i in (1, 2, 3)
    ]
    guests = [
        {"type": "qemu", "vmid": 100, "node": "pve1", "maxcpu": 4, "cpu": 0.1, "maxmem": "24G", "mem": "24G"},
        {"type": "qemu", "vmid": 101, "node": "pve1", "maxcpu": 4, "cpu": 0.1, "maxmem": "16G", "mem": "16G"},
    ]
    ha = []
    for node, base in (("pve2", 200), ("pve3", 300)):
        for i in range(4):
            guests.append(
                {
                    "type": "qemu",
                    "vmid": base + i,
                    "node": node,
                    "maxcpu": 2,
                    "cpu": 0.1,
                    "maxmem": "8G",
                    "mem": "8G",
                }
            )
            ha.append({"sid": f"vm:{base + i}"})
    return {
        "resources": nodes + guests,
        "ha": {"resources": ha},
        "options": {"crs": {"ha": crs}},
        "sim": {"noise": 0, "drift": 0},
    }


def config(mode: str) -> ProxlbConfig:
    return ProxlbConfig.model_validate(
        {
            "proxmox_api": {"hosts": ["127.0.0.1"], "user": "root@pam", "pass": "x"},
            "balancing": {
                "balanciness": 60,
                "balance_types": ["vm", "ct"],
                "failover_headroom": {"mode": mode},
            },
        }
    )


def fresh(raw: dict[str, Any]) -> SimCluster:
    return SimCluster.from_scenario(parse_scenario(raw), time_scale=0)


def plan_for(cluster: SimCluster, cfg: ProxlbConfig) -> tuple[PlanningProblem, Plan]:
    api = InProcessApi(cluster)
    snap = collect_snapshot(api, cfg, now=cluster.clock.now())
    pb = PlanningProblem(
        snap, derive_constraints(snap, cfg, frozenset()), policy_from_config(cfg), now=snap.taken_at
    )
    return pb, plan_cycle(pb)


def apply(cluster: SimCluster, plan: Plan) -> None:
    """Run the plan's migrations through the simulator's API, as the executor would."""
    api = InProcessApi(cluster)
    for m in plan.migrations:
        if m.ha_managed:
            api.post(f"/cluster/ha/resources/vm:{m.vmid}/migrate", node=m.target)
        else:
            api.post(
                f"/nodes/{m.source}/qemu/{m.vmid}/migrate",
                target=m.target,
                online=1,
                **{"with-local-disks": 1},
            )
    api.advance(3600)
    api.get("/cluster/resources")  # the simulation catches up on the next request
    for m in plan.migrations:
        assert cluster.guests[m.vmid].node == m.target


def survivors_memory(cluster: SimCluster) -> dict[str, int]:
    """Each online node's memory as the simulator models it (base + its running guests), uncapped."""
    t = cluster.clock.now()
    sample = cluster.sample(t).guest
    mem = {n: node.base_mem for n, node in cluster.nodes.items() if node.online}
    for g in cluster.guests.values():
        if g.node in mem and g.running:
            mem[g.node] += sample[g.vmid][1]
    return mem


def kill_each_node(raw: dict[str, Any], plan: Plan | None) -> dict[str, tuple[dict[str, int], list[int]]]:
    """node → (survivors' memory after the simulator's recovery, HA guests left down)."""
    out = {}
    for victim in ("pve1", "pve2", "pve3"):
        cluster = fresh(raw)
        if plan is not None:
            apply(cluster, plan)
        with cluster.lock:
            fail_node(cluster, victim, cluster.clock.now())
            down = [
                g.vmid
                for g in cluster.guests.values()
                if g.sid in cluster.ha_resources and (not g.running or not cluster.nodes[g.node].online)
            ]
            out[victim] = (survivors_memory(cluster), down)
    return out


@pytest.mark.parametrize("crs", ["basic", "static", "dynamic"])
def test_report_mode_predicts_the_simulated_recovery_within_one_point(crs: str) -> None:
    raw = scenario(crs)
    pb, plan = plan_for(fresh(raw), config("report"))
    assert not plan.migrations  # report mode changes nothing
    snap = pb.snapshot
    view = ClusterView(
        snap,
        {g.vmid: g.node for g in snap.guests},
        {n.name: n.usage.mem_bytes for n in snap.nodes},
        {n.name: n.capacity.mem_bytes for n in snap.nodes},
        {g.vmid: g.usage.mem_bytes for g in snap.guests},
    )
    predicted = predict(view)
    assert predicted.scheduler == crs
    for victim, (memory, _) in kill_each_node(raw, None).items():
        outcome = predicted.failure(victim)
        assert outcome is not None
        for s in outcome.survivors:
            simulated = 100.0 * memory[s.node] / (64 * G)
            assert abs(s.percent - simulated) <= 1.0, (victim, s.node, s.percent, simulated)


def test_require_mode_plan_survives_the_loss_of_any_single_node() -> None:
    raw = scenario("basic")
    before = kill_each_node(raw, None)
    assert any(max(mem.values()) > 64 * G for mem, _ in before.values())  # one failure overfills a survivor
    _, plan = plan_for(fresh(raw), config("require"))
    assert plan.migrations
    for victim, (memory, down) in kill_each_node(raw, plan).items():
        assert down == [], victim
        assert max(memory.values()) <= 64 * G, (victim, memory)


def test_failover_command_prints_the_table_now_and_after_the_plan(tmp_path: Path) -> None:
    path = tmp_path / "headroom.yaml"
    path.write_text(yaml.safe_dump(scenario("basic")))
    with running_simulator(str(path), time_scale=0.0) as sim:
        balancing = {"balanciness": 60, "balance_types": ["vm"], "failover_headroom": {"mode": "require"}}
        cfg = write_config(tmp_path, sim, balancing=balancing)
        text = run_cli("-c", str(cfg), "failover")
        assert text.returncode == 0, text.stderr
        assert "NOT every failure fits" in text.stdout and "every single failure fits" in text.stdout
        doc = json.loads(run_cli("-c", str(cfg), "failover", "--json").stdout)
        html, prom = tmp_path / "report.html", tmp_path / "proxlb.prom"
        made = run_cli("-c", str(cfg), "report", "-o", str(html), "--metrics-file", str(prom))
        assert made.returncode == 0, made.stderr
    page = html.read_text()
    assert '<table id="failover">' in page and "every single failure fits after the plan" in page
    metrics = prom.read_text()
    assert 'proxlb_failover_guests_without_room{failure="pve2",when="now"} 1.0' in metrics
    assert 'proxlb_failover_guests_without_room{failure="pve2",when="planned"} 0.0' in metrics
    short = re.search(r'proxlb_failover_headroom_bytes\{failure="pve2",when="now"\} (\S+)', metrics)
    assert short is not None and float(short.group(1)) < 0  # short of memory now
    assert doc["mode"] == "require" and doc["scheduler"] == "basic"
    assert not doc["now"]["all_fit"] and doc["after_plan"]["all_fit"]
    pve2 = next(f for f in doc["now"]["failures"] if f["failure"] == "pve2")
    assert pve2["restarted"] == 4 and pve2["not_fitting"] == [203] and pve2["peak_node"] == "pve1"
