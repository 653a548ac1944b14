"""Scenario files for the simulator: load, validate and normalise. Pure apart from reading the file.

A scenario describes a cluster in Proxmox's own vocabulary: `resources:` is a list of entries in the
exact shape of `GET /cluster/resources` (bytes, cpu as a fraction of maxcpu, tags `;`-separated), so
a dump of a real cluster loads as is. Every other section is optional and has defaults. Invariants:
after loading, vmids are unique, every guest and storage entry names a known node, every HA resource
names a known guest; every problem found is reported at once in `ScenarioError.problems`.
"""

from __future__ import annotations

import json
import re
from importlib import resources as pkg_resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from proxlb.errors import ProxlbError
from proxlb_sim.sections import (
    AclEntry,
    AgentSection,
    AuthSection,
    BackupSection,
    ContentSection,
    GroupSpec,
    HistorySection,
    ReplicationJob,
    SnapshotSpec,
    SubscriptionSpec,
    TokenSpec,
    UserSpec,
    check_sections,
)

__all__ = ["AclEntry", "AuthSection", "GroupSpec", "TokenSpec", "UserSpec"]  # re-exported models

GIB = 1024**3
FORMAT = 2  # scenario format version written by `proxlb snapshot`; files without `format` are 1
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


class ScenarioError(ProxlbError):
    """The scenario is invalid. `problems` lists every finding as 'where: what'."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message + ("".join(f"\n  - {p}" for p in problems)))
        self.problems = problems


def parse_size(value: object) -> object:
    """Bytes from an int or a size string ('64G', '512MiB'); other values pass through to validation."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if match:
            return int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    return value


Bytes = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")


