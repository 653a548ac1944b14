"""Command line entry point (being built: see issue 3). The only module that prints or exits."""

from __future__ import annotations

import sys

from proxlb import __version__


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-v", "--version"):
        print(f"ProxLB version: {__version__}")
        raise SystemExit(0)
    print("proxlb: the balancing engine is not wired up yet", file=sys.stderr)
    raise SystemExit(2)
