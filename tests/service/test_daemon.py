from __future__ import annotations

import itertools
import os
import signal
import threading
from pathlib import Path
from typing import Any

import yaml

from proxlb.errors import ApiError, ConfigError
from proxlb.execute.model import Outcome
from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon, DaemonSignals
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once
from proxlb.service.state import StateStore
from tests.execute.fakes import FakeClock
from tests.service.simhelp import SimClock, client_for, sim, writes

BASE: dict[str, Any] = {
    "proxmox_api": {"hosts": ["sim"], "user": "root@pam", "token_id": "t", "token_secret": "s"},
    "balancing": {"enable": True, "balance_types": ["vm", "ct"]},
    "service": {"daemon": True, "schedule": {"interval": 10, "format": "minutes"}},
}


def write_config(path: Path, **overrides: Any) -> Path:
    raw = {k: dict(v) for k, v in BASE.items()}
    for key, value in overrides.items():
        raw[key] = {**raw.get(key, {}), **value}
    path.write_text(yaml.safe_dump(raw))
    return path


class FakeClient:
    def __init__(self) -> None:
        self.permission_checks = 0

    def check_permissions(self) -> None:
        self.permission_checks += 1


def report(now: float) -> RunReport:
    return RunReport(now, now, None, None, frozenset(), None)


def make(tmp_path: Path, cycle: Any, clock: FakeClock, **kw: Any) -> Daemon:
    connects: list[Any] = []

    def connect(config: Any, stop: threading.Event) -> Any:
        connects.append(config)
        return FakeClient()

    daemon = Daemon(
        write_config(tmp_path / "proxlb.yaml"),
        clock=clock,
        connect=connect,
        open_state=lambda config, one_shot: StateStore.in_memory(),
        run_cycle=cycle,
        configure_log=False,
        **kw,
    )
    daemon.connects = connects  # type: ignore[attr-defined]
    return daemon


def test_schedule_and_sighup_good_and_bad_config(tmp_path: Path) -> None:
    clock = FakeClock()
    seen: list[tuple[float, int]] = []
    signals = DaemonSignals()

    def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
        seen.append((clock.now(), deps.config.service.schedule.seconds))
        path = tmp_path / "proxlb.yaml"
        if len(seen) == 1:  # good reload: schedule 5 minutes, same API settings
            write_config(path, service={"schedule": {"interval": 5, "format": "minutes"}})
            signals.request_reload()
        elif len(seen) == 2:  # bad reload: kept the old config
            path.write_text("proxmox_api: {hosts: []}\nbalancing: {balanciness: nope}\n")
            signals.request_reload()
        elif len(seen) == 3:  # new API host: the client is rebuilt
            write_config(
                path,
                proxmox_api={"hosts": ["other"]},
                service={"schedule": {"interval": 5, "format": "minutes"}},
            )
            signals.request_reload()
        else:
            signals.request_stop()
        return report(clock.now())

    daemon = make(tmp_path, cycle, clock, signals=signals)
    assert daemon.run() == 0
    assert [s for _, s in seen] == [600, 300, 300, 300]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(seen)]
    assert all(abs(g - 300) < 1 for g in gaps[1:]) and gaps[0] >= 299  # reload applied without restart
    assert len(daemon.connects) == 2  # type: ignore[attr-defined]


def test_cycle_failure_is_contained_with_backoff(tmp_path: Path) -> None:
    clock = FakeClock()
    signals = DaemonSignals()
    calls: list[float] = []

    def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
        calls.append(clock.now())
        if len(calls) == 1:
            raise ApiError("no Proxmox API host answered", 0, "/cluster/resources")
        if len(calls) == 2:
            raise KeyError("odd data")  # a bug in one guest's data must not kill the daemon
        if len(calls) == 4:
            signals.request_stop()
        return report(clock.now())

    daemon = make(tmp_path, cycle, clock, signals=signals)
    assert daemon.run() == 0
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] == 30 and gaps[1] == 60 and gaps[2] == 600  # backoff, then back to the schedule


def test_standby_rechecks_soon(tmp_path: Path) -> None:
    clock = FakeClock()
    signals = DaemonSignals()
    calls: list[float] = []

    def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
        calls.append(clock.now())
        if len(calls) == 3:
            signals.request_stop()
        return RunReport(clock.now(), clock.now(), None, None, frozenset(), None, standby="not master")

    assert make(tmp_path, cycle, clock, signals=signals).run() == 0
    assert [b - a for a, b in itertools.pairwise(calls)] == [60, 60]


def test_bad_initial_config_exits_with_config_code(tmp_path: Path) -> None:
    daemon = make(tmp_path, lambda d, a: report(0), FakeClock())
    daemon.config_path.write_text("balancing: {enable: maybe}\n")
    assert daemon.run() == ExitCode.FAILED


def test_missing_privileges_stop_at_start_with_setup_code(tmp_path: Path) -> None:
    cycles: list[int] = []
    daemon = make(tmp_path, lambda d, a: cycles.append(1) or report(0), FakeClock())

    class NoPerms(FakeClient):
        def check_permissions(self) -> None:
            raise ConfigError("API user root@pam lacks privileges: VM.Migrate", ("missing VM.Migrate",))

    daemon.connect = lambda config, stop: NoPerms()
    assert daemon.run() == ExitCode.SETUP and cycles == []


