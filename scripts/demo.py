"""`make demo`: ProxLB against the bundled simulated 5-node cluster, end to end.

1. start `proxlb-sim` with the demo scenario (HTTPS, self-signed CA, fast virtual clock);
2. write an upstream-style proxlb.yaml for it;
3. `proxlb --dry-run`: the cluster and the explained plan, nothing touched;
4. `proxlb --once`: the plan is applied through the API, migrations followed to the end;
5. `proxlb --dry-run` again: the cluster after, and no further moves (no ping-pong).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from proxlb_sim.testing import proxlb_config_for, running_simulator

TIME_SCALE = 60.0  # one real second = one simulated minute


def banner(text: str) -> None:
    # colour only on a terminal: piped or logged output gets no raw escape codes
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        print(f"\n\033[1;36m== {text}\033[0m\n", flush=True)
    else:
        print(f"\n== {text}\n", flush=True)


def proxlb(config: Path, *args: str) -> int:
    cmd = [sys.executable, "-m", "proxlb", "-c", str(config), *args]
    print("$ proxlb " + " ".join(["-c", config.name, *args]), flush=True)
    return subprocess.run(cmd, check=False).returncode


def main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="proxlb-demo-") as tmp,
        running_simulator("demo", time_scale=TIME_SCALE) as sim,
    ):
        banner(f"Simulated Proxmox VE cluster 'demo' at {sim.url} (virtual clock ×{TIME_SCALE:.0f})")
        config = Path(tmp) / "proxlb.yaml"
        settings = proxlb_config_for(
            sim,
            f"{tmp}/state",
            balancing={"method": "memory", "mode": "used", "balanciness": 10, "parallel_jobs": 3},
            service={"log_level": "WARNING"},
        )
        config.write_text(yaml.safe_dump(settings, sort_keys=False))
        config.chmod(0o600)
        print(config.read_text().replace(sim.token_secret, "********"))

        banner("1. Dry run: what ProxLB would do, and why (nothing is touched)")
        if proxlb(config, "--dry-run") != 0:
            return 1
        writes = sim.admin.writes()
        print(f"\nAPI writes during the dry run: {len(writes)}")

        banner("2. Apply: migrations through the Proxmox VE API, followed to the end")
        code = proxlb(config, "--once")

        banner("3. The cluster after, planned again: nothing left to move")
        proxlb(config, "--dry-run")
        gets = [r for r in sim.admin.requests() if r["method"] == "GET"]
        print(f"\nAPI requests in this demo: {len(gets)} reads, {len(sim.admin.writes())} writes")
        return code


if __name__ == "__main__":
    raise SystemExit(main())
