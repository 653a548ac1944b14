"""Issue #19 item 8: a UUID-like value pasted under a string key is masked, like a secret.

`service.ha_identity: <a token secret>` or a UUID among `maintenance_nodes` was echoed by
`config check`, in the plan's notes and in the leader warning. PVE token secrets are UUIDs, so such
a value is treated as one wherever it stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from proxlb.collect.snapshot import collect_snapshot
from proxlb.config.check import check_config
from proxlb.rules.derive import derive_constraints
from proxlb.service.leader import standby_reason
from tests.config.conftest import MINIMAL
from tests.service.simhelp import client_for, config, sim

PASTED = "5f0c1a2b-1111-2222-3333-444455556666"


def test_config_check_masks_uuid_like_values_under_any_key(write_config: Callable[..., Path]) -> None:
    text = (
        MINIMAL + f"service: {{ha_identity: {PASTED}}}\nproxmox_cluster: {{maintenance_nodes: [{PASTED}]}}\n"
    )
    result = check_config(write_config(text))
    assert result.ok
    assert PASTED not in repr(result.to_dict())


def test_notes_and_the_leader_warning_do_not_echo_it(caplog: Any) -> None:
    _cluster, api = sim("evacuate.yaml")

    cfg = config(proxmox_cluster={"maintenance_nodes": [PASTED]})
    snapshot = collect_snapshot(client_for(api), cfg, 0.0)
    constraints = derive_constraints(snapshot, cfg, frozenset())
    assert not any(PASTED in w for w in constraints.warnings)
    caplog.set_level(logging.WARNING)
    reason = standby_reason(client_for(api), config(service={"enable_ha": True, "ha_identity": PASTED}))
    assert reason is not None and PASTED not in reason and PASTED not in caplog.text
