"""Command line grammar: upstream ProxLB's flags unchanged, plus subcommands. Pure; no I/O.

Upstream: `proxlb [-c FILE] [-d] [-j] [-b] [-v]`. Ours adds `plan`, `best-node`, `explain VMID`,
`config check`, `snapshot`, `report`, `--once`, `--repeat`, guest-size options for `-b`/`best-node`,
and the report options `--html FILE`, `--metrics-file FILE`, `--max-migrations N` (`plan` also
`--curve`).

Invariant: `parse_args` returns exactly one frozen args value per command (`RunArgs`, `ReportArgs`,
`BestNodeArgs`, `ExplainArgs`, `FailoverArgs`, `ConfigCheckArgs`, `SnapshotArgs`, `VersionArgs`);
each carries only the options its command reads. Only argparse's public API is used.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from proxlb import UPSTREAM_COMPATIBLE, __version__

DEFAULT_CONFIG = "/etc/proxlb/proxlb.yaml"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:i?B)?\s*$", re.IGNORECASE)
_FACTORS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def parse_size(text: str) -> int:
    """'8G', '512M', '1.5T', '4096' (bytes) → bytes. Binary units, as Proxmox uses."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size; expected e.g. 8G, 512M, 1.5T or bytes")
    number, unit = match.groups()
    return int(float(number) * _FACTORS[unit.upper()])


def _cores(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of cores") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"cores must be positive, got {text}")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of migrations (0, 1, 2 …)")
    return int(text)


def _vmid(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 999_999_999:
        raise argparse.ArgumentTypeError(f"'{text}' is not a VMID (100 … 999999999)")
    return int(text)


# --- the args values, one per command ------------------------------------------------------------
@dataclass(frozen=True)
class Common:
    """Options every command that reads the configuration shares."""

    config: str = DEFAULT_CONFIG
    log_level: str | None = None
    quiet: bool = False
    json: bool = False
    max_migrations: int | None = None  # --max-migrations N: overrides balancing.max_migrations


@dataclass(frozen=True)
class RunArgs:
    """`proxlb [-d] [--once] [--repeat]` (upstream's run) and `proxlb plan` (dry_run, one cycle)."""

    common: Common
    dry_run: bool = False
    once: bool = False  # one cycle whatever service.daemon says
    repeat: bool = False  # with --dry-run: keep planning on service.schedule (no migration)
    html: str | None = None
    metrics_file: str | None = None
    curve: bool = False


@dataclass(frozen=True)
class ReportArgs:
    common: Common
    output: str
    metrics_file: str | None = None


@dataclass(frozen=True)
class BestNodeArgs:
    common: Common
    memory_bytes: int = 0
    cores: float = 0.0
    disk_bytes: int = 0
    tags: tuple[str, ...] = ()
    guest_type: str = "vm"
    after_plan: bool = False


@dataclass(frozen=True)
class ExplainArgs:
    common: Common
    vmid: int


@dataclass(frozen=True)
class FailoverArgs:
    """`proxlb failover`: the per-failure table, now and after the plan."""

    common: Common


@dataclass(frozen=True)
class ConfigCheckArgs:
    config: str
    json: bool = False
    lenient: bool = False  # unknown keys are warnings, not errors


@dataclass(frozen=True)
class SnapshotArgs:
    common: Common
    output: str | None = None


@dataclass(frozen=True)
class VersionArgs:
    pass


CommandArgs = (
    RunArgs
    | ReportArgs
    | BestNodeArgs
    | ExplainArgs
    | FailoverArgs
    | ConfigCheckArgs
    | SnapshotArgs
    | VersionArgs
)


# --- the parser --------------------------------------------------------------------------------
def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
    """Options accepted before and after the subcommand; on a subparser they default to SUPPRESS so
    that a value given before the subcommand is not overwritten by the subparser's default."""
    default = argparse.SUPPRESS if suppress else DEFAULT_CONFIG
    p.add_argument(
        "-c", "--config", default=default, help=f"path to the configuration file (default {DEFAULT_CONFIG})"
    )
    p.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
        default=argparse.SUPPRESS if suppress else None,
        help="override service.log_level",
    )
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="nothing on stdout (no tables, no progress); only warnings and errors, on stderr",
    )


def _json(p: argparse.ArgumentParser, help_text: str = "print JSON") -> None:
    p.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS, help=help_text)


def _report_options(p: argparse.ArgumentParser, suppress: bool, html: bool = True) -> None:
    """--html, --metrics-file and --max-migrations, on the top level and on plan/report."""
    default = argparse.SUPPRESS if suppress else None
    if html:
        p.add_argument(
            "--html", metavar="FILE", default=default, help="also write the cycle as an HTML report"
        )
    p.add_argument(
        "--metrics-file",
        metavar="FILE",
        default=default,
        help="write the cycle's metrics in Prometheus textfile-collector format",
    )
    p.add_argument(
        "--max-migrations",
        metavar="N",
        type=_count,
        default=default,
        help="migration budget of this run: the N moves that pay most (overrides balancing.max_migrations)",
    )


