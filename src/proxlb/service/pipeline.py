"""One ProxLB cycle as named stages exchanging frozen values: read inputs → plan → execute → remember.

- `read_inputs`: collect the snapshot, check reserves, bind the store to the cluster, smooth CPU,
  reconcile unsettled moves, and read cooldowns, the previous plan, the PSI window and return
  windows from the store → `CycleInputs`;
- `plan_stage`: constraints + the cycle's ONE `PlanningProblem` + `plan_cycle`, re-planned while a
  mover's configuration proves it immovable or costlier (enrichment, at most 3 rounds) → `Planned`;
- `execute_stage`: carry the plan out with the snapshot's facts as an `ExecutionContext`;
- `remember_plan` / `remember_run`: what the next cycle needs (planned moves, the run summary).
`RunReport` carries the problem, so `explain`, `best-node`, the gain curve and the HTML report judge
the very problem the planner planned. Log wording comes from proxlb.report.sentences.

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
from proxlb.errors import ApiError, ConfigError
from proxlb.execute.executor import execute_plan
from proxlb.execute.jobs import MigrationApi
from proxlb.execute.model import (
    Clock,
    ExecutionContext,
    ExecutionReport,
    ExecutionSettings,
    PollIntervals,
    exit_code,
)
from proxlb.execute.progress import ExecutionObserver
from proxlb.exit_codes import ExitCode
from proxlb.planning import PlanningProblem, SolverBudget, Solving, plan_cycle, policy_from_config
from proxlb.report.sentences import move_inputs_line, plan_lines
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
    poll: how often running migration tasks are polled.
    """

    config: ProxlbConfig
    client: PipelineClient
    state: StateStore
    clock: Clock
    stop_event: threading.Event = field(default_factory=threading.Event)
    dry_run: bool = False
    local_now: Callable[[], datetime] = datetime.now
    poll: PollIntervals = field(default_factory=PollIntervals)
    on_plan: PlanHook | None = None
    observer: ExecutionObserver | None = None
    read_first: tuple[VmId, ...] = ()
    solver_clock: Callable[[], float] = time.monotonic  # the solver's wall-clock deadline runs on it


