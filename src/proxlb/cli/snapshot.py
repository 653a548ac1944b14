"""`proxlb snapshot [-o FILE]`: save the cluster as a proxlb-sim scenario, to rehearse offline.

The cluster is read through `collect` (the same request plan and parsers as a cycle); the raw
answers it saw are dumped verbatim. Asked for on top: `/cluster/ha/resources` (a cycle reads it only
when it needs HA groups) when some guest is HA-managed, and each guest's config (when collect did not
read it) and snapshot list, which the rehearsal serves to the admin's own tools (#18).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from proxlb.cli.args import SnapshotArgs
from proxlb.cli.context import load_for_command
from proxlb.collect.recording import RecordingReader
from proxlb.collect.snapshot import collect_snapshot
from proxlb.errors import ApiError
from proxlb.report.scenario_dump import scenario_document
from proxlb.service.daemon import default_connect

log = logging.getLogger("proxlb")


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _guest_details(reader: RecordingReader, resources: list[Any]) -> dict[str, dict[int, Any]]:
    """Each reachable guest's config (the one collect read, else asked now) and snapshot list, so the
    rehearsal answers the admin's tools like the cluster (#18)."""
    configs: dict[int, Any] = {}
    snaps: dict[int, Any] = {}
    for r in resources:
        if not isinstance(r, dict) or r.get("type") not in ("qemu", "lxc") or r.get("status") == "unknown":
            continue
        base = f"/nodes/{r['node']}/{r['type']}/{r['vmid']}"
        for path, into in ((f"{base}/config", configs), (f"{base}/snapshot", snaps)):
            answer = reader.answer(path)
            if answer is None:
                try:
                    answer = reader.get(path)
                except ApiError as exc:
                    log.warning("snapshot: %s unavailable (%s); left out", path, exc)
                    continue
            if isinstance(answer, dict if into is configs else list):
                into[int(r["vmid"])] = answer
    return {"guest_configs": configs, "snapshots": snaps}


def run(args: SnapshotArgs) -> int:
    loaded = load_for_command(args.common)
    reader = RecordingReader(default_connect(loaded.config, threading.Event()))
    snapshot = collect_snapshot(reader, loaded.config, time.time())
    resources = _listed(reader.answer("/cluster/resources"))
    ha_resources = reader.answer("/cluster/ha/resources")
    if ha_resources is None and any(g.ha_state is not None for g in snapshot.guests):
        try:
            ha_resources = reader.get("/cluster/ha/resources")
        except ApiError as exc:
            log.warning("snapshot: /cluster/ha/resources unavailable (%s); left out", exc)
    versions = {
        n.name: ".".join(str(part) for part in n.pve_version) for n in snapshot.nodes if n.pve_version
    }
    doc = scenario_document(
        resources,
        snapshot.cluster_name or "",
        versions,
        ha_resources=_listed(ha_resources),
        ha_rules=_listed(reader.answer("/cluster/ha/rules")),
        ha_groups=_listed(reader.answer("/cluster/ha/groups")),
        ha_maintenance_nodes=[n.name for n in snapshot.nodes if n.ha_maintenance],
        ha_master=snapshot.ha_master,
        **_guest_details(reader, resources),
    )
    text = yaml.safe_dump(doc, sort_keys=False)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}: {len(resources)} resources", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
