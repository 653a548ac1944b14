"""`proxlb -v` / `--version`: our version and the upstream ProxLB version this one is compatible with,
both on the first line (scripts that read upstream's `ProxLB version: …` line see both)."""

from __future__ import annotations

from proxlb import UPSTREAM_COMPATIBLE, __version__
from proxlb.cli.args import VersionArgs


def run(args: VersionArgs) -> int:
    print(f"ProxLB version: {__version__} (compatible with upstream ProxLB {UPSTREAM_COMPATIBLE})")
    print("Dynamic resource scheduler for Proxmox VE")
    return 0