@dataclass(frozen=True)
class RunReport:
    """The result of one cycle.

    execution: None when nothing was executed (not applying, balancing disabled, or standby).
    standby: why this instance did not act (HA leader gate), else None.
    problem: the cycle's one planning problem (None for a standby cycle); the plan was made from it.
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
    problem: PlanningProblem | None = None

    @property
    def exit_code(self) -> ExitCode:
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


@dataclass(frozen=True)
class CycleInputs:
    """What a cycle plans from: the (smoothed) snapshot and what the store remembers.

    recent: vmid → when its last migration finished (cooldowns); previous: last cycle's planned
    moves of this cluster; last_move_at: when its latest balancing migration finished (the PSI
    window); departed: vmid → nodes it left within the return window.
    """

    started: float
    snapshot: ClusterSnapshot
    maintenance: frozenset[str]
    recent: Mapping[VmId, float]
    previous: Mapping[VmId, str]
    last_move_at: float | None
    departed: Mapping[VmId, frozenset[str]]


@dataclass(frozen=True)
class Planned:
    """The plan stage's result: the final snapshot (movers' configs read), its constraints, the one
    problem the plan was made from, the plan, and how many enrichment rounds it took."""

    snapshot: ClusterSnapshot
    constraints: ConstraintSet
    problem: PlanningProblem
    plan: Plan
    rounds: int


def read_inputs(deps: PipelineDeps, started: float, stages: _Stages) -> CycleInputs:
    """Collect the cluster and read everything the store remembers for it (binds the store)."""
    config = deps.config
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
    bal = config.balancing
    return CycleInputs(
        started=started,
        snapshot=snapshot,
        maintenance=active_maintenance_nodes(config, deps.local_now()),
        recent=deps.state.recent_moves(since=started - bal.cooldown_minutes * 60.0),
        previous=deps.state.planned_moves(),
        last_move_at=deps.state.last_move_finished(MigrationReason.BALANCE.value),
        departed=recently_left(deps.state, started, bal.cooldown_minutes, bal.return_window_cycles),
    )


def plan_stage(deps: PipelineDeps, inputs: CycleInputs, stages: _Stages | None = None) -> Planned:
    """Plan, then read the movers' configs; re-plan while a mover proves immovable or costlier.

    With `solver.enable` these rounds plan greedily; once their facts settle, CP-SAT plans from
    them (it starts from the greedy plan), and its own new movers get one more round: the solver
    runs at most twice per cycle, not once per round, and both runs share one wall-clock budget of
    `solver.timeout_seconds` (planning/budget.py); the second starts from the first's plan without
    the guests its configs proved costlier, or from greedy's, whichever is better.
    """
    config = deps.config
    policy = policy_from_config(config)
    solver_plans = 2 if policy.solver.enable else 0
    current = replace(policy, solver=replace(policy.solver, enable=False)) if solver_plans else policy
    snapshot = inputs.snapshot
    enriched: set[VmId] = set()
    rounds = 0
    stages = stages or _Stages()
    previous: Mapping[VmId, str] = inputs.previous
    budget: SolverBudget | None = None  # starts at the cycle's first solver run
    warm: tuple[Migration, ...] = ()
    asked = sorted(v for v in deps.read_first if snapshot.guest(v) is not None)
    if asked:
        snapshot = enrich_guests(deps.client, snapshot, asked)
        enriched |= set(asked)
    while True:
        mark = time.perf_counter()
        constraints = derive_constraints(snapshot, config, inputs.maintenance)
        mark = stages.add("derive", mark)
        problem = PlanningProblem(
            snapshot,
            constraints,
            current,
            inputs.recent,
            inputs.started,
            inputs.last_move_at,
            previous,
            recently_left=inputs.departed,
        )
        if current is policy and solver_plans:
            if budget is None:
                budget = SolverBudget.starting(deps.solver_clock, policy.solver.timeout_seconds)
            plan = plan_cycle(problem, Solving(budget if solver_plans > 1 else budget.last_run(), warm))
            solver_plans -= 1
        else:
            plan = plan_cycle(problem)
        stages.add("plan", mark)
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
            excluded_after = derive_constraints(snapshot, config, inputs.maintenance).excluded()
            before = constraints.excluded()
            changed = [
                v for v in sorted(movers) if _worse(snapshot, v, v in excluded_after and v not in before)
            ]
        if plan.planner == "cpsat":  # the re-plan's warm start: this plan, less what proved costlier
            # (whole affinity groups: dropping one member's move would split the group it joined)
            costlier = {m for v in changed for m in problem.index.members_of(v)}
            warm = tuple(m for m in plan.migrations if m.vmid not in costlier)
        if not changed:
            if current is not policy:  # the greedy rounds settled: CP-SAT plans from their facts
                current = policy
                continue
            if budget is not None:
                limit = policy.solver.timeout_seconds
                log.debug("stage solver: %.0f ms of its %g s budget", (limit - budget.left()) * 1000, limit)
            return Planned(snapshot, constraints, problem, plan, rounds)
        log.debug(
            "plan revised: the configuration of guest(s) %s (local disks, devices, pinning) changed moves",
            ", ".join(map(str, changed)),
        )
        # a fresh plan, not a replay of this one: replayed, the moves of guests found to copy local
        # disks were kept while they still paid (32 × 4 000: 5 982 GiB to copy instead of 4 080)


def _log_plan(planned: Planned, shown: bool) -> None:
    """The plan in the log; when the CLI prints it as a table (`shown`), the summary and the moves
    go to DEBUG only, so each fact is said once."""
    levels = {
        "warning": logging.WARNING,
        "info": logging.INFO,
        "plan": logging.DEBUG if shown else logging.INFO,
    }
    for kind, line in plan_lines(planned.plan):
        log.log(levels[kind], "%s", line)
    if log.isEnabledFor(logging.DEBUG):
        for m in planned.plan.migrations:
            log.debug("planned move inputs: %s", move_inputs_line(planned.snapshot, m))


def _worse(snapshot: ClusterSnapshot, vmid: VmId, newly_excluded: bool) -> bool:
    """Did reading this mover's config show it cannot move, or that moving it copies disks?"""
    guest = snapshot.guest(vmid)
    return newly_excluded or (guest is not None and bool(guest.local_disk_bytes or guest.local_devices))


