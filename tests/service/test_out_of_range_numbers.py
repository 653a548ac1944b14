"""Issue #19 items 5 and 8: numbers (and HA states) from the API are validated where they enter.

`maxmem: Infinity`, an RRD `cpu: 1e308` and JSON nested 100 000 deep used to end the cycle with
exit 70 (OverflowError, RecursionError); negative memory, NaN CPU, RRD cpu -1 and node memory far
above maxmem passed silently. Now each is logged once, naming the node or guest and the API path,
the value is skipped or clamped, and the cycle goes on. Hostile answers come from a small HTTPS
stand-in for pveproxy; what is checked is the exit code and the log.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import yaml

from proxlb.execute.fresh import parse_resources
from proxlb.exit_codes import ExitCode
from proxlb.service.daemon import Daemon
from proxlb.service.state import StateStore
from tests.api.fake_pve import raw_body, serve
from tests.execute.fakes import FakeClock

GIB = 1024**3
PERMISSIONS = {"/": {p: 1 for p in ("VM.Migrate", "VM.Audit", "Sys.Audit", "Datastore.Audit")}}

RESOURCES = (
    b'{"data": ['
    b'{"type": "node", "node": "pve1", "status": "online", "maxcpu": 4, "cpu": 0.1,'
    b' "maxmem": 8589934592, "mem": 1073741824, "maxdisk": 1e11, "disk": 1e9},'
    b'{"type": "node", "node": "pve2", "status": "online", "maxcpu": 4, "cpu": 0.1,'
    b' "maxmem": Infinity, "mem": 1073741824, "maxdisk": 1e11, "disk": 1e9},'
    b'{"type": "node", "node": "pve3", "status": "online", "maxcpu": 4, "cpu": NaN,'
    b' "maxmem": 8589934592, "mem": 858993459200, "maxdisk": 1e11, "disk": 1e9},'
    b'{"type": "qemu", "vmid": 101, "node": "pve1", "status": "running", "name": "a",'
    b' "maxcpu": 2, "cpu": NaN, "maxmem": Infinity, "mem": -5, "maxdisk": 1e10, "disk": 0},'
    b'{"type": "qemu", "vmid": 102, "node": "pve1", "status": "running", "name": "b",'
    b' "maxcpu": 2, "cpu": 0.5, "maxmem": 2147483648, "mem": -1073741824, "maxdisk": 1e10, "disk": 0},'
    b'{"type": "qemu", "vmid": "abc", "node": "pve1", "status": "running", "maxmem": 1}'
    b"]}"
)
RRD = [{"time": 1, "cpu": 1e308, "maxcpu": 4}, {"time": 2, "cpu": -1, "maxcpu": 4}, {"time": 3, "cpu": 0.2}]
DEEP = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def _write(tmp: Path, port: int, cert: Path) -> Path:
    doc: dict[str, Any] = {
        "proxmox_api": {
            "hosts": [f"127.0.0.1:{port}"],
            "user": "proxlb@pve",
            "token_id": "t",
            "token_secret": "S3CRET",
            "ca_file": str(cert),
            "wait_time": 0,
        },
        "balancing": {"balance_types": ["vm", "ct"]},
        "service": {"daemon": False, "state_dir": str(tmp / "state")},
    }
    path = tmp / "proxlb.yaml"
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path


def test_hostile_numbers_are_logged_once_and_the_cycle_goes_on(tmp_path: Path, caplog: Any) -> None:
    routes: dict[tuple[str, str], Any] = {
        ("GET", "/access/permissions"): (200, "OK", PERMISSIONS),
        ("GET", "/cluster/resources"): (200, "OK", raw_body(RESOURCES)),
        ("GET", "/nodes/pve1/rrddata"): (200, "OK", RRD),
        ("GET", "/nodes/pve1/version"): (200, "OK", raw_body(DEEP)),
        ("GET", "/cluster/ha/status/current"): (200, "OK", "garbage"),
        ("GET", "/cluster/ha/status/manager_status"): (200, "OK", [1, 2, 3]),
    }
    caplog.set_level(logging.WARNING)
    with serve(tmp_path, routes) as (_fake, port, cert):
        daemon = Daemon(
            _write(tmp_path, port, cert),
            clock=FakeClock(),
            apply=False,
            configure_log=False,
            open_state=lambda config, one_shot: StateStore.in_memory(),
        )
        assert daemon.run() == ExitCode.OK
    report = daemon.reports[-1]
    assert report.snapshot is not None and {g.vmid for g in report.snapshot.guests} == {101, 102}
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    def once(*parts: str) -> None:
        hits = [line for line in lines if all(p in line for p in parts)]
        assert len(hits) == 1, (parts, lines)

    once("/cluster/resources", "node 'pve2'", "maxmem=inf")
    once("/cluster/resources", "node 'pve3'", "cpu=nan")
    once("/cluster/resources", "node 'pve3'", "mem=858993459200")
    once("/cluster/resources", "guest 101", "maxmem=inf", "cpu=nan")
    once("/cluster/resources", "guest 102", "mem=-1073741824")
    once("guest", "'abc'", "not a number")
    once("/nodes/pve1/rrddata", "2 row(s)", "cpu out of range")
    once("/nodes/pve1/version", "nested too deep")
    once("/cluster/ha/status/current", "did not return a list (str)")
    once("/cluster/ha/status/manager_status", "did not return an object (list)")
    assert not any(r.exc_info for r in caplog.records)


def test_fresh_read_before_a_move_survives_infinity() -> None:
    data = json.loads(
        '[{"type": "node", "node": "pve2", "status": "online", "maxmem": Infinity, "mem": 1e308},'
        ' {"type": "qemu", "vmid": 101, "node": "pve1", "status": "running", "maxmem": Infinity, "mem": NaN}]'
    )
    state = parse_resources(data)
    assert state.nodes["pve2"].maxmem_bytes == 0 and state.guests[101].mem_bytes == 0
