"""The `balancing:` section of `proxlb.yaml` (upstream 2.3.0 keys plus our extensions). Pure.

Invariants: models are frozen; numbers that cannot be negative are rejected when negative;
`node_resource_reserve` values are GiB (memory, disk) and cores (cpu); a node entry's unset
resource falls back to the `defaults` entry (`reserve_for`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from proxlb.config.enums import (
    AffinityType,
    BalanceMethod,
    BalanceMode,
    GuestType,
    Resource,
    case_insensitive,
)
from proxlb.domain.resources import GIB, Resources

RESERVE_DEFAULTS_KEY = "defaults"

FROZEN = ConfigDict(frozen=True, extra="ignore", validate_by_name=True, validate_by_alias=True)
FORBID = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

NonNegInt = Annotated[int, Field(ge=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
PosInt = Annotated[int, Field(ge=1)]


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

    memory: NonNegFloat = 1.0
    cpu: NonNegFloat = 1.0
    disk: NonNegFloat = 0.0

    def get(self, resource: Resource) -> float:
        """Weight of one resource."""
        return float(getattr(self, resource.value))


class NodeReserve(BaseModel):
    """Capacity held back on a node: memory and disk in GiB, cpu in cores. None = use `defaults`."""

    model_config = FORBID

    memory: NonNegFloat | None = None
    cpu: NonNegFloat | None = None
    disk: NonNegFloat | None = None


class PsiThresholds(BaseModel):
    """Pressure thresholds of one resource (all three required, as upstream)."""

    model_config = FROZEN

    pressure_full: float
    pressure_some: float
    pressure_spikes: float


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


class BalancingConfig(BaseModel):
    """`balancing:` — what may move, how load is measured, when and how much to rebalance."""

    model_config = FROZEN

    # upstream 2.3.0 keys
    enable: bool = False
    enforce_affinity: bool = False
    enforce_pinning: bool = False
    parallel: bool = False
    parallel_jobs: int = 5
    live: bool = True
    with_local_disks: bool = True
    with_conntrack_state: bool = True
    balance_types: Annotated[tuple[GuestTypeValue, ...], BeforeValidator(one_or_many)] = ()
    max_job_validation: PosInt = 1800
    balanciness: NonNegInt = 10
    memory_threshold: NonNegInt | None = None
    cpu_threshold: NonNegInt | None = None
    disk_threshold: NonNegInt | None = None
    method: Method = BalanceMethod.MEMORY
    mode: Mode = BalanceMode.USED
    balance_larger_guests_first: bool = False
    node_resource_reserve: Annotated[dict[str, NodeReserve] | None, BeforeValidator(str_keys)] = None
    psi: PsiConfig | None = None
    pools: Annotated[dict[str, PoolConfig] | None, BeforeValidator(str_keys)] = None
    ignore_guests: NameList = ()
    # unset = no vCPU cap (upstream: the key is read by its solver only); see policy_from_config
    cpu_overcommit: Annotated[float, Field(gt=0)] | None = None
    max_node_inflow: PosInt | None = 1
    # our extensions
    weights: ResourceWeights = ResourceWeights()
    min_improvement: NonNegFloat = 1.0
    cost_per_gib: NonNegFloat = 0.05
    max_migrations: NonNegInt | None = None
    cooldown_minutes: NonNegInt = 360
    max_node_outflow: PosInt = 4
    psi_window_minutes: NonNegInt = 60
    noise_band: NonNegFloat = 0.5
    plan_margin: NonNegFloat = 1.0

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
