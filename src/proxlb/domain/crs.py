"""The cluster resource scheduler (CRS) settings of `/cluster/options` `crs`, as PVE's HA manager reads
them. Pure data; no I/O.

Invariants: defaults are PVE's own (pve-ha-manager 5.x `update_crs_scheduler_mode`): scheduler
'basic', auto-rebalance off, threshold 0.3, method 'bruteforce', hold duration 3 rounds, margin 0.1.
An unknown scheduler is kept as given and treated as 'basic' by `effective_scheduler`, as PVE does.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEDULERS = ("basic", "static", "dynamic")


@dataclass(frozen=True, slots=True)
class CrsOptions:
    """`crs: ha=…,ha-rebalance-on-start=…,ha-auto-rebalance=…,…` of datacenter.cfg."""

    ha: str = "basic"
    rebalance_on_start: bool = False
    auto_rebalance: bool = False
    auto_rebalance_threshold: float = 0.3
    auto_rebalance_method: str = "bruteforce"
    auto_rebalance_hold_duration: int = 3
    auto_rebalance_margin: float = 0.1
    known: bool = False  # False when /cluster/options was not read (no HA guests, or it failed)

    @property
    def effective_scheduler(self) -> str:
        """The scheduler PVE really uses: an unknown mode falls back to 'basic'."""
        return self.ha if self.ha in SCHEDULERS else "basic"

    @property
    def pve_balances(self) -> bool:
        """PVE 9.2's own balancer is active: auto-rebalance on and a static/dynamic scheduler
        (PVE's `load_balance` returns early for 'basic')."""
        return self.auto_rebalance and self.effective_scheduler in ("static", "dynamic")

    def describe(self) -> str:
        """One phrase for logs and reports: "crs ha=dynamic, auto-rebalance on (threshold 0.3 …)"."""
        text = f"crs ha={self.ha}"
        if self.auto_rebalance:
            text += (
                f", auto-rebalance on (threshold {self.auto_rebalance_threshold:g}, hold "
                f"{self.auto_rebalance_hold_duration} rounds, margin {self.auto_rebalance_margin:g}, "
                f"{self.auto_rebalance_method})"
            )
        return text