def execution_context(planned: Planned, maintenance: frozenset[str]) -> ExecutionContext:
    """The snapshot's facts the executor needs (typed; nothing merged into settings by name)."""
    snap = planned.snapshot
    drained = (
        planned.constraints.drained_nodes() | maintenance | {n.name for n in snap.nodes if n.ha_maintenance}
    )
    return ExecutionContext(
        node_versions={n.name: n.pve_version for n in snap.nodes},
        inflight_targets=inflight_targets(snap.guests),
        quorate=snap.quorate,
        drained_nodes=frozenset(drained),
    )


def execute_stage(
    deps: PipelineDeps, planned: Planned, context: ExecutionContext, stages: _Stages
) -> ExecutionReport:
    """Carry the plan out; every outcome is stored the moment it is known."""
    settings = ExecutionSettings.from_config(deps.config, dry_run=deps.dry_run).with_poll(deps.poll)
    mark = time.perf_counter()
    recorder = HistoryRecorder(deps.state, deps.observer)  # each outcome stored as it happens
    execution = execute_plan(
        planned.plan, deps.client, settings, deps.clock, deps.stop_event, recorder, context
    )
    stages.add("execute", mark)
    stages.log("execute")
    recorder.flush(execution.outcomes, execution.finished_at)
    counts = ", ".join(f"{n} {state}" for state, n in execution.totals.items() if n)
    said = logging.DEBUG if deps.on_plan is not None else logging.INFO  # the CLI prints the outcome
    log.log(said, "execution: %s in %.0f s", counts or "nothing", execution.seconds)
    return execution


def remember_plan(deps: PipelineDeps, plan: Plan, started: float) -> None:
    """The next cycle prefers these moves (dry run or not: a dry run previews the --once after it)."""
    deps.state.record_planned_moves({m.vmid: m.target for m in plan.migrations}, started)


def remember_run(deps: PipelineDeps, report: RunReport) -> None:
    deps.state.record_run(report.summary(), report.started_at, report.finished_at)


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
    bound_reads = getattr(deps.client, "set_read_deadline", None)  # the real client has it
    if bound_reads is not None:  # a cycle's reads end in bounded time, however slow the API is
        bound_reads(float(config.proxmox_api.cycle_read_timeout))
    try:
        inputs = read_inputs(deps, started, stages)
        planned = plan_stage(deps, inputs, stages)
    finally:  # the executor's own reads are bounded by its job timeouts
        refused = bound_reads(None) if bound_reads is not None else None
    if refused:  # an optional read was cut off: the plan rests on partial facts and is dropped
        raise ApiError(refused, 0, "", retryable=True)
    remember_plan(deps, planned.plan, started)
    for stage in ("collect", "derive", "plan"):
        stages.log(stage)
    _log_plan(planned, shown=deps.on_plan is not None)
    if deps.on_plan is not None:
        deps.on_plan(planned.snapshot, planned.constraints, planned.plan)
    applied = apply and config.balancing.enable
    if apply and not config.balancing.enable:
        log.info("balancing.enable is false: the plan is shown, nothing is migrated")
    execution = None
    if applied and planned.plan.migrations:
        execution = execute_stage(deps, planned, execution_context(planned, inputs.maintenance), stages)
    plan, snapshot, constraints = planned.plan, planned.snapshot, planned.constraints
    report = RunReport(
        started_at=started,
        finished_at=deps.clock.now(),
        snapshot=snapshot,
        constraints=constraints,
        maintenance_nodes=inputs.maintenance,
        plan=plan,
        execution=execution,
        applied=applied,
        enrich_rounds=planned.rounds,
        warnings=tuple(dict.fromkeys(snapshot.warnings + constraints.warnings + plan.warnings)),
        problem=planned.problem,
    )
    remember_run(deps, report)
    return report
