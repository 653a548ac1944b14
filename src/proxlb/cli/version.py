"""`proxlb -v` / `--version`: our version and the upstream ProxLB version this one is compatible with."""

from __future__ import annotations

from proxlb import UPSTREAM_COMPATIBLE, __version__
from proxlb.cli.args import VersionArgs


def run(args: VersionArgs) -> int:
    print(f"ProxLB version: {__version__}")
    print(f"Dynamic resource scheduler for Proxmox VE (upstream ProxLB {UPSTREAM_COMPATIBLE} compatible)")
    return 0
