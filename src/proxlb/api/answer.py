"""Decode PVE's JSON envelope strictly: an answer that cannot be read is an error, never "no data".

Role: replaces proxmoxer's serializer, which returns `{"errors": <raw bytes>}` as if it were data
for a body that is not JSON (truncated, an HTML error page, empty) and lets a `RecursionError`
escape for JSON nested thousands deep. Invariants: `loads` returns the `data` member of a JSON
object or raises `UnreadableAnswerError` with a short reason (never the body itself, which may be
large or hostile); `loads_errors` never raises.
"""

from __future__ import annotations

import json
from typing import Any

from proxmoxer.backends.https import JsonSerializer


class UnreadableAnswerError(Exception):
    """A 2xx answer whose body is not PVE's JSON envelope; the message says what it was instead."""


def _what(body: bytes) -> str:
    head = body.lstrip()[:64].lower()
    if not body.strip():
        return "an empty body"
    if head.startswith((b"<!doctype", b"<html", b"<")):
        return "HTML, not JSON"
    return f"not JSON ({len(body)} bytes)"


def decode(body: bytes) -> Any:
    """The `data` member of PVE's `{"data": …}` envelope; `UnreadableAnswerError` otherwise."""
    try:
        document = json.loads(body.decode("utf-8"))
    except RecursionError:
        raise UnreadableAnswerError("JSON nested too deep") from None
    except (UnicodeDecodeError, ValueError):
        raise UnreadableAnswerError(_what(body)) from None
    if not isinstance(document, dict) or "data" not in document:
        raise UnreadableAnswerError("JSON without PVE's 'data' member")
    return document["data"]


class StrictJsonSerializer(JsonSerializer):  # type: ignore[misc]
    """proxmoxer's serializer interface, with `decode`'s strictness."""

    def loads(self, response: Any) -> Any:
        return decode(response.content or b"")

    def loads_errors(self, response: Any) -> Any:
        try:
            document = json.loads((response.content or b"").decode("utf-8"))
        except (RecursionError, UnicodeDecodeError, ValueError):
            return None
        return document.get("errors") if isinstance(document, dict) else None
