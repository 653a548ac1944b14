"""Metrics over virtual time: seeded determinism, movement, RRD shapes and consistency with current values."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.metrics import unit_noise
from proxlb_sim.scenario import parse_scenario
from tests.sim.conftest import small_scenario

NODE_PVE9 = {
    "time",
    "loadavg",
    "maxcpu",
    "cpu",
    "iowait",
    "memtotal",
    "memused",
    "swaptotal",
    "swapused",
    "roottotal",
    "rootused",
    "netin",
    "netout",
    "memavailable",
    "arcsize",
    "pressurecpusome",
    "pressureiosome",
    "pressureiofull",
    "pressurememorysome",
    "pressurememoryfull",
}
NODE_PVE8 = NODE_PVE9 - {
    "memavailable",
    "arcsize",
    "pressurecpusome",
    "pressureiosome",
    "pressureiofull",
    "pressurememorysome",
    "pressurememoryfull",
}
VM_PVE9 = {
    "time",
    "maxcpu",
    "cpu",
    "maxmem",
    "mem",
    "maxdisk",
    "disk",
    "netin",
    "netout",
    "diskread",
    "diskwrite",
    "memhost",
    "pressurecpusome",
    "pressurecpufull",
    "pressureiosome",
    "pressureiofull",
    "pressurememorysome",
    "pressurememoryfull",
}


def make(seed: int, start: float = 1_800_000_000.0) -> InProcessApi:
    raw = small_scenario()
    raw["sim"] = {**raw["sim"], "start_time": start}
    return InProcessApi(SimCluster.from_scenario(parse_scenario(raw), seed=seed, time_scale=0))


def guest_values(api: InProcessApi) -> list[tuple[int, float, int]]:
    return [(g["vmid"], g["cpu"], g["mem"]) for g in api.get("/cluster/resources", type="vm")]


def test_same_seed_and_time_give_the_same_values() -> None:
    first, second = make(1), make(1)
    first.advance(3600)
    second.advance(3600)
    assert guest_values(first) == guest_values(second)
    assert first.get("/nodes/pve1/rrddata", timeframe="hour") == second.get(
        "/nodes/pve1/rrddata", timeframe="hour"
    )


def test_other_seed_or_later_time_changes_values() -> None:
    base, other = make(1), make(2)
    assert guest_values(base) != guest_values(other)
    before = guest_values(base)
    base.advance(600)
    assert guest_values(base) != before


@given(st.integers(0, 2**32), st.integers(0, 10**9), st.integers(0, 10**9))
@settings(max_examples=200, deadline=None)
def test_unit_noise_stays_in_range(seed: int, key: int, bucket: int) -> None:
    assert -1.0 <= unit_noise(seed, key, bucket) < 1.0


def test_values_stay_within_physical_bounds() -> None:
    api = make(9)
    for _ in range(20):
        api.advance(997)
        for g in api.get("/cluster/resources", type="vm"):
            if g["status"] == "running":
                assert 0 <= g["cpu"] <= 1 and 0 <= g["mem"] <= g["maxmem"]
        for n in api.get("/nodes"):
            assert 0 <= n["cpu"] <= 1 and 0 <= n["mem"] <= n["maxmem"]


def test_node_rrd_names_and_rows_per_version() -> None:
    api = make(1)
    hour = api.get("/nodes/pve1/rrddata", timeframe="hour", cf="AVERAGE")
    assert len(hour) == 60 and set(hour[-1]) == NODE_PVE9
    assert all(row["time"] % 60 == 0 for row in hour)
    assert "pressurecpufull" not in hour[-1]
    assert len(api.get("/nodes/pve1/rrddata", timeframe="day")) == 1440
    assert len(api.get("/nodes/pve1/rrddata", timeframe="week")) == 336
    old = api.get("/nodes/pve3/rrddata", timeframe="hour", cf="MAX")
    assert set(old[-1]) == NODE_PVE8
    assert len(api.get("/nodes/pve3/rrddata", timeframe="day")) == 70


def test_guest_rrd_names_max_and_stopped_rows() -> None:
    api = make(1)
    avg = api.get("/nodes/pve1/qemu/100/rrddata", timeframe="hour", cf="AVERAGE")
    peak = api.get("/nodes/pve1/qemu/100/rrddata", timeframe="hour", cf="MAX")
    assert set(avg[-1]) == VM_PVE9
    assert all(p["cpu"] >= a["cpu"] for p, a in zip(peak, avg, strict=True))
    stopped = api.get("/nodes/pve2/qemu/103/rrddata", timeframe="hour")
    assert set(stopped[-1]) == {"time", "maxcpu", "maxmem", "maxdisk", "disk"}
    # PVE answers guest rrddata under either type and does not check the node
    assert api.get("/nodes/pve2/lxc/100/rrddata", timeframe="hour") == avg


def test_rrd_history_agrees_with_current_values() -> None:
    api = make(4)
    current = next(g for g in api.get("/cluster/resources", type="vm") if g["vmid"] == 100)
    rows = api.get("/nodes/pve1/qemu/100/rrddata", timeframe="hour")
    mean_cpu = sum(r["cpu"] for r in rows) / len(rows)
    assert abs(mean_cpu - current["cpu"]) < 0.15
    node = next(n for n in api.get("/nodes") if n["node"] == "pve1")
    node_rows = api.get("/nodes/pve1/rrddata", timeframe="hour")
    assert abs(node_rows[-1]["memused"] - node["mem"]) / node["mem"] < 0.1
    assert abs(node_rows[-1]["cpu"] - node["cpu"]) < 0.1


def test_guest_lists_carry_psi_only_on_pve9() -> None:
    api = make(1)
    vm = api.get("/nodes/pve1/qemu")[0]
    assert isinstance(vm["pressurecpusome"], float) and "memhost" in vm
    ct = api.get("/nodes/pve1/lxc")[0]
    assert isinstance(ct["pressureiosome"], str)  # LXC leaves PSI as strings
