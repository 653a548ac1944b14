"""Decision records (#15 item 1): a guest that stays carries a typed cause — which check, rule or
limit, its numbers with units, the guests that block it — and the one renderer makes the sentences
every output shows from it (golden wording)."""

from __future__ import annotations

from proxlb.domain import CauseKind, Verdict, VmId
from proxlb.planning import plan_cycle
from proxlb.report.sentences import cause_doc, decision_sentence
from tests.planning.builders import anti, cluster, guest, node, problem, rules


def test_a_check_rejection_names_the_check_its_target_and_the_blocking_guest() -> None:
    nodes = [node("pve1"), node("pve2", mem="64G", used_mem="60G"), node("pve3")]
    guests = [guest(100 + i, on="pve1", mem="16G") for i in range(4)]
    guests += [guest(200, on="pve3", mem="2G")]
    plan = plan_cycle(
        problem(cluster(nodes, guests), rules(*(anti(f"g{i}", 100 + i, 200) for i in range(4))))
    )
    assert plan.migrations == ()
    decision = plan.decisions[VmId(100)]
    assert decision.verdict is Verdict.HELD and decision.blocked_by == (VmId(200),)
    cause = decision.cause
    assert cause is not None and (cause.kind, cause.name, cause.target) == (
        CauseKind.CHECK,
        "anti-affinity",
        "pve3",
    )
    assert decision_sentence(decision) == (  # golden
        "stays: best target pve3 rejected (anti-affinity: anti-affinity g0: guest 200 already runs on pve3)"
    )
    assert cause_doc(decision)["blocked_by"] == [200]


def test_the_renderer_keeps_the_sentences_and_adds_the_structured_cause() -> None:
    guests = [guest(101, on="pve1", mem="30G"), guest(102, on="pve2", mem="16G")]
    plan = plan_cycle(
        problem(cluster([node("pve1", mem="100G"), node("pve2", mem="100G")], guests), balanciness=5)
    )
    decision = plan.decisions[VmId(101)]
    assert decision_sentence(decision) == (
        "stays: moving it would gain only 0.0 pp (< min_improvement 1 pp + cost 1.5 pp for 30.0 GiB to copy)"
    )
    doc = cause_doc(decision)
    assert doc["verdict"] == "held" and doc["kind"] == "limit" and doc["name"] == "min_improvement"
    assert {"name": "to_copy", "value": 30.0, "unit": "GiB"} in doc["numbers"]
