"""Command line entry point: parse, wire the stages, print, choose the exit code.

With `cli_output` (per-cycle tables / JSON) and `cli_progress` (live progress) the only modules that
print; the only one that exits. Exit codes (docs/cli.md): 0 success; 1 invalid
configuration, or a cycle that failed (API unreachable, authentication, planning); 2 usage
error, missing API permissions or unusable state directory; 3 a migration failed or timed out;
70 an internal (unexpected) error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import yaml

from proxlb import __version__
from proxlb.api.settings import settings_from_config
from proxlb.cli_args import CliArgs, parse_args
from proxlb.cli_output import Printer
from proxlb.config.check import check_config
from proxlb.config.load import LoadedConfig, load_config
from proxlb.config.model import ProxlbConfig
from proxlb.config.render import mask_secret_like
from proxlb.domain import GuestKind, VmId
from proxlb.errors import ApiError, ConfigError, ProxlbError
from proxlb.execute.model import SystemClock
from proxlb.planning import PlanningProblem, policy_from_config
from proxlb.planning.best_node import GuestRequest, best_node
from proxlb.planning.explain import explain_guest
from proxlb.report.curve_text import curve_table
from proxlb.report.scenario_dump import scenario_document
from proxlb.service.daemon import Daemon, DaemonSignals, acting_state, default_connect, default_state
from proxlb.service.history import recently_left
from proxlb.service.logging_setup import configure_logging
from proxlb.service.metrics import CycleMetrics
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once
from proxlb.service.report_files import curve_of, write_html

log = logging.getLogger("proxlb")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # an unexpected error (a bug); the systemd unit restarts on it, not on 1 or 2


def _load(args: CliArgs) -> LoadedConfig:
    loaded = load_config(Path(args.config))
    config = loaded.config
    if args.log_level:
        config = config.model_copy(
            update={"service": config.service.model_copy(update={"log_level": args.log_level})}
        )
    if args.quiet and not args.log_level:
        config = config.model_copy(
            update={"service": config.service.model_copy(update={"log_level": "WARNING"})}
        )
    if args.once and config.service.daemon:
        config = config.model_copy(update={"service": config.service.model_copy(update={"daemon": False})})
    if args.max_migrations is not None:
        bal = config.balancing.model_copy(update={"max_migrations": args.max_migrations})
        config = config.model_copy(update={"balancing": bal})
    return LoadedConfig(config, loaded.warnings)


class _Extras:
    """After the printer: `plan --curve`, `--html FILE` and `--metrics-file FILE`, per cycle."""

    def __init__(self, args: CliArgs, printer: Printer, metrics: CycleMetrics) -> None:
        self.args, self.printer, self.metrics = args, printer, metrics

    def __call__(self, report: RunReport) -> None:
        self.printer(report)
        config = self.printer.config
        if self.args.curve and not (self.args.json or self.args.quiet) and report.plan is not None:
            self.printer.console.print(curve_table(curve_of(config, report), config.balancing.max_migrations))
        if self.args.html and write_html(Path(self.args.html), config, report):
            log.info("report written to %s", self.args.html)
        self.write_metrics()

    def write_metrics(self) -> None:
        if self.args.metrics_file:
            self.metrics.write_textfile(Path(self.args.metrics_file))


def _cmd_run(args: CliArgs, loaded: LoadedConfig) -> int:
    signals = DaemonSignals()
    signals.install()
    metrics = CycleMetrics.from_config(loaded.config)
    printer = Printer(loaded.config, args.json, args.quiet)
    extras = _Extras(args, printer, metrics)
    daemon = Daemon(
        Path(args.config),
        signals=signals,
        apply=not args.dry_run,
        dry_run=args.dry_run,
        initial=loaded,
        # a dry run migrates nothing, so it may run beside the acting instance (no instance lock)
        open_state=default_state if args.dry_run else acting_state,
        on_report=extras,
        on_plan=printer.plan_ready,
        observer_for=printer.observer_for,
        configure_log=not (args.json or args.quiet),  # the CLI already sent logs to stderr
        metrics=metrics,
    )
    try:
        code = daemon.run()
        extras.write_metrics()  # also after a failed cycle
    finally:
        metrics.close()
        if printer.progress is not None:
            printer.progress.close()
    if not loaded.config.service.daemon:
        log.info("Daemon mode not active - stopping.")
    return code


def _one_dry_cycle(
    loaded: LoadedConfig, read_first: tuple[VmId, ...] = ()
) -> tuple[RunReport, PlanningProblem]:
    """Collect and plan once without executing; returns the report and the planning problem.

    read_first: guests whose configuration is read before planning (explain answers from facts).
    """
    config = loaded.config
    _configure_logging(config, to_stderr=True)
    stop = threading.Event()
    client = default_connect(config, stop)
    state = default_state(config, one_shot=True)
    try:
        clock = SystemClock()
        deps = PipelineDeps(config, client, state, clock, stop, dry_run=True, read_first=read_first)
        report = run_once(deps, apply=False)
        if report.snapshot is None or report.constraints is None or report.plan is None:
            raise ProxlbError(f"no plan: {report.standby or 'nothing collected'}")
        recent = state.recent_moves(since=report.started_at - config.balancing.cooldown_minutes * 60.0)
        bal = config.balancing
        left = recently_left(state, report.started_at, bal.cooldown_minutes, bal.return_window_cycles)
    finally:
        state.close()
    problem = PlanningProblem(
        report.snapshot,
        report.constraints,
        policy_from_config(config),
        recent,
        report.started_at,
        recently_left=left,
    )
    return report, problem


def _cmd_report(args: CliArgs, loaded: LoadedConfig) -> int:
    report, _ = _one_dry_cycle(loaded)
    assert args.output is not None  # required by the grammar
    write_html(Path(args.output), loaded.config, report)
    if args.metrics_file:
        metrics = CycleMetrics()
        metrics.cycle_done(loaded.config, report)
        metrics.write_textfile(Path(args.metrics_file))
    plan = report.plan
    assert plan is not None
    print(
        f"wrote {args.output}: {len(plan.migrations)} migration(s) planned, "
        f"spread {plan.imbalance_before:.1f} → {plan.imbalance_after:.1f} pp",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_best_node(args: CliArgs, loaded: LoadedConfig) -> int:
    report, problem = _one_dry_cycle(loaded)
    planned = report.plan.migrations if args.after_plan and report.plan is not None else ()
    request = GuestRequest(
        memory_bytes=args.memory_bytes,
        cores=args.cores,
        disk_bytes=args.disk_bytes,
        tags=args.tags,
        kind=GuestKind.LXC if args.guest_type == "ct" else GuestKind.QEMU,
    )
    answer = best_node(problem, request, planned)
    if args.json:
        doc = {
            "node": answer.node,
            "reason": answer.reason,
            "after_plan": bool(args.after_plan),
            "ranking": [{"node": n, "load_after": s, "verdict": v} for n, s, v in answer.ranking],
        }
        print(json.dumps(doc, indent=4))
    elif answer.node is None:
        print(f"no node can take this guest: {answer.reason}", file=sys.stderr)
    else:
        print(answer.node)
    return EXIT_OK if answer.node else EXIT_FAILED


def _cmd_failover(args: CliArgs, loaded: LoadedConfig) -> int:
    """Per-failure table for the cluster now and after the plan (`balancing.failover_headroom`)."""
    from proxlb.planning.cycle import state_after
    from proxlb.planning.headroom import report_of
    from proxlb.planning.metrics import LoadState
    from proxlb.report.failover import failover_document, failover_text

    report, problem = _one_dry_cycle(loaded)
    assert report.plan is not None
    now = report_of(problem, LoadState.of(problem))
    after = report_of(problem, state_after(problem, report.plan.migrations))
    mode = problem.policy.failover.mode
    crs = problem.snapshot.crs.describe()
    if args.json:
        print(json.dumps(failover_document(now, after, mode, crs), indent=4))
    else:
        print(failover_text(now, after, mode, crs, len(report.plan.migrations)))
    return EXIT_OK


def _cmd_explain(args: CliArgs, loaded: LoadedConfig) -> int:
    report, problem = _one_dry_cycle(loaded, read_first=(VmId(args.vmid),))
    assert report.plan is not None
    if problem.snapshot.guest(args.vmid) is None:
        print(f"guest {args.vmid} is not in the cluster (or on an ignored node)", file=sys.stderr)
        return EXIT_FAILED
    text = explain_guest(report.plan, problem, args.vmid)
    if args.json:
        print(json.dumps({"vmid": args.vmid, "explanation": text.splitlines()}, indent=4))
    else:
        print(text)
    return EXIT_OK


def _cmd_config_check(args: CliArgs) -> int:
    result = check_config(Path(args.config))
    if args.json:
        print(json.dumps(result.to_dict(), indent=4, default=str))
        return EXIT_OK if result.ok else EXIT_FAILED
    for problem in result.problems:
        print(f"error: {problem}")
    for warning in result.warnings:
        print(f"warning: {warning}")
    if result.ok:
        print(f"{args.config}: configuration is valid")
        if result.config is not None:  # already redacted: secrets appear as ********
            print(yaml.safe_dump(dict(result.config), sort_keys=False), end="")
        return EXIT_OK
    print(f"{args.config}: {len(result.problems)} problem(s)")
    return EXIT_FAILED


def _safe_get(client: Any, path: str, **params: str | int) -> Any:
    try:
        return client.get(path, **params)
    except ApiError as exc:
        log.warning("snapshot: %s unavailable (%s); left out", path, exc)
        return []


def _cmd_snapshot(args: CliArgs, loaded: LoadedConfig) -> int:
    config = loaded.config
    _configure_logging(config, to_stderr=True)
    client = default_connect(config, threading.Event())
    resources = client.get("/cluster/resources")
    status = _safe_get(client, "/cluster/status")
    cluster_name = next((str(e.get("name", "")) for e in status if e.get("type") == "cluster"), "")
    versions: dict[str, str] = {}
    for r in resources:
        if r.get("type") == "node" and r.get("status") == "online":
            v = _safe_get(client, f"/nodes/{r['node']}/version")
            if isinstance(v, dict) and v.get("version"):
                versions[str(r["node"])] = str(v["version"])
    pve9 = bool(versions) and all(
        v.split(".")[0].isdigit() and int(v.split(".")[0]) >= 9 for v in versions.values()
    )
    ha_status = _safe_get(client, "/cluster/ha/status/current")
    maintenance = [
        str(e.get("node"))
        for e in ha_status
        if "maintenance mode" in str(e.get("status", "")) and e.get("node")
    ]
    manager = _safe_get(client, "/cluster/ha/status/manager_status")
    master = manager.get("manager_status", {}).get("master_node") if isinstance(manager, dict) else None
    doc = scenario_document(
        resources,
        cluster_name,
        versions,
        ha_resources=_safe_get(client, "/cluster/ha/resources"),
        ha_rules=_safe_get(client, "/cluster/ha/rules") if pve9 else [],
        ha_groups=[] if pve9 else _safe_get(client, "/cluster/ha/groups"),
        ha_maintenance_nodes=maintenance,
        ha_master=master,
    )
    text = yaml.safe_dump(doc, sort_keys=False)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: {len(resources)} resources", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _configure_logging(config: ProxlbConfig, to_stderr: bool) -> None:
    try:
        secrets = settings_from_config(config.proxmox_api).secrets()
    except ConfigError:
        secrets = ()
    configure_logging(
        config.service.log_level,
        config.service.log_format,
        secrets,
        stream=sys.stderr if to_stderr else None,
    )


def dispatch(args: CliArgs) -> int:
    """Run one command; returns the exit code. Errors end here as one clear message, never a traceback."""
    if args.command == "version":
        print(f"ProxLB version: {__version__}")
        print("Dynamic resource scheduler for Proxmox VE (upstream ProxLB 2.3.0 compatible)")
        return EXIT_OK
    if args.command == "config-check":
        return _cmd_config_check(args)
    try:
        loaded = _load(args)
    except ConfigError as exc:
        print(f"error: invalid configuration {args.config}", file=sys.stderr)
        for problem in exc.problems or (str(exc),):
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILED
    # With --json stdout carries only the document; logs go to stderr.
    _configure_logging(loaded.config, to_stderr=args.json or args.quiet or args.command != "run")
    if args.command != "run":  # the daemon logs them itself
        for warning in loaded.warnings:
            log.warning("config: %s", warning)
    try:
        if args.command in ("run", "plan"):
            return _cmd_run(args, loaded)
        if args.command == "report":
            return _cmd_report(args, loaded)
        if args.command == "best-node":
            return _cmd_best_node(args, loaded)
        if args.command == "explain":
            return _cmd_explain(args, loaded)
        if args.command == "snapshot":
            return _cmd_snapshot(args, loaded)
        if args.command == "failover":
            return _cmd_failover(args, loaded)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"error: Proxmox API: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ProxlbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:  # a report or metrics file that cannot be written
        print(f"error: cannot write {exc.filename or 'a file'}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    raise AssertionError(f"unhandled command {args.command}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        code = dispatch(args)
        sys.stdout.flush()
    except BrokenPipeError:  # `proxlb … | head`: the reader left; no traceback for that
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = EXIT_FAILED
    except Exception as exc:  # a bug: one line, the traceback at DEBUG, a distinct exit code
        what = mask_secret_like(f"{type(exc).__name__}: {exc}")[:300]
        print(f"error: internal error ({what}); please report it", file=sys.stderr)
        log.debug("internal error", exc_info=True)
        code = EXIT_INTERNAL
    raise SystemExit(code)
