"""Load-time warnings about a valid configuration that probably does not do what was meant. Pure.

Invariants: only warnings (never problems); each names the key path; no secret is read.
"""

from __future__ import annotations

import difflib

from proxlb.config.balancing import RESERVE_DEFAULTS_KEY, ResourceWeights
from proxlb.config.enums import BalanceMethod, Resource
from proxlb.config.hosts import host_warning
from proxlb.config.model import ProxlbConfig
from proxlb.config.schedule import schedule_warnings


def config_warnings(config: ProxlbConfig) -> tuple[str, ...]:
    """Every warning about `config`, in the order of the file's sections."""
    found: list[str] = []
    api, cluster, bal = config.proxmox_api, config.proxmox_cluster, config.balancing
    for i, host in enumerate(api.hosts):
        warning = host_warning(host)
        if warning is not None:
            found.append(f"proxmox_api.hosts[{i}]: {warning}")
    if api.ca_file and not api.ssl_verification:
        found.append("proxmox_api.ca_file is ignored because ssl_verification is false")
    both = sorted(set(cluster.maintenance_nodes) & set(cluster.ignore_nodes))
    if both:
        found.append(
            f"proxmox_cluster: {', '.join(both)} in both maintenance_nodes and ignore_nodes; "
            "ignored nodes are not drained"
        )
    found.extend(schedule_warnings(config))
    if bal.enable and not bal.balance_types:
        found.append("balancing.balance_types is empty, so nothing will migrate; expected e.g. [vm, ct]")
    if bal.parallel_jobs < 1:
        found.append(
            f"balancing.parallel_jobs: {bal.parallel_jobs} is below 1; 1 is used "
            f"({'one migration at a time' if bal.parallel else 'it only counts with parallel: true'})"
        )
    for resource in Resource:
        threshold = bal.threshold(resource)
        if threshold is not None and threshold > 100:
            found.append(
                f"balancing.{resource.value}_threshold: {threshold} is above 100 % and is never reached"
            )
    if bal.weights != ResourceWeights() and bal.method is not BalanceMethod.COMBINED:
        found.append(f"balancing.weights only apply with method 'combined' (method is '{bal.method.value}')")
    for key in bal.node_resource_reserve or {}:
        if key != RESERVE_DEFAULTS_KEY and difflib.get_close_matches(
            key, [RESERVE_DEFAULTS_KEY], cutoff=0.75
        ):
            found.append(
                f"balancing.node_resource_reserve.{key}: treated as a node name — "
                f"did you mean '{RESERVE_DEFAULTS_KEY}'?"
            )
    if (
        bal.cooldown_minutes == 0
        and bal.return_window_cycles == 0
        and bal.plan_margin == 0
        and (bal.min_improvement < 0.5)
    ):
        found.append(
            "balancing: cooldown_minutes 0, return_window_cycles 0, plan_margin 0 and min_improvement "
            f"{bal.min_improvement} turn off every guard against ping-pong: on a noisy cluster the same "
            "guests can move back and forth every cycle; keep at least one (e.g. cooldown_minutes: 60)"
        )
    for name, pool in (bal.pools or {}).items():
        if pool.type is None and not pool.pin:
            found.append(f"balancing.pools.{name}: neither type nor pin is set, so this pool has no effect")
    return tuple(found)
