"""One acting instance per state directory: an exclusive `flock` on `<state_dir>/proxlb.lock`.

Two ProxLB processes on one host with the same `service.state_dir` (e.g. the systemd service and a
hand-started `proxlb` with the default config) would both plan from the same snapshot and both
migrate. The lock makes the second one stop with a clear message naming the holder's PID. The
kernel releases it when the holder exits in any way (kill -9 included), so a stale lock cannot
block a restart. Instances on different hosts are coordinated by the HA leader gate
(`service.enable_ha`, docs/operations.md §4), not by this lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

from proxlb.service.ownership import adopt_directory_owner
from proxlb.service.state import StateError

log = logging.getLogger(__name__)

LOCK_NAME = "proxlb.lock"


class InstanceBusyError(StateError):
    """Another ProxLB process holds the state directory (the daemon exits 2, like any unusable state)."""


class InstanceLock:
    """An acquired lock; `release()` (or process exit) frees it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, state_dir: str | Path) -> InstanceLock:
        """Take the lock without waiting.

        Raises `InstanceBusyError` when another process holds it, `OSError` when the directory
        cannot hold a lock file (the state store then reports the unusable directory).
        """
        directory = Path(state_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        adopt_directory_owner(directory, LOCK_NAME)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise InstanceBusyError(
                f"another ProxLB instance ({who}) is already running with state_dir {directory}; "
                "only one instance may act per state directory — stop the other one, or give this one "
                "its own service.state_dir (several hosts: use service.enable_ha, see docs/operations.md)"
            ) from None
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
