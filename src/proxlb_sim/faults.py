"""Injected faults: offline nodes, failing or hanging migrations, latency, 5xx bursts, refused connections.

Faults come from the scenario's `faults:` list (times relative to the simulator start) or at run time
from the admin endpoint (times relative to now). Request-level faults (latency, errors, refusals)
only affect `/api2/...`, never `/_sim/...`. Thread-safe through the cluster lock held by callers,
except `refusing()` which the accept path reads without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from proxlb_sim.engine import Engine
from proxlb_sim.pveerror import PveError
from proxlb_sim.scenario import FaultSpec


class FaultHost(Protocol):
    """What a fault may switch: nodes on/offline, HA maintenance, and timed events on the engine.
    `FaultHost` is one; nothing here imports it (no import cycle)."""

    @property
    def engine(self) -> Engine: ...

    def set_node_online(self, name: str, online: bool) -> None: ...

    def set_ha_maintenance(self, name: str, on: bool) -> None: ...

    def schedule_node_failure(self, name: str, at: float) -> None: ...


@dataclass
class _ErrorBurst:
    left: int
    status: int
    message: str
    path: str | None


@dataclass
class FaultState:
    """Active request-level and migration faults."""

    fail_migrations: dict[int, int | None] = field(default_factory=dict)  # vmid -> times left (None = always)
    hang_migrations: set[int] = field(default_factory=set)
    latency: list[tuple[float, str | None]] = field(default_factory=list)  # (seconds, path prefix)
    bursts: list[_ErrorBurst] = field(default_factory=list)
    refuse_until: float = 0.0  # real monotonic time
    specs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, spec: FaultSpec, cluster: FaultHost, relative_to: float) -> None:
        """Activate a fault; node faults are scheduled on the virtual clock at `relative_to + at`."""
        self.specs.append(spec.model_dump(exclude_defaults=True))
        if spec.kind == "node_offline" and spec.node is not None:
            node = spec.node
            _window(cluster, spec, relative_to, lambda on: cluster.set_node_online(node, not on))
        elif spec.kind == "ha_maintenance" and spec.node is not None:
            node = spec.node
            _window(cluster, spec, relative_to, lambda on: cluster.set_ha_maintenance(node, on))
        elif spec.kind == "node_failure" and spec.node is not None:
            cluster.schedule_node_failure(spec.node, relative_to + spec.at)
        elif spec.kind == "migration_fail" and spec.vmid is not None:
            self.fail_migrations[spec.vmid] = spec.times
        elif spec.kind == "migration_hang" and spec.vmid is not None:
            self.hang_migrations.add(spec.vmid)
        elif spec.kind == "latency":
            self.latency.append((spec.ms / 1000.0, spec.path))
        elif spec.kind == "errors":
            self.bursts.append(_ErrorBurst(spec.count, spec.status, spec.message, spec.path))
        elif spec.kind == "refuse_connections":
            self.refuse_until = max(self.refuse_until, time.monotonic() + spec.seconds)

    def clear(self, cluster: FaultHost) -> None:
        """Drop request and migration faults; hung migrations resume. Scheduled node events stay."""
        self.fail_migrations.clear()
        self.hang_migrations.clear()
        self.latency.clear()
        self.bursts.clear()
        self.refuse_until = 0.0
        self.specs.clear()
        cluster.engine.release_hang()

    def take_migration_fault(self, vmid: int) -> tuple[bool, bool]:
        """(fail, hang) for a migration of `vmid` starting now; consumes one 'times' of a fail fault."""
        fail = vmid in self.fail_migrations
        if fail:
            left = self.fail_migrations[vmid]
            if left is not None:
                if left <= 1:
                    del self.fail_migrations[vmid]
                else:
                    self.fail_migrations[vmid] = left - 1
        return fail, vmid in self.hang_migrations

    def delay_for(self, path: str) -> float:
        """Seconds of injected latency for a request to `path`."""
        return sum(s for s, prefix in self.latency if prefix is None or path.startswith(prefix))

    def take_error(self, path: str) -> PveError | None:
        """The next injected error for `path`, if a burst is active."""
        for burst in self.bursts:
            if burst.left > 0 and (burst.path is None or path.startswith(burst.path)):
                burst.left -= 1
                return PveError(burst.status, burst.message)
        self.bursts = [b for b in self.bursts if b.left > 0]
        return None

    def refusing(self) -> bool:
        return time.monotonic() < self.refuse_until


def _window(cluster: FaultHost, spec: FaultSpec, relative_to: float, switch: Callable[[bool], None]) -> None:
    """A node state that turns on at `at` and, when `until` is given, back off then (virtual time)."""
    cluster.engine.schedule(relative_to + spec.at, lambda t: switch(True))
    if spec.until is not None:
        cluster.engine.schedule(relative_to + spec.until, lambda t: switch(False))
