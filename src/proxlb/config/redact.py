"""A printable, JSON-safe view of the configuration with every secret replaced. Pure.

Invariant: no value of `proxmox_api.pass` or `proxmox_api.token_secret` ever appears in the result,
also not where it was pasted under another key (`service.ha_identity: <the token>`); and any value
that looks like a credential (a UUID, a long token-like word) is masked wherever it stands, since a
secret pasted under the wrong key need not be the configured one.
"""

from __future__ import annotations

from typing import Any

from proxlb.config.model import ProxlbConfig
from proxlb.config.render import REDACTED, mask_secret_like, scrub


def redacted_dict(config: ProxlbConfig) -> dict[str, Any]:
    """`config` as a plain dict with YAML key spellings; secrets that are set become "********"."""
    data: dict[str, Any] = config.model_dump(mode="json", by_alias=True)
    api = data["proxmox_api"]
    api["pass"] = REDACTED if config.proxmox_api.password is not None else None
    api["token_secret"] = REDACTED if config.proxmox_api.token_secret is not None else None
    secrets = [
        s.get_secret_value() for s in (config.proxmox_api.password, config.proxmox_api.token_secret) if s
    ]
    scrubbed: dict[str, Any] = _scrubbed(data, secrets)
    return scrubbed


def _scrubbed(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return mask_secret_like(scrub(value, secrets) if any(s in value for s in secrets) else value)
    if isinstance(value, dict):
        return {_scrubbed(k, secrets): _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secrets) for v in value]
    return value
