"""prometheus-pve-exporter 3.10, unmodified, scrapes the simulator with its default collectors.

The exporter runs in its own virtualenv (`make client-envs`), listens on 127.0.0.1 and is pointed at
a simulator on 127.0.0.1 through a `pve.yml` with a token module and a password module. A scrape of
`/pve?target=127.0.0.1&module=…` must answer 200 and carry the node, guest, storage, HA, version,
subscription, replication and backup families with the values the scenario implies.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml
from proxmoxer import ProxmoxAPI

from proxlb_sim.testing import SimInfo, running_simulator
from tests.clients.harness import (
    BACKUP_EXCLUDED,
    REPLICATED_GUEST,
    client_env,
    client_executable,
    client_scenario,
    free_port,
)

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Prometheus text format → {(name, labels): value}."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"unparsable metric line: {line!r}"
        labels = frozenset(_LABEL.findall(match.group("labels") or ""))
        out[(match.group("name"), labels)] = float(match.group("value"))
    return out


def value(samples: Samples, metric: str, **labels: str) -> float:
    """The one sample of `metric` whose labels include `labels`."""
    found = [v for (n, ls), v in samples.items() if n == metric and set(labels.items()) <= set(ls)]
    assert len(found) == 1, f"{metric}{labels}: {len(found)} samples"
    return found[0]


@contextmanager
def _exporter(sim: SimInfo, home: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The exporter as its console script, with a token and a password module for `sim`."""
    exe = client_executable("prometheus-pve-exporter", "pve_exporter")
    common = {"verify_ssl": sim.ca_file, "port": sim.port, "timeout": 20}
    config = {
        "token": {
            "user": sim.user,
            "token_name": sim.token_id,
            "token_value": sim.token_secret,
            **common,
        },
        "password": {"user": sim.user, "password": sim.password, **common},
    }
    config_file = Path(home) / "pve.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [str(exe), "--config.file", str(config_file), "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=client_env(home),
    )
    try:
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimInfo, dict[str, Samples]]]:
    home = tmp_path_factory.mktemp("exporter")
    with running_simulator(client_scenario(), time_scale=0.0) as sim, _exporter(sim, home) as (port, proc):
        yield sim, {module: _scrape(port, module, proc) for module in ("token", "password")}


def _scrape(port: int, module: str, proc: subprocess.Popen[bytes]) -> Samples:
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = requests.get(
                f"http://127.0.0.1:{port}/pve", params={"target": "127.0.0.1", "module": module}, timeout=60
            )
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                pytest.fail(f"the exporter did not come up: {output[-2000:]}")
            time.sleep(0.2)
    assert answer.status_code == 200, answer.text[-2000:]
    return parse_metrics(answer.text)


@pytest.mark.parametrize("module", ["token", "password"])
def test_scrape_answers_200_without_api_errors(
    scraped: tuple[SimInfo, dict[str, Samples]], module: str
) -> None:
    sim, pages = scraped
    assert pages[module], "empty scrape"
    assert all(e["status"] < 400 for e in sim.admin.requests()), "the exporter met an API error"
    assert sim.admin.writes() == []


def test_node_guest_storage_families_match_the_scenario(scraped: tuple[SimInfo, dict[str, Samples]]) -> None:
    sim, pages = scraped
    samples = pages["token"]
    scenario = sim.cluster.scenario
    for node in scenario.nodes:
        assert value(samples, "pve_node_info", id=f"node/{node.node}", name=node.node, level="c") == 1
        assert value(samples, "pve_up", id=f"node/{node.node}") == 1
        assert value(samples, "pve_cpu_usage_limit", id=f"node/{node.node}") == node.maxcpu
        assert value(samples, "pve_memory_size_bytes", id=f"node/{node.node}") == node.maxmem
    for guest in scenario.guests:
        gid = f"{guest.type}/{guest.vmid}"
        assert value(samples, "pve_up", id=gid) == (1 if guest.status == "running" else 0)
        assert value(samples, "pve_memory_size_bytes", id=gid) == guest.maxmem
        assert value(samples, "pve_guest_info", id=gid, node=guest.node, name=str(guest.name)) == 1
    for st in scenario.storages:
        sid = f"storage/{st.node}/{st.storage}"
        assert value(samples, "pve_storage_info", id=sid, plugintype=st.plugintype) == 1
        assert value(samples, "pve_disk_size_bytes", id=sid) == st.maxdisk
    name = scenario.sim.cluster_name
    assert value(samples, "pve_cluster_info", id=f"cluster/{name}", nodes=str(len(scenario.nodes))) == 1
    assert value(samples, "pve_up", id=f"cluster/{name}") == 1


