"""Balancing policy: every knob the planners read, as one frozen value. Pure; no I/O.

Invariants: units are the domain's (milli-cores, bytes); percentages are percentage points (pp) of
a node's own usable capacity; `Policy()` is a complete, valid policy (tests build it directly);
`policy_from_config` is the only place that knows the YAML spelling of these knobs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proxlb.config.enums import BalanceMethod, BalanceMode
from proxlb.config.enums import SolverMode as ConfigSolverMode
from proxlb.domain.resources import GIB, Resources

if TYPE_CHECKING:
    from proxlb.config.model import ProxlbConfig

RESOURCES: tuple[str, ...] = ("memory", "cpu", "disk")


# The closed sets are the configuration's own (one definition): how load is measured, which
# resource(s) are balanced (`combined` is ours), and the CP-SAT mode.
Mode = BalanceMode
Method = BalanceMethod
SolverMode = ConfigSolverMode


@dataclass(frozen=True, slots=True)
class PsiLimit:
    """Pressure thresholds of one resource: hot = (full ≥ and some ≥) or full spike ≥."""

    pressure_full: float
    pressure_some: float
    pressure_spikes: float


@dataclass(frozen=True, slots=True)
class SolverPolicy:
    """The CP-SAT optimiser: off, alongside the greedy plan (shadow) or instead of it (active)."""

    enable: bool = False
    mode: SolverMode = SolverMode.SHADOW
    timeout_seconds: float = 30.0
    use_reservations: bool = True
    fallback_to_greedy: bool = True


@dataclass(frozen=True, slots=True)
class FailoverPolicy:
    """Failover headroom (`balancing.failover_headroom`) and coexistence with PVE 9.2's balancer.

    mode: off | report (only shown) | prefer (balancing never lowers it) | require (plus moves that
    restore it). domains: failure-domain name → its nodes (they fail together).
    leave_ha_to_pve: with PVE's auto-rebalance on, HA resources it owns are left to it
    (`balancing.pve_auto_rebalance: leave_ha_to_pve`, the default).
    """

    mode: str = "off"
    domains: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    leave_ha_to_pve: bool = True

    @property
    def plans(self) -> bool:
        """Planning honours the headroom (prefer or require)."""
        return self.mode in ("prefer", "require")


@dataclass(frozen=True)
class Policy:
    """Everything that shapes a plan. Build directly in tests; from config with `policy_from_config`."""

    mode: Mode = Mode.USED
    method: Method = Method.MEMORY
    weights: Mapping[str, float] = field(default_factory=lambda: {"memory": 1.0, "cpu": 1.0, "disk": 0.0})
    balanciness: float = 10.0
    thresholds: Mapping[str, float] = field(default_factory=dict)  # resource -> pp; absent/0 = no gate
    balance_larger_guests_first: bool = False
    enforce_affinity: bool = False
    enforce_pinning: bool = False
    balance_types: frozenset[str] = frozenset({"vm", "ct"})
    reserve_default: Resources = field(default_factory=Resources)
    reserve_nodes: Mapping[str, Resources] = field(default_factory=dict)
    cpu_overcommit: float | None = None  # None: vCPUs are weighed, never a cap (see policy_from_config)
    overprovisioning: bool = False
    min_improvement: float = 1.0
    cost_per_gib: float = 0.05
    max_migrations: int | None = None
    cooldown_minutes: float = 360.0
    with_local_disks: bool = True
    live: bool = True
    psi_nodes: Mapping[str, PsiLimit] = field(default_factory=dict)
    psi_guests: Mapping[str, PsiLimit] = field(default_factory=dict)
    psi_window_minutes: float = 60.0
    noise_band: float = 0.5  # pp: loads and gains closer than this are compared as equal
    plan_margin: float = 1.0  # pp: keep last cycle's moves while their plan ends this close to the best
    solver: SolverPolicy = SolverPolicy()
    failover: FailoverPolicy = FailoverPolicy()

    def resource_weights(self) -> dict[str, float]:
        """Normalised weights (sum 1) of the resources this method balances; zero weights dropped."""
        if self.method is Method.COMBINED:
            raw = {r: max(0.0, float(self.weights.get(r, 0.0))) for r in RESOURCES}
        else:
            raw = {self.method.value: 1.0}
        total = sum(raw.values())
        if total <= 0:
            return {"memory": 1.0}
        return {r: w / total for r, w in raw.items() if w > 0}

    def reserve_for(self, node: str) -> Resources:
        """Capacity held back on `node` (its own entry, else the default)."""
        return self.reserve_nodes.get(node, self.reserve_default)

    def threshold(self, resource: str) -> float | None:
        value = self.thresholds.get(resource)
        return float(value) if value else None

    @property
    def cooldown_seconds(self) -> float:
        return self.cooldown_minutes * 60.0


def _psi_limits(section: Mapping[Any, Any] | None) -> dict[str, PsiLimit]:
    out: dict[str, PsiLimit] = {}
    for key, value in (section or {}).items():
        out[str(getattr(key, "value", key))] = PsiLimit(
            float(value.pressure_full), float(value.pressure_some), float(value.pressure_spikes)
        )
    return out


def policy_from_config(config: ProxlbConfig) -> Policy:
    """Translate the validated `proxlb.yaml` into a Policy (GiB/cores become bytes/milli-cores)."""
    bal = config.balancing
    reserves = bal.node_resource_reserve or {}
    reserve_nodes = {name: bal.reserve_for(name) for name in reserves if name != "defaults"}
    thresholds = {
        r: float(v)
        for r, v in (
            ("memory", bal.memory_threshold),
            ("cpu", bal.cpu_threshold),
            ("disk", bal.disk_threshold),
        )
        if v
    }
    solver_cfg = getattr(config, "solver", None)
    solver = SolverPolicy()
    if solver_cfg is not None:
        use_res = bool(getattr(solver_cfg, "use_reservations", True))
        solver = SolverPolicy(
            enable=bool(getattr(solver_cfg, "enable", False)),
            mode=SolverMode(str(getattr(solver_cfg, "mode", "shadow"))),
            timeout_seconds=float(getattr(solver_cfg, "timeout_seconds", 30.0)),
            use_reservations=use_res,
            fallback_to_greedy=bool(getattr(solver_cfg, "fallback_to_greedy", True)),
        )
    psi = bal.psi
    headroom = bal.failover_headroom
    failover = FailoverPolicy(
        mode=str(headroom.mode),
        domains={k: tuple(v) for k, v in sorted((headroom.failure_domains or {}).items())},
        leave_ha_to_pve=str(bal.pve_auto_rebalance) == "leave_ha_to_pve",
    )
    return Policy(
        mode=Mode(str(bal.mode)),
        method=Method(str(bal.method)),
        weights={r: float(getattr(bal.weights, r)) for r in RESOURCES},
        balanciness=float(bal.balanciness),
        thresholds=thresholds,
        balance_larger_guests_first=bal.balance_larger_guests_first,
        enforce_affinity=bal.enforce_affinity,
        enforce_pinning=bal.enforce_pinning,
        balance_types=frozenset(str(t) for t in bal.balance_types),
        reserve_default=bal.reserve_for("defaults"),
        reserve_nodes=reserve_nodes,
        cpu_overcommit=None if bal.cpu_overcommit is None else float(bal.cpu_overcommit),
        overprovisioning=bool(config.proxmox_cluster.overprovisioning),
        min_improvement=float(bal.min_improvement),
        cost_per_gib=float(bal.cost_per_gib),
        max_migrations=bal.max_migrations,
        cooldown_minutes=float(bal.cooldown_minutes),
        with_local_disks=bal.with_local_disks,
        live=bal.live,
        psi_nodes=_psi_limits(psi.nodes if psi else None),
        psi_guests=_psi_limits(psi.guests if psi else None),
        psi_window_minutes=float(bal.psi_window_minutes),
        noise_band=float(bal.noise_band),
        plan_margin=float(bal.plan_margin),
        solver=solver,
        failover=failover,
    )


def gib(amount: float) -> int:
    """GiB as bytes (for builders and reserves)."""
    return round(amount * GIB)
