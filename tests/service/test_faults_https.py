"""Issue #12 finding 4 over HTTPS with the real client: PVE answers with 5xx bursts.

The simulator's request faults (5xx bursts) act on its HTTPS front; the clock the daemon and the
executor sleep on is the simulator's virtual clock, so minutes of PVE time take milliseconds.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxlb.api.client import connect
from proxlb.config.model import ProxlbConfig
from proxlb.execute.model import Outcome
from proxlb.service.daemon import Daemon
from proxlb.service.pipeline import PipelineDeps, run_once
from proxlb.service.state import StateStore
from proxlb_sim.testing import SimInfo, VirtualTimeClock, proxlb_config_for, running_simulator
from tests.service.simhelp import SCENARIOS

pytestmark = pytest.mark.timeout(120)


def _config(info: SimInfo, state_dir: Path, **sections: dict[str, Any]) -> dict[str, Any]:
    doc = proxlb_config_for(info, state_dir, **sections)
    doc["proxmox_api"]["wait_time"] = 0  # the client's own retry pauses; the test is about the rest
    return doc


@pytest.mark.parametrize("auth", ["token", "password"])
def test_three_503s_at_start_do_not_end_a_one_shot_run(tmp_path: Path, auth: str) -> None:
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=1.0, seed=0) as info:
        doc = _config(info, tmp_path / "state")
        if auth == "password":  # the login itself meets the 503s
            doc["proxmox_api"] = {**doc["proxmox_api"], "token_id": None, "token_secret": None}
            doc["proxmox_api"]["password"] = info.password
        path = tmp_path / "proxlb.yaml"
        path.write_text(yaml.safe_dump(doc))
        path.chmod(0o600)
        info.admin.add_fault({"kind": "errors", "count": 3, "status": 503})
        daemon = Daemon(path, clock=VirtualTimeClock(info.cluster), apply=False, configure_log=False)
        assert daemon.run() == 0
        assert daemon.cycles == 1 and daemon.reports and daemon.reports[0].plan is not None


def test_a_task_status_that_always_answers_5xx_is_decided_from_the_guests(tmp_path: Path) -> None:
    """Every task status read of pve4 fails; PVE finishes the moves within seconds anyway. The run
    reports them DONE from where PVE shows the guests, not TIMEOUT after max_job_validation."""
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=1.0, seed=0) as info:
        config = ProxlbConfig.model_validate(
            _config(
                info,
                tmp_path / "state",
                proxmox_cluster={"maintenance_nodes": ["pve4"]},
                balancing={"parallel": True, "parallel_jobs": 4, "max_node_inflow": 2},
            )
        )
        info.admin.add_fault(
            {"kind": "errors", "count": 100_000, "status": 503, "path": "/nodes/pve4/tasks/"}
        )
        deps = PipelineDeps(
            config=config,
            client=connect(config.proxmox_api),
            state=StateStore.in_memory(),
            clock=VirtualTimeClock(info.cluster),
            local_now=lambda: datetime(2026, 11, 18, 12, 0),
        )
        report = run_once(deps, apply=True)
        execution = report.execution
        assert execution is not None and execution.outcomes
        assert {o.outcome for o in execution.outcomes} == {Outcome.DONE}
        assert all(o.final_node == o.target for o in execution.outcomes)
        assert execution.seconds < 600, execution.seconds  # virtual seconds; max_job_validation is 1800
