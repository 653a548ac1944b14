"""The process exit codes of `proxlb`: the one place they are defined (docs/cli.md, docs/operations.md §9).

Invariants: the values never change (systemd's `RestartPreventExitStatus=1 2` and scripts rely on
them); 1 and 2 mean "a restart cannot fix it", 70 means "a bug", which the unit restarts.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Why the process ended. An `IntEnum`, so it is the process status as it is."""

    OK = 0
    # a one-shot cycle failed (API unreachable, authentication, planning), the configuration file
    # does not validate, `best-node` found no node, `explain` of an unknown guest
    FAILED = 1
    # usage error, missing API privileges, unusable or locked state directory, busy metrics port
    SETUP = 2
    # a one-shot run in which a migration failed or timed out
    MIGRATION_FAILED = 3
    # an unexpected error (a bug): EX_SOFTWARE of sysexits.h; systemd restarts it with backoff
    INTERNAL = 70
