"""A cycle's reads end in bounded time however slowly the API answers (#19 item 6).

Each answer of the simulator is slowed (latency fault) but stays within the per-request deadline;
only `proxmox_api.cycle_read_timeout` can end the cycle. Judged from the simulator's request log.
"""

from __future__ import annotations

import pytest

from proxlb.errors import ApiError
from proxlb.service.pipeline import run_once
from proxlb_sim.testing import running_simulator
from tests.service.test_e2e_sim import SCENARIOS, deps


def test_slow_answers_end_the_cycle_at_the_cycle_read_timeout() -> None:
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=40) as info:
        d = deps(info, proxmox_api={"cycle_read_timeout": 1})
        info.admin.clear_requests()
        info.admin.add_fault({"kind": "latency", "ms": 1500})
        with pytest.raises(ApiError) as raised:
            run_once(d, apply=True)
        assert raised.value.retryable and "proxmox_api.cycle_read_timeout" in str(raised.value)
        sent = [r["path"] for r in info.admin.requests()]
        # 1.5 s each: only the first round of parallel reads was sent (a whole cycle here is 18)
        assert 1 <= len(sent) <= 6, sent
        assert info.admin.writes() == []  # nothing planned on partial facts was carried out


def test_without_a_read_timeout_the_same_slow_cycle_completes() -> None:
    with running_simulator(SCENARIOS / "evacuate.yaml", time_scale=40) as info:
        d = deps(info, proxmox_api={"cycle_read_timeout": 0})
        info.admin.add_fault({"kind": "latency", "ms": 300})
        report = run_once(d, apply=False)
        assert report.plan is not None and report.snapshot is not None
        assert any(r["path"].endswith("/config") for r in info.admin.requests())  # movers were read
