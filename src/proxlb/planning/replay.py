"""Plan stability: replay last cycle's planned moves before planning afresh. Pure.

A dry run is a preview of the `--once` that follows, and two cycles minutes apart on noisy metrics
should not swap the guests they pick. So the previous plan of this cluster (vmid → target, kept by
the service) is replayed first, move by move, each only while it is still valid and still does its
job: a drain move while its node is drained, a repair while its rule is broken, a balancing move
while balancing is wanted and it gains more than `min_improvement` + its cost, every move passing
every check. A replayed move keeps the reason it had in the plan that chose it: the member of a
broken anti-affinity rule that the repair leaves in place (`repair.anti_keeper`) moved for
balance, so it is replayed as a balancing move, never as a second repair of the same rule.
The repair and balancing phases then complete the plan from there. `planners.GreedyPlanner`
keeps this plan only when it agrees with the previous one at least as well as a fresh plan does and
ends within `plan_margin` pp of the fresh plan's spread.
"""

from __future__ import annotations

from collections.abc import Mapping

from proxlb.domain.model import VmId
from proxlb.domain.plan import MigrationReason
from proxlb.domain.resources import GIB
from proxlb.planning.checks import Move, first_failure
from proxlb.planning.draft import Draft
from proxlb.planning.repair import anti_keeper
from proxlb.planning.trigger import Trigger, Violation, balance_wanted

EPSILON_PP = 1e-6
AS_PLANNED = "as planned last cycle"


def replay(
    draft: Draft,
    previous: Mapping[VmId, str],
    trigger: Trigger,
    started: bool,
    cooldown: Mapping[VmId, float],
) -> bool:
    """Apply the still-valid moves of `previous` to the draft; returns whether balancing started.

    Runs on the fresh draft, so the trigger's repairs are the violations of its placement.
    """
    state, pb = draft.state, draft.problem
    broken: dict[VmId, Violation] = {}
    for v in trigger.repairs:
        keeper = anti_keeper(draft, v) if v.kind == "anti-affinity" else None
        for vmid in v.vmids:
            if vmid != keeper:
                broken.setdefault(vmid, v)
    for vmid, dst in previous.items():
        src = state.placement.get(vmid)
        if src is None or src == dst or vmid in draft.by_vmid or dst not in state.in_balance:
            continue
        unit = draft.sub_unit(vmid)
        if draft.unit_blocker(unit) is not None or not draft.budget_left():
            continue
        rule = broken.get(vmid)
        serves = ""
        if src in pb.index.drained:
            serves = f"leaves {rule.rule if rule else 'drained ' + src}"
            reason, detail = MigrationReason.DRAIN, f"{serves} → {dst}"
        elif rule is not None:
            serves = f"repairs {rule.rule}"
            reason, detail = MigrationReason.RULE, f"{serves} → {dst}"
        else:
            if vmid in cooldown or src not in state.in_balance:
                continue
            # within the noise band below the target, last cycle's move is still wanted: noise must
            # not decide whether the plan's last small move happens
            if not balance_wanted(state, starting=not started, slack=-pb.policy.noise_band)[0]:
                continue
            reason = MigrationReason.BALANCE
            load = Move.of(state, unit, dst, reason).load
            cost = pb.policy.cost_per_gib * load.copy_bytes / GIB
            gain, _ = state.gain(load, src, dst)
            if gain <= pb.policy.min_improvement + cost + EPSILON_PP:
                continue
            copied = load.copy_bytes / GIB
            detail = f"gains {gain:.1f} pp of balance (cost {cost:.1f} pp for {copied:.1f} GiB to copy)"
        mv = Move.of(state, unit, dst, reason)
        if first_failure(state, mv) is not None:
            continue
        draft.apply(mv, f"{detail}; {AS_PLANNED}", serves)
        started = started or reason is MigrationReason.BALANCE
    return started
