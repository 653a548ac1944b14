"""Command line entry point (`proxlb = "proxlb.cli:main"`): parse, look the command up, choose the
exit code.

One module per command (`run`, `report`, `best_node`, `explain`, `failover`, `config_check`, `snapshot`,
`version`), each with its own frozen args type from `proxlb.cli.args`; `COMMANDS` maps the type to
the command. With `output` (per-cycle tables / JSON) and `progress` (live progress) this package
holds the only code that prints; `main` alone exits. Exit codes (docs/cli.md): 0 success;
1 invalid configuration, or a cycle that failed (API unreachable, authentication, planning);
2 usage error, missing API permissions or unusable state directory; 3 a migration failed or timed
out; 70 an internal (unexpected) error.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from proxlb.cli import best_node, config_check, explain, failover, report, run, snapshot, version
from proxlb.cli.args import (
    BestNodeArgs,
    CommandArgs,
    ConfigCheckArgs,
    ExplainArgs,
    FailoverArgs,
    ReportArgs,
    RunArgs,
    SnapshotArgs,
    VersionArgs,
    parse_args,
)
from proxlb.cli.context import InvalidConfigurationError
from proxlb.config.render import mask_secret_like
from proxlb.errors import ApiError, ConfigError, ProxlbError
from proxlb.exit_codes import ExitCode

log = logging.getLogger("proxlb")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = (
    ExitCode.OK,
    ExitCode.FAILED,
    ExitCode.SETUP,
    ExitCode.INTERNAL,  # an unexpected error (a bug); the systemd unit restarts on it, not on 1 or 2
)

# args type → the command that runs it (returns the exit code)
COMMANDS: dict[type[Any], Callable[[Any], int]] = {
    RunArgs: run.run,
    ReportArgs: report.run,
    BestNodeArgs: best_node.run,
    ExplainArgs: explain.run,
    FailoverArgs: failover.run,
    ConfigCheckArgs: config_check.run,
    SnapshotArgs: snapshot.run,
    VersionArgs: version.run,
}


def dispatch(args: CommandArgs) -> int:
    """Run one command; returns the exit code. Errors end here as one clear message, never a traceback."""
    command = COMMANDS[type(args)]
    try:
        return command(args)
    except InvalidConfigurationError as exc:
        print(f"error: invalid configuration {exc.path}", file=sys.stderr)
        for problem in exc.error.problems or (str(exc.error),):
            print(f"  {problem}", file=sys.stderr)
        return EXIT_FAILED
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
