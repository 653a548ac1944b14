"""Unknown-key detection for `proxlb.yaml`: every key the models do not know is reported with its
full path and the closest valid key (a key that exists under another section is pointed there:
`balancing.ignore_nodes` → `proxmox_cluster.ignore_nodes`). Pure; walks the raw YAML mapping.

By default an unknown key is a problem (a misspelled `servce:` or `ssl_verfication:` would silently
change what runs); lenient (`--lenient`, `service.lenient_config: true`) keeps it a warning.

Invariants: never raises on odd input (non-mapping values are skipped; their type errors come
from validation); keys inside free-form mappings (pool names, node names) are not checked;
models with `extra="forbid"` are skipped (their unknown keys are validation errors).
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from proxlb.config.model import ProxlbConfig

# Spellings people try that upstream does not accept, and the key they mean.
_HINTS: Mapping[str, str] = {
    "username": "user",
    "pre_migration": "pre-migration",
    "premigration": "pre-migration",
    "token": "token_id",
    "host": "hosts",
}


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated/Optional layers down to the model, dict or other type underneath."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _dict_value_model(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap(annotation)
    if typing.get_origin(inner) is dict:
        return _model(typing.get_args(inner)[1])
    return None


def _keys(model: type[BaseModel]) -> dict[str, Any]:
    """YAML spellings (alias and attribute name) of a model's fields → annotation."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        out[name] = field.annotation
        if field.alias:
            out[field.alias] = field.annotation
    return out


def _preferred_keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _all_paths(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key, full path) of every field reachable through nested models (not through dicts)."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}.{key}" if prefix else key
        yield key, path
        sub = _model(field.annotation)
        if sub is not None:
            yield from _all_paths(sub, path)


_ALL_PATHS = tuple(_all_paths(ProxlbConfig))


def _suggest(key: str, model: type[BaseModel], prefix: str) -> str | None:
    here = _preferred_keys(model)
    lowered = key.strip().lower().replace(" ", "_")
    hinted = _HINTS.get(lowered)
    if hinted in here:
        return f"{prefix}.{hinted}" if prefix else hinted
    for candidate in (lowered, lowered.replace("-", "_"), lowered.replace("_", "-")):
        if candidate in here:
            return f"{prefix}.{candidate}" if prefix else candidate
    longer = [k for k in here if k.startswith(lowered + "_")]  # `timeout` → `timeout_seconds`
    if longer:
        return f"{prefix}.{longer[0]}" if prefix else longer[0]
    # the very key under another section beats a similar-looking key here
    elsewhere = [path for k, path in _ALL_PATHS if k in (lowered, lowered.replace("-", "_"))]
    if elsewhere:
        return elsewhere[0]
    close = difflib.get_close_matches(lowered, here, n=1, cutoff=0.6)
    if close:
        return f"{prefix}.{close[0]}" if prefix else close[0]
    return None


def _warning(key: str, model: type[BaseModel], prefix: str) -> str:
    path = f"{prefix}.{key}" if prefix else key
    suggestion = _suggest(key, model, prefix)
    if suggestion is not None:
        return f"unknown key '{path}' ignored — did you mean '{suggestion}'?"
    valid = ", ".join(_preferred_keys(model))
    return f"unknown key '{path}' ignored (valid keys here: {valid})"


LENIENT_HINT = (
    "a key ProxLB does not use: fix the spelling, remove it, or accept unknown keys with "
    "service.lenient_config: true (or `proxlb config check --lenient`)"
)


def as_problem(warning: str) -> str:
    """The strict form of an unknown-key warning: the key is refused, and how to accept it is named."""
    return warning.replace("' ignored", "' refused", 1) + f" ({LENIENT_HINT})"


def lenient_wanted(raw: Mapping[Any, Any]) -> bool:
    """`service.lenient_config: true` in the raw document (read before validation decides)."""
    service = raw.get("service")
    return isinstance(service, Mapping) and service.get("lenient_config") in (True, "true", "yes", 1)


def unknown_key_warnings(
    raw: Mapping[Any, Any], model: type[BaseModel] = ProxlbConfig, prefix: str = ""
) -> list[str]:
    """Warnings for every key of `raw` (recursively) that `model` does not define."""
    if model.model_config.get("extra") == "forbid":
        return []
    known = _keys(model)
    found: list[str] = []
    for raw_key, value in raw.items():
        key = str(raw_key)
        path = f"{prefix}.{key}" if prefix else key
        if key not in known:
            found.append(_warning(key, model, prefix))
            continue
        if not isinstance(value, Mapping):
            continue
        sub = _model(known[key])
        if sub is not None:
            found.extend(unknown_key_warnings(value, sub, path))
            continue
        item_model = _dict_value_model(known[key])
        if item_model is not None:
            for item_key, item in value.items():
                if isinstance(item, Mapping):
                    found.extend(unknown_key_warnings(item, item_model, f"{path}.{item_key}"))
    return found
