"""Tolerant readers for raw PVE JSON values. Pure; no I/O.

PVE answers are loosely typed (numbers as strings for LXC PSI, booleans as 0/1 or "1", fields
missing on offline nodes). Every reader here returns a typed value or None and never raises, so
callers decide what an absent or ill-typed field means. A number that is not finite (`Infinity`,
`NaN`) or larger in magnitude than `MAX_MAGNITUDE` is no number: no real byte count, core count or
fraction comes near it, and beyond it float → int conversions overflow.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

RawObject = Mapping[str, object]

MAX_MAGNITUDE = float(2**53)  # 8 PiB in bytes; integers up to here convert exactly


def as_float(value: object) -> float | None:
    """A finite float from a number or numeric string; None otherwise (bools are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) and abs(result) <= MAX_MAGNITUDE else None


def as_int(value: object) -> int | None:
    """An int from an int, an integral float or a numeric string; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    number = as_float(value)
    if number is None or not number.is_integer():
        return None
    return int(number)


def bad_number(entry: RawObject, key: str) -> str | None:
    """'maxmem=inf' when `key` is present but is not a usable number; None when absent or fine."""
    value = entry.get(key)
    if value is None or value == "" or as_float(value) is not None:
        return None
    text = repr(value) if not isinstance(value, float) else str(value)
    return f"{key}={text[:40]}"


def as_str(value: object) -> str | None:
    """A non-empty string, or None."""
    if isinstance(value, str) and value != "":
        return value
    return None


def as_flag(value: object) -> bool:
    """PVE booleans: 1/0, "1"/"0", true/false. Anything else is False."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return False


def objects(value: object) -> Iterator[RawObject]:
    """The dict items of a JSON array (non-dict items are skipped); nothing for a non-list."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def as_object(value: object) -> RawObject:
    """A JSON object, or an empty one."""
    return value if isinstance(value, dict) else {}


def split_list(value: object, separators: str = ",") -> tuple[str, ...]:
    """Split a PVE list string on any of `separators`; blanks dropped, order kept."""
    text = as_str(value)
    if text is None:
        return ()
    for sep in separators[1:]:
        text = text.replace(sep, separators[0])
    return tuple(part.strip() for part in text.split(separators[0]) if part.strip())


def parse_pve_version(value: object) -> tuple[int, int, int] | None:
    """'9.2.11' → (9, 2, 11); '8.4' → (8, 4, 0); 'pve-manager/8.4.1/abc' → (8, 4, 1); junk → None.

    Trailing non-digit parts of a component ('1~rc1', '11-beta') are cut; a missing leading
    number makes the whole version unknown.
    """
    text = as_str(value)
    if text is None:
        return None
    if text.startswith("pve-manager/"):
        text = text.split("/")[1] if text.count("/") >= 1 else text
    parts: list[int] = []
    for component in text.strip().split(".")[:3]:
        digits = ""
        for char in component:
            if char not in "0123456789":  # str.isdigit() also accepts "¹", which int() refuses
                break
            digits += char
        if digits == "":
            break
        parts.append(int(digits))
        if len(digits) != len(component):
            break
    if not parts:
        return None
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])
