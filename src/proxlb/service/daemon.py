"""The long-running service loop: schedule, signals, reload, leader gate, and failure containment.

Invariants:
- Signals only set `threading.Event`s (`DaemonSignals`); every wait is `Clock.sleep(…, event)`,
  so SIGTERM/SIGINT/SIGHUP interrupt it at once — no blind sleeps.
- SIGHUP re-reads the config; a bad new config is logged and the old one kept. Changed
  `proxmox_api` connection settings take effect only after a new client built from them has
  authenticated and passed the permission check; otherwise the running config and client stay
  and the reason is logged.
- SIGTERM/SIGINT: no new migration starts; in-flight ones are followed up to `service.stop_timeout`.
- A failing cycle (API down, odd data, a bug) is logged with context and retried with exponential
  backoff (capped by the schedule); only a bad config or an unusable state dir ends the daemon.
  A full state file system is not "unusable": at start the daemon waits for space (every 60 s),
  later a failed write is logged and the cycle goes on (service/state.py, service/journal.py).
  A one-shot cycle that fails on an unexpected (non-ProxLB) exception returns `ExitCode.INTERNAL` (70).
- The start-up permission check of a one-shot run is asked again only for errors that say
  `retryable` (no answer, HTTP 5xx); a certificate, a name or a port that cannot work ends it at once.
"""

from __future__ import annotations

import errno
import logging
import signal
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxlb.api.settings import settings_from_config
from proxlb.config.load import LoadedConfig, load_config
from proxlb.config.model import ProxlbConfig
from proxlb.domain import ClusterSnapshot, ConstraintSet, Plan
from proxlb.errors import ApiError, AuthError, ConfigError, ProxlbError
from proxlb.execute.model import Clock, SystemClock
from proxlb.execute.progress import ExecutionObserver, MigrationEvent, notify
from proxlb.exit_codes import ExitCode
from proxlb.service.instance_lock import InstanceLock, acquire_cluster_lock
from proxlb.service.leader import STANDBY_RECHECK_SECONDS
from proxlb.service.logging_setup import configure_logging
from proxlb.service.metrics import CycleMetrics
from proxlb.service.ownership import ownership_fix
from proxlb.service.pipeline import PipelineClient, PipelineDeps, PlanHook, RunReport, run_once
from proxlb.service.report_files import keep_last_report
from proxlb.service.retention import Retention
from proxlb.service.state import StateError, StateFullError, StateStore

log = logging.getLogger(__name__)

FIRST_BACKOFF_SECONDS = 30.0
# a one-shot run whose first request meets a PVE that is not ready (5xx, no answer) retries this long
STARTUP_RETRY_SECONDS = 60.0
STATE_FULL_RETRY_SECONDS = 60.0  # a daemon started on a full state file system asks again this often


@dataclass
class DaemonSignals:
    """stop: SIGTERM/SIGINT; reload: SIGHUP; wake: set by both so one wait sees either."""

    stop: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)

    def request_stop(self) -> None:
        self.stop.set()
        self.wake.set()

    def request_reload(self) -> None:
        self.reload.set()
        self.wake.set()

    def install(self) -> None:
        """Route SIGTERM, SIGINT and SIGHUP to the events (main thread only)."""
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())


def _secrets(config: ProxlbConfig) -> tuple[str, ...]:
    try:
        return settings_from_config(config.proxmox_api).secrets()
    except ConfigError:
        return ()


def _headline(exc: ConfigError) -> str:
    """The error's first line: its problems are logged one per line right after (said once)."""
    return str(exc).splitlines()[0] if exc.problems else str(exc)


def _connection_key(config: ProxlbConfig) -> tuple[object, ...]:
    return settings_from_config(config.proxmox_api).connection_key()


def default_connect(config: ProxlbConfig, stop: threading.Event) -> PipelineClient:
    from proxlb.api.client import connect

    client: PipelineClient = connect(config.proxmox_api, stop_event=stop)
    return client


def default_state(config: ProxlbConfig, one_shot: bool) -> StateStore:
    return StateStore.open(config.service.state_dir, memory_fallback=one_shot)


