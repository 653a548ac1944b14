"""Build one `ClusterSnapshot` from the PVE API with a number of requests that grows with nodes.

Requests per cycle (N = online, not ignored nodes):
  4 cluster-wide (resources, status, HA status, HA manager status)
  + when some guest is locked `migrate`: 1 (cluster task list) + 1 task log per such guest
  + when some guest is an HA resource: 1 on PVE 9 everywhere (HA rules) or 2 otherwise
    (HA groups, HA resources); HA rules can only name HA resources, so without any none is read;
    + 1 (`/cluster/options`, the CRS mode failover prediction follows) and, only while PVE 9.2's
    auto-rebalance is on, + 2 (`/cluster/ha/resources`: each resource's `auto-rebalance` flag;
    `/cluster/tasks`: guests migrated lately, by PVE too, which the cooldown then covers)
  + N × 2 (version, rrddata AVERAGE), + N × 3 more in psi mode (rrddata MAX, qemu list, lxc list).
Guest counts never add requests. Independent requests run concurrently (at most 8 at a time).
`/storage` (which storages are shared) is read by `enrich_guests`, which alone needs it.

Invariants: only a failing or unreadable `/cluster/resources` raises (`ApiError`: an answer that
is not a list naming at least one node is never "an empty cluster"); every other failure or odd
answer degrades with a warning that is logged once and kept in `snapshot.warnings`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from proxlb.collect.crs import parse_auto_rebalance_off, parse_crs, parse_recent_migrations
from proxlb.collect.fetch import MAX_CONCURRENT_REQUESTS, Answer, Request, fetch_all
from proxlb.collect.ha import (
    maintenance_nodes_from_status,
    parse_ha_group_membership,
    parse_ha_groups,
    parse_ha_rules,
    parse_manager_status,
    rules_from_groups,
)
from proxlb.collect.inflight import with_inflight
from proxlb.collect.metrics import guest_pressures, node_pressure, parse_node_rrd, smooth_cpu
from proxlb.collect.port import ApiReader
from proxlb.collect.raw import as_object, parse_pve_version
from proxlb.collect.resources import parse_cluster_status, parse_resources
from proxlb.config.enums import BalanceMode
from proxlb.config.model import ProxlbConfig
from proxlb.domain import ClusterSnapshot, CrsOptions, Guest, HaGroup, HaRule, Node, PressureSet, VmId
from proxlb.errors import ApiError

log = logging.getLogger(__name__)

CPU_SMOOTHING_ALPHA = 0.5  # weight of the newest guest CPU sample when a history is given


@dataclass(frozen=True)
class CollectSettings:
    """What collecting needs from the configuration."""

    ignore_nodes: frozenset[str] = frozenset()
    psi: bool = False  # balancing.mode == psi: also fetch MAX rows and guest PSI
    cpu_smoothing_alpha: float = CPU_SMOOTHING_ALPHA
    max_workers: int = MAX_CONCURRENT_REQUESTS


def collect_with_settings(
    reader: ApiReader,
    settings: CollectSettings,
    now: float,
    cpu_history: Mapping[VmId, float] | None = None,
) -> ClusterSnapshot:
    """Read the cluster once and return the snapshot (see the module docstring for the request plan)."""
    warnings: list[str] = []
    cluster_wide = fetch_all(
        reader,
        [
            Request("/cluster/resources"),
            Request("/cluster/status"),
            Request("/cluster/ha/status/current"),
            Request("/cluster/ha/status/manager_status"),
        ],
        settings.max_workers,
    )
    resources_answer, status_answer, ha_status_answer, manager_answer = cluster_wide
    if resources_answer.error is not None:
        raise resources_answer.error
    if not isinstance(resources_answer.data, list) or not any(
        isinstance(e, dict) and e.get("type") == "node" for e in resources_answer.data
    ):  # PVE always lists at least its own node: this is not an empty cluster, it is unreadable
        what = "no list" if not isinstance(resources_answer.data, list) else "a list without any node"
        raise ApiError(f"unreadable answer to GET /cluster/resources: {what}", 0, "/cluster/resources")
    parsed = parse_resources(resources_answer.data, settings.ignore_nodes, warnings)
    if parsed.ignored_guests:
        log.info("%d guests on ignored nodes are left out", parsed.ignored_guests)
    status = parse_cluster_status(_data(status_answer, warnings), warnings)
    ha_status = _shaped("/cluster/ha/status/current", _data(ha_status_answer, warnings), list, warnings)
    lrm_maintenance = maintenance_nodes_from_status(ha_status)
    manager = _shaped("/cluster/ha/status/manager_status", _data(manager_answer, warnings), dict, warnings)
    master, crm_maintenance = parse_manager_status(manager)

    nodes, guest_psi = _with_node_metrics(reader, parsed.nodes, settings, warnings)
    nodes = tuple(
        replace(n, ha_maintenance=True) if n.name in lrm_maintenance | crm_maintenance else n for n in nodes
    )
    guests = with_inflight(reader, parsed.guests, frozenset(n.name for n in nodes), warnings)
    if guest_psi:
        guests = tuple(replace(g, pressure=guest_psi[g.vmid]) if g.vmid in guest_psi else g for g in guests)
    if cpu_history is not None:
        guests = _smoothed(guests, cpu_history, settings.cpu_smoothing_alpha)
    ha_rules: tuple[HaRule, ...] = ()
    ha_groups: tuple[HaGroup, ...] = ()
    group_of: dict[VmId, str] = {}
    crs = CrsOptions()
    auto_off: frozenset[VmId] = frozenset()
    migrated: dict[VmId, float] = {}
    if any(g.ha_state is not None for g in guests):
        ha_rules, ha_groups, group_of = _ha_configuration(reader, nodes, settings, warnings)
        crs, auto_off, migrated = _crs_options(reader, warnings)

    for warning in warnings:
        log.warning("%s", warning)
    return ClusterSnapshot(
        taken_at=now,
        nodes=nodes,
        guests=guests,
        pools=parsed.pools,
        ha_rules=ha_rules,
        ha_groups=ha_groups,
        ha_group_of=group_of,
        ha_master=master,
        cluster_name=status.name,
        quorate=status.quorate,
        warnings=tuple(warnings),
        crs=crs,
        ha_auto_rebalance_off=auto_off,
        recent_migrations=migrated,
    )


def _shaped(path: str, data: object, kind: type, warnings: list[str]) -> object:
    """`data` when it is a JSON `kind` (or absent); otherwise None, with one warning naming the path."""
    if data is None or isinstance(data, kind):
        return data
    shape = "a list" if kind is list else "an object"
    warnings.append(
        f"{path} did not return {shape} ({type(data).__name__}); its HA states are ignored this cycle"
    )
    return None


def _data(answer: Answer, warnings: list[str]) -> object:
    if answer.error is not None:
        warnings.append(answer.failure())
        return None
    return answer.data


def _node_requests(name: str, psi: bool) -> list[Request]:
    requests = [
        Request(f"/nodes/{name}/version"),
        Request(f"/nodes/{name}/rrddata", {"timeframe": "hour", "cf": "AVERAGE"}),
    ]
    if psi:
        requests += [
            Request(f"/nodes/{name}/rrddata", {"timeframe": "hour", "cf": "MAX"}),
            Request(f"/nodes/{name}/qemu"),
            Request(f"/nodes/{name}/lxc"),
        ]
    return requests


def _with_node_metrics(
    reader: ApiReader, nodes: tuple[Node, ...], settings: CollectSettings, warnings: list[str]
) -> tuple[tuple[Node, ...], dict[VmId, PressureSet]]:
    """Version, averaged CPU and PSI per online node (offline nodes keep no stats); in psi mode
    also the guests' PSI from the per-node guest lists. One concurrent batch for all nodes."""
    online = [n for n in nodes if n.online]
    per_node = len(_node_requests("", settings.psi))
    requests = [r for n in online for r in _node_requests(n.name, settings.psi)]
    answers = fetch_all(reader, requests, settings.max_workers)
    updated: dict[str, Node] = {}
    guest_psi: dict[VmId, PressureSet] = {}
    for index, node in enumerate(online):
        mine = answers[index * per_node : (index + 1) * per_node]
        version_answer, average_answer = mine[0], mine[1]
        version = parse_pve_version(as_object(_data(version_answer, warnings)).get("version"))
        if version is None and version_answer.ok:
            warnings.append(f"node '{node.name}' reports no readable PVE version; PVE 9 features are off")
        average_rows = _data(average_answer, warnings)
        rrd = parse_node_rrd(average_rows, node.capacity.cpu_milli / 1000, warnings, node.name)
        usage = node.usage
        if rrd.cpu_milli is not None:
            usage = replace(usage, cpu_milli=rrd.cpu_milli)
        elif average_answer.ok:
            warnings.append(f"node '{node.name}' has no CPU rows in rrddata; the instant CPU sample is used")
        pressure = rrd.pressure
        if settings.psi:
            pressure = node_pressure(average_rows, _data(mine[2], warnings))
            if not pressure.known:
                warnings.append(
                    f"node '{node.name}' reports no PSI (PVE 8?); mode psi falls back to balancing on 'used'"
                )
            for guest_list in mine[3:]:
                guest_psi.update(guest_pressures(_data(guest_list, warnings)))
        updated[node.name] = replace(node, pve_version=version, usage=usage, pressure=pressure)
    return tuple(updated.get(n.name, n) for n in nodes), guest_psi


