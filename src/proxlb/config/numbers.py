"""Bounded numbers for `proxlb.yaml`: every numeric key has a sane range, checked at load. Pure.

Why: a value that validates must never crash or hang the run later (`timeout: 1e30` overflowing a
socket timeout, `duration: 1e9` hours overflowing a date, an `.inf` cost reaching the solver).
So each numeric key is finite and lies in a range wide enough for any real cluster.

Rules (the same for `config check` and the run — both validate through these models):
- `true`/`false` is not a number (upstream's pydantic read `timeout: true` as 1).
- Whole-number keys take integers, integral floats (`10.0`) and numeric text (`"10"`), as upstream.
- Number keys take integers, floats and numeric text; NaN and infinities are rejected.
- Out of range: the message states the range and the unit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

_WHOLE_TEXT = re.compile(r"^[+-]?\d{1,30}$")
_NUMBER_TEXT = re.compile(r"^[+-]?(\d{1,30}(\.\d{0,30})?|\.\d{1,30})([eE][+-]?\d{1,4})?$")


def _fmt(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


@dataclass(frozen=True, slots=True)
class Bounded:
    """Before-validator: a whole number (`whole`) or a finite number in [lo, hi] (`lo_open`: > lo).

    None passes through, so optional keys stay optional; the field's type rejects None elsewhere.
    """

    lo: float
    hi: float
    unit: str = ""
    whole: bool = True
    lo_open: bool = False

    def expectation(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        span = f"above {_fmt(self.lo)} and at most" if self.lo_open else f"from {_fmt(self.lo)} to"
        unit = f" ({self.unit})" if self.unit else ""
        return f"expected {kind} {span} {_fmt(self.hi)}{unit}"

    def _parse(self, value: Any) -> float | int | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if not math.isfinite(value) or (self.whole and not value.is_integer()):
                return None
            return int(value) if self.whole else value
        if isinstance(value, str):
            text = value.strip().replace("_", "")
            if self.whole and _WHOLE_TEXT.match(text):
                return int(text)
            if not self.whole and _NUMBER_TEXT.match(text):
                number = float(text)
                return number if math.isfinite(number) else None
        return None

    def __call__(self, value: Any) -> Any:
        if value is None:
            return None
        number = self._parse(value)
        if number is None:
            if isinstance(value, bool):
                raise ValueError(f"{self.expectation()}, not true/false")
            raise ValueError(self.expectation())
        below = number <= self.lo if self.lo_open else number < self.lo
        if below or number > self.hi:
            raise ValueError(self.expectation())
        return number


# Shared ranges (a year bounds every duration, so no date or timer arithmetic can overflow).
YEAR_SECONDS = 365 * 24 * 3600
YEAR_MINUTES = YEAR_SECONDS // 60
YEAR_HOURS = YEAR_MINUTES // 60
MAX_PARALLEL = 1000
MAX_PERCENT_SETTING = 1000  # percentages (balanciness, thresholds): above 100 is allowed but warned
MAX_RESERVE_GIB = 1 << 20  # 1 PiB
MAX_RESERVE_CORES = 65536