def acting_state(config: ProxlbConfig, one_shot: bool) -> StateStore:
    """The state store of an instance that may migrate: first the exclusive instance lock on
    `state_dir` (raises `InstanceBusyError`, a `StateError`, when another process holds it)."""
    try:
        lock = InstanceLock.acquire(config.service.state_dir)
    except OSError as exc:
        if not one_shot and exc.errno == errno.ENOSPC:
            raise StateFullError(
                f"state directory {config.service.state_dir} is not usable: its file system is full"
            ) from None
        if not one_shot:
            fix = (
                f"fix the ownership: {ownership_fix(Path(config.service.state_dir))}"
                if isinstance(exc, PermissionError)
                else "create it writable for the proxlb user, or set service.state_dir"
            )
            raise StateError(
                f"state directory {config.service.state_dir} is not usable: {exc.strerror or exc} ({fix})"
            ) from None
        where = config.service.state_dir
        log.warning("could not lock %s (%s); not guarding against a second instance", where, exc)
        return default_state(config, one_shot)
    try:
        state = default_state(config, one_shot)
    except BaseException:
        lock.release()
        raise
    state.hold(lock.release)
    _guard_cluster(state, config.service.state_dir)
    return state


def _guard_cluster(state: StateStore, state_dir: str) -> None:
    """When the store is bound to a cluster, take that cluster's host-wide lock (released with it)."""
    held: list[Callable[[], None]] = []

    def release_all() -> None:
        for release in held:
            release()
        held.clear()

    def on_bind(identity: str) -> None:
        release_all()
        taken = acquire_cluster_lock(identity, state_dir)
        if taken is not None:
            held.append(taken)

    state.on_bind = on_bind
    state.hold(release_all)