def _guest_request(p: argparse.ArgumentParser, suppress: bool) -> None:
    """The new guest's size for `-b` and `best-node` (on both: `proxlb --memory 8G best-node` works)."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    p.add_argument("--memory", type=parse_size, default=default(0), help="new guest's memory, e.g. 8G")
    p.add_argument("--cores", type=_cores, default=default(0.0), help="new guest's vCPUs")
    p.add_argument(
        "--disk", type=parse_size, default=default(0), help="new guest's disk on local storage, e.g. 32G"
    )
    p.add_argument(
        "--tag",
        action="append",
        default=default([]),
        help="a tag the new guest will carry (repeatable), e.g. plb_anti_affinity_db",
    )
    p.add_argument(
        "--type",
        dest="guest_type",
        choices=["vm", "ct"],
        default=default("vm"),
        help="guest type (default vm)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proxlb",
        description=f"ProxLB ({__version__}): a dynamic resource scheduler for Proxmox VE clusters.",
        epilog="Without a subcommand ProxLB runs like upstream: one cycle, or a daemon when "
        "service.daemon is true. A dry run (-d) is always one cycle unless --repeat is given.",
    )
    _common(parser, suppress=False)
    parser.add_argument(
        "-d", "--dry-run", action="store_true", help="plan only, one cycle: no migration is started"
    )
    parser.add_argument(
        "-j", "--json", action="store_true", help="print the cycle as JSON (upstream shape + plan)"
    )
    parser.add_argument(
        "-b", "--best-node", action="store_true", help="print the best node for a new guest and exit"
    )
    parser.add_argument(
        "-v",
        "--version",
        action="store_true",
        help=f"print the version and the upstream version it is compatible with ({UPSTREAM_COMPATIBLE})",
    )
    parser.add_argument("--once", action="store_true", help="run one cycle even if service.daemon is true")
    parser.add_argument(
        "--repeat",
        action="store_true",
        help="with --dry-run: keep planning every service.schedule like the daemon, migrating nothing",
    )
    _report_options(parser, suppress=False)
    _guest_request(parser, suppress=False)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_plan = sub.add_parser("plan", help="show the plan for the current cluster (a dry run, one cycle)")
    _common(p_plan, suppress=True)
    _json(p_plan)
    p_plan.add_argument(
        "--curve", action="store_true", help="also print the gain curve: spread after the first k moves"
    )
    _report_options(p_plan, suppress=True)

    p_report = sub.add_parser("report", help="plan once (dry run) and write the HTML report")
    _common(p_report, suppress=True)
    p_report.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    _report_options(p_report, suppress=True, html=False)

    p_best = sub.add_parser("best-node", help="the best node for a new guest of the given size and tags")
    _common(p_best, suppress=True)
    _json(p_best)
    _guest_request(p_best, suppress=True)
    p_best.add_argument(
        "--after-plan",
        action="store_true",
        help="judge the nodes as they will be once the current plan is carried out",
    )

    p_explain = sub.add_parser("explain", help="why a guest moves or stays")
    _common(p_explain, suppress=True)
    p_explain.add_argument("vmid", type=_vmid, help="the guest's VMID")
    _json(p_explain)

    p_fail = sub.add_parser(
        "failover", help="what losing each node would do: PVE HA restarts, survivor memory"
    )
    _common(p_fail, suppress=True)
    _json(p_fail)

    p_config = sub.add_parser("config", help="configuration tools")
    _common(p_config, suppress=True)
    p_config.add_argument(
        "action", choices=["check"], help="check: validate the file and show it (secrets masked)"
    )
    _json(p_config, "print the result as JSON")
    p_config.add_argument(
        "--lenient",
        action="store_true",
        help="unknown keys are warnings, not errors (as service.lenient_config: true)",
    )

    p_snap = sub.add_parser("snapshot", help="save the cluster as a proxlb-sim scenario, to rehearse offline")
    _common(p_snap, suppress=True)
    p_snap.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    return parser


def _common_of(ns: argparse.Namespace) -> Common:
    return Common(
        config=str(ns.config),
        log_level=ns.log_level,
        quiet=bool(ns.quiet),
        json=bool(ns.json),
        max_migrations=ns.max_migrations,
    )


def _from_namespace(ns: argparse.Namespace) -> CommandArgs:
    command: str | None = ns.command
    common = _common_of(ns)
    if command is None and ns.version:
        return VersionArgs()
    if command == "best-node" or (command is None and ns.best_node):
        return BestNodeArgs(
            common,
            memory_bytes=int(ns.memory),
            cores=float(ns.cores),
            disk_bytes=int(ns.disk),
            tags=tuple(t.strip() for t in ns.tag if t.strip()),
            guest_type=str(ns.guest_type),
            after_plan=bool(getattr(ns, "after_plan", False)),
        )
    if command is None:
        return RunArgs(
            common,
            dry_run=bool(ns.dry_run),
            once=bool(ns.once),
            repeat=bool(ns.repeat),
            html=ns.html,
            metrics_file=ns.metrics_file,
        )
    if command == "plan":
        return RunArgs(
            common, dry_run=True, once=True, html=ns.html, metrics_file=ns.metrics_file, curve=bool(ns.curve)
        )
    if command == "report":
        return ReportArgs(common, output=str(ns.output), metrics_file=ns.metrics_file)
    if command == "explain":
        return ExplainArgs(common, vmid=int(ns.vmid))
    if command == "failover":
        return FailoverArgs(common)
    if command == "config":
        return ConfigCheckArgs(common.config, json=common.json, lenient=bool(ns.lenient))
    if command == "snapshot":
        return SnapshotArgs(common, output=ns.output)
    raise AssertionError(f"grammar without a command value: {command}")  # argparse rejects others


def parse_args(argv: list[str]) -> CommandArgs:
    """Parse argv into one command's args; argparse reports usage errors itself (exit 2)."""
    parser = build_parser()
    ns = parser.parse_args(argv)
    if ns.repeat and not ns.dry_run:
        parser.error("--repeat only goes with --dry-run (a real run repeats when service.daemon is true)")
    return _from_namespace(ns)
