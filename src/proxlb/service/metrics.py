"""Prometheus metrics of ProxLB cycles, served on `service.metrics.listen` or written as a textfile.

One `CycleMetrics` per process run holds its own registry (no global state, so tests can run several).
The daemon calls `before_cycle`, `plan_ready` (the plan is final), `migration_event` (each migration's
end, as it happens), `cycle_done` / `cycle_failed` and `reloaded` (each SIGHUP, when it is handled);
the API client reports each HTTP request through `api_request`. Metric names and labels are
documented in docs/operations.md and used by packaging/grafana-dashboard.json — change them together.

Invariants: counters only grow within a process; every labelled counter exists at 0 for its known
label values from the start (Prometheus' `increase()` cannot see a series' first sample); an event is
counted when it happens, never again at cycle end; gauges describe the LAST cycle that planned; the
HTTP endpoint binds only the configured address and stops with `close()`.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    write_to_textfile,
)

from proxlb.config.model import ProxlbConfig
from proxlb.domain import Plan, VmId
from proxlb.domain.plan import MigrationReason
from proxlb.errors import ConfigError
from proxlb.execute.model import Outcome
from proxlb.execute.progress import MigrationEvent, MigrationPhase
from proxlb.planning import PlanningProblem
from proxlb.planning.headroom import failover_now_and_after
from proxlb.planning.policy import RESOURCES, policy_from_config
from proxlb.service.metrics_server import start_server
from proxlb.service.pipeline import RunReport

log = logging.getLogger(__name__)

CYCLE_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
_OUTCOME_COUNTER = {
    Outcome.DONE: "applied",
    Outcome.FAILED: "failed",
    Outcome.TIMEOUT: "failed",
    Outcome.SKIPPED: "skipped",
    Outcome.CANCELLED: "skipped",
}


class CycleMetrics:
    """The metric families, and the optional HTTP server that exposes them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        label = ["node", "resource", "mode"]
        self.node_load = Gauge(
            "proxlb_node_load_percent", "Node load, % of usable capacity", label, registry=r
        )
        self.node_load_planned = Gauge(
            "proxlb_node_load_planned_percent", "Node load once the plan is done, % of usable capacity",
            label, registry=r,
        )  # fmt: skip
        self.spread = Gauge(
            "proxlb_spread_pp", "Largest per-resource load spread now, percentage points", registry=r
        )
        self.spread_planned = Gauge(
            "proxlb_spread_planned_pp", "Spread once the plan is done, pp", registry=r
        )
        self.plan_migrations = Gauge(
            "proxlb_plan_migrations", "Migrations in the last plan", ["reason"], registry=r
        )
        self.plan_bytes = Gauge(
            "proxlb_plan_copy_bytes", "Bytes the last plan copies (memory + local disks)", registry=r
        )
        self.failover_headroom = Gauge(
            "proxlb_failover_headroom_bytes",
            "Smallest free memory on any survivor once PVE HA restarted a failure's HA guests "
            "(negative: short by that much); when = now | planned",
            ["failure", "when"],
            registry=r,
        )
        self.failover_not_fitting = Gauge(
            "proxlb_failover_guests_without_room",
            "HA guests PVE would restart after a failure but that find no memory; when = now | planned",
            ["failure", "when"],
            registry=r,
        )
        self.counters = {
            kind: Counter(
                f"proxlb_migrations_{kind}", f"Migrations {kind}, by reason", ["reason"], registry=r
            )
            for kind in ("planned", "applied", "failed", "skipped")
        }
        self.copied = Counter("proxlb_copied_bytes", "Bytes copied by applied migrations", registry=r)
        self.cycle_seconds = Histogram(
            "proxlb_cycle_duration_seconds", "Duration of one cycle", buckets=CYCLE_BUCKETS, registry=r
        )
        self.cycles = Counter(
            "proxlb_cycles", "Cycles by result (ok, failed, standby)", ["result"], registry=r
        )
        self.api_requests = Counter(
            "proxlb_api_requests", "Proxmox API requests by method and HTTP status (0 = no answer)",
            ["method", "status"], registry=r,
        )  # fmt: skip
        self.api_errors = Counter(
            "proxlb_api_errors",
            "Failed Proxmox API requests by HTTP status (0 = no answer)",
            ["status"],
            registry=r,
        )
        self.last_success = Gauge(
            "proxlb_last_successful_cycle_timestamp_seconds",
            "End of the last successful cycle (epoch)",
            registry=r,
        )
        self.leader = Gauge(
            "proxlb_leader", "1 = this instance acts (leader or HA gate off), 0 = standby", registry=r
        )
        self.reloads = Counter(
            "proxlb_config_reloads", "Configuration reloads (SIGHUP) by result", ["result"], registry=r
        )
        self.cluster_info = Gauge(
            "proxlb_cluster_info",
            "1 for the cluster this instance manages (PVE cluster name, and the identity its state is "
            "kept under); join on `instance` to tell clusters apart",
            ["cluster", "identity"],
            registry=r,
        )
        self._server: Any = None
        self._wanted: tuple[str, int] | None = None  # the listen address while it was busy
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._plan_counted = False  # this cycle's plan was counted by plan_ready
        self._ended: set[VmId] = set()  # this cycle's migrations counted by migration_event
        self._create_known_series()

    def _create_known_series(self) -> None:
        """Every labelled counter at 0 for the label values it can take (reasons, results)."""
        for counter in self.counters.values():
            for reason in MigrationReason:
                counter.labels(reason.value)
        for result in ("ok", "failed", "standby"):
            self.cycles.labels(result)
        for result in ("ok", "rejected"):
            self.reloads.labels(result)

    # --- lifecycle ------------------------------------------------------------------------------
    @staticmethod
    def from_config(config: ProxlbConfig) -> CycleMetrics:
        """Metrics for a run; a daemon serves /metrics when `service.metrics.listen` is set (a one-shot
        run, `plan` or `report` does not bind the port: it may be the running daemon's)."""
        metrics = CycleMetrics()
        address = config.service.metrics.address()
        if address is not None and config.service.daemon:
            try:
                metrics.serve(*address)
            except ConfigError as exc:  # a busy port may free up: the daemon runs on and asks again
                log.error("%s; no /metrics until it is free (tried again each cycle)", exc)
                metrics._wanted = address
        return metrics

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on host:port (port 0 picks one); returns the bound port."""
        try:
            self._server, self._thread = start_server(host, port, self.registry)
        except OSError as exc:
            raise ConfigError(
                f"service.metrics.listen: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
        bound = int(self._server.server_port)
        log.info("metrics: serving Prometheus /metrics on %s:%d", host, bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = self._thread = None

    def write_textfile(self, path: Path) -> None:
        """Textfile-collector format (node_exporter), written atomically."""
        write_to_textfile(str(path), self.registry)

    # --- hooks ----------------------------------------------------------------------------------
    def api_request(self, method: str, status: int) -> None:
        self.api_requests.labels(method, str(status)).inc()
        if status == 0 or status >= 400:
            self.api_errors.labels(str(status)).inc()

    def before_cycle(self, client: object) -> None:
        """Let the API client report its requests here (once per client); a new cycle starts; a
        listen port that was busy is tried again."""
        if self._wanted is not None and self._server is None:
            try:
                self.serve(*self._wanted)
                self._wanted = None
            except ConfigError as exc:
                log.debug("%s", exc)
        if hasattr(client, "observer") and getattr(client, "observer", None) is None:
            client.observer = self.api_request
        with self._lock:
            self._plan_counted = False
            self._ended = set()

    def plan_ready(self, plan: Plan) -> None:
        """The cycle's plan is final: count its migrations now, not when the cycle ends."""
        with self._lock:
            if self._plan_counted:
                return
            self._plan_counted = True
        for m in plan.migrations:
            self.counters["planned"].labels(m.reason.value).inc()

    def migration_event(self, event: MigrationEvent) -> None:
        """A migration of an applied plan ended: count its outcome (and bytes) as it happens."""
        if event.phase is not MigrationPhase.FINISHED:
            return
        try:
            outcome = Outcome(event.outcome)
        except ValueError:
            return
        with self._lock:
            if event.migration.vmid in self._ended:
                return
            self._ended.add(event.migration.vmid)
        self.counters[_OUTCOME_COUNTER[outcome]].labels(event.migration.reason.value).inc()
        if outcome is Outcome.DONE:
            self.copied.inc(event.migration.bytes_to_copy)

    def cycle_failed(self, seconds: float) -> None:
        self.cycles.labels("failed").inc()
        self.cycle_seconds.observe(max(0.0, seconds))

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "rejected").inc()

    def _failover(self, config: ProxlbConfig, report: RunReport) -> None:
        """Headroom per failure, now and planned (only with `failover_headroom` not off)."""
        self.failover_headroom.clear()
        self.failover_not_fitting.clear()
        if report.snapshot is None or report.constraints is None or report.plan is None:
            return
        problem = PlanningProblem(report.snapshot, report.constraints, policy_from_config(config))
        pair = failover_now_and_after(problem, report.plan.migrations)
        if pair is None:
            return
        for when, rep in zip(("now", "planned"), pair, strict=True):
            for f in rep.failures:
                self.failover_headroom.labels(f.name, when).set(float(f.headroom_bytes))
                self.failover_not_fitting.labels(f.name, when).set(float(len(f.not_fitting)))

    def cycle_done(self, config: ProxlbConfig, report: RunReport) -> None:
        """The cycle ended: gauges for its plan; events not yet counted live are counted now."""
        try:
            self._cycle_done(config, report)
        finally:
            with self._lock:  # the next cycle starts afresh
                self._plan_counted = False
                self._ended = set()

    def _cycle_done(self, config: ProxlbConfig, report: RunReport) -> None:
        self.cycle_seconds.observe(max(0.0, report.finished_at - report.started_at))
        if report.standby is not None:
            self.leader.set(0)
            self.cycles.labels("standby").inc()
            return
        self.leader.set(1)
        if report.snapshot is not None:
            self.cluster_info.clear()
            snapshot = report.snapshot
            self.cluster_info.labels(snapshot.cluster_name, snapshot.identity).set(1)
        self.cycles.labels("ok" if report.exit_code == 0 else "failed").inc()
        if report.exit_code == 0:
            self.last_success.set(report.finished_at)
        plan = report.plan
        if plan is None:
            return
        mode = str(config.balancing.mode)
        for gauge, values in (
            (self.node_load, plan.metrics_before),
            (self.node_load_planned, plan.metrics_after),
        ):
            gauge.clear()
            for node, row in values.items():
                for res in RESOURCES:
                    gauge.labels(node, res, mode).set(float(row.get(res, 0.0)))
        self.spread.set(plan.imbalance_before)
        self.spread_planned.set(plan.imbalance_after)
        self.plan_migrations.clear()
        for reason in ("drain", "rule", "balance", "parking"):
            self.plan_migrations.labels(reason).set(0)
        for m in plan.migrations:
            self.plan_migrations.labels(m.reason.value).inc()
        self.plan_ready(plan)  # counts nothing when the daemon already did, before executing
        self.plan_bytes.set(plan.bytes_to_copy)
        self._failover(config, report)
        if report.execution is None or report.execution.dry_run:
            return
        copy = {m.vmid: m.bytes_to_copy for m in plan.migrations}
        with self._lock:
            ended = set(self._ended)
            self._ended |= {o.vmid for o in report.execution.outcomes}
        for o in report.execution.outcomes:
            if o.vmid in ended:  # counted when it happened
                continue
            self.counters[_OUTCOME_COUNTER[o.outcome]].labels(o.reason).inc()
            if o.outcome is Outcome.DONE:
                self.copied.inc(copy.get(o.vmid, 0))
