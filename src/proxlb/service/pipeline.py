"""One ProxLB cycle: collect → constraints → plan (→ enrich movers, re-plan) → execute → remember.

Role: the imperative shell around the pure stages. Invariants: a plan is executed only when
`apply` is true and `balancing.enable` is set (upstream semantics: the plan is always computed);
planning never sees a mover whose local disks/devices were not read (enrichment rounds, at most 3);
every outcome is written to the state store the moment it is known (service/history.py), and
moves a killed run left unsettled are reconciled with PVE before planning; the store feeds the
next cycle's cooldowns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from proxlb.collect.enrich import enrich_guests
from proxlb.collect.inflight import inflight_targets
from proxlb.collect.snapshot import collect_snapshot, with_smoothed_cpu
from proxlb.config.model import ProxlbConfig
from proxlb.config.reserve import reserve_problems
from proxlb.config.schedule import active_maintenance_nodes
from proxlb.domain import ClusterSnapshot, ConstraintSet, Migration, MigrationReason, Plan, VmId
from proxlb.errors import ConfigError
from proxlb.execute.executor import execute_plan
from proxlb.execute.jobs import MigrationApi
from proxlb.execute.model import Clock, ExecutionReport, ExecutionSettings, exit_code
from proxlb.execute.progress import ExecutionObserver
from proxlb.planning import PlanningProblem, plan_cycle, policy_from_config
from proxlb.planning.stopped import stopped_sentence
from proxlb.rules.derive import derive_constraints
from proxlb.service.history import HistoryRecorder, recently_left, reconcile
from proxlb.service.state import StateStore

log = logging.getLogger(__name__)

MAX_ENRICH_ROUNDS = 3
CPU_HISTORY_MAX_AGE_SECONDS = 6 * 3600.0


PlanHook = Callable[[ClusterSnapshot, ConstraintSet, Plan], None]


class _Stages:
    """Wall time spent per stage of one cycle, for the DEBUG log (never part of a decision)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - since
        return now

    def log(self, stage: str) -> None:
        log.debug("stage %s: %.0f ms", stage, self.seconds.get(stage, 0.0) * 1000)


class PipelineClient(MigrationApi, Protocol):
    """The API client as the pipeline uses it: reads, migrations and the HA master."""

    def ha_master(self) -> str | None: ...

    def check_permissions(self) -> None: ...


@dataclass
class PipelineDeps:
    """What one cycle needs. `local_now` gives local wall time for maintenance windows.

    on_plan: called once the plan is final and before anything is executed (the CLI prints it).
    observer: sees every migration start, poll and end while the plan is carried out.
    read_first: guests whose configuration (local disks, passthrough) is read before the first
    plan, whether or not they move (`explain VMID` answers from facts, not guesses).
    """

    config: ProxlbConfig
    client: PipelineClient
    state: StateStore
    clock: Clock
    stop_event: threading.Event = field(default_factory=threading.Event)
    dry_run: bool = False
    local_now: Callable[[], datetime] = datetime.now
    settings_override: dict[str, Any] = field(default_factory=dict)
    on_plan: PlanHook | None = None
    observer: ExecutionObserver | None = None
    read_first: tuple[VmId, ...] = ()


@dataclass(frozen=True)
class RunReport:
    """The result of one cycle.

    execution: None when nothing was executed (not applying, balancing disabled, or standby).
    standby: why this instance did not act (HA leader gate), else None.
    """

    started_at: float
    finished_at: float
    snapshot: ClusterSnapshot | None
    constraints: ConstraintSet | None
    maintenance_nodes: frozenset[str]
    plan: Plan | None
    execution: ExecutionReport | None = None
    applied: bool = False
    enrich_rounds: int = 0
    standby: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        return exit_code(self.execution)

    def summary(self) -> dict[str, Any]:
        totals = self.execution.totals if self.execution else {}
        return {
            "planned": len(self.plan.migrations) if self.plan else 0,
            "applied": self.applied,
            "standby": self.standby,
            "triggered": bool(self.plan and self.plan.triggered),
            "imbalance_before": self.plan.imbalance_before if self.plan else None,
            "imbalance_after": self.plan.imbalance_after if self.plan else None,
            **totals,
        }


