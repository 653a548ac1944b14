"""`SimCluster`: the whole state of a simulated Proxmox VE cluster and its virtual clock.

Invariants: all state is read and written under `lock`; `sync()` (called before every API request)
brings migrations and timed events up to the clock's current time, so the state a request sees is a
pure function of the scenario, the seed, the requests made so far and the virtual time. Node usage is
derived from its guests: node mem = base + Σ running guests' mem (+ incoming live migrations), node
cpu = (base cores + Σ guest cpu × vCPUs) / node cores. Metric samples are cached per stats bucket
and state version.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from proxlb_sim import autorebalance
from proxlb_sim.auth import AuthStore
from proxlb_sim.clock import VirtualClock
from proxlb_sim.engine import Engine
from proxlb_sim.faults import FaultState
from proxlb_sim.history import seed_history
from proxlb_sim.metrics import Metrics
from proxlb_sim.pveerror import PveError
from proxlb_sim.scenario import Scenario
from proxlb_sim.state import (
    BackupArchive,
    Pool,
    Sample,
    SimGuest,
    SimNode,
    SimStorage,
    build_guests,
    build_nodes,
    build_storages,
)
from proxlb_sim.tasks import Task, TaskStore

log = logging.getLogger(__name__)


class SimCluster:
    """State of the simulated cluster. Create with `from_scenario`."""

    def __init__(self, scenario: Scenario, seed: int | None = None, time_scale: float | None = None) -> None:
        self.scenario = scenario
        self.settings = scenario.sim
        self.seed = scenario.sim.seed if seed is None else seed
        scale = scenario.sim.time_scale if time_scale is None else time_scale
        self.clock = VirtualClock(scale, scenario.sim.start_time)
        self.lock = threading.RLock()
        self.version = 0
        self.metrics = Metrics(self.settings, self.seed)
        start = self.clock.start
        guests = build_guests(scenario, start)
        self.guests: dict[int, SimGuest] = {g.vmid: g for g in guests}
        self.nodes: dict[str, SimNode] = build_nodes(scenario, guests)
        self.storages: dict[str, SimStorage] = build_storages(scenario)
        self.pools = self._build_pools()
        self.tasks = TaskStore(self.seed)
        self.engine = Engine(self, start)  # the engine sees the cluster only as an `EngineHost`
        self.faults = FaultState()
        self.auth = AuthStore(scenario.auth, self.settings.cluster_name)
        self.ha_resources: dict[str, dict[str, Any]] = {}
        self.ha_pending: dict[str, tuple[str, str]] = {}  # sid -> (target, "migrate"|"relocate")
        # rules.cfg as PVE stores it: keys given (also `strict: 0`), resources sorted; ordered
        self.ha_rules: list[dict[str, Any]] = []
        for rule in scenario.ha.rules:
            entry = rule.model_dump(exclude_none=True)
            entry["resources"] = ",".join(sorted(x.strip() for x in rule.resources.split(",")))
            self.ha_rules.append(entry)
        for res in scenario.ha.resources:
            self.ha_resources[res.sid] = res.model_dump(exclude_none=True)
        for g in scenario.guests:  # a dump's `hastate` implies an HA resource
            sid = f"{'vm' if g.type == 'qemu' else 'ct'}:{g.vmid}"
            if g.hastate and sid not in self.ha_resources:
                self.ha_resources[sid] = {
                    "sid": sid,
                    "state": "started" if g.hastate != "stopped" else "stopped",
                }
        self._sample: Sample | None = None
        # guest metrics depend only on the bucket and on guests' run state, not on locks or placement
        self.run_version = 0
        self._guest_metrics: tuple[tuple[int, int], dict[int, tuple[float, int]]] | None = None
        self._sample_key: tuple[int, int] = (-1, -1)
        for spec in scenario.faults:
            self.faults.add(spec, self, start)
        self.backups: list[BackupArchive] = []  # vzdump archives left by the seeded history
        seed_history(self)
        # PVE 9.2's HA auto-rebalance, when the scenario's options.crs turns it on
        self.auto_rebalance = autorebalance.attach(self)

    @classmethod
    def from_scenario(cls, scenario: Scenario, seed: int = 0, time_scale: float = 1.0) -> SimCluster:
        """A cluster in its initial state; `time_scale` sim seconds pass per real second (0 = frozen)."""
        return cls(scenario, seed=seed, time_scale=time_scale)

    # -- time ---------------------------------------------------------------------------------------
    def sync(self) -> float:
        """Advance the simulation to the clock's current time; returns that time. Caller holds `lock`."""
        now = self.clock.now()
        self.engine.advance(now)
        return now

    def bump(self) -> None:
        """Mark the state as changed (invalidates cached views)."""
        self.version += 1

    def set_running(self, g: SimGuest, running: bool, t: float) -> None:
        """Start (uptime from `t`) or stop a guest."""
        g.status = "running" if running else "stopped"
        if running:
            g.started_at = t
        self.run_version += 1
        self.bump()

    def sample(self, t: float) -> Sample:
        """Metrics of all guests and nodes at `t` (cached per stats bucket and state version)."""
        key = (self.metrics.bucket(t), self.version)
        if self._sample is not None and key == self._sample_key:
            return self._sample
        m = self.metrics
        guest_key = (key[0], self.run_version)
        if self._guest_metrics is None or self._guest_metrics[0] != guest_key:
            self._guest_metrics = (guest_key, {v: m.guest_pair(g, t) for v, g in self.guests.items()})
        guest = self._guest_metrics[1]
        incoming = self.engine.incoming_mem()
        cores = {n: node.base_cpu_cores for n, node in self.nodes.items()}
        mem = {n: node.base_mem + incoming.get(n, 0) for n, node in self.nodes.items()}
        for v, g in self.guests.items():
            cpu, used = guest[v]
            cores[g.node] += cpu * g.maxcpu
            mem[g.node] += used
        node = {n: (min(1.0, cores[n] / nd.maxcpu), min(nd.maxmem, mem[n])) for n, nd in self.nodes.items()}
        self._sample = Sample(guest, node, t)
        self._sample_key = key
        return self._sample

    def new_task(self, node: str, t: float, type_: str, id_: str, user: str) -> Task:
        """A running task on `node` started at `t` (its UPID carries the node's boot-relative pstart)."""
        boot = self.clock.start - self.nodes[node].uptime0
        return self.tasks.new(node, boot, t, type_, id_, user)

    # -- lookups ------------------------------------------------------------------------------------
    @property
    def api_node(self) -> SimNode:
        """The node that answers API calls (its version decides which endpoints exist)."""
        name = self.settings.api_node
        if name:
            return self.nodes[name]
        online = [n for n in self.nodes.values() if n.online]
        return online[0] if online else next(iter(self.nodes.values()))

    @property
    def all_pve9(self) -> bool:
        return all(n.pve9 for n in self.nodes.values())

    def node(self, name: str) -> SimNode:
        """A node reached through a proxied call: 500 unknown, 595 offline."""
        node = self.nodes.get(name)
        if node is None:
            raise PveError(
                500,
                f"hostname lookup '{name}' failed - failed to get address info for: {name}: "
                "Name or service not known",
            )
        if not node.online:
            raise PveError(595, "No route to host")
        return node

    def guest_on(self, node: str, vmid: int, kind: str) -> SimGuest:
        """The guest whose config lives on `node`, else PVE's 'does not exist' error."""
        g = self.guests.get(vmid)
        if g is None or g.node != node or g.kind != kind:
            folder = "qemu-server" if kind == "qemu" else "lxc"
            raise PveError(500, f"Configuration file 'nodes/{node}/{folder}/{vmid}.conf' does not exist")
        return g

    def guests_on(self, node: str) -> list[SimGuest]:
        return [g for g in self.guests.values() if g.node == node]

    def set_node_online(self, name: str, online: bool) -> None:
        """Fault: a node goes down or comes back; migrations touching a downed node abort."""
        node = self.nodes[name]
        if node.online == online:
            return
        log.info("simulated node %s is now %s", name, "online" if online else "offline")
        node.online = online
        if not online:
            self.engine.abort_involving(name, f"node '{name}' went offline")
        self.bump()

    def set_ha_maintenance(self, name: str, on: bool) -> None:
        """HA maintenance mode on or off for a node (`ha-manager crm-command node-maintenance`)."""
        log.info("simulated node %s HA maintenance %s", name, "on" if on else "off")
        self.nodes[name].ha_maintenance = on
        self.bump()

    def schedule_node_failure(self, name: str, at: float) -> None:
        """Fail node `name` at virtual time `at`; PVE HA fences it and recovers its HA guests."""
        from proxlb_sim.ha_recovery import schedule_failure

        schedule_failure(self, name, at)

    def storage_on(self, storage: str, node: str) -> bool:
        """True if `storage` is available on `node`."""
        s = self.storages.get(storage)
        return s is not None and node in s.per_node

    def is_shared(self, storage: str) -> bool:
        s = self.storages.get(storage)
        return bool(
            s and (s.shared or s.plugintype in ("rbd", "cephfs", "nfs", "cifs", "iscsi", "pbs", "glusterfs"))
        )

    def _build_pools(self) -> dict[str, Pool]:
        pools: dict[str, Pool] = {}
        for entry in self.scenario.pools_in_resources:
            pools.setdefault(entry.pool, Pool(entry.pool, None))
        for spec in self.scenario.pools:
            pool = pools.setdefault(spec.poolid, Pool(spec.poolid, spec.comment))
            pool.comment = spec.comment
            pool.members.extend(str(m) for m in spec.members)
        for g in self.guests.values():
            if g.pool:
                pool = pools.setdefault(g.pool, Pool(g.pool, None))
                if str(g.vmid) not in pool.members:
                    pool.members.append(str(g.vmid))
        for pool in pools.values():
            for member in pool.members:
                if member.isdigit() and int(member) in self.guests:
                    self.guests[int(member)].pool = pool.poolid
        return pools

    def ha_state_of(self, g: SimGuest) -> str | None:
        """HA service state shown as `hastate` (None when not HA managed)."""
        res = self.ha_resources.get(g.sid)
        if res is None:
            return None
        if g.sid in self.ha_pending:
            return self.ha_pending[g.sid][1]
        if any(m.guest.vmid == g.vmid for m in self.engine.active):
            return "migrate"
        state = str(res.get("state", "started"))
        if state in ("started", "enabled"):
            return "started" if g.running else "request_start"
        return {"disabled": "stopped", "ignored": "ignored"}.get(state, state)
