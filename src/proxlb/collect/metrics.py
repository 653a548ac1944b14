"""Parse node RRD rows and guest PSI; smooth guest CPU. Pure.

Averages are taken only over rows that carry the key (PVE omits undefined values, so leading
rows hold only `time`): a missing sample never counts as 0. CPU is expressed in milli-cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from proxlb.collect.raw import RawObject, as_float, objects
from proxlb.collect.resources import milli
from proxlb.domain import Pressure, PressureSet, VmId

SPIKE_ROWS = 6  # upstream's "spikes" window: the last six MAX rows (six minutes at hour resolution)

# PSI keys as PVE names them; nodes have no pressurecpufull.
_PSI_KEYS = {
    ("cpu", "some"): "pressurecpusome",
    ("cpu", "full"): "pressurecpufull",
    ("memory", "some"): "pressurememorysome",
    ("memory", "full"): "pressurememoryfull",
    ("io", "some"): "pressureiosome",
    ("io", "full"): "pressureiofull",
}


@dataclass(frozen=True)
class NodeRrd:
    """What one node's hour of AVERAGE rows says. cpu_milli is None when no row had cpu."""

    cpu_milli: int | None
    pressure: PressureSet


def _values(rows: Sequence[RawObject], key: str) -> list[float]:
    values: list[float] = []
    for row in rows:
        value = as_float(row.get(key))
        if value is not None:
            values.append(value)
    return values


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def parse_node_rrd(
    data: object, maxcpu_cores: float, warnings: list[str] | None = None, node: str = "?"
) -> NodeRrd:
    """Node `rrddata?cf=AVERAGE` rows → mean cpu cores (row cpu × row maxcpu) and mean PSI.

    A row whose cpu is not a fraction 0-1 (RRD's -1 for "unknown", 1e308, Infinity) is skipped;
    one warning per node says how many were.
    """
    rows = list(objects(data))
    cores: list[float] = []
    skipped: list[str] = []
    for row in rows:
        cpu = as_float(row.get("cpu"))
        if cpu is None or not 0.0 <= cpu <= 1.0:
            raw = row.get("cpu")
            if raw is not None:
                skipped.append(str(raw)[:40])
            continue
        row_max = as_float(row.get("maxcpu"))
        cores.append(max(cpu, 0.0) * (row_max if row_max and row_max > 0 else maxcpu_cores))
    if skipped and warnings is not None:
        warnings.append(
            f"/nodes/{node}/rrddata: {len(skipped)} row(s) with cpu out of range 0-1 "
            f"(e.g. {skipped[0]}) skipped"
        )
    mean_cores = _mean(cores)
    return NodeRrd(
        cpu_milli=milli(mean_cores) if mean_cores is not None else None,
        pressure=_pressure_from_rows(rows, spike_rows=()),
    )


def _pressure_from_rows(rows: Sequence[RawObject], spike_rows: Sequence[RawObject]) -> PressureSet:
    known = False
    parts: dict[str, Pressure] = {}
    for resource in ("cpu", "memory", "io"):
        numbers: dict[str, float] = {}
        for level in ("some", "full"):
            key = _PSI_KEYS[(resource, level)]
            mean = _mean(_values(rows, key))
            spikes = _values(spike_rows, key)[-SPIKE_ROWS:]
            known = known or mean is not None or bool(spikes)
            numbers[level] = mean or 0.0
            numbers[f"{level}_spike"] = max(spikes) if spikes else 0.0
        parts[resource] = Pressure(
            numbers["some"], numbers["full"], numbers["some_spike"], numbers["full_spike"]
        )
    return PressureSet(cpu=parts["cpu"], memory=parts["memory"], io=parts["io"], known=known)


def node_pressure(average_rows: object, max_rows: object) -> PressureSet:
    """Node PSI: means of the AVERAGE rows, spikes = max of the last six MAX rows having the key."""
    return _pressure_from_rows(list(objects(average_rows)), list(objects(max_rows)))


def guest_pressures(data: object) -> dict[VmId, PressureSet]:
    """`/nodes/{n}/qemu` or `/lxc` list → PSI per running guest (LXC values may be strings).

    These are instant avg10 values, so spikes equal the values themselves.
    """
    result: dict[VmId, PressureSet] = {}
    for entry in objects(data):
        vmid_value = as_float(entry.get("vmid"))
        if vmid_value is None or not vmid_value.is_integer():
            continue
        pressure = _pressure_from_rows([entry], spike_rows=[entry])
        if pressure.known:
            result[VmId(int(vmid_value))] = pressure
    return result


def smooth_cpu(previous_milli: float | None, current_milli: int, alpha: float) -> int:
    """Exponentially weighted moving average of CPU use: alpha × current + (1 − alpha) × previous.

    alpha in (0, 1]; 1 means no smoothing. Without history the current sample is returned.
    """
    if previous_milli is None or previous_milli < 0:
        return current_milli
    weight = min(max(alpha, 0.0), 1.0)
    return round(weight * current_milli + (1.0 - weight) * previous_milli)
