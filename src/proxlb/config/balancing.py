"""The `balancing:` section of `proxlb.yaml` (upstream 2.3.0 keys plus our extensions). Pure.

Invariants: models are frozen; every number is finite and within a documented range
(`proxlb.config.numbers`);
`node_resource_reserve` values are GiB (memory, disk) and cores (cpu); a node entry's unset
resource falls back to the `defaults` entry (`reserve_for`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from proxlb.config.enums import (
    AffinityType,
    BalanceMethod,
    BalanceMode,
    GuestType,
    HeadroomMode,
    PveAutoRebalance,
    Resource,
    case_insensitive,
)
from proxlb.config.numbers import (
    MAX_PARALLEL,
    MAX_PERCENT_SETTING,
    MAX_RESERVE_CORES,
    MAX_RESERVE_GIB,
    YEAR_MINUTES,
    Bounded,
)
from proxlb.domain.resources import GIB, Resources

RESERVE_DEFAULTS_KEY = "defaults"

FROZEN = ConfigDict(frozen=True, extra="ignore", validate_by_name=True, validate_by_alias=True)
FORBID = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

Percent = Annotated[int, BeforeValidator(Bounded(0, MAX_PERCENT_SETTING, "percent"))]
Weight = Annotated[float, BeforeValidator(Bounded(0, 1000, whole=False))]
ReserveGiB = Annotated[float | None, BeforeValidator(Bounded(0, MAX_RESERVE_GIB, "GiB", whole=False))]
Pressure = Annotated[float, BeforeValidator(Bounded(0, 100, "percent", whole=False))]
Overcommit = Annotated[float, BeforeValidator(Bounded(0, 100, "vCPUs per core", whole=False, lo_open=True))]
Points = Annotated[float, BeforeValidator(Bounded(0, 100, "percentage points", whole=False))]
Concurrency = Annotated[int, BeforeValidator(Bounded(1, MAX_PARALLEL, "migrations at once"))]


def str_keys(value: Any) -> Any:
    """Before-validator: YAML may read a node or pool name like `101` as a number; use it as text."""
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else str(k)): v for k, v in value.items()}
    return value


def one_or_many(value: Any) -> Any:
    """Before-validator: a single string where a list is expected becomes a one-item list."""
    return [value] if isinstance(value, str) else value


NameList = Annotated[tuple[str, ...], BeforeValidator(one_or_many)]
Method = Annotated[BalanceMethod, BeforeValidator(case_insensitive(BalanceMethod))]
Mode = Annotated[BalanceMode, BeforeValidator(case_insensitive(BalanceMode))]
ResourceKey = Annotated[Resource, BeforeValidator(case_insensitive(Resource))]
GuestTypeValue = Annotated[GuestType, BeforeValidator(case_insensitive(GuestType))]


class ResourceWeights(BaseModel):
    """Weights of each resource in the `combined` method (ours)."""

    model_config = FORBID

    memory: Weight = 1.0
    cpu: Weight = 1.0
    disk: Weight = 0.0

    def get(self, resource: Resource) -> float:
        """Weight of one resource."""
        return float(getattr(self, resource.value))


class NodeReserve(BaseModel):
    """Capacity held back on a node: memory and disk in GiB, cpu in cores. None = use `defaults`."""

    model_config = FORBID

    memory: ReserveGiB = None
    cpu: Annotated[float | None, BeforeValidator(Bounded(0, MAX_RESERVE_CORES, "cores", whole=False))] = None
    disk: ReserveGiB = None


class PsiThresholds(BaseModel):
    """Pressure thresholds of one resource (all three required, as upstream)."""

    model_config = FROZEN

    pressure_full: Pressure
    pressure_some: Pressure
    pressure_spikes: Pressure


class PsiConfig(BaseModel):
    """`balancing.psi`: thresholds for nodes and guests (both required when `psi` is given)."""

    model_config = FROZEN

    nodes: dict[ResourceKey, PsiThresholds]
    guests: dict[ResourceKey, PsiThresholds]


class PoolConfig(BaseModel):
    """`balancing.pools.<pool>`: an affinity type and/or a node pin for every guest of a PVE pool."""

    model_config = FROZEN

    type: Annotated[AffinityType | None, BeforeValidator(case_insensitive(AffinityType))] = None
    pin: Annotated[tuple[str, ...] | None, BeforeValidator(one_or_many)] = None
    strict: bool = True


def _yaml_off(value: Any) -> Any:
    """Before-validator: YAML 1.1 reads a bare `off` as false; mean the mode 'off' then."""
    return "off" if value is False else value


class FailoverHeadroomConfig(BaseModel):
    """`balancing.failover_headroom` (ours): does every single node failure (and every failure domain)
    leave room for PVE HA to restart the HA guests? off | report | prefer | require."""

    model_config = FORBID

    mode: Annotated[
        HeadroomMode, BeforeValidator(_yaml_off), BeforeValidator(case_insensitive(HeadroomMode))
    ] = HeadroomMode.OFF
    failure_domains: Annotated[dict[str, NameList] | None, BeforeValidator(str_keys)] = None

    @model_validator(mode="after")
    def _domains_name_nodes(self) -> FailoverHeadroomConfig:
        for name, nodes in (self.failure_domains or {}).items():
            if not nodes:
                raise ValueError(f"failure domain '{name}' names no node")
        return self


class BalancingConfig(BaseModel):
    """`balancing:` — what may move, how load is measured, when and how much to rebalance."""

    model_config = FROZEN

    # upstream 2.3.0 keys
    enable: bool = False
    enforce_affinity: bool = False
    enforce_pinning: bool = False
    parallel: bool = False
    # upstream counts values below 1 as 1; we keep that (with a warning) and bound it above
    parallel_jobs: Annotated[int, BeforeValidator(Bounded(-MAX_PARALLEL, MAX_PARALLEL))] = 5
    live: bool = True
    with_local_disks: bool = True
    with_conntrack_state: bool = True
    balance_types: Annotated[tuple[GuestTypeValue, ...], BeforeValidator(one_or_many)] = ()
    max_job_validation: Annotated[int, BeforeValidator(Bounded(1, 7 * 24 * 3600, "seconds"))] = 1800
    balanciness: Percent = 10
    memory_threshold: Percent | None = None
    cpu_threshold: Percent | None = None
    disk_threshold: Percent | None = None
    method: Method = BalanceMethod.MEMORY
    mode: Mode = BalanceMode.USED
    balance_larger_guests_first: bool = False
    node_resource_reserve: Annotated[dict[str, NodeReserve] | None, BeforeValidator(str_keys)] = None
    psi: PsiConfig | None = None
    pools: Annotated[dict[str, PoolConfig] | None, BeforeValidator(str_keys)] = None
    ignore_guests: NameList = ()
    # unset = no vCPU cap (upstream: the key is read by its solver only); see policy_from_config
    cpu_overcommit: Overcommit | None = None
    max_node_inflow: Concurrency | None = 1
    # our extensions
    weights: ResourceWeights = ResourceWeights()
    min_improvement: Points = 1.0
    cost_per_gib: Annotated[float, BeforeValidator(Bounded(0, 1000, "points per GiB", False))] = 0.05
    max_migrations: Annotated[int | None, BeforeValidator(Bounded(0, 100_000))] = None
    cooldown_minutes: Annotated[int, BeforeValidator(Bounded(0, YEAR_MINUTES, "minutes"))] = 360
    # no balancing move back to a node a guest left within this many cycles (or 2 × cooldown)
    return_window_cycles: Annotated[int, BeforeValidator(Bounded(0, 10_000, "cycles"))] = 48
    max_node_outflow: Concurrency = 4
    psi_window_minutes: Annotated[int, BeforeValidator(Bounded(0, 7 * 24 * 60, "minutes"))] = 60
    noise_band: Points = 0.5
    plan_margin: Points = 1.0
    failover_headroom: FailoverHeadroomConfig = FailoverHeadroomConfig()
    pve_auto_rebalance: Annotated[PveAutoRebalance, BeforeValidator(case_insensitive(PveAutoRebalance))] = (
        PveAutoRebalance.LEAVE_HA_TO_PVE
    )

    @model_validator(mode="after")
    def _combined_needs_a_weight(self) -> BalancingConfig:
        if self.method is BalanceMethod.COMBINED and not any(
            self.weights.get(r) > 0 for r in (Resource.MEMORY, Resource.CPU, Resource.DISK)
        ):
            raise ValueError("method 'combined' needs at least one weight > 0 in balancing.weights")
        return self

    @property
    def effective_parallel_jobs(self) -> int:
        """Concurrent migrations: 1 unless `parallel`; `parallel_jobs` below 1 counts as 1 (upstream)."""
        return max(1, self.parallel_jobs) if self.parallel else 1

    def threshold(self, resource: Resource) -> int | None:
        """The configured threshold of one resource (None or 0 = no threshold)."""
        return {
            Resource.MEMORY: self.memory_threshold,
            Resource.CPU: self.cpu_threshold,
            Resource.DISK: self.disk_threshold,
        }[resource]

    def reserve_for(self, node: str) -> Resources:
        """Capacity to hold back on `node`: its own entry per resource, else `defaults`, else 0."""
        reserves = self.node_resource_reserve or {}
        own = reserves.get(node, NodeReserve())
        default = reserves.get(RESERVE_DEFAULTS_KEY, NodeReserve())

        def pick(resource: str) -> float:
            value = getattr(own, resource)
            if value is None:
                value = getattr(default, resource)
            return float(value or 0.0)

        return Resources(
            cpu_milli=round(pick("cpu") * 1000),
            mem_bytes=round(pick("memory") * GIB),
            disk_bytes=round(pick("disk") * GIB),
        )