@dataclass
class Daemon:
    """Holds what survives across cycles; `run()` is the loop."""

    config_path: Path
    signals: DaemonSignals = field(default_factory=DaemonSignals)
    clock: Clock = field(default_factory=SystemClock)
    apply: bool = True
    dry_run: bool = False
    load: Callable[[Path], LoadedConfig] = load_config
    connect: Callable[[ProxlbConfig, threading.Event], PipelineClient] = default_connect
    open_state: Callable[[ProxlbConfig, bool], StateStore] = acting_state
    run_cycle: Callable[[PipelineDeps, bool], RunReport] = run_once
    on_report: Callable[[RunReport], None] | None = None
    # shown the final plan before it is executed, and (per cycle, given the client) each migration event
    on_plan: PlanHook | None = None
    observer_for: Callable[[PipelineClient], ExecutionObserver] | None = None
    initial: LoadedConfig | None = None
    configure_log: bool = True
    cycles: int = 0
    failures: int = 0
    # the last cycle's report only: a daemon runs for a year, and every report holds a snapshot
    reports: deque[RunReport] = field(default_factory=lambda: deque(maxlen=1))
    retention: Retention = field(default_factory=Retention)
    metrics: CycleMetrics | None = None  # None: built from service.metrics (and closed) by run()

    def _apply_logging(self, config: ProxlbConfig) -> None:
        if self.configure_log:
            configure_logging(config.service.log_level, config.service.log_format, _secrets(config))

    def _reload(self, config: ProxlbConfig, client: PipelineClient) -> tuple[ProxlbConfig, PipelineClient]:
        self.signals.reload.clear()
        try:
            loaded = self.load(self.config_path)
        except ConfigError as exc:
            log.error("SIGHUP: new configuration rejected, keeping the running one: %s", _headline(exc))
            for problem in exc.problems:
                log.error("  %s", problem)
            if self.metrics is not None:
                self.metrics.reloaded(ok=False)
            return config, client
        new = loaded.config
        for warning in loaded.warnings:
            log.warning("config: %s", warning)
        if _connection_key(new) != _connection_key(config):
            log.info("SIGHUP: proxmox_api settings changed; checking them before switching")
            try:  # switch only to a client that has authenticated and holds every privilege
                candidate = self.connect(new, self.signals.stop)
                candidate.check_permissions()
            except Exception as exc:  # whatever fails, the working client stays
                reason = str(exc) if isinstance(exc, ProxlbError) else f"{type(exc).__name__}: {exc}"
                log.error(
                    "SIGHUP: new proxmox_api settings rejected, keeping the running configuration "
                    "and API connection: %s",
                    reason,
                )
                if self.metrics is not None:
                    self.metrics.reloaded(ok=False)
                return config, client
            client = candidate
        self._apply_logging(new)
        log.info("SIGHUP: configuration reloaded from %s", self.config_path)
        if self.metrics is not None:
            self.metrics.reloaded(ok=True)
        return new, client

    def _wait(
        self, seconds: float, config: ProxlbConfig, client: PipelineClient
    ) -> tuple[ProxlbConfig, PipelineClient]:
        deadline = self.clock.now() + seconds
        while not self.signals.stop.is_set():
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                break
            self.clock.sleep(remaining, self.signals.wake)
            self.signals.wake.clear()
            if self.signals.reload.is_set():
                config, client = self._reload(config, client)
        return config, client

    def run(self) -> int:
        try:
            loaded = self.initial or self.load(self.config_path)
        except ConfigError as exc:
            log.error("configuration invalid: %s", _headline(exc))
            for problem in exc.problems:
                log.error("  %s", problem)
            return ExitCode.FAILED
        config = loaded.config
        self._apply_logging(config)
        for warning in loaded.warnings:
            log.warning("config: %s", warning)
        one_shot = not config.service.daemon
        state = self._open_state(config, one_shot)
        if state is None:
            return ExitCode.SETUP if not self.signals.stop.is_set() else ExitCode.OK
        own_metrics = self.metrics is None
        try:
            if self.metrics is None:
                self.metrics = CycleMetrics.from_config(config)
            return self._loop(config, state, one_shot)
        except ConfigError as exc:  # service.metrics.listen cannot be bound
            log.error("%s", exc)
            return ExitCode.SETUP
        finally:
            state.close()
            if own_metrics and self.metrics is not None:
                self.metrics.close()
                self.metrics = None

    def _open_state(self, config: ProxlbConfig, one_shot: bool) -> StateStore | None:
        """The state store; a full file system is waited out (daemon: it may be freed), any other
        problem ends the start (None, after logging it)."""
        while True:
            try:
                return self.open_state(config, one_shot)
            except StateFullError as exc:
                if one_shot:
                    log.error("%s", exc)
                    return None
                log.error("%s; trying again in %.0f s", exc, STATE_FULL_RETRY_SECONDS)
                if self.clock.sleep(STATE_FULL_RETRY_SECONDS, self.signals.stop):
                    return None
            except StateError as exc:
                log.error("%s", exc)
                return None

    def _first_contact(self, client: PipelineClient, one_shot: bool) -> None:
        """The permission check; in a one-shot run a PVE that is not ready yet (HTTP 5xx, no
        answer) is asked again with backoff (2, 4, 8 … s) for up to `STARTUP_RETRY_SECONDS`, so a
        short burst of 503s does not end the run. What cannot get better by asking again (rejected
        credentials, an untrusted certificate, a name that does not resolve, a port nobody listens
        on) is never retried: `ApiError.retryable` says which is which."""
        waited, delay = 0.0, 2.0
        while True:
            try:
                client.check_permissions()
                return
            except ApiError as exc:
                if not one_shot or not exc.retryable or waited >= STARTUP_RETRY_SECONDS:
                    raise
                delay = min(delay, STARTUP_RETRY_SECONDS - waited)
                log.warning("Proxmox API not ready (%s); asking again in %.0f s", exc, delay)
                if self.clock.sleep(delay, self.signals.stop):
                    raise
                waited += delay
                delay *= 2

    def _loop(self, config: ProxlbConfig, state: StateStore, one_shot: bool) -> int:
        client = self.connect(config, self.signals.stop)
        try:
            self._first_contact(client, one_shot)
        except ConfigError as exc:
            log.error("%s", exc)
            for problem in exc.problems:
                log.error("  %s", problem)
            return ExitCode.SETUP
        except ApiError as exc:
            if one_shot:  # the cycle would fail the same way: say it once, and do not promise a retry
                log.error("%s", exc)
                return ExitCode.FAILED
            if isinstance(exc, AuthError):
                log.error("%s", exc)
            else:
                log.warning("permission check postponed: %s", exc)
        delay = float(config.service.delay.seconds)
        if delay and not one_shot:
            log.info("start delayed by %.0f s (service.delay)", delay)
            config, client = self._wait(delay, config, client)
        last_exit = ExitCode.OK
        while not self.signals.stop.is_set():
            if self.signals.reload.is_set():
                config, client = self._reload(config, client)
            self.cycles += 1
            wait = float(config.service.schedule.seconds)
            metrics = self.metrics or CycleMetrics()
            metrics.before_cycle(client)
            deps = PipelineDeps(
                config,
                client,
                state,
                self.clock,
                self.signals.stop,
                dry_run=self.dry_run,
                on_plan=_with_metrics_plan(self.on_plan, metrics),
                observer=_with_metrics_events(
                    self.observer_for(client) if self.observer_for else None,
                    None if self.dry_run else metrics,
                ),
            )
            started = self.clock.now()
            try:
                report = self.run_cycle(deps, self.apply)
            except StateError as exc:
                log.error("%s", exc)
                return ExitCode.SETUP
            except Exception as exc:  # the daemon must survive any single cycle
                self.failures += 1
                wait = min(wait, FIRST_BACKOFF_SECONDS * 2 ** (self.failures - 1))
                # our own errors are one readable line; anything else is a bug and keeps its traceback
                what = str(exc) if isinstance(exc, ProxlbError) else f"{type(exc).__name__}: {exc}"
                if one_shot:
                    log.error("cycle failed: %s", what, exc_info=not isinstance(exc, ProxlbError))
                else:
                    log.error(
                        "cycle %d failed: %s; retrying in %.0f s",
                        self.cycles,
                        what,
                        wait,
                        exc_info=not isinstance(exc, ProxlbError),
                    )
                last_exit = ExitCode.FAILED if isinstance(exc, ProxlbError) else ExitCode.INTERNAL
                metrics.cycle_failed(self.clock.now() - started)
            else:
                self.failures = 0
                self.reports.append(report)
                if report.snapshot is not None:  # the store is bound to the cluster
                    self.retention.enforce(state, config, self.clock.now())
                metrics.cycle_done(config, report)
                if not one_shot:
                    keep_last_report(config, report, state.location)
                last_exit = report.exit_code
                if self.on_report is not None:
                    self.on_report(report)
                if report.standby is not None or (report.execution is not None and report.execution.yielded):
                    wait = min(wait, STANDBY_RECHECK_SECONDS)  # a new plan soon, not after the schedule
            if one_shot:
                log.info("daemon mode not active: stopping after one cycle")
                return last_exit
            if self.signals.stop.is_set():
                break
            log.info("next cycle in %.0f s", wait)
            config, client = self._wait(wait, config, client)
        log.info("stopped on request")
        return ExitCode.OK


def _with_metrics_plan(hook: PlanHook | None, metrics: CycleMetrics) -> PlanHook:
    """The plan hook that also counts the plan's migrations the moment it is final."""

    def on_plan(snapshot: ClusterSnapshot, constraints: ConstraintSet, plan: Plan) -> None:
        metrics.plan_ready(plan)
        if hook is not None:
            hook(snapshot, constraints, plan)

    return on_plan


def _with_metrics_events(
    observer: ExecutionObserver | None, metrics: CycleMetrics | None
) -> ExecutionObserver | None:
    """The execution observer that also counts each migration's outcome when it ends (not in a dry
    run); each observer is called on its own, so a failing display never hides an event from metrics."""
    if metrics is None:
        return observer
    count = metrics.migration_event

    def observe(event: MigrationEvent) -> None:
        notify(count, event)
        notify(observer, event)

    return observe


def run_daemon(config_path: Path, **options: Any) -> int:
    """Run the service until stopped; returns the process exit code (see docs/operations.md)."""
    return Daemon(config_path, **options).run()
