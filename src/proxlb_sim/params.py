"""Strict parameter validation with PVE's wording (JSONSchema.pm, additionalProperties 0).

A spec maps parameter names to types; a trailing '!' on the name marks it required. Types: string,
boolean, integer, number, node, vmid, or 'enum:a|b'. Booleans accept only "0"/"1" (and JSON
true/false); anything else fails with `type check ('boolean') failed - got 'True'`. All problems are
reported together in one 400 'Parameter verification failed.'.
"""

from __future__ import annotations

import re
from typing import Any

from proxlb_sim.pveerror import PveError

Spec = dict[str, str]
_INT = re.compile(r"^[+-]?\d+$")
_NUM = re.compile(r"^[+-]?(\d+\.\d+|\d+\.|\.\d+|\d+)([eE][+-]?\d+)?$")
_NODE = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$")
UNKNOWN = "property is not defined in schema and the schema does not allow additional properties"
MISSING = "property is missing and it is not optional"


def _check(kind: str, value: Any) -> tuple[Any, str | None]:
    shown = value if not isinstance(value, bool) else int(value)
    if kind == "boolean":
        if value is True or value is False:
            return value, None
        if isinstance(value, int) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value in ("0", "1"):
            return value == "1", None
        return None, f"type check ('boolean') failed - got '{shown}'"
    if kind in ("integer", "vmid"):
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and _INT.match(value))
        ):
            return None, f"type check ('integer') failed - got '{shown}'"
        number = int(value)
        if kind == "vmid" and number < 100:
            return None, "value must have a minimum value of 100"
        if kind == "vmid" and number > 999_999_999:
            return None, "value must have a maximum value of 999999999"
        return number, None
    if kind == "number":
        if isinstance(value, bool) or not (
            isinstance(value, (int, float)) or (isinstance(value, str) and _NUM.match(value))
        ):
            return None, f"type check ('number') failed - got '{shown}'"
        return float(value), None
    text = value if isinstance(value, str) else str(value)
    if kind == "node" and not _NODE.match(text):
        return None, "value does not match the regex pattern"
    if kind.startswith("enum:"):
        allowed = kind[5:].split("|")
        if text not in allowed:
            return None, f"value '{text}' does not have a value in the enumeration '{', '.join(allowed)}'"
    return text, None


def validate(spec: Spec, params: dict[str, Any], path_params: dict[str, str]) -> dict[str, Any]:
    """Validated, converted parameters (path params included), or PveError 400."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    types = {name.rstrip("!"): kind for name, kind in spec.items()}
    for name, value in params.items():
        if name == "_dc":
            continue
        if name in path_params:
            if str(value) != path_params[name]:
                errors[name] = "duplicate parameter (already defined in URI) with conflicting values!"
            continue
        if name not in types:
            errors[name] = UNKNOWN
            continue
        converted, problem = _check(types[name], value)
        if problem:
            errors[name] = problem
        else:
            out[name] = converted
    for name, value in path_params.items():
        converted, problem = _check(types.get(name, "string"), value)
        if problem:
            errors[name] = problem
        else:
            out[name] = converted
    for name in spec:
        if name.endswith("!") and name[:-1] not in out and name[:-1] not in errors:
            errors[name[:-1]] = MISSING
    if errors:
        raise PveError.params(errors)
    return out
