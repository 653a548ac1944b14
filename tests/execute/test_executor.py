from __future__ import annotations

import threading
from typing import Any

from proxlb.domain import GuestKind, Plan
from proxlb.execute.executor import execute_plan
from proxlb.execute.model import ExecutionReport, ExecutionSettings, Outcome, exit_code
from tests.execute.fakes import GIB, FakeClock, FakeCluster, G, N, mig, observed_peaks


def cluster(nodes: dict[str, N], guests: dict[int, G], **kw: Any) -> tuple[FakeCluster, FakeClock]:
    clock = FakeClock()
    fc = FakeCluster(clock=clock, nodes=nodes, guests=guests, **kw)
    clock.on_sleep.append(fc.advance)
    return fc, clock


def run(
    fc: FakeCluster, clock: FakeClock, plan: Plan, stop: threading.Event | None = None, **settings: Any
) -> ExecutionReport:
    s = ExecutionSettings(**{"poll_initial_seconds": 1.0, **settings})
    return execute_plan(plan, fc, s, clock, stop or threading.Event())


def three_nodes() -> dict[str, N]:
    return {"pve1": N(), "pve2": N(), "pve3": N()}


def outcomes(report: ExecutionReport) -> dict[int, Outcome]:
    return {o.vmid: o.outcome for o in report.outcomes}


def test_sequential_by_default_in_plan_order() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve1"), 102: G("pve1")})
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3"), mig(102, "pve1", "pve2")))
    report = run(fc, clock, plan)
    assert [w[1] for w in fc.writes] == [100, 101, 102]
    assert observed_peaks(fc).total == 1
    assert all(o.outcome is Outcome.DONE for o in report.outcomes)
    assert [fc.guests[v].node for v in (100, 101, 102)] == ["pve2", "pve3", "pve2"]
    assert report.ok and exit_code(report) == 0
    assert all(o.seconds >= 10 for o in report.outcomes)
    assert all(o.final_node == o.target for o in report.outcomes)


def test_parallel_respects_global_and_per_node_limits_and_streams() -> None:
    nodes = {f"pve{i}": N(maxmem=256 * GIB) for i in range(1, 6)}
    guests = {100 + i: G("pve1") for i in range(12)}
    fc, clock = cluster(nodes, guests, durations={100 + i: 5.0 + i for i in range(12)})
    targets = ["pve2", "pve3", "pve4", "pve5"]
    plan = Plan("fp", tuple(mig(100 + i, "pve1", targets[i % 4]) for i in range(12)))
    report = run(fc, clock, plan, parallel=True, parallel_jobs=5, max_node_outflow=3, max_node_inflow=1)
    assert observed_peaks(fc).total == 3  # outflow of pve1 is the binding limit
    assert observed_peaks(fc).outgoing == {"pve1": 3}
    assert all(v == 1 for v in observed_peaks(fc).incoming.values())
    assert report.count(Outcome.DONE) == 12
    # streaming: one GET /cluster/resources per scheduling round, far fewer than one per guest poll
    assert fc.reads.count("/cluster/resources") <= 12


def test_global_limit_binds_when_nodes_are_many() -> None:
    nodes = {f"pve{i}": N(maxmem=256 * GIB) for i in range(1, 9)}
    guests = {100 + i: G(f"pve{1 + i % 4}") for i in range(8)}
    fc, clock = cluster(nodes, guests)
    plan = Plan("fp", tuple(mig(100 + i, f"pve{1 + i % 4}", f"pve{5 + i % 4}") for i in range(8)))
    report = run(fc, clock, plan, parallel=True, parallel_jobs=2, max_node_inflow=4)
    assert observed_peaks(fc).total == 2
    assert report.count(Outcome.DONE) == 8


def test_dependencies_and_steps_are_respected() -> None:
    # swap-like: 101 must leave pve2 before 100 arrives there
    nodes = {
        "pve1": N(maxmem=10 * GIB, base_mem=2 * GIB),
        "pve2": N(maxmem=10 * GIB, base_mem=2 * GIB),
        "pve3": N(),
    }
    guests = {100: G("pve1", mem=6 * GIB), 101: G("pve2", mem=6 * GIB)}
    fc, clock = cluster(nodes, guests)
    plan = Plan("fp", (mig(100, "pve1", "pve2", step=1, depends_on=(101,)), mig(101, "pve2", "pve3", step=0)))
    report = run(fc, clock, plan, parallel=True, parallel_jobs=5, max_node_inflow=2)
    assert [w[1] for w in fc.writes] == [101, 100]
    assert report.count(Outcome.DONE) == 2
    assert max(fc.max_mem_ratio.values()) <= 1.0


