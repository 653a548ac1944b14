"""Issue #19 item 8: a corrupted state database is rebuilt, as the docs promise.

docs/operations.md says the file may be deleted freely; a corrupt one made the daemon exit 2 with
"create it writable for the proxlb user", which does not help. Now it is moved aside (kept for a
post-mortem) and a fresh database is started, with one WARNING.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from proxlb.service.state import DB_NAME, StateStore


def test_a_corrupt_database_is_moved_aside_and_rebuilt(tmp_path: Path, caplog: Any) -> None:
    junk = bytes(range(256)) * 32
    (tmp_path / DB_NAME).write_bytes(junk)
    caplog.set_level(logging.WARNING)
    store = StateStore.open(tmp_path, cluster="cluster:lab")  # a daemon's open: no memory fallback
    store.record_run({"planned": 0}, 1.0, 2.0)
    assert store.last_run() is not None
    store.close()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(DB_NAME + ".corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == junk
    warnings = [r.getMessage() for r in caplog.records if "is corrupt" in r.getMessage()]
    assert len(warnings) == 1 and str(aside[0]) in warnings[0]
