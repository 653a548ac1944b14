"""Sending one migration to PVE: the qemu precondition check and the migrate request itself.

Invariants: nothing here decides whether a move may start (that is `lanes.py` and `fresh.precheck`);
`with-conntrack-state` is sent only for an online VM migrating between nodes that both run PVE 9 or
newer (versions from the settings, else read once per run; unknown versions never send it).
Errors from PVE are raised as `ApiError` to the executor, which records the refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from proxlb.domain import GuestKind, Migration
from proxlb.errors import ApiError
from proxlb.execute.jobs import MigrationApi
from proxlb.execute.model import ExecutionSettings

log = logging.getLogger("proxlb.execute.executor")  # split out of the executor: its log lines keep its name


class Dispatch:
    """The migrate requests of one `execute_plan` call (caches the nodes' PVE versions)."""

    def __init__(self, client: MigrationApi, settings: ExecutionSettings) -> None:
        self.client = client
        self.s = settings
        self.versions: Mapping[str, tuple[int, int, int] | None] | None = None

    def precondition(self, m: Migration) -> str | None:
        """Why PVE's own migrate precondition refuses `m` (None = allowed)."""
        try:
            verdict = self.client.migrate_precondition(
                m.source, m.kind.value, m.vmid, m.target, self.s.with_local_disks
            )
        except ApiError as exc:
            return f"PVE migrate precondition failed: {exc}"
        return None if verdict.allowed else verdict.reason

    def send(self, m: Migration, guest_running: bool) -> str:
        """POST the migration; returns its UPID. Raises `ApiError` when PVE refuses it."""
        if m.kind is GuestKind.QEMU:
            online = guest_running
            return self.client.migrate_qemu(
                m.source,
                m.vmid,
                m.target,
                online=online,
                with_local_disks=self.s.with_local_disks,
                with_conntrack_state=online and self._conntrack(m),
            )
        return self.client.migrate_lxc(m.source, m.vmid, m.target, restart=True)

    def _conntrack(self, m: Migration) -> bool:
        if not self.s.with_conntrack_state:
            return False
        if self.versions is None and self.s.node_versions is not None:
            self.versions = self.s.node_versions
        if self.versions is None:
            try:
                self.versions = self.client.node_versions()
            except ApiError as exc:
                log.warning("PVE versions unknown (%s): not sending with-conntrack-state", exc)
                self.versions = {}
        return all((self.versions.get(n) or (0, 0, 0)) >= (9, 0, 0) for n in (m.source, m.target))