def test_failed_dependency_skips_dependent_move() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve2")}, failures={101: "migration aborted"})
    plan = Plan("fp", (mig(101, "pve2", "pve3"), mig(100, "pve1", "pve2", step=1, depends_on=(101,))))
    report = run(fc, clock, plan)
    by = {o.vmid: o for o in report.outcomes}
    assert by[101].outcome is Outcome.FAILED and by[101].exitstatus == "migration aborted"
    assert by[101].final_node == "pve2"  # read back from PVE
    assert by[100].outcome is Outcome.SKIPPED and "101" in by[100].detail
    assert [w[1] for w in fc.writes] == [101]
    assert not report.ok and exit_code(report) != 0


def test_stale_state_skips_with_reasons() -> None:
    nodes = {"pve1": N(), "pve2": N(), "pve3": N(online=False), "pve4": N(maxmem=8 * GIB, base_mem=7 * GIB)}
    guests = {
        100: G("pve2"),  # moved away by someone else
        101: G("pve1", lock="backup"),
        102: G("pve1"),  # target offline
        103: G("pve1", mem=4 * GIB),  # no room on pve4
        104: G("pve1"),  # drained target
        105: G("pve1"),  # PVE precondition refuses
        106: G("pve1"),  # fine
    }
    fc, clock = cluster(nodes, guests, precondition_refuse={105: "local resources pin it: hostpci0"})
    plan = Plan(
        "fp",
        (
            mig(100, "pve1", "pve3"),
            mig(101, "pve1", "pve2"),
            mig(102, "pve1", "pve3"),
            mig(103, "pve1", "pve4"),
            mig(104, "pve1", "pve5"),
            mig(105, "pve1", "pve2"),
            mig(106, "pve1", "pve2"),
        ),
    )
    fc.nodes["pve5"] = N()
    report = run(fc, clock, plan, drained_nodes=frozenset({"pve5"}))
    by = {o.vmid: o for o in report.outcomes}
    assert by[100].outcome is Outcome.SKIPPED and "pve2" in by[100].detail
    assert "locked (backup)" in by[101].detail
    assert "offline" in by[102].detail
    assert "memory" in by[103].detail
    assert "drained" in by[104].detail
    assert "hostpci0" in by[105].detail
    assert by[106].outcome is Outcome.DONE
    assert [w[1] for w in fc.writes] == [106]
    assert report.ok  # skips are not failures


def test_refused_post_is_failed_with_pve_message() -> None:
    fc, clock = cluster(
        three_nodes(), {100: G("pve1"), 101: G("pve1")}, refuse={100: "VM is locked (backup)"}
    )
    report = run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3"))))
    by = {o.vmid: o for o in report.outcomes}
    assert by[100].outcome is Outcome.FAILED and by[100].exitstatus == "VM is locked (backup)"
    assert by[101].outcome is Outcome.DONE


def test_hung_task_times_out_in_seconds_and_rest_continues() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve1")}, hangs={100})
    start = clock.now()
    report = run(
        fc, clock, Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3"))), job_timeout_seconds=120
    )
    by = {o.vmid: o for o in report.outcomes}
    assert by[100].outcome is Outcome.TIMEOUT and by[100].final_node == "pve1"
    assert 120 <= by[100].seconds <= 135
    assert by[101].outcome is Outcome.DONE
    assert clock.now() - start < 300
    # polling backs off: first poll after 1 s, never more than 10 s apart
    assert min(clock.sleeps) >= 0 and max(clock.sleeps) <= 10.0 + 1e-9


def test_never_two_migrations_of_one_guest_at_once() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1")})
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(100, "pve2", "pve3", step=1)))
    report = run(fc, clock, plan, parallel=True, parallel_jobs=5, max_node_inflow=3)
    assert observed_peaks(fc).total == 1
    assert outcomes(report) == {100: Outcome.DONE}
    assert fc.guests[100].node == "pve3"


