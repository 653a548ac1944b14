"""The one safety net every plan passes: replay it step by step and list every broken rule. Pure.

Checked at every step: the guest is where the move starts; targets are online, known and not
drained; memory stays within capacity − reserve on every target while moves are in flight; no
strict anti-affinity pair comes to share a node that did not share one before. Checked on the
whole plan: guests that may not move (excluded, locked, template, local devices, type) never move;
no guest moves twice unless its earlier moves are PARKING; dependencies point to earlier steps;
strict pins hold for moved guests; CPU overcommit, disk and (in `assigned` mode / without
overprovisioning) assigned memory fit on every node that received guests; strict affinity groups
that were together stay together; the migration budget holds (parking moves are not counted).
"""

from __future__ import annotations

from collections import Counter

from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason, Plan
from proxlb.planning.metrics import LoadState
from proxlb.planning.policy import Mode
from proxlb.planning.problem import PlanningProblem, fixed_reason


def _anti_pairs(problem: PlanningProblem, placement: dict[VmId, str]) -> set[tuple[VmId, VmId]]:
    pairs: set[tuple[VmId, VmId]] = set()
    for rule in problem.constraints.anti_affinities:
        if not rule.strict:
            continue
        members = sorted(m for m in rule.members if m in placement)
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if placement[a] == placement[b]:
                    pairs.add((a, b))
    return pairs


def _shared_in_flight(
    problem: PlanningProblem, placement: dict[VmId, str], moving: dict[VmId, str]
) -> list[tuple[VmId, VmId, str]]:
    """Strict anti-affinity pairs that share a node while this step's moves are in flight."""
    out = []
    for rule in problem.constraints.anti_affinities:
        if not rule.strict or not any(v in moving for v in rule.members):
            continue
        members = sorted(m for m in rule.members if m in placement)
        where = {v: {placement[v], moving[v]} if v in moving else {placement[v]} for v in members}
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                common = where[a] & where[b]
                if common and (a in moving or b in moving):
                    out.append((a, b, min(common)))
    return out


def validate(plan: Plan, problem: PlanningProblem) -> tuple[str, ...]:
    """Every violation of a hard rule by `plan` on `problem` (empty tuple = valid)."""
    errors: list[str] = []
    snap, idx, pol = problem.snapshot, problem.index, problem.policy
    state = LoadState.of(problem)
    start_pairs = _anti_pairs(problem, state.placement)
    start_place = dict(state.placement)
    start_fill = _highest_fill(state)
    counts = Counter(m.vmid for m in plan.migrations)
    for vmid, n in counts.items():
        if n == 1:
            continue
        legs = [m for m in plan.migrations if m.vmid == vmid]
        if any(m.reason is not MigrationReason.PARKING for m in legs[:-1]):
            errors.append(f"guest {vmid} moves {n} times without parking")
    real = [m for m in plan.migrations if m.reason is not MigrationReason.PARKING]
    if pol.max_migrations is not None and len(real) > pol.max_migrations:
        errors.append(f"{len(real)} migrations exceed max_migrations {pol.max_migrations}")
    step_of: dict[VmId, int] = {}
    received: set[str] = set()
    balance_into: set[str] = set()
    for step in sorted({m.step for m in plan.migrations}):
        batch = [m for m in plan.migrations if m.step == step]
        seen: set[VmId] = set()
        incoming: dict[str, int] = {}
        for m in batch:
            guest = snap.guest(m.vmid)
            if guest is None:
                errors.append(f"step {step}: unknown guest {m.vmid}")
                continue
            why = fixed_reason(problem, guest)
            if why is not None:
                errors.append(f"step {step}: guest {m.vmid} may not move ({why.detail})")
            if m.vmid in seen:
                errors.append(f"step {step}: guest {m.vmid} moves twice in one step")
            seen.add(m.vmid)
            if state.placement.get(m.vmid) != m.source:
                errors.append(
                    f"step {step}: guest {m.vmid} is on {state.placement.get(m.vmid)}, not {m.source}"
                )
            if snap.node(m.target) is None or m.target not in idx.online:
                errors.append(f"step {step}: target {m.target} of guest {m.vmid} is unknown or offline")
            elif m.target in idx.drained:
                errors.append(f"step {step}: target {m.target} of guest {m.vmid} is drained")
            for dep in m.depends_on:
                if step_of.get(dep, step) >= step:
                    errors.append(
                        f"step {step}: guest {m.vmid} depends on {dep}, which does not move earlier"
                    )
            need = state.gload[m.vmid].used_mem
            if m.target in state.used_mem and need:
                incoming[m.target] = incoming.get(m.target, 0) + need
        for node, need in sorted(incoming.items()):
            if state.used_mem[node] + need > state.mem_limit[node]:
                reach = (state.used_mem[node] + need) / 2**30
                errors.append(
                    f"step {step}: memory on {node} would reach {reach:.1f} GiB "
                    f"> {state.mem_limit[node] / 2**30:.1f} GiB usable"
                )
        moving = {m.vmid: m.target for m in batch}
        for a, b, node in _shared_in_flight(problem, state.placement, moving):
            if (a, b) not in start_pairs:
                errors.append(f"step {step}: anti-affinity pair {a}/{b} shares {node}")
        for m in batch:
            if m.target in state.used_mem and m.vmid in state.placement:
                state.move(m.vmid, m.target)
                step_of[m.vmid] = step
                received.add(m.target)
                if m.reason is MigrationReason.BALANCE:
                    balance_into.add(m.target)
    errors.extend(_final_checks(problem, state, start_place, received, balance_into, plan, start_fill))
    return tuple(errors)


