"""Raw-YAML fix-ups applied before validation: deprecated aliases and empty sections. Pure.

- `balancing.psi_thresholds` (upstream 1.1.x) is read as `balancing.psi`, with a deprecation warning.
- A section or sub-section left empty in YAML (`balancing:` with every key commented out reads as
  null) is treated as an empty mapping, i.e. all defaults. Upstream 2.3.0 rejects it.
Invariant: the input mapping is not modified; a new one is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from proxlb.config.model import ProxlbConfig


def _drop_null_sections(raw: Mapping[Any, Any], model: type[BaseModel]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    fields = {(f.alias or n): f for n, f in model.model_fields.items()}
    fields.update(model.model_fields)
    for key, value in raw.items():
        field = fields.get(key) if isinstance(key, str) else None
        annotation = field.annotation if field is not None else None
        sub = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        if sub is not None and value is None and not field.is_required():  # type: ignore[union-attr]
            continue
        out[key] = (
            _drop_null_sections(value, sub) if sub is not None and isinstance(value, Mapping) else value
        )
    return out


def normalize(raw: Mapping[Any, Any]) -> tuple[dict[Any, Any], tuple[str, ...]]:
    """(fixed-up copy of `raw`, warnings)."""
    warnings: list[str] = []
    data = _drop_null_sections(raw, ProxlbConfig)
    balancing = data.get("balancing")
    if isinstance(balancing, Mapping) and "psi_thresholds" in balancing:
        bal = dict(balancing)
        legacy = bal.pop("psi_thresholds")
        if "psi" in bal:
            warnings.append("balancing.psi_thresholds (deprecated) ignored because balancing.psi is set")
        else:
            bal["psi"] = legacy
            warnings.append(
                "balancing.psi_thresholds is deprecated (upstream 1.1.x); read as balancing.psi — rename it"
            )
        data["balancing"] = bal
    return data, tuple(warnings)
