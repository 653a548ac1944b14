"""Where the API secrets come from, and whether the credentials make sense together.

Precedence per secret (documented in docs/configuration.md): environment variable
(`PROXLB_PASS`, `PROXLB_TOKEN_SECRET`; empty = unset) > `*_file` (read, trailing newline
stripped; relative paths are relative to the config file's directory) > the YAML value.

Invariants: a secret's content never appears in a problem or warning; an unreadable or empty
secret file is a problem naming the key and the path. Reads files (edge module, used by `load`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxlb.config.render import show_value
from proxlb.config.source import MAX_SECRET_BYTES, read_limited

ENV_PASS = "PROXLB_PASS"
ENV_TOKEN_SECRET = "PROXLB_TOKEN_SECRET"

# (YAML key, file key, environment variable, human name)
_SECRETS = (
    ("pass", "pass_file", ENV_PASS, "a password"),
    ("token_secret", "token_secret_file", ENV_TOKEN_SECRET, "a token secret"),
)


@dataclass(frozen=True)
class ResolvedCredentials:
    """The `proxmox_api` mapping with secrets filled in, where each came from, and findings."""

    api: dict[str, Any]
    origins: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def _read_secret_file(key: str, raw_path: str, base_dir: Path) -> tuple[str | None, str | None]:
    """(secret, None) or (None, problem). The problem names key and path, never content."""
    path = Path(raw_path).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    text, reason = read_limited(path, MAX_SECRET_BYTES)
    if text is None:
        reason = f"it {reason}" if reason and reason.startswith("is ") else reason
        return None, f"proxmox_api.{key}: cannot read secret file {show_value(str(path))}: {reason}"
    secret = text.rstrip("\r\n")
    if not secret:
        return None, f"proxmox_api.{key}: secret file {show_value(str(path))} is empty"
    return secret, None


def resolve_credentials(
    api: Mapping[Any, Any], env: Mapping[str, str], base_dir: Path
) -> ResolvedCredentials:
    """Fill `pass`/`token_secret` of a raw `proxmox_api` mapping from env, file or YAML."""
    out: dict[str, Any] = {str(k): v for k, v in api.items()}
    if "password" in out and "pass" not in out:
        out["pass"] = out.pop("password")
    origins: dict[str, str] = {}
    problems: list[str] = []
    warnings: list[str] = []
    for key, file_key, env_name, _ in _SECRETS:
        file_value = out.get(file_key)
        if out.get(key) is not None and isinstance(file_value, str):
            warnings.append(f"proxmox_api.{key} is ignored because proxmox_api.{file_key} is set")
        if env.get(env_name):
            out[key] = env[env_name]
            origins[key] = f"environment variable {env_name}"
        elif isinstance(file_value, str):
            secret, problem = _read_secret_file(file_key, file_value, base_dir)
            if problem is not None:
                problems.append(problem)
                out.pop(key, None)
                origins[key] = f"proxmox_api.{file_key}"
            else:
                out[key] = secret
                origins[key] = f"proxmox_api.{file_key}"
        elif _is_set(out.get(key)):
            origins[key] = f"proxmox_api.{key}"
    return ResolvedCredentials(out, origins, tuple(problems), tuple(warnings))


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


def check_credentials(resolved: ResolvedCredentials) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(problems, warnings) of the auth settings taken together (upstream checks these at connect)."""
    api, origins = resolved.api, resolved.origins
    problems: list[str] = []
    warnings: list[str] = []
    has_pass = _is_set(api.get("pass")) or "pass" in origins
    has_token = _is_set(api.get("token_secret")) or "token_secret" in origins
    token_id = api.get("token_id")
    if has_pass and has_token:
        problems.append(
            f"proxmox_api: a password (from {origins.get('pass', 'proxmox_api.pass')}) and a token secret "
            f"(from {origins.get('token_secret', 'proxmox_api.token_secret')}) are both set; "
            "they are mutually exclusive, use only one"
        )
    elif not has_pass and not has_token:
        problems.append(
            "proxmox_api: no credentials; expected pass (or pass_file, or env "
            f"{ENV_PASS}) for password auth, or token_id with token_secret (or token_secret_file, "
            f"or env {ENV_TOKEN_SECRET}) for API-token auth"
        )
    if has_token and not _is_set(token_id):
        problems.append(
            "proxmox_api.token_id: required with a token secret; expected the token name, e.g. 'proxlb'"
        )
    if isinstance(token_id, str) and ("@" in token_id or "!" in token_id):
        problems.append(
            f"proxmox_api.token_id: {show_value(token_id)} is not valid; expected the token name only "
            "(e.g. 'proxlb'), "
            "with user@realm in proxmox_api.user"
        )
    if has_pass and not has_token and _is_set(token_id):
        warnings.append("proxmox_api.token_id is ignored: password authentication is used (no token secret)")
    user = api.get("user")
    if isinstance(user, str) and "@" not in user:
        warnings.append(
            f"proxmox_api.user: {show_value(user)} has no realm; "
            "Proxmox VE expects user@realm, e.g. 'proxlb@pve'"
        )
    return tuple(problems), tuple(warnings)
