"""Run independent GET requests concurrently with a bound, keeping answers in request order.

An `ApiError` on one request becomes a failed `Answer` (the caller decides whether that is
fatal); any other exception propagates. Results come back in the order requests were given,
so everything built from them is deterministic whatever the thread timing.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from proxlb.collect.port import ApiReader
from proxlb.errors import ApiError

MAX_CONCURRENT_REQUESTS = 8


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str | int] = field(default_factory=dict)

    def __str__(self) -> str:
        if not self.params:
            return self.path
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.path}?{query}"


@dataclass(frozen=True)
class Answer:
    request: Request
    data: object = None
    error: ApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def failure(self) -> str:
        """One sentence naming the request and PVE's answer (never credentials)."""
        if self.error is None:
            return ""
        status = f"HTTP {self.error.status}: " if self.error.status else ""
        return f"GET {self.request} failed ({status}{self.error})"


def _get(reader: ApiReader, request: Request) -> Answer:
    try:
        return Answer(request, data=reader.get(request.path, **request.params))
    except ApiError as error:
        return Answer(request, error=error)


def fetch_all(
    reader: ApiReader, requests: Sequence[Request], max_workers: int = MAX_CONCURRENT_REQUESTS
) -> list[Answer]:
    """GET every request, at most `max_workers` at a time; answers in request order."""
    if len(requests) <= 1 or max_workers <= 1:
        return [_get(reader, request) for request in requests]
    workers = min(max_workers, len(requests))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="proxlb-collect") as pool:
        return list(pool.map(lambda request: _get(reader, request), requests))
