"""End-to-end: the real client over HTTPS against `proxlb-sim` (fast clock), through `run_once`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest

from proxlb.api.client import ProxmoxClient, connect
from proxlb.config.model import ProxlbConfig
from proxlb.execute.model import Outcome, PollIntervals, SystemClock
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once
from proxlb.service.state import StateStore
from proxlb_sim.inprocess import InProcessApi
from proxlb_sim.testing import SimInfo, running_simulator
from tests.service.simhelp import SCENARIOS
from tests.service.tcp_proxy import TcpProxy

pytestmark = pytest.mark.timeout(60)
FAST = PollIntervals(initial_seconds=0.05, max_seconds=0.2)


def make_config(hosts: list[str], info: SimInfo, **sections: Any) -> ProxlbConfig:
    raw: dict[str, Any] = {
        "proxmox_api": {
            "hosts": hosts, "user": info.user, "token_id": info.token_id, "token_secret": info.token_secret,
            "ca_file": info.ca_file, "timeout": 5,
        },
        "balancing": {"enable": True, "balance_types": ["vm", "ct"]},
        "service": {"daemon": False},
    }  # fmt: skip
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return ProxlbConfig.model_validate(raw)


def deps(info: SimInfo, hosts: list[str] | None = None, **sections: Any) -> PipelineDeps:
    config = make_config(hosts or [f"127.0.0.1:{info.port}"], info, **sections)
    client = connect(config.proxmox_api)
    client.check_permissions()
    return PipelineDeps(
        config=config, client=client, state=StateStore.in_memory(), clock=SystemClock(),
        local_now=lambda: datetime(2026, 11, 18, 12, 0), poll=FAST,
    )  # fmt: skip


@contextmanager
def memory_sampler(info: SimInfo) -> Iterator[dict[str, float]]:
    """Highest mem/maxmem seen per node while the body runs (sampled from the simulator state)."""
    peaks: dict[str, float] = {}
    done = threading.Event()
    api = InProcessApi(info.cluster)

    def sample() -> None:
        while not done.wait(0.005):
            for n in api.get("/cluster/resources", type="node"):
                if n.get("maxmem"):
                    peaks[n["node"]] = max(peaks.get(n["node"], 0.0), n.get("mem", 0) / n["maxmem"])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peaks
    finally:
        done.set()
        thread.join()


def where(info: SimInfo) -> dict[int, str]:
    return {int(k): v["node"] for k, v in info.admin.state()["guests"].items()}


EVACUATE = {
    "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
    "balancing": {"parallel": True, "parallel_jobs": 4, "max_node_inflow": 1, "max_node_outflow": 3},
}


def test_evacuate_maintenance_node_with_limits() -> None:
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=40) as info:
        d = deps(info, **EVACUATE)
        with memory_sampler(info) as peaks:
            report = run_once(d, apply=True)
        assert report.execution is not None
        assert report.execution.count(Outcome.DONE) == 8, report.execution.outcomes
        seen = info.admin.migration_peaks()  # what the simulated cluster saw running at once
        assert seen["total"] == 3  # 3 targets × inflow 1, outflow 3
        assert seen["outgoing"] == {"pve4": 3}
        assert set(seen["incoming"].values()) == {1}
        assert all(node != "pve4" for node in where(info).values())
        assert peaks and max(peaks.values()) <= 1.0
        migrate_posts = [w for w in info.admin.writes() if w["path"].endswith("/migrate")]
        assert len(migrate_posts) == 8


def test_ha_vm_and_ct_follow_hamigrate() -> None:
    with running_simulator(SCENARIOS / "ha.yaml", time_scale=40) as info:
        d = deps(info, proxmox_cluster={"maintenance_nodes": ["pve2"]}, balancing={"parallel": True})
        report = run_once(d, apply=True)
        assert report.execution is not None
        by = {o.vmid: o for o in report.execution.outcomes}
        assert by[100].outcome is Outcome.DONE and ":qmigrate:" in (by[100].upid or "")
        assert by[200].outcome is Outcome.DONE and ":vzmigrate:" in (by[200].upid or "")
        nodes = where(info)
        assert nodes[100] != "pve2" and nodes[200] != "pve2"


def test_injected_failure_and_hung_task() -> None:
    faults = [{"kind": "migration_fail", "vmid": 100}, {"kind": "migration_hang", "vmid": 101}]
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=40, faults=faults) as info:
        d = deps(
            info,
            proxmox_cluster={"maintenance_nodes": ["pve4"]},
            balancing={"parallel": True, "parallel_jobs": 4, "max_node_inflow": 2, "max_job_validation": 2},
        )
        report = run_once(d, apply=True)
        assert report.execution is not None
        by = {o.vmid: o for o in report.execution.outcomes}
        assert by[100].outcome is Outcome.FAILED and by[100].exitstatus and by[100].final_node == "pve4"
        assert by[101].outcome is Outcome.TIMEOUT and by[101].final_node == "pve4"
        assert report.execution.count(Outcome.DONE) == 6
        assert report.exit_code != 0
        history = {h.vmid: h.outcome for h in d.state.history()}
        assert history[100] == "failed" and history[101] == "timeout"


def test_api_host_down_mid_cycle_fails_over() -> None:
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=40) as info:
        proxy = TcpProxy(info.port)
        d = deps(info, hosts=[f"127.0.0.1:{proxy.port}", f"127.0.0.1:{info.port}"], **EVACUATE)
        client = d.client
        assert isinstance(client, ProxmoxClient)
        assert client.endpoint.port == proxy.port

        def cut_after_first_migration() -> None:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if any(w["path"].endswith("/migrate") for w in info.admin.writes()):
                    proxy.close()
                    return
                time.sleep(0.005)

        watcher = threading.Thread(target=cut_after_first_migration, daemon=True)
        watcher.start()
        report = run_once(d, apply=True)
        watcher.join()
        assert proxy.closed
        assert client.endpoint.port == info.port
        assert report.execution is not None and report.execution.count(Outcome.DONE) == 8
        posts = [w for w in info.admin.writes() if w["path"].endswith("/migrate")]
        assert len(posts) == 8  # no migration was requested twice


def test_node_offline_mid_plan_skips_moves_towards_it() -> None:
    faults = [{"kind": "node_offline", "node": "pve3", "at": 2}]
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=20, faults=faults) as info:
        d = deps(info, proxmox_cluster={"maintenance_nodes": ["pve4"]})
        report = run_once(d, apply=True)
        assert report.execution is not None
        outcomes = report.execution.outcomes
        skipped = [o for o in outcomes if o.outcome is Outcome.SKIPPED]
        assert any(o.target == "pve3" and "offline" in o.detail for o in skipped)
        nodes = where(info)
        for o in outcomes:
            if o.final_node is not None and o.outcome is not Outcome.DONE:
                assert nodes[o.vmid] == o.final_node  # the report agrees with PVE


def test_dry_run_sends_zero_writes() -> None:
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=40) as info:
        d = deps(info, **EVACUATE)
        d.dry_run = True
        report: RunReport = run_once(d, apply=True)
        assert report.plan is not None and len(report.plan.migrations) == 8
        assert info.admin.writes() == []
        assert all(w["method"] == "GET" for w in info.admin.requests())


class FastClock:
    """Wall time sped up 60×: the daemon's one-minute schedule passes in a second of real time."""

    SPEED = 60.0

    def __init__(self) -> None:
        self.origin = time.time()

    def now(self) -> float:
        return self.origin + (time.time() - self.origin) * self.SPEED

    def sleep(self, seconds: float, stop_event: threading.Event) -> bool:
        return stop_event.wait(max(0.0, seconds) / self.SPEED)


