"""Migration task logs carry qemu-server style progress lines while bytes flow."""

from __future__ import annotations

import re

from proxlb_sim.cluster import SimCluster
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.scenario import parse_scenario
from tests.sim.conftest import small_scenario
from tests.sim.test_migration import finish, log_lines

MEM = re.compile(r"migration active, transferred ([\d.]+) (\w+) of ([\d.]+) (\w+) VM-state, [\d.]+ \w+/s$")
DISK = re.compile(r"drive-scsi0: transferred ([\d.]+) (\w+) of 16\.0 GiB \(([\d.]+)%\) in (\d+)s$")
UNIT = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def _bytes(number: str, unit: str) -> float:
    return float(number) * UNIT[unit]


def test_live_migration_logs_memory_progress_every_second(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/100/migrate", target="pve2", online=1)
    finish(api, upid)
    lines = log_lines(api, upid)
    progress = [MEM.search(line) for line in lines]
    found = [m for m in progress if m]
    assert len(found) >= 2, lines  # ~4 GiB at 1 GiB/s
    done = [_bytes(m.group(1), m.group(2)) for m in found]
    assert done == sorted(done) and done[0] > 0
    assert all(m.group(3) == found[0].group(3) for m in found)  # the same total on every line
    first = next(i for i, p in enumerate(progress) if p)
    assert "start migrate command" in lines[first - 1]
    assert "average migration speed" in lines[first + len(found)]


def test_local_disk_progress_comes_before_memory(api: InProcessApi) -> None:
    upid = api.post("/nodes/pve1/qemu/101/migrate", target="pve2", online=1, **{"with-local-disks": 1})
    finish(api, upid)
    lines = log_lines(api, upid)
    disk = [i for i, line in enumerate(lines) if DISK.search(line)]
    mem = [i for i, line in enumerate(lines) if MEM.search(line)]
    assert len(disk) >= 20 and mem and max(disk) < min(mem)  # 16 GiB at 512 MiB/s ≈ 32 lines
    percents = [float(DISK.search(lines[i]).group(3)) for i in disk]  # type: ignore[union-attr]
    assert percents == sorted(percents) and percents[-1] <= 100.0


def test_progress_lines_do_not_depend_on_how_often_the_log_is_read() -> None:
    def run(steps: list[float]) -> list[str]:
        raw = small_scenario()
        raw["sim"] = {**raw["sim"], "start_time": 1_800_000_000, "noise": 0}
        api = InProcessApi(SimCluster.from_scenario(parse_scenario(raw), seed=3, time_scale=0))
        upid = api.post("/nodes/pve1/qemu/101/migrate", target="pve2", online=1, **{"with-local-disks": 1})
        for step in steps:
            api.advance(step)
            log_lines(api, upid)
        api.advance(600 - sum(steps))
        return log_lines(api, upid)

    assert run([0.3, 2.9, 0.05, 7.7, 11.0]) == run([])
