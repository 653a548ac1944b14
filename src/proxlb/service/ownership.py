"""Files ProxLB creates in its state directory belong to the directory's owner, whoever runs it.

An admin who runs `proxlb --dry-run` or `--once` as root (README step 4) must not leave root-owned
files in `/var/lib/proxlb` that the `proxlb` service user then cannot open. When the process runs as
root and the directory belongs to another user, each created file is given the directory's owner
and group. Otherwise nothing changes. Failures are logged at DEBUG and never stop a run.
"""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

log = logging.getLogger(__name__)


def adopt_directory_owner(directory: Path, *names: str) -> None:
    """As root: chown `directory/name` (each that exists, symlinks not followed) to the directory's
    owner when that owner is not root."""
    if os.geteuid() != 0:
        return
    try:
        owner = directory.stat()
    except OSError:
        return
    if owner.st_uid == 0:
        return
    for name in names:
        path = directory / name
        try:
            os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.debug("could not give %s to uid %d: %s", path, owner.st_uid, exc)


def ownership_fix(directory: Path) -> str:
    """The command that makes `directory` usable for the user running this process."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    return f"chown -R {user}: {directory}"