def test_daemon_over_https_reload_then_sigterm_during_migrations(tmp_path: Any) -> None:
    """SIGHUP applies a new configuration without a restart (the next cycle drains pve4, which the
    first configuration forbade touching); SIGTERM during that drain follows the started migrations
    to their end and starts no other. Judged from the simulator's request log and state."""
    import yaml

    from proxlb.service.daemon import Daemon, DaemonSignals

    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=5) as info:
        api = {
            "hosts": [f"127.0.0.1:{info.port}"], "user": info.user, "token_id": info.token_id,
            "token_secret": info.token_secret, "ca_file": info.ca_file, "timeout": 5,
        }  # fmt: skip
        service = {
            "daemon": True, "state_dir": str(tmp_path / "state"), "stop_timeout": 3600,  # 60 s real at 60×
            "schedule": {"interval": 1, "format": "minutes"},
        }  # fmt: skip
        first = {"proxmox_api": api, "balancing": {"enable": False}, "service": service}
        drain = {
            "proxmox_api": api,
            "proxmox_cluster": {"maintenance_nodes": ["pve4"]},
            "balancing": {"enable": True, "balance_types": ["vm"], "parallel": True, "parallel_jobs": 2},
            "service": service,
        }
        path = tmp_path / "proxlb.yaml"
        path.write_text(yaml.safe_dump(first))
        path.chmod(0o600)
        on_pve4 = {vmid for vmid, node in where(info).items() if node == "pve4"}
        signals = DaemonSignals()
        daemon = Daemon(path, signals=signals, clock=FastClock(), configure_log=False)
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
        thread.start()

        def migrations() -> list[dict[str, Any]]:
            return [w for w in info.admin.writes() if w["path"].endswith("/migrate")]

        deadline = time.monotonic() + 30
        while not any(r["path"] == "/cluster/resources" for r in info.admin.requests()):
            assert time.monotonic() < deadline, "the daemon never read the cluster"
            time.sleep(0.01)
        path.write_text(yaml.safe_dump(drain))  # a good config on SIGHUP: taken without a restart
        signals.request_reload()
        while not migrations():
            assert time.monotonic() < deadline, "the reloaded configuration never drained pve4"
            time.sleep(0.01)
        path.write_text("balancing: {enable: sometimes}\n")  # a bad config on SIGHUP is refused
        signals.request_reload()
        signals.request_stop()
        thread.join(40)
        assert result == [0]
        posted = {int(w["path"].split("/")[-2]) for w in migrations()}
        assert posted and posted <= on_pve4  # only the drain the second configuration asked for
        assert posted < on_pve4  # the stop came before every guest was started
        state = info.admin.state()
        assert all(state["guests"][str(vmid)]["node"] != "pve4" for vmid in posted)  # followed to the end
        assert state["running_tasks"] == []
        assert all(g["lock"] is None for g in state["guests"].values())
        identity = f"cluster:{info.cluster.settings.cluster_name}"
        rows = StateStore.open(tmp_path / "state", cluster=identity).history()
        assert {r.vmid for r in rows if r.outcome == "done"} == posted
        assert any(r.outcome == "cancelled" for r in rows)


def test_password_auth_renews_ticket_and_survives_failover() -> None:
    from proxlb.api.settings import ApiSettings, Endpoint

    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=40) as info:
        proxy = TcpProxy(info.port)
        settings = ApiSettings(
            endpoints=(Endpoint("127.0.0.1", proxy.port), Endpoint("127.0.0.1", info.port)),
            user=info.user, password=info.password, ca_file=info.ca_file, timeout_seconds=5,
        )  # fmt: skip
        client = connect(settings)
        assert client.get("/version")["version"]
        transport: Any = client._transports[client.endpoint]
        transport._api._backend.auth.birth_time -= 4000  # older than proxmoxer's renew_age
        assert client.get("/nodes")
        logins = [r for r in info.admin.requests() if r["path"] == "/access/ticket"]
        assert len(logins) == 2  # first login, then the renewal with the ticket as password
        proxy.close()
        assert client.get("/cluster/resources", type="node")
        assert client.endpoint.port == info.port
        assert len([r for r in info.admin.requests() if r["path"] == "/access/ticket"]) == 3
