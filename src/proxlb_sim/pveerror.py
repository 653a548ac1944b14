"""The error a simulated PVE handler raises: HTTP status, PVE's message, optional per-parameter errors.

The server turns it into PVE's wire format (reason phrase = first line of the message, body
`{"data":null,"message":...,"errors":...}`); the in-process API turns it into `proxlb.errors.ApiError`.
"""

from __future__ import annotations


class PveError(Exception):
    """An answer other than 2xx, worded like Proxmox VE."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors

    @classmethod
    def params(cls, errors: dict[str, str]) -> PveError:
        """400 'Parameter verification failed.' with PVE's per-parameter messages."""
        return cls(400, "Parameter verification failed.", errors)

    def body(self) -> dict[str, object]:
        """JSON body as pve-http-server >= 5.2 sends it."""
        text = self.message if self.message.endswith("\n") or self.status == 501 else self.message + "\n"
        out: dict[str, object] = {"data": None, "message": text}
        if self.errors:
            out["errors"] = self.errors
        return out

    @property
    def reason(self) -> str:
        """HTTP reason phrase: the message's first line, no CR/LF."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else "Error"
        return first.replace("\r", " ")