def with_smoothed_cpu(
    snapshot: ClusterSnapshot, history: Mapping[VmId, float], alpha: float = CPU_SMOOTHING_ALPHA
) -> ClusterSnapshot:
    """The snapshot with running guests' CPU smoothed against `history` (the service reads the
    history of the snapshot's own cluster, which it knows only once the snapshot is read)."""
    return replace(snapshot, guests=_smoothed(snapshot.guests, history, alpha))


def _smoothed(guests: tuple[Guest, ...], history: Mapping[VmId, float], alpha: float) -> tuple[Guest, ...]:
    result = []
    for guest in guests:
        smoothed = guest
        if guest.running and guest.vmid in history:
            cpu = smooth_cpu(history[guest.vmid], guest.usage.cpu_milli, alpha)
            smoothed = replace(guest, usage=replace(guest.usage, cpu_milli=cpu))
        result.append(smoothed)
    return tuple(result)


def _ha_configuration(
    reader: ApiReader, nodes: tuple[Node, ...], settings: CollectSettings, warnings: list[str]
) -> tuple[tuple[HaRule, ...], tuple[HaGroup, ...], dict[VmId, str]]:
    """HA rules on an all-PVE-9 cluster; HA groups + resources otherwise (falling back to rules
    when PVE says the groups were migrated). Failures degrade to 'no HA rules' with a warning."""
    online = [n for n in nodes if n.online]
    if online and all(n.pve9 for n in online):
        return _ha_rules(reader, warnings), (), {}
    groups_answer, resources_answer = fetch_all(
        reader, [Request("/cluster/ha/groups"), Request("/cluster/ha/resources")], settings.max_workers
    )
    if groups_answer.error is not None:
        if "migrated to rules" in str(groups_answer.error):
            return _ha_rules(reader, warnings), (), {}
        warnings.append(f"{groups_answer.failure()}; HA groups are not considered")
        return (), (), {}
    groups = parse_ha_groups(groups_answer.data, warnings)
    group_of = parse_ha_group_membership(_data(resources_answer, warnings))
    return rules_from_groups(groups, group_of), groups, group_of