def test_ha_vm_and_ct_follow_hamigrate_to_real_task() -> None:
    guests = {100: G("pve1", ha=True), 200: G("pve1", kind="lxc", ha=True)}
    fc, clock = cluster(three_nodes(), guests)
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(200, "pve1", "pve3", kind=GuestKind.LXC)))
    report = run(fc, clock, plan, parallel=True, parallel_jobs=2)
    by = {o.vmid: o for o in report.outcomes}
    assert by[100].outcome is Outcome.DONE and ":qmigrate:" in (by[100].upid or "")
    assert by[200].outcome is Outcome.DONE and ":vzmigrate:" in (by[200].upid or "")
    assert by[100].ha_managed and by[200].ha_managed
    assert by[200].seconds >= 1 + 3 + 10  # hamigrate + LRM delay + real task were all waited for
    assert fc.guests[100].node == "pve2" and fc.guests[200].node == "pve3"


def test_qemu_parameters_online_and_conntrack_version_aware() -> None:
    nodes = {"pve1": N(), "pve2": N(), "old": N(version=(8, 4, 1))}
    guests = {100: G("pve1"), 101: G("pve1", status="stopped"), 102: G("pve1"), 200: G("pve1", kind="lxc")}
    fc, clock = cluster(nodes, guests)
    plan = Plan(
        "fp",
        (
            mig(100, "pve1", "pve2"),
            mig(101, "pve1", "pve2"),
            mig(102, "pve1", "old"),
            mig(200, "pve1", "pve2", kind=GuestKind.LXC),
        ),
    )
    run(fc, clock, plan, with_local_disks=False)
    params = {w[1]: w[2] for w in fc.writes}
    assert params[100] == {"target": "pve2", "online": True, "with_local_disks": False, "conntrack": True}
    assert params[101]["online"] is False and params[101]["conntrack"] is False
    assert params[102]["conntrack"] is False  # PVE 8 target
    assert params[200] == {"target": "pve2", "restart": True}


def test_known_versions_are_used_without_asking() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1")})
    fc.node_versions = None  # type: ignore[assignment,method-assign]  # must not be called
    run(
        fc,
        clock,
        Plan("fp", (mig(100, "pve1", "pve2"),)),
        node_versions={"pve1": (9, 0, 1), "pve2": (8, 4, 0)},
    )
    assert fc.writes[0][2]["conntrack"] is False


def test_running_vm_skipped_when_live_off() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve1", status="stopped")})
    report = run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve2"))), live=False)
    assert outcomes(report) == {100: Outcome.SKIPPED, 101: Outcome.DONE}


def test_dry_run_sends_nothing() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1")})
    report = run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"),)), dry_run=True)
    assert fc.writes == [] and fc.reads == []
    assert report.dry_run and report.outcomes[0].outcome is Outcome.SKIPPED
    assert "dry run" in report.outcomes[0].detail


def test_stop_event_cancels_pending_and_follows_in_flight() -> None:
    guests = {100 + i: G("pve1") for i in range(4)}
    fc, clock = cluster(three_nodes(), guests)
    stop = threading.Event()

    def stop_soon(t: float) -> None:
        if len(fc.writes) >= 2:
            stop.set()

    clock.on_sleep.append(stop_soon)
    plan = Plan("fp", tuple(mig(100 + i, "pve1", "pve2" if i % 2 else "pve3") for i in range(4)))
    report = run(fc, clock, plan, stop=stop, parallel=True, parallel_jobs=2, max_node_inflow=1)
    assert report.stopped
    by = outcomes(report)
    assert by[100] is Outcome.DONE and by[101] is Outcome.DONE  # in flight: followed to the end
    assert by[102] is Outcome.CANCELLED and by[103] is Outcome.CANCELLED
    assert len(fc.writes) == 2


def test_stop_grace_bounds_following_a_hung_task() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve1")}, hangs={100})
    stop = threading.Event()
    clock.on_sleep.append(lambda t: stop.set())
    start = clock.now()
    report = run(
        fc,
        clock,
        Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3"))),
        stop=stop,
        stop_grace_seconds=30,
        job_timeout_seconds=10_000,
    )
    by = outcomes(report)
    assert by[100] is Outcome.TIMEOUT and by[101] is Outcome.CANCELLED
    assert clock.now() - start <= 40


def test_api_down_while_polling_keeps_following() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1")})

    def flap(t: float) -> None:
        fc.down = 1_000_002 < t < 1_000_008

    clock.on_sleep.append(flap)
    report = run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"),)))
    assert report.outcomes[0].outcome is Outcome.DONE


def test_state_unavailable_skips_after_retries() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1")})
    fc.down = True
    report = run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"),)))
    assert report.outcomes[0].outcome is Outcome.SKIPPED
    assert "unavailable" in report.outcomes[0].detail
    assert fc.writes == []


