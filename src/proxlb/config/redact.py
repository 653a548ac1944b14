"""A printable, JSON-safe view of the configuration with every secret replaced. Pure.

Invariant: no value of `proxmox_api.pass` or `proxmox_api.token_secret` ever appears in the result.
"""

from __future__ import annotations

from typing import Any

from proxlb.config.model import ProxlbConfig
from proxlb.config.render import REDACTED


def redacted_dict(config: ProxlbConfig) -> dict[str, Any]:
    """`config` as a plain dict with YAML key spellings; secrets that are set become "********"."""
    data: dict[str, Any] = config.model_dump(mode="json", by_alias=True)
    api = data["proxmox_api"]
    api["pass"] = REDACTED if config.proxmox_api.password is not None else None
    api["token_secret"] = REDACTED if config.proxmox_api.token_secret is not None else None
    return data
