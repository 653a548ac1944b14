"""policy_from_config: YAML spelling and units become the planner's Policy."""

from __future__ import annotations

from proxlb.config.model import ProxlbConfig
from proxlb.domain import GIB, Resources
from proxlb.planning.policy import Method, Mode, Policy, SolverMode, policy_from_config


def make(**sections: object) -> ProxlbConfig:
    return ProxlbConfig.model_validate({"proxmox_api": {"hosts": ["pve1"], "user": "root@pam"}, **sections})


def test_defaults_match_upstream_and_our_extensions() -> None:
    pol = policy_from_config(make())
    assert (pol.mode, pol.method, pol.balanciness) == (Mode.USED, Method.MEMORY, 10.0)
    assert pol.balance_types == frozenset()  # upstream default: nothing migrates
    assert (pol.min_improvement, pol.cost_per_gib, pol.cooldown_minutes) == (1.0, 0.05, 360.0)
    assert pol.thresholds == {} and not pol.overprovisioning and pol.cpu_overcommit is None
    # enabling the solver changes no cap (#16: upstream's solver-only 2.0 made solver.enable change
    # the greedy plan too); the cap is the admin's value or none, for every planner
    assert policy_from_config(make(solver={"enable": True})).cpu_overcommit is None
    assert policy_from_config(make(balancing={"cpu_overcommit": 3.5})).cpu_overcommit == 3.5


def test_every_key_is_translated() -> None:
    cfg = make(
        balancing={
            "mode": "assigned",
            "method": "combined",
            "weights": {"memory": 2, "cpu": 1, "disk": 0},
            "balanciness": 5,
            "memory_threshold": 70,
            "balance_types": ["vm", "ct"],
            "node_resource_reserve": {"defaults": {"memory": 4, "cpu": 1}, "pve2": {"memory": 8}},
            "max_migrations": 7,
            "cooldown_minutes": 30,
            "with_local_disks": False,
            "psi": {
                "nodes": {"memory": {"pressure_full": 1, "pressure_some": 2, "pressure_spikes": 3}},
                "guests": {"cpu": {"pressure_full": 4, "pressure_some": 5, "pressure_spikes": 6}},
            },
        },
        proxmox_cluster={"overprovisioning": True},
        solver={"enable": True, "mode": "active", "timeout_seconds": 3},
    )
    pol = policy_from_config(cfg)
    assert pol.mode is Mode.ASSIGNED and pol.method is Method.COMBINED
    assert pol.resource_weights() == {"memory": 2 / 3, "cpu": 1 / 3}
    assert pol.thresholds == {"memory": 70.0} and pol.balanciness == 5.0
    assert pol.balance_types == frozenset({"vm", "ct"})
    assert pol.reserve_for("pve1") == Resources(1000, 4 * GIB, 0)
    assert pol.reserve_for("pve2") == Resources(1000, 8 * GIB, 0)
    assert (pol.max_migrations, pol.cooldown_seconds, pol.with_local_disks) == (7, 1800.0, False)
    assert pol.psi_nodes["memory"].pressure_spikes == 3 and pol.psi_guests["cpu"].pressure_full == 4
    assert pol.overprovisioning
    assert pol.solver.enable and pol.solver.mode is SolverMode.ACTIVE and pol.solver.timeout_seconds == 3


def test_single_method_weights_only_that_resource() -> None:
    assert Policy(method=Method.CPU).resource_weights() == {"cpu": 1.0}