class NodeEntry(_Entry):
    node: str = Field(pattern=r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
    status: Literal["online", "offline", "unknown"] = "online"
    maxcpu: float = Field(default=16, gt=0)
    cpu: float | None = Field(default=None, ge=0)
    maxmem: Bytes = 64 * GIB
    mem: Bytes | None = None
    maxdisk: Bytes = 100 * GIB
    disk: Bytes = 10 * GIB
    uptime: int = 1_209_600
    level: str = ""
    hastate: str | None = None


class GuestEntry(_Entry):
    vmid: int = Field(ge=100, le=999_999_999)
    type: Literal["qemu", "lxc"]
    node: str
    name: str | None = None
    status: str = "running"
    maxcpu: float = Field(default=1, gt=0)
    cpu: float = Field(default=0.0, ge=0)
    maxmem: Bytes = GIB
    mem: Bytes | None = None
    maxdisk: Bytes = 32 * GIB
    disk: Bytes = 0
    uptime: int | None = None
    template: int = 0
    tags: str | None = None
    pool: str | None = None
    lock: str | None = None
    hastate: str | None = None
    netin: int = 0
    netout: int = 0
    diskread: int = 0
    diskwrite: int = 0


class StorageEntry(_Entry):
    storage: str
    node: str
    plugintype: str = "dir"
    status: str = "available"
    shared: int = 0
    content: str = "images,rootdir"
    maxdisk: Bytes = 1024 * GIB
    disk: Bytes = 0


class PoolEntry(_Entry):
    pool: str


class HaResource(BaseModel):
    model_config = ConfigDict(extra="allow")
    sid: str = Field(pattern=r"^(vm|ct):\d+$")
    state: Literal["started", "stopped", "enabled", "disabled", "ignored"] = "started"
    group: str | None = None
    max_restart: int | None = None
    max_relocate: int | None = None
    failback: int | None = None
    comment: str | None = None


class HaGroup(BaseModel):
    model_config = ConfigDict(extra="allow")
    group: str
    nodes: str
    restricted: int = 0
    nofailback: int = 0
    comment: str | None = None


class HaRule(BaseModel):
    model_config = ConfigDict(extra="allow")
    rule: str
    type: Literal["node-affinity", "resource-affinity"]
    resources: str
    nodes: str | None = None
    strict: int | None = None
    affinity: Literal["positive", "negative"] | None = None
    disable: int | None = None
    comment: str | None = None


class HaSection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resources: list[HaResource] = []
    groups: list[HaGroup] = []
    rules: list[HaRule] = []
    maintenance_nodes: list[str] = []
    master_node: str | None = None


class PoolSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    poolid: str
    comment: str | None = None
    members: list[int | str] = []


class FaultSpec(BaseModel):
    """One injected fault; `at`/`until` are virtual seconds after the simulator start."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal[
        "node_offline",
        "ha_maintenance",
        "migration_fail",
        "migration_hang",
        "latency",
        "errors",
        "refuse_connections",
        "node_failure",  # power loss: fenced, then PVE HA recovers its HA guests (ha_recovery.py)
    ]
    node: str | None = None
    vmid: int | None = None
    at: float = 0.0
    until: float | None = None
    times: int | None = None
    ms: float = 0.0
    count: int = 1
    status: int = 500
    message: str = "simulated fault"
    path: str | None = None
    seconds: float = 5.0


class SimSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cluster_name: str = "pve-sim"
    seed: int = 0
    time_scale: float = Field(default=1.0, ge=0)
    start_time: float | None = None
    link_bandwidth_mib: float = Field(default=1024.0, gt=0)
    disk_bandwidth_mib: float = Field(default=400.0, gt=0)
    migration_overhead_s: float = Field(default=4.0, ge=0)
    offline_overhead_s: float = Field(default=3.0, ge=0)
    ct_shutdown_s: float = Field(default=5.0, ge=0)
    ct_start_s: float = Field(default=3.0, ge=0)
    hamigrate_s: float = Field(default=1.0, ge=0)
    ha_delay_s: float = Field(default=8.0, ge=0)
    noise: float = Field(default=0.05, ge=0, le=1)
    drift: float = Field(default=0.10, ge=0, le=1)
    drift_period_s: float = Field(default=21_600.0, gt=0)
    stats_interval_s: float = Field(default=10.0, gt=0)
    auth_failure_delay_s: float = Field(default=0.0, ge=0)
    default_version: str = "9.2.11"
    api_node: str | None = None
    default_disk_storage: str | None = None


class Scenario(BaseModel):
    """A validated scenario; the `nodes` ... `other` lists split `resources` by type."""

    model_config = ConfigDict(extra="forbid")
    format: int = 1
    resources: list[dict[str, Any]]
    ha: HaSection = HaSection()
    pools: list[PoolSpec] = []
    guest_config: dict[int, dict[str, Any]] = {}
    versions: dict[str, str] = {}
    auth: AuthSection = AuthSection()
    faults: list[FaultSpec] = []
    sim: SimSettings = SimSettings()
    options: dict[str, Any] = {}
    subscription: SubscriptionSpec = SubscriptionSpec()
    replication: list[ReplicationJob] = []
    backup: BackupSection = BackupSection()
    content: ContentSection = ContentSection()
    history: HistorySection = HistorySection()
    snapshots: dict[int, list[SnapshotSpec]] = {}
    agent: AgentSection = AgentSection()
    nodes: list[NodeEntry] = []
    guests: list[GuestEntry] = []
    storages: list[StorageEntry] = []
    pools_in_resources: list[PoolEntry] = []
    other: list[dict[str, Any]] = []


_TYPES: dict[str, type[_Entry]] = {
    "node": NodeEntry,
    "qemu": GuestEntry,
    "lxc": GuestEntry,
    "storage": StorageEntry,
    "pool": PoolEntry,
}


def _fmt(err: ValidationError, where: str) -> list[str]:
    return [f"{where}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]


def bundled_scenarios() -> dict[str, Path]:
    """Names of the scenarios shipped in the package and their paths."""
    root = Path(str(pkg_resources.files("proxlb_sim") / "scenarios"))
    return {p.stem: p for p in sorted(root.glob("*.yaml"))}


def resolve_scenario_path(ref: str | Path) -> Path:
    """A path as given if it exists, else a bundled scenario by name ('demo' → scenarios/demo.yaml)."""
    path = Path(ref)
    if path.exists():
        return path
    bundled = bundled_scenarios()
    if str(ref) in bundled:
        return bundled[str(ref)]
    raise ScenarioError(f"scenario {str(ref)!r} not found", (f"bundled scenarios: {', '.join(bundled)}",))


def load_scenario(ref: str | Path) -> Scenario:
    """Read a YAML or JSON scenario (path or bundled name) and validate it; raises `ScenarioError`."""
    path = resolve_scenario_path(ref)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read scenario {path}", (str(exc),)) from exc
    return parse_scenario(raw, source=str(path))


def parse_scenario(raw: object, source: str = "<scenario>") -> Scenario:
    """Validate an already decoded scenario; a bare list is taken as a `/cluster/resources` dump."""
    if isinstance(raw, list):
        raw = {"resources": raw}
    if isinstance(raw, dict) and isinstance(raw.get("data"), list) and "resources" not in raw:
        raw = {"resources": raw["data"]}  # `pvesh ... --output-format json` of the API envelope
    if not isinstance(raw, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping with a 'resources' list")
    version = raw.get("format", 1)
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT:
        raise ScenarioError(
            f"{source}: scenario format {version!r} is not supported",
            (f"this proxlb-sim reads formats 1 to {FORMAT}; upgrade proxlb-sim to load a newer file",),
        )
    problems: list[str] = []
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{source}: invalid scenario", tuple(_fmt(exc, "scenario"))) from exc
    split: dict[str, list[Any]] = {"node": [], "guest": [], "storage": [], "pool": [], "other": []}
    for index, entry in enumerate(scenario.resources):
        kind = str(entry.get("type", ""))
        model = _TYPES.get(kind)
        if model is None:
            if kind in ("sdn", "network"):
                split["other"].append(entry)
            else:
                problems.append(f"resources[{index}].type: unknown resource type {kind!r}")
            continue
        try:
            parsed = model.model_validate(entry)
        except ValidationError as exc:
            problems.extend(_fmt(exc, f"resources[{index}] ({entry.get('id', kind)})"))
            continue
        split["guest" if kind in ("qemu", "lxc") else kind].append(parsed)
    scenario.nodes, scenario.guests, scenario.storages = split["node"], split["guest"], split["storage"]
    scenario.pools_in_resources, scenario.other = split["pool"], split["other"]
    problems.extend(_cross_check(scenario))
    if problems:
        raise ScenarioError(f"{source}: invalid scenario", tuple(problems))
    return scenario


def _cross_check(s: Scenario) -> list[str]:
    problems: list[str] = []
    names = [n.node for n in s.nodes]
    known = set(names)
    if not names:
        problems.append("resources: no entry of type 'node'")
    problems.extend(f"resources: node {n!r} appears twice" for n in sorted(known) if names.count(n) > 1)
    seen: set[int] = set()
    for g in s.guests:
        if g.vmid in seen:
            problems.append(f"resources: vmid {g.vmid} appears twice")
        seen.add(g.vmid)
        if g.node not in known:
            problems.append(f"resources: {g.type}/{g.vmid} is on unknown node {g.node!r}")
    problems.extend(
        f"resources: storage {st.storage!r} is on unknown node {st.node!r}"
        for st in s.storages
        if st.node not in known
    )
    kinds = {g.vmid: g.type for g in s.guests}
    for res in s.ha.resources:
        prefix, vmid = res.sid.split(":")
        if kinds.get(int(vmid)) != ("qemu" if prefix == "vm" else "lxc"):
            problems.append(f"ha.resources: {res.sid} is not a guest of that type in resources")
    problems.extend(f"guest_config: vmid {v} is not in resources" for v in s.guest_config if v not in kinds)
    problems.extend(f"versions: unknown node {n!r}" for n in s.versions if n not in known)
    problems.extend(
        f"ha.maintenance_nodes: unknown node {n!r}" for n in s.ha.maintenance_nodes if n not in known
    )
    for name in (s.sim.api_node, s.ha.master_node):
        if name is not None and name not in known:
            problems.append(f"unknown node {name!r} named in sim.api_node / ha.master_node")
    for i, f in enumerate(s.faults):
        if f.kind in ("node_offline", "ha_maintenance") and f.node not in known:
            problems.append(f"faults[{i}]: {f.kind} needs a known node, got {f.node!r}")
        if f.kind in ("migration_fail", "migration_hang") and f.vmid not in kinds:
            problems.append(f"faults[{i}]: {f.kind} needs a vmid from resources, got {f.vmid!r}")
    for name, version in s.versions.items():
        if not re.match(r"^\d+\.\d+", version):
            problems.append(f"versions.{name}: {version!r} is not a version like 9.2.11")
    problems.extend(check_sections(s, known, kinds))
    return problems
