"""Closed value sets of `proxlb.yaml`. Pure.

Values are matched case-insensitively on input (upstream 2.3.0 is case-sensitive; accepting
`Memory` or `debug` as well is harmless). The member order is the order shown in error messages.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any


class BalanceMethod(StrEnum):
    """The resource(s) balancing evens out. `combined` is ours (weighted memory+cpu(+disk))."""

    MEMORY = "memory"
    CPU = "cpu"
    DISK = "disk"
    COMBINED = "combined"


class BalanceMode(StrEnum):
    """How a node's load is measured: real usage, configured sizes or PSI pressure."""

    USED = "used"
    ASSIGNED = "assigned"
    PSI = "psi"


class Resource(StrEnum):
    """A single resource (keys of `node_resource_reserve` and `psi.*`)."""

    MEMORY = "memory"
    CPU = "cpu"
    DISK = "disk"


class HeadroomMode(StrEnum):
    """`balancing.failover_headroom.mode` (ours): off, only shown, preferred by planning, required."""

    OFF = "off"
    REPORT = "report"
    PREFER = "prefer"
    REQUIRE = "require"


class PveAutoRebalance(StrEnum):
    """`balancing.pve_auto_rebalance` (ours): who balances HA resources while PVE 9.2's own
    auto-rebalance is on — PVE (default) or ProxLB too."""

    LEAVE_HA_TO_PVE = "leave_ha_to_pve"
    BALANCE_ALL = "balance_all"


class GuestType(StrEnum):
    """Guest kinds listed in `balancing.balance_types`."""

    VM = "vm"
    CT = "ct"


class AffinityType(StrEnum):
    """`balancing.pools.<pool>.type`."""

    AFFINITY = "affinity"
    ANTI_AFFINITY = "anti-affinity"


class TimeFormat(StrEnum):
    """Unit of `service.schedule.interval` and `service.delay.time`."""

    HOURS = "hours"
    MINUTES = "minutes"

    def seconds(self, amount: int) -> int:
        """`amount` of this unit in seconds."""
        return amount * (3600 if self is TimeFormat.HOURS else 60)


class LogLevel(StrEnum):
    """`service.log_level` (upstream accepts these five, uppercase)."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    CRITICAL = "CRITICAL"


class LogFormat(StrEnum):
    """`service.log_format` (ours): `auto` lets the service pick from its environment."""

    AUTO = "auto"
    PLAIN = "plain"
    JSON = "json"


class SolverMode(StrEnum):
    """`solver.mode`."""

    SHADOW = "shadow"
    ACTIVE = "active"


def case_insensitive(enum_cls: type[StrEnum]) -> Callable[[Any], Any]:
    """Before-validator: map a string to the member whose value matches ignoring case and blanks.

    Text that matches no member is passed on unchanged, so the error shows what was written.
    """
    by_folded = {member.value.casefold(): member for member in enum_cls}

    def match(value: Any) -> Any:
        if isinstance(value, str):
            return by_folded.get(value.strip().casefold(), value)
        return value

    return match
