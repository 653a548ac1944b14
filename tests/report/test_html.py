"""The HTML report: self-contained, escaped, and showing nodes, charts, curve, plan, rules, outcome."""

from __future__ import annotations

import re
from dataclasses import replace

from proxlb.domain import Cause, CauseKind, Decision, StopCause, UnmetRule, Verdict, VmId
from proxlb.domain.decision import held
from proxlb.execute.model import ExecutionReport, MigrationOutcome, Outcome
from proxlb.planning import plan_cycle
from proxlb.planning.curve import gain_curve
from proxlb.report.html import ReportInput, render_html
from tests.planning.builders import cluster, drain, guest, node, problem, rules

NODES = [node("pve1"), node("pve2"), node("pve3")]


def _input(**changes: object) -> ReportInput:
    guests = [guest(100 + i, on="pve1", mem=f"{4 + i}G", name=f"web<{i}>") for i in range(8)]
    guests.append(guest(200, on="pve3", name="db"))
    pb = problem(cluster(NODES, guests), rules(drain("pve3")))
    plan = plan_cycle(pb)
    data = ReportInput(
        snapshot=pb.snapshot,
        constraints=pb.constraints,
        plan=plan,
        curve=gain_curve(pb, plan),
        mode="used",
        thresholds={"memory": 70.0, "cpu": None, "disk": None},
        generated_at=1_800_000_000.0,
    )
    return replace(data, **changes)  # type: ignore[arg-type]


def test_page_is_self_contained_and_has_every_section() -> None:
    data = _input()
    page = render_html(data)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert not re.search(r'(src|href)\s*=\s*"https?:', page)
    assert 'id="nodes"' in page and 'id="plan"' in page and 'id="curve"' in page
    assert page.count("<svg") == 4  # memory, cpu, local disk, gain curve
    assert 'id="node-charts"' in page and 'id="gain-curve"' in page
    for n in ("pve1", "pve2", "pve3"):
        assert f"<td>{n}</td>" in page
    assert "online, maintenance" in page  # pve3 is drained
    assert "threshold 70 %" in page and "#chart-proxlb-memory .axis.y .guides .major.line" in page
    assert "Dry run: nothing was migrated." in page
    for m in data.plan.migrations:
        assert f"<td class=num>{m.vmid}</td>" in page
        assert m.detail.replace("'", "&#x27;").replace(">", "&gt;") in page


def test_cluster_text_is_escaped() -> None:
    page = render_html(_input())
    assert "web<" not in page and "web&lt;" in page


def test_unmet_rules_stop_reason_and_outcome_are_shown() -> None:
    data = _input()
    plan = replace(
        data.plan,
        unmet=(UnmetRule("anti-affinity tag 'plb_anti_affinity_db'", "only 1 node <left>"),),
        stopped_by=(
            StopCause("cpu-overcommit", 12, "guest 107 would push pve3 past 2.0 vCPUs/core"),
            StopCause("cooldown", 1, "guest 104 moved <10 min> ago"),
        ),
    )
    m = data.plan.migrations[0]
    outcomes = (
        MigrationOutcome(
            m.vmid, m.name, m.kind, m.source, m.target, m.reason.value, Outcome.DONE, seconds=12.0
        ),
        MigrationOutcome(201, "x", m.kind, "pve1", "pve2", "balance", Outcome.FAILED, exitstatus="boom"),
    )
    ex = ExecutionReport(outcomes=outcomes, started_at=0.0, finished_at=30.0)
    page = render_html(replace(data, plan=plan, execution=ex, applied=True))
    assert 'id="unmet"' in page and "only 1 node &lt;left&gt;" in page
    assert 'id="stopped-by"' in page and "StopCause" not in page  # rendered, not a Python repr
    assert "<td>cpu-overcommit</td><td class=num>12</td>" in page
    assert "pve3 past 2.0 vCPUs/core" in page and "moved &lt;10 min&gt; ago" in page
    assert 'id="outcome"' in page and "Applied: done 1, failed 1 in 30 s." in page and "boom" in page


def test_why_guests_stay_is_grouped_by_reason() -> None:
    data = _input()
    decisions = {**data.plan.decisions}
    stop = Cause(CauseKind.STOP, "balanciness", "spread 3.0 pp ≤ balanciness/2")
    decisions.update({VmId(v): Decision(VmId(v), Verdict.STAYS, "pve1", stop) for v in (901, 902)})
    decisions[VmId(903)] = held(VmId(903), "pve1", Cause(CauseKind.RULE, "pin", "pinned <to> pve1"))
    page = render_html(replace(data, plan=replace(data.plan, decisions=decisions)))
    table = page[page.index('<table id="stays">') :]
    table = table[: table.index("</table>")]
    assert "<td>901, 902</td>" in table and "spread 3.0 pp ≤ balanciness/2" in table
    assert "pinned &lt;to&gt; pve1" in table
    listed = {int(v) for cell in re.findall(r"<td>([\d, …]+)</td>", table) for v in re.findall(r"\d+", cell)}
    assert listed and not listed & {m.vmid for m in data.plan.migrations}  # movers are in the plan table


def test_no_plan_still_renders() -> None:
    data = _input()
    plan = replace(data.plan, migrations=())
    page = render_html(replace(data, plan=plan, curve=data.curve[:1]))
    assert 'id="plan-empty"' in page and 'id="curve-none"' in page and page.count("<svg") == 4


def test_same_cycle_renders_the_same_bytes() -> None:
    data = _input()
    assert render_html(data) == render_html(data)