def _crs_options(
    reader: ApiReader, warnings: list[str]
) -> tuple[CrsOptions, frozenset[VmId], dict[VmId, float]]:
    """`/cluster/options` crs; and, only while PVE's auto-rebalance is on, which HA resources opted
    out of it (`auto-rebalance: 0` in `/cluster/ha/resources`) and which guests a migration task
    moved lately (`/cluster/tasks`: PVE's own moves count for the cooldown). Failures degrade to
    PVE's defaults (known=False) or to nothing, with a warning."""
    try:
        crs = parse_crs(reader.get("/cluster/options"), warnings)
    except ApiError as error:
        warnings.append(
            f"{Answer(Request('/cluster/options'), error=error).failure()}; the CRS mode is unknown "
            "(failover prediction assumes 'basic')"
        )
        return CrsOptions(), frozenset(), {}
    if not crs.pve_balances:
        return crs, frozenset(), {}
    resources, tasks = fetch_all(reader, [Request("/cluster/ha/resources"), Request("/cluster/tasks")], 2)
    off: frozenset[VmId] = frozenset()
    if resources.error is not None:
        warnings.append(f"{resources.failure()}; every HA resource is taken as left to PVE's auto-rebalance")
    else:
        off = parse_auto_rebalance_off(resources.data)
    return crs, off, parse_recent_migrations(_data(tasks, warnings))


def _ha_rules(reader: ApiReader, warnings: list[str]) -> tuple[HaRule, ...]:
    try:
        data = reader.get("/cluster/ha/rules")
    except ApiError as error:
        warnings.append(
            f"{Answer(Request('/cluster/ha/rules'), error=error).failure()}; HA rules are not considered"
        )
        return ()
    return parse_ha_rules(data, warnings)


def collect_settings(config: ProxlbConfig) -> CollectSettings:
    """The parts of the configuration collecting depends on."""
    return CollectSettings(
        ignore_nodes=frozenset(config.proxmox_cluster.ignore_nodes),
        psi=config.balancing.mode is BalanceMode.PSI,
    )


def collect_snapshot(
    reader: ApiReader,
    config: ProxlbConfig,
    now: float,
    cpu_history: Mapping[VmId, float] | None = None,
) -> ClusterSnapshot:
    """Read the cluster once: nodes (capacity, averaged CPU, PSI, version, HA maintenance),
    guests (sizes, usage, tags, pool, lock, HA state), pools and HA rules/groups.

    cpu_history: previous smoothed CPU per vmid (milli-cores), kept by the service; when given,
    running guests' CPU is an EWMA of it and the new sample. Raises `ApiError` only when
    `/cluster/resources` cannot be read.
    """
    return collect_with_settings(reader, collect_settings(config), now, cpu_history)
