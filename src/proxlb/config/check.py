"""`proxlb config check`: load a configuration and report instead of raising. Edge (reads files).

Invariant: the result never contains a secret (`config` is `redacted_dict`; messages never carry values
of secret keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxlb.config.load import evaluate_file
from proxlb.config.redact import redacted_dict


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a configuration check: `ok` iff there are no problems."""

    ok: bool
    path: str
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    config: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for `--json`)."""
        return {
            "ok": self.ok,
            "path": self.path,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "config": dict(self.config) if self.config is not None else None,
        }


def check_config(path: Path, env: Mapping[str, str] | None = None, lenient: bool = False) -> CheckResult:
    """Load `path` like the service would (lenient: unknown keys are warnings, not problems);
    problems and warnings are returned, never raised."""
    found = evaluate_file(Path(path), env, lenient)
    if found.config is None:
        return CheckResult(False, str(path), found.problems, found.warnings)
    return CheckResult(True, str(path), (), found.warnings, redacted_dict(found.config))
