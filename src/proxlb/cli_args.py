"""Command line grammar: upstream ProxLB's flags unchanged, plus subcommands. Pure; no I/O.

Upstream: `proxlb [-c FILE] [-d] [-j] [-b] [-v]`. Ours adds `plan`, `best-node`, `explain VMID`,
`config check`, `snapshot`, `report`, `--once`, guest-size options for `-b`/`best-node`, and the
report options `--html FILE`, `--metrics-file FILE`, `--max-migrations N` (`plan` also `--curve`).
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass

from proxlb import __version__

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


@dataclass(frozen=True)
class CliArgs:
    command: str  # run | plan | report | best-node | explain | failover | config-check | snapshot | version
    config: str
    dry_run: bool = False
    json: bool = False
    once: bool = False
    memory_bytes: int = 0
    cores: float = 0.0
    disk_bytes: int = 0
    tags: tuple[str, ...] = ()
    guest_type: str = "vm"
    vmid: int = 0
    output: str | None = None
    log_level: str | None = None
    html: str | None = None  # --html FILE: write the cycle's HTML report
    metrics_file: str | None = None  # --metrics-file FILE: Prometheus textfile-collector output
    max_migrations: int | None = None  # --max-migrations N: overrides balancing.max_migrations
    curve: bool = False  # plan --curve: print the gain curve table
    quiet: bool = False
    after_plan: bool = False


def _common(p: argparse.ArgumentParser, suppress: bool) -> None:
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


def _guest_request(p: argparse.ArgumentParser) -> None:
    p.add_argument("--memory", type=parse_size, default=0, help="new guest's memory, e.g. 8G")
    p.add_argument("--cores", type=_cores, default=0.0, help="new guest's vCPUs")
    p.add_argument("--disk", type=parse_size, default=0, help="new guest's disk on local storage, e.g. 32G")
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        help="a tag the new guest will carry (repeatable), e.g. plb_anti_affinity_db",
    )
    p.add_argument(
        "--type", dest="guest_type", choices=["vm", "ct"], default="vm", help="guest type (default vm)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="proxlb",
        description=f"ProxLB ({__version__}): a dynamic resource scheduler for Proxmox VE clusters.",
        epilog="Without a subcommand ProxLB runs like upstream: one cycle or a daemon (service.daemon).",
    )
    _common(parser, suppress=False)
    parser.add_argument("-d", "--dry-run", action="store_true", help="plan only: no migration is started")
    parser.add_argument(
        "-j", "--json", action="store_true", help="print the cycle as JSON (upstream shape + plan)"
    )
    parser.add_argument(
        "-b", "--best-node", action="store_true", help="print the best node for a new guest and exit"
    )
    parser.add_argument("-v", "--version", action="store_true", help="print the version and exit")
    parser.add_argument("--once", action="store_true", help="run one cycle even if service.daemon is true")
    _report_options(parser, suppress=False)
    _guest_request(parser)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_plan = sub.add_parser("plan", help="show the plan for the current cluster (a dry run, one cycle)")
    _common(p_plan, suppress=True)
    p_plan.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
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
    p_best.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    for action in list(parser._actions):  # same guest-size options, parsed on the subcommand too
        if action.dest in ("memory", "cores", "disk", "tag", "guest_type"):
            p_best._add_action(action)
    p_best.add_argument(
        "--after-plan",
        action="store_true",
        help="judge the nodes as they will be once the current plan is carried out",
    )

    p_explain = sub.add_parser("explain", help="why a guest moves or stays")
    _common(p_explain, suppress=True)
    p_explain.add_argument("vmid", type=_vmid, help="the guest's VMID")
    p_explain.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    p_fail = sub.add_parser(
        "failover", help="what losing each node would do: PVE HA restarts, survivor memory"
    )
    _common(p_fail, suppress=True)
    p_fail.add_argument("-j", "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    p_config = sub.add_parser("config", help="configuration tools")
    _common(p_config, suppress=True)
    p_config.add_argument(
        "action", choices=["check"], help="check: validate the file and show it (secrets masked)"
    )
    p_config.add_argument(
        "-j", "--json", action="store_true", default=argparse.SUPPRESS, help="print the result as JSON"
    )

    p_snap = sub.add_parser("snapshot", help="save the cluster as a proxlb-sim scenario, to rehearse offline")
    _common(p_snap, suppress=True)
    p_snap.add_argument("-o", "--output", default=None, help="file to write (default: stdout)")
    return parser


def parse_args(argv: list[str]) -> CliArgs:
    """Parse argv into CliArgs; argparse reports usage errors itself (exit 2)."""
    ns = build_parser().parse_args(argv)
    command = ns.command or ("version" if ns.version else "best-node" if ns.best_node else "run")
    if command == "config":
        command = "config-check"
    return CliArgs(
        command=command,
        config=ns.config,
        dry_run=bool(ns.dry_run) or command in ("plan", "report"),
        json=bool(ns.json),
        once=bool(ns.once) or command != "run",
        memory_bytes=int(ns.memory),
        cores=float(ns.cores),
        disk_bytes=int(ns.disk),
        tags=tuple(t.strip() for t in ns.tag if t.strip()),
        guest_type=ns.guest_type,
        vmid=int(getattr(ns, "vmid", 0) or 0),
        output=getattr(ns, "output", None),
        log_level=ns.log_level,
        html=getattr(ns, "html", None),
        metrics_file=getattr(ns, "metrics_file", None),
        max_migrations=getattr(ns, "max_migrations", None),
        curve=bool(getattr(ns, "curve", False)),
        quiet=bool(ns.quiet),
        after_plan=bool(getattr(ns, "after_plan", False)),
    )
