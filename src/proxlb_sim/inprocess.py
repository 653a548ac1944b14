"""In-process access to the simulated API: the same handlers as the HTTPS server, without HTTP.

`InProcessApi(cluster).get(path, **params)` returns the unwrapped `data` exactly as a client would
receive it from `/api2/json` (JSON-normalised), and raises `proxlb.errors.ApiError(message, status,
path)` with PVE's status and message. It implements `proxlb.collect.port.ApiReader`.
"""

from __future__ import annotations

import json
from typing import Any

from proxlb.errors import ApiError
from proxlb_sim.auth import ROOT, Identity
from proxlb_sim.cluster import SimCluster
from proxlb_sim.handlers import Encoded, Paged
from proxlb_sim.pveerror import PveError
from proxlb_sim.routes import dispatch


class InProcessApi:
    """Calls the simulator's handlers directly, as `identity` (default root@pam)."""

    def __init__(self, cluster: SimCluster, identity: Identity = ROOT) -> None:
        self.cluster = cluster
        self.identity = identity
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def _call(self, method: str, path: str, params: dict[str, Any]) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        self.calls.append((method, path, clean))
        try:
            result = dispatch(self.cluster, method, path, clean, self.identity)
        except PveError as exc:
            message = exc.message
            if exc.errors:
                message = f"{message} - {exc.errors}"
            raise ApiError(message, exc.status, path) from exc
        if isinstance(result, Encoded):
            return json.loads(result.body)["data"]
        if isinstance(result, Paged):
            result = result.data
        # round-trip through JSON so callers see exactly what HTTP clients see
        return json.loads(json.dumps(result))

    def get(self, path: str, **params: Any) -> Any:
        """GET `path` (relative to /api2/json) → unwrapped data."""
        return self._call("GET", path, params)

    def post(self, path: str, **params: Any) -> Any:
        """POST `path` → unwrapped data (e.g. a UPID)."""
        return self._call("POST", path, params)

    def put(self, path: str, **params: Any) -> Any:
        """PUT `path` → unwrapped data (null for config writes)."""
        return self._call("PUT", path, params)

    def delete(self, path: str, **params: Any) -> Any:
        """DELETE `path` → unwrapped data."""
        return self._call("DELETE", path, params)

    def advance(self, seconds: float) -> None:
        """Move the virtual clock forward (the state catches up on the next call)."""
        self.cluster.clock.advance(seconds)
