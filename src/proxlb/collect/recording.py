"""An `ApiReader` that keeps every answer it passed on, so a caller can read the cluster through
`collect` (one parser, one request plan) and still see the raw documents (`proxlb snapshot` dumps
them as a simulator scenario). Failed requests are not kept; the error goes to the caller as usual.
"""

from __future__ import annotations

import threading
from typing import Any

from proxlb.collect.port import ApiReader


class RecordingReader:
    """Wraps a reader; `answer(path, **params)` returns what `get` returned for that request."""

    def __init__(self, reader: ApiReader) -> None:
        self._reader = reader
        self._answers: dict[tuple[str, tuple[tuple[str, str | int], ...]], Any] = {}
        self._lock = threading.Lock()  # collect reads concurrently

    def get(self, path: str, **params: str | int) -> Any:
        data = self._reader.get(path, **params)
        with self._lock:
            self._answers[(path, tuple(sorted(params.items())))] = data
        return data

    def answer(self, path: str, **params: str | int) -> Any:
        """The recorded answer, or None when the request was not made (or failed)."""
        with self._lock:
            return self._answers.get((path, tuple(sorted(params.items()))))