def _plan(
    snapshot: ClusterSnapshot,
    deps: PipelineDeps,
    maintenance: frozenset[str],
    recent: dict[VmId, float],
    now: float,
    stages: _Stages | None = None,
    previous: Mapping[VmId, str] | None = None,
    last_move_at: float | None = None,
    departed: Mapping[VmId, frozenset[str]] | None = None,
) -> tuple[ClusterSnapshot, ConstraintSet, Plan, int]:
    """Plan, then read the movers' configs; re-plan while a mover proves immovable or costlier.

    previous: last cycle's planned moves of this cluster (preferred while still about as good);
    last_move_at: when its latest balancing migration finished (the PSI window).
    With `solver.enable` these rounds plan greedily; once their facts settle, CP-SAT plans from
    them (it starts from the greedy plan), and its own new movers get one more round: the solver
    runs at most twice per cycle, not once per round.
    """
    config = deps.config
    policy = policy_from_config(config)
    solver_plans = 2 if policy.solver.enable else 0
    current = replace(policy, solver=replace(policy.solver, enable=False)) if solver_plans else policy
    enriched: set[VmId] = set()
    rounds = 0
    stages = stages or _Stages()
    asked = sorted(v for v in deps.read_first if snapshot.guest(v) is not None)
    if asked:
        snapshot = enrich_guests(deps.client, snapshot, asked)
        enriched |= set(asked)
    while True:
        mark = time.perf_counter()
        constraints = derive_constraints(snapshot, config, maintenance)
        mark = stages.add("derive", mark)
        problem = PlanningProblem(
            snapshot,
            constraints,
            current,
            recent,
            now,
            last_move_at,
            previous or {},
            recently_left=departed or {},
        )
        plan = plan_cycle(problem)
        stages.add("plan", mark)
        if current is policy and solver_plans:
            solver_plans -= 1
        movers = {m.vmid for m in plan.migrations} - enriched
        changed: list[VmId] = []
        last = current is policy and solver_plans == 0 and policy.solver.enable
        solving = policy.solver.enable and current is policy
        if movers and not last and (rounds < MAX_ENRICH_ROUNDS or solving):
            rounds += 1
            mark = time.perf_counter()
            snapshot = enrich_guests(deps.client, snapshot, sorted(movers))
            stages.add("collect", mark)
            enriched |= movers
            excluded_after = derive_constraints(snapshot, config, maintenance).excluded()
            before = constraints.excluded()
            changed = [
                v for v in sorted(movers) if _worse(snapshot, v, v in excluded_after and v not in before)
            ]
        if not changed:
            if current is not policy:  # the greedy rounds settled: CP-SAT plans from their facts
                current = policy
                continue
            return snapshot, constraints, plan, rounds
        log.info("re-planning: guests %s turned out pinned or costlier to move", ", ".join(map(str, changed)))


def _log_move_inputs(snapshot: ClusterSnapshot, m: Migration) -> None:
    """DEBUG: what the planner knew about a move (never a secret: sizes, nodes, rules)."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    g = snapshot.guest(m.vmid)
    size = (
        f"mem used {g.usage.mem_bytes} of {g.allocated.mem_bytes} B, cpu {g.usage.cpu_milli / 1000:.2f} "
        f"of {g.allocated.cpu_milli / 1000:.0f} vCPU, local disks {g.local_disk_bytes} B, tags "
        f"{','.join(g.tags) or '-'}, pool {g.pool or '-'}, status {g.status}"
        if g is not None
        else "guest not in snapshot"
    )
    log.debug(
        "planned move inputs: %s %d %s → %s step %d after %s; %s; copies %d B; imbalance %.3f → %.3f; "
        "HA-managed %s",
        m.kind.value,
        m.vmid,
        m.source,
        m.target,
        m.step + 1,
        ",".join(map(str, m.depends_on)) or "nothing",
        size,
        m.bytes_to_copy,
        m.imbalance_before,
        m.imbalance_after,
        m.ha_managed,
    )


def _worse(snapshot: ClusterSnapshot, vmid: VmId, newly_excluded: bool) -> bool:
    """Did reading this mover's config show it cannot move, or that moving it copies disks?"""
    guest = snapshot.guest(vmid)
    return newly_excluded or (guest is not None and bool(guest.local_disk_bytes or guest.local_devices))


def _drained(
    snapshot: ClusterSnapshot, constraints: ConstraintSet, maintenance: frozenset[str]
) -> frozenset[str]:
    return constraints.drained_nodes() | maintenance | {n.name for n in snapshot.nodes if n.ha_maintenance}


