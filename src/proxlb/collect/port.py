"""The port the collect stage reads Proxmox VE through.

Implemented by the HTTPS API client and by the simulator's in-process API. `get` returns the
unwrapped `data` member of PVE's answer and raises `proxlb.errors.ApiError` on any failure.
"""

from __future__ import annotations

from typing import Any, Protocol


class ApiReader(Protocol):
    """Read-only access to the PVE REST API (paths without the `/api2/json` prefix)."""

    def get(self, path: str, **params: str | int) -> Any:  # raw JSON at the edge
        """GET `path` with query `params`; return the unwrapped `data`; raise `ApiError`."""
        ...
