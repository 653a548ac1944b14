"""One acting instance per state directory, and per cluster on a host: exclusive `flock`s.

`<state_dir>/proxlb.lock` is taken at start. Once the cluster's identity is known (the first
collect binds the state store to it), an acting instance also takes
`<lock dir>/proxlb-<hash of the identity>.lock`, so two instances with *different* state
directories (a `--once` from another shell beside the daemon) cannot both migrate in one cluster.
The lock dir is `$PROXLB_LOCK_DIR`, else `/run/lock`, else `$XDG_RUNTIME_DIR`; when none is writable
the cluster lock is skipped with a WARNING (the state_dir lock still holds).

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
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from proxlb.service.ownership import adopt_directory_owner
from proxlb.service.state import StateError

log = logging.getLogger(__name__)

LOCK_NAME = "proxlb.lock"
LOCK_DIRS = ("/run/lock",)


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


def cluster_lock_dir() -> Path | None:
    """Where cluster locks live on this host (see the module docstring); None when nowhere."""
    candidates = [os.environ.get("PROXLB_LOCK_DIR", ""), *LOCK_DIRS, os.environ.get("XDG_RUNTIME_DIR", "")]
    for candidate in candidates:
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return None


def acquire_cluster_lock(identity: str, state_dir: str | Path) -> Callable[[], None] | None:
    """Take the host-wide lock of cluster `identity`; returns its release, None when no lock dir.

    Raises `InstanceBusyError` naming the holder's pid and state_dir when another process acts on
    the same cluster from this host.
    """
    directory = cluster_lock_dir()
    if directory is None:
        log.warning(
            "no writable lock directory (/run/lock, $XDG_RUNTIME_DIR): not guarding against "
            "a second instance acting on cluster %s with another state_dir",
            identity,
        )
        return None
    name = "proxlb-" + hashlib.sha256(identity.encode()).hexdigest()[:16] + ".lock"
    path = directory / name
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:  # created by another user (root beside the proxlb service): lock read-only
        fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").split("\n")
        os.close(fd)
        who = f"pid {holder[0]}" if holder and holder[0].isdigit() else "another process"
        where = f" with state_dir {holder[1]}" if len(holder) > 1 and holder[1] else ""
        raise InstanceBusyError(
            f"another ProxLB instance ({who}{where}) is already acting on cluster {identity} from this "
            "host; only one instance may migrate in a cluster — stop the other one, or run this one "
            "with --dry-run (several hosts: use service.enable_ha, see docs/operations.md)"
        ) from None
    with contextlib.suppress(OSError):  # a read-only descriptor cannot say who holds it
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n{Path(state_dir)}\n".encode())

    def release() -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    return release