def test_evacuation_never_overfills_a_node() -> None:
    nodes = {
        "pve1": N(maxmem=64 * GIB),
        "pve2": N(maxmem=16 * GIB, base_mem=2 * GIB),
        "pve3": N(maxmem=16 * GIB, base_mem=2 * GIB),
    }
    guests = {100 + i: G("pve1", mem=4 * GIB) for i in range(8)}
    fc, clock = cluster(nodes, guests)
    plan = Plan("fp", tuple(mig(100 + i, "pve1", "pve2" if i % 2 else "pve3") for i in range(8)))
    report = run(fc, clock, plan, parallel=True, parallel_jobs=4, max_node_inflow=2)
    # 3 fit on each target (2 + 3*4 = 14 <= 16); the 4th each would overfill → skipped, not started
    assert report.count(Outcome.DONE) == 6 and report.count(Outcome.SKIPPED) == 2
    assert max(fc.max_mem_ratio[n] for n in ("pve2", "pve3")) <= 1.0
    assert observed_peaks(fc).incoming == {"pve2": 2, "pve3": 2}


def test_every_decision_and_outcome_logged_at_info_with_fields(caplog: Any) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="proxlb.execute")
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve1", lock="backup")})
    run(fc, clock, Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve1", "pve3"))))
    events = [(r.VMID, r.OUTCOME) for r in caplog.records if hasattr(r, "VMID")]  # type: ignore[attr-defined]
    assert events == [("100", "started"), ("100", "done"), ("101", "skipped")]
    assert all(r.levelname == "INFO" for r in caplog.records if hasattr(r, "VMID"))


def test_settings_from_config() -> None:
    from proxlb.config.model import ProxlbConfig

    config = ProxlbConfig.model_validate(
        {
            "proxmox_api": {"hosts": ["a"], "user": "u@pve", "token_id": "t", "token_secret": "s"},
            "balancing": {
                "parallel": True, "parallel_jobs": 3, "max_job_validation": 600, "max_node_inflow": 2,
                "node_resource_reserve": {"defaults": {"memory": 4}, "pve1": {"memory": 8}},
            },
            "service": {"stop_timeout": 30},
        }
    )  # fmt: skip
    s = ExecutionSettings.from_config(config, dry_run=True, drained_nodes=frozenset({"pve9"}))
    assert s.global_limit == 3 and s.max_node_inflow == 2 and s.max_node_outflow == 4
    assert s.job_timeout_seconds == 600 and s.stop_grace_seconds == 30 and s.dry_run
    assert s.reserve_for("pve1") == 8 * GIB and s.reserve_for("pve2") == 4 * GIB
    assert ExecutionSettings(parallel=False, parallel_jobs=9).global_limit == 1


def test_timed_out_task_keeps_its_node_slot_until_pve_releases_it() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve3")}, hangs={100})

    def finish_hung_task(t: float) -> None:
        if t > 1_000_000 + 200:
            for task in fc.tasks.values():
                if task.vmid == 100 and task.end is None:
                    task.end = t

    clock.on_sleep.append(finish_hung_task)
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve3", "pve2")))
    report = run(fc, clock, plan, parallel=True, parallel_jobs=2, job_timeout_seconds=60)
    by = {o.vmid: o for o in report.outcomes}
    assert by[100].outcome is Outcome.TIMEOUT
    assert by[101].outcome is Outcome.DONE
    assert by[101].started_at is not None and by[101].started_at > 1_000_000 + 200  # waited for the slot
    assert observed_peaks(fc).incoming == {"pve2": 1}


def test_move_blocked_by_a_task_that_never_ends_is_skipped_in_bounded_time() -> None:
    fc, clock = cluster(three_nodes(), {100: G("pve1"), 101: G("pve3")}, hangs={100})
    plan = Plan("fp", (mig(100, "pve1", "pve2"), mig(101, "pve3", "pve2")))
    report = run(fc, clock, plan, job_timeout_seconds=60, abandon_wait_seconds=120)
    by = {o.vmid: o for o in report.outcomes}
    assert by[100].outcome is Outcome.TIMEOUT
    assert by[101].outcome is Outcome.SKIPPED and "timed-out" in by[101].detail
    assert clock.now() - 1_000_000 < 60 + 120 + 30
    assert [w[1] for w in fc.writes] == [100]