def test_real_signals_set_the_events() -> None:
    signals = DaemonSignals()
    old = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    try:
        signals.install()
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.reload.wait(2) and not signals.stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.stop.wait(2) and signals.wake.is_set()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def test_one_shot_returns_after_one_cycle(tmp_path: Path) -> None:
    clock = FakeClock()
    calls: list[int] = []
    daemon = make(tmp_path, lambda d, a: calls.append(1) or report(0), clock)
    write_config(daemon.config_path, service={"daemon": False})
    assert daemon.run() == 0 and calls == [1]


def test_sigterm_during_migrations_follows_in_flight_and_exits(tmp_path: Path) -> None:
    cluster, api = sim("evacuate.yaml")
    signals = DaemonSignals()
    clock = SimClock(cluster)

    def stop_after_first_writes(c: SimClock) -> None:
        if len(writes(api)) >= 2:
            signals.request_stop()

    clock.hooks.append(stop_after_first_writes)
    daemon = Daemon(
        write_config(
            tmp_path / "p.yaml",
            proxmox_cluster={"maintenance_nodes": ["pve4"]},
            balancing={"parallel": True, "parallel_jobs": 2, "max_node_inflow": 1},
        ),
        signals=signals,
        clock=clock,
        connect=lambda config, stop: client_for(api),
        open_state=lambda config, one_shot: StateStore.in_memory(),
        run_cycle=run_once,
        configure_log=False,
    )
    assert daemon.run() == 0
    assert daemon.cycles == 1
    execution = daemon.reports[0].execution
    assert execution is not None and execution.stopped
    done = [o for o in execution.outcomes if o.outcome is Outcome.DONE]
    cancelled = [o for o in execution.outcomes if o.outcome is Outcome.CANCELLED]
    assert len(done) == 2 and len(cancelled) == 6
    assert len([w for w in writes(api) if w[1].endswith("/migrate")]) == 2
    nodes = {e["vmid"]: (e["node"], e.get("lock")) for e in api.get("/cluster/resources", type="vm")}
    assert all(nodes[o.vmid] == (o.target, None) for o in done)  # followed to the end, nothing left locked


def test_many_cycles_on_a_noisy_cluster_settle_without_ping_pong(tmp_path: Path) -> None:
    cluster, api = sim("noisy.yaml")
    signals = DaemonSignals()
    clock = SimClock(cluster)
    state = StateStore.open(tmp_path / "state")

    reports: list[RunReport] = []

    def stop_after(report: RunReport) -> None:
        reports.append(report)
        if len(reports) >= 16:
            signals.request_stop()

    daemon = Daemon(
        write_config(
            tmp_path / "p.yaml",
            balancing={"method": "memory", "balanciness": 5, "parallel": True, "cooldown_minutes": 120},
            service={"schedule": {"interval": 15, "format": "minutes"}},
        ),
        signals=signals,
        clock=clock,
        connect=lambda config, stop: client_for(api),
        open_state=lambda config, one_shot: state,
        run_cycle=run_once,
        on_report=stop_after,
        configure_log=False,
    )
    assert daemon.run() == 0
    assert daemon.failures == 0 and len(reports) == 16
    moves = [
        (h.vmid, h.source, h.target, h.finished)
        for h in reversed(StateStore.open(tmp_path / "state", cluster=state.cluster).history(1000))
    ]
    assert moves, "the unbalanced cluster was never balanced"
    per_cycle = [len(r.plan.migrations) if r.plan else 0 for r in reports]
    assert sum(per_cycle[8:]) <= 1, per_cycle  # settled: at most one stray move in the second half
    for vmid in {m[0] for m in moves}:
        mine = [m for m in moves if m[0] == vmid]
        for first, later in itertools.pairwise(mine):
            assert later[3] - first[3] >= 120 * 60, f"guest {vmid} moved again within its cooldown"
            assert (later[1], later[2]) != (first[2], first[1]), f"guest {vmid} ping-ponged"


def test_sighup_with_new_api_user_lacking_privileges_keeps_old_setup(tmp_path: Path) -> None:
    clock = FakeClock()
    signals = DaemonSignals()
    users: list[str] = []

    class Client(FakeClient):
        def __init__(self, user: str) -> None:
            super().__init__()
            self.user = user

        def check_permissions(self) -> None:
            if self.user == "weak@pve":
                raise ConfigError("API user weak@pve lacks privileges: VM.Migrate")

    def cycle(deps: PipelineDeps, apply: bool) -> RunReport:
        users.append(deps.config.proxmox_api.user)
        if len(users) == 1:
            write_config(tmp_path / "proxlb.yaml", proxmox_api={"user": "weak@pve"})
            signals.request_reload()
        else:
            signals.request_stop()
        return report(clock.now())

    daemon = make(tmp_path, cycle, clock, signals=signals)
    daemon.connect = lambda config, stop: Client(config.proxmox_api.user)
    assert daemon.run() == 0
    assert users == ["root@pam", "root@pam"]