def run_once(deps: PipelineDeps, apply: bool) -> RunReport:
    """Run one cycle; raise only on errors the caller must see (ApiError, ConfigError, PlanningError)."""
    from proxlb.service.leader import standby_reason

    config = deps.config
    started = deps.clock.now()
    standby = standby_reason(deps.client, config) if config.service.enable_ha else None
    if standby is not None:
        log.info("standby: %s", standby)
        return RunReport(started, deps.clock.now(), None, None, frozenset(), None, standby=standby)
    stages = _Stages()
    mark = time.perf_counter()
    snapshot = collect_snapshot(deps.client, config, started)
    unfit = reserve_problems(config.balancing, snapshot.nodes)
    if unfit:  # known only now that capacities are read: nothing is planned on a wrong reserve
        raise ConfigError("; ".join(unfit), unfit)
    deps.state.bind(snapshot.identity)  # every remembered row below belongs to this cluster only
    cpu_history = deps.state.cpu_history(since=started - CPU_HISTORY_MAX_AGE_SECONDS)
    snapshot = with_smoothed_cpu(snapshot, cpu_history)
    stages.add("collect", mark)
    reconcile(deps.state, snapshot, started)  # moves a killed or timed-out run left unsettled
    deps.state.record_cpu({g.vmid: float(g.usage.cpu_milli) for g in snapshot.guests if g.running}, started)
    maintenance = active_maintenance_nodes(config, deps.local_now())
    recent = deps.state.recent_moves(since=started - config.balancing.cooldown_minutes * 60.0)
    previous = deps.state.planned_moves()
    last_move_at = deps.state.last_move_finished(MigrationReason.BALANCE.value)
    bal = config.balancing
    departed = recently_left(deps.state, started, bal.cooldown_minutes, bal.return_window_cycles)
    snapshot, constraints, plan, rounds = _plan(
        snapshot, deps, maintenance, recent, started, stages, previous, last_move_at, departed
    )
    # remembered for the next cycle's plan (dry run or not): a dry run previews the --once after it
    deps.state.record_planned_moves({m.vmid: m.target for m in plan.migrations}, started)
    for stage in ("collect", "derive", "plan"):
        stages.log(stage)
    log.info(
        "plan: %d migration(s); imbalance %.1f → %.1f%s",
        len(plan.migrations),
        plan.imbalance_before,
        plan.imbalance_after,
        f" ({plan.trigger_reason})" if plan.trigger_reason else "",
    )
    for warning in plan.warnings:
        log.warning("plan: %s", warning)
    if plan.stopped_by:
        log.info("plan stopped above balanciness, held back by: %s", stopped_sentence(plan.stopped_by))
    for m in plan.migrations:
        log.info(
            "planned: %s %d (%s) %s → %s [%s] %s",
            m.kind.value,
            m.vmid,
            m.name,
            m.source,
            m.target,
            m.reason.value,
            m.detail,
        )
        _log_move_inputs(snapshot, m)
    if deps.on_plan is not None:
        deps.on_plan(snapshot, constraints, plan)
    execution: ExecutionReport | None = None
    applied = apply and config.balancing.enable
    if apply and not config.balancing.enable:
        log.info("balancing.enable is false: the plan is shown, nothing is migrated")
    if applied and plan.migrations:
        settings = ExecutionSettings.from_config(
            config, dry_run=deps.dry_run, drained_nodes=_drained(snapshot, constraints, maintenance)
        )
        settings = _override(
            settings,
            {
                "node_versions": {n.name: n.pve_version for n in snapshot.nodes},
                "inflight_targets": inflight_targets(snapshot.guests),
                "quorate": snapshot.quorate,
            },
        )
        if deps.settings_override:
            settings = _override(settings, deps.settings_override)
        mark = time.perf_counter()
        recorder = HistoryRecorder(deps.state, deps.observer)  # each outcome stored as it happens
        execution = execute_plan(plan, deps.client, settings, deps.clock, deps.stop_event, recorder)
        stages.add("execute", mark)
        stages.log("execute")
        recorder.flush(execution.outcomes, execution.finished_at)
        counts = ", ".join(f"{n} {state}" for state, n in execution.totals.items() if n)
        log.info("execution: %s in %.0f s", counts or "nothing", execution.seconds)
    report = RunReport(
        started_at=started,
        finished_at=deps.clock.now(),
        snapshot=snapshot,
        constraints=constraints,
        maintenance_nodes=maintenance,
        plan=plan,
        execution=execution,
        applied=applied,
        enrich_rounds=rounds,
        warnings=tuple(dict.fromkeys(snapshot.warnings + constraints.warnings + plan.warnings)),
    )
    deps.state.record_run(report.summary(), report.started_at, report.finished_at)
    return report


def _override(settings: ExecutionSettings, values: dict[str, Any]) -> ExecutionSettings:
    from dataclasses import replace

    return replace(settings, **values)
