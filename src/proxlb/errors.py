"""Typed errors. Only `proxlb.cli` and the daemon loop decide whether to exit or to continue."""

from __future__ import annotations


class ProxlbError(Exception):
    """Base of every error ProxLB raises on purpose."""


class ConfigError(ProxlbError):
    """The configuration is invalid. `problems` lists every finding (key path, value, expectation)."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class ApiError(ProxlbError):
    """The Proxmox VE API answered with an error or could not be reached.

    `status` is PVE's HTTP status (0 when no answer came back), `message` PVE's text.
    `retryable`: asking again soon may succeed (no answer, HTTP 5xx). False when it cannot: PVE
    refused the request (4xx), the certificate is not trusted, the host name does not resolve, or
    no host accepted a connection before any ever did. Default: derived from `status`.
    """

    def __init__(self, message: str, status: int = 0, path: str = "", retryable: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.path = path
        self.retryable = (status == 0 or status >= 500) if retryable is None else retryable


class PlanningError(ProxlbError):
    """A plan could not be built or failed validation (it is never executed then)."""


class ExecutionError(ProxlbError):
    """Carrying out a plan failed in a way the executor could not contain."""


class AuthError(ApiError):
    """PVE rejected the configured credentials (HTTP 401); the message names what was tried and the fix."""

    def __init__(self, message: str, status: int = 401, path: str = "") -> None:
        super().__init__(message, status, path, retryable=False)