def _highest_fill(state: LoadState) -> tuple[float, float]:
    """Before the plan: the highest vCPU/cap ratio and assigned-memory/limit fill of any online node."""
    vcpu = [state.vcpu[n] / cap for n, cap in state.vcpu_cap.items() if 0 < cap < float("inf")]
    assigned = [state.assigned[n] / lim for n, lim in state.mem_limit.items() if lim > 0]
    return max(vcpu, default=1.0), max(assigned, default=1.0)


def _final_checks(
    problem: PlanningProblem,
    state: LoadState,
    start: dict[VmId, str],
    received: set[str],
    balance_into: set[str],
    plan: Plan,
    start_fill: tuple[float, float],
) -> list[str]:
    errors: list[str] = []
    start_vcpu_ratio, start_assigned_fill = start_fill
    idx, pol = problem.index, problem.policy
    for m in plan.migrations:
        allowed = idx.strict_pins.get(m.vmid)
        if allowed is not None and m.target not in allowed:
            errors.append(f"guest {m.vmid} moves to {m.target}, outside its strict pin {sorted(allowed)}")
    for node in sorted(received):
        arriving = [
            state.gload[m.vmid] for m in plan.migrations if m.target == node and m.vmid in state.gload
        ]
        # Past the cap only as far as the cluster already was (see checks._cpu_overcommit).
        capped = pol.cpu_overcommit is not None
        vcpu_cap = max(state.vcpu_cap[node], start_vcpu_ratio * state.vcpu_cap[node]) if capped else 0.0
        if capped and state.vcpu[node] > vcpu_cap + 1e-6 and any(g.vcpu_milli for g in arriving):
            errors.append(f"{node}: {state.vcpu[node] / 1000:.0f} vCPUs exceed the cpu_overcommit cap")
        over_disk = 0 < state.disk_limit[node] < state.disk[node]
        if over_disk and any(g.disk for g in arriving):
            errors.append(f"{node}: local disks exceed usable disk")
        over_limit = state.assigned[node] > state.mem_limit[node] and any(g.assigned_mem for g in arriving)
        # overprovisioning: false tolerates what the cluster already was (checks._overprovisioning)
        over_start = state.assigned[node] > start_assigned_fill * state.mem_limit[node] + 1
        if over_limit and (
            pol.mode is Mode.ASSIGNED or (not pol.overprovisioning and node in balance_into and over_start)
        ):
            errors.append(f"{node}: assigned memory exceeds capacity − reserve")
    for rule in problem.constraints.affinities:
        clash = any(
            a.strict and len(a.members & rule.members) > 1 for a in problem.constraints.anti_affinities
        )
        if not rule.strict or clash:  # keep-apart wins over keep-together (reported as unmet)
            continue
        before = {start[v] for v in rule.members if v in start}
        after = {state.placement[v] for v in rule.members if v in state.placement}
        if len(before) == 1 and len(after) > 1:
            errors.append(f"affinity {rule.group}: members split over {', '.join(sorted(after))}")
    return errors