def test_ha_version_subscription_replication_backup(scraped: tuple[SimInfo, dict[str, Samples]]) -> None:
    sim, pages = scraped
    samples = pages["password"]
    assert value(samples, "pve_ha_state", id="qemu/104", state="started") == 1
    assert value(samples, "pve_ha_state", id="node/pve1", state="online") == 1
    assert value(samples, "pve_version_info", version=sim.cluster.api_node.version) == 1
    assert value(samples, "pve_subscription_status", id="node/pve1", status="active") == 1
    assert value(samples, "pve_subscription_info", id="node/pve1", level="c") == 1
    assert value(samples, "pve_subscription_next_due_timestamp_seconds", id="node/pve1") > time.time()
    job = f"{REPLICATED_GUEST}-0"
    info = {
        "id": job,
        "type": "local",
        "source": "node/pve1",
        "target": "node/pve3",
        "guest": f"qemu/{REPLICATED_GUEST}",
    }
    assert value(samples, "pve_replication_info", **info) == 1
    assert value(samples, "pve_replication_failed_syncs", id=job) == 0
    last = value(samples, "pve_replication_last_sync_timestamp_seconds", id=job)
    assert value(samples, "pve_replication_next_sync_timestamp_seconds", id=job) == last + 900
    guests = len(sim.cluster.scenario.guests)
    assert value(
        samples, "pve_not_backed_up_total", id=f"cluster/{sim.cluster.scenario.sim.cluster_name}"
    ) == len(BACKUP_EXCLUDED)
    for vmid in BACKUP_EXCLUDED:
        kind = sim.cluster.guests[vmid].kind
        assert value(samples, "pve_not_backed_up_info", id=f"{kind}/{vmid}") == 1
    onboot = [k for k in samples if k[0] == "pve_onboot_status"]
    assert len(onboot) == len(sim.cluster.guests_on(sim.cluster.api_node.name)) < guests


def test_writes_made_with_proxmoxer_show_in_the_next_scrape(tmp_path: Path) -> None:
    """#18 item 8 through the exporter: a snapshot's config lock, a stop and new tags written over the
    API are what its next scrape reports (pve_lock_state, pve_up, pve_guest_info tags)."""
    with (
        running_simulator(client_scenario(), time_scale=0.0) as sim,
        _exporter(sim, tmp_path) as (port, proc),
    ):
        api = ProxmoxAPI(
            sim.host, port=sim.port, user=sim.user, password=sim.password, verify_ssl=sim.ca_file
        )
        running = [g for g in sim.cluster.scenario.guests if g.type == "qemu" and g.status == "running"]
        snap, stop = running[0], running[1]
        api.nodes(snap.node).qemu(snap.vmid).snapshot.post(snapname="pre_change")  # frozen clock: lock held
        api.nodes(stop.node).qemu(stop.vmid).config.put(tags="Rehearsal,plb_pin_pve1")
        api.nodes(stop.node).qemu(stop.vmid).status.stop.post()
        sim.admin.advance(1.5)  # the stop task (1 s) ends; the snapshot task (2 s) still holds its lock
        samples = _scrape(port, "token", proc)
        assert value(samples, "pve_lock_state", id=f"qemu/{snap.vmid}", state="snapshot") == 1
        assert value(samples, "pve_up", id=f"qemu/{stop.vmid}") == 0
        assert value(samples, "pve_guest_info", id=f"qemu/{stop.vmid}", tags="plb_pin_pve1;rehearsal") == 1
