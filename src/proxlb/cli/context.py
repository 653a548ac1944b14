"""What the command modules share: loading the configuration with the command line's overrides,
sending logs to stderr, and one dry cycle that yields the cycle's report and planning problem.

Invariants: a configuration that does not load raises `InvalidConfigurationError` (exit 1, one message);
logs of every command go to stderr, so stdout carries only tables, results and documents.
"""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

from proxlb.api.settings import settings_from_config
from proxlb.cli.args import Common
from proxlb.config.load import LoadedConfig, load_config
from proxlb.config.model import ProxlbConfig
from proxlb.domain import VmId
from proxlb.errors import ConfigError, ProxlbError
from proxlb.execute.model import SystemClock
from proxlb.planning import PlanningProblem
from proxlb.service.daemon import default_connect, default_state
from proxlb.service.logging_setup import configure_logging
from proxlb.service.pipeline import PipelineDeps, RunReport, run_once

log = logging.getLogger("proxlb")


class InvalidConfigurationError(Exception):
    """The configuration file does not load; carries the loader's error."""

    def __init__(self, path: str, error: ConfigError) -> None:
        super().__init__(str(error))
        self.path, self.error = path, error


def load(common: Common, one_cycle: bool) -> LoadedConfig:
    """The configuration with the command line's overrides applied (log level, --quiet,
    --max-migrations; one_cycle: service.daemon off for this run)."""
    try:
        loaded = load_config(Path(common.config))
    except ConfigError as exc:
        raise InvalidConfigurationError(common.config, exc) from None
    config = loaded.config
    service: dict[str, object] = {}
    if common.log_level:
        service["log_level"] = common.log_level
    elif common.quiet:
        service["log_level"] = "WARNING"
    if one_cycle and config.service.daemon:
        service["daemon"] = False
    if service:
        config = config.model_copy(update={"service": config.service.model_copy(update=service)})
    if common.max_migrations is not None:
        bal = config.balancing.model_copy(update={"max_migrations": common.max_migrations})
        config = config.model_copy(update={"balancing": bal})
    return LoadedConfig(config, loaded.warnings)


def configure_stderr_logging(config: ProxlbConfig) -> None:
    """Logs to stderr at every level (stdout is for tables, results and JSON)."""
    try:
        secrets = settings_from_config(config.proxmox_api).secrets()
    except ConfigError:
        secrets = ()
    configure_logging(config.service.log_level, config.service.log_format, secrets, stream=sys.stderr)


def load_for_command(common: Common) -> LoadedConfig:
    """Load for a one-cycle command (`report`, `best-node`, `explain`, `snapshot`): logging set up
    and the configuration's warnings logged once."""
    loaded = load(common, one_cycle=True)
    configure_stderr_logging(loaded.config)
    for warning in loaded.warnings:
        log.warning("config: %s", warning)
    return loaded


def one_dry_cycle(
    loaded: LoadedConfig, read_first: tuple[VmId, ...] = ()
) -> tuple[RunReport, PlanningProblem]:
    """Collect and plan once without executing; returns the report and the cycle's planning problem.

    read_first: guests whose configuration is read before planning (explain answers from facts).
    """
    config = loaded.config
    stop = threading.Event()
    client = default_connect(config, stop)
    state = default_state(config, one_shot=True)
    try:
        deps = PipelineDeps(config, client, state, SystemClock(), stop, dry_run=True, read_first=read_first)
        report = run_once(deps, apply=False)
    finally:
        state.close()
    if report.problem is None or report.plan is None:
        raise ProxlbError(f"no plan: {report.standby or 'nothing collected'}")
    return report, report.problem  # the very problem the plan was made from
